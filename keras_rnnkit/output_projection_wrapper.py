"""A learned dense projection of every step's output (TF1's wrapper)."""

from typing import Any

import keras

from keras_rnnkit import _float64, cell_protocol
from keras_rnnkit import _validation as check
from keras_rnnkit._cell_wrapper import CellWrapper, call_cell
from keras_rnnkit._registration import register
from keras_rnnkit._types import (
    Activation,
    Cell,
    Constraint,
    Initializer,
    Regularizer,
    States,
    Tensor,
)
from keras_rnnkit.cell_protocol import ProjectionForm


@register
class OutputProjectionWrapper(CellWrapper):
    """Projects each step's output of a cell with a dense layer.

    TF1's `tf.contrib.rnn.OutputProjectionWrapper`: `output = activation(
    cell_output @ kernel + bias)`; the states are the wrapped cell's,
    untouched. It gives the same numbers as a `Dense` layer applied to the
    sequence output of the unwrapped RNN (the "reshape, dense,
    reshape" trick) with the same weights, and lives inside the recurrence,
    so stacks, wrappers and decoders see the projected output.

    Args:
        cell: The RNN cell whose output is projected.
        output_size: Positive integer, size of the projected output.
        activation: Activation of the projection. Default: `None` (linear),
            as in TF1.
        use_bias: Boolean (default `True`; TF1 always had a bias).
        kernel_initializer: Default `"glorot_uniform"`.
        bias_initializer: Default `"zeros"`.
        kernel_regularizer: Optional regularizer of the kernel.
        bias_regularizer: Optional regularizer of the bias.
        kernel_constraint: Optional constraint on the kernel.
        bias_constraint: Optional constraint on the bias.
        **kwargs: Standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: Float tensor `(batch, features)`, one step.
        states: The wrapped cell's states.
        training: Boolean, passed to the wrapped cell.

    Returns:
        `(projected_output, new_states)`.

    Raises:
        ValueError: At construction: `output_size` not a positive integer, a
            non-boolean `use_bias`, or a `cell` that is not an RNN cell. At
            call: a step not shaped `(batch, features)`, or states that do
            not fit the cell's `state_size`.
        TypeError: At call: an integer step input.

    Examples:
        >>> import numpy as np, keras, keras_rnnkit
        >>> cell = keras_rnnkit.OutputProjectionWrapper(keras.layers.LSTMCell(16), 1)
        >>> layer = keras.layers.RNN(cell, return_sequences=True)
        >>> tuple(layer(np.ones((2, 20, 3), "float32")).shape)
        (2, 20, 1)
    """

    def __init__(
        self,
        cell: Cell,
        output_size: int,
        activation: Activation = None,
        use_bias: bool = True,
        kernel_initializer: Initializer = "glorot_uniform",
        bias_initializer: Initializer = "zeros",
        kernel_regularizer: Regularizer = None,
        bias_regularizer: Regularizer = None,
        kernel_constraint: Constraint = None,
        bias_constraint: Constraint = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(cell, **kwargs)
        self.projection_size = check.positive_int("output_size", output_size)
        self.activation = keras.activations.get(activation)
        self.use_bias = check.boolean("use_bias", use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)

    @property
    def output_size(self):
        return self.projection_size

    output_is_first_state = False  # the output is projected, the state not

    def build(self, input_shape):
        super().build(input_shape)
        cell_output_size = super().output_size
        self.kernel = self.add_weight(
            shape=(cell_output_size, self.projection_size),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(self.projection_size,),
                name="bias",
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    def call(self, inputs: Tensor, states: States, training: bool = False):
        check.step_fits(self, inputs, states)
        output, new_states = call_cell(self.cell, inputs, states, training)
        output = _float64.matmul(output, self.kernel)
        if self.use_bias:
            output = output + self.bias
        return self.activation(output), new_states

    # Settings of the projection's weights, and its size (the kernel's
    # shape): they never change what `fused_form` describes.
    fused_form_ignores = (
        *(
            f"{weight}_{kind}"
            for weight in ("kernel", "bias")
            for kind in ("initializer", "regularizer", "constraint")
        ),
        "output_size",
    )

    def fused_form(self, training: bool = False) -> ProjectionForm | None:
        """`call`'s math (see `keras_rnnkit.cell_protocol`)."""
        inner = cell_protocol.fused_form(self.cell, training)
        if inner is None:
            return None
        bias = self.bias if self.use_bias else None
        return ProjectionForm(inner, self.kernel, bias, self.activation)

    def get_config(self):
        config = {
            "output_size": self.projection_size,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
        }
        for name in ("initializer", "regularizer", "constraint"):
            module = getattr(keras, name + "s")
            for weight in ("kernel", "bias"):
                key = f"{weight}_{name}"
                config[key] = module.serialize(getattr(self, key))
        return {**super().get_config(), **config}
