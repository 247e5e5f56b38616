"""Adds a cell's input to its output (TF1's `ResidualWrapper`)."""

from keras_rnnkit import _validation as check
from keras_rnnkit import cell_protocol
from keras_rnnkit._cell_wrapper import CellWrapper, call_cell
from keras_rnnkit._registration import register
from keras_rnnkit._types import States, Tensor
from keras_rnnkit.cell_protocol import ResidualForm


@register
class ResidualWrapper(CellWrapper):
    """Residual connection around a cell: `output = inputs + cell_output`.

    TF1's `tf.contrib.rnn.ResidualWrapper` (without `residual_fn`). The
    states are the wrapped cell's, untouched. The input and the cell's output
    must have the same size; a mismatch is refused when the wrapper is
    built. In deep stacks (`MultiRNNCell`) it eases the flow of gradients
    (Wu et al. 2016, GNMT).

    Args:
        cell: The RNN cell to wrap; its `output_size` must equal the number
            of input features.
        **kwargs: Standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: Float tensor `(batch, features)`, one step.
        states: The wrapped cell's states.
        training: Boolean, passed to the wrapped cell.

    Returns:
        `(inputs + cell_output, new_states)`.

    Raises:
        ValueError: At construction: a `cell` that is not an RNN cell. At
            build: inputs whose size differs from the cell's `output_size`.
            At call: a step not shaped `(batch, features)`, or states that
            do not fit the cell's `state_size`.
        TypeError: At call: an integer step input.

    Examples:
        >>> import numpy as np, keras, keras_rnnkit
        >>> cell = keras_rnnkit.ResidualWrapper(keras.layers.GRUCell(4))
        >>> tuple(keras.layers.RNN(cell)(np.ones((2, 3, 4), "float32")).shape)
        (2, 4)
    """

    output_is_first_state = False  # the input is added to the output

    def build(self, input_shape):
        features = input_shape[-1]
        if features != self.output_size:
            raise ValueError(
                f"ResidualWrapper '{self.name}' adds the input to the output of "
                "its `cell`, so they must have the same size. Received: inputs "
                f"with {features} features, cell output_size={self.output_size}."
                " Project the inputs first (e.g. a Dense layer) or give the "
                "cell as many units as there are features."
            )
        super().build(input_shape)

    def call(self, inputs: Tensor, states: States, training: bool = False):
        check.step_fits(self, inputs, states)
        output, new_states = call_cell(self.cell, inputs, states, training)
        return inputs + output, new_states

    def fused_form(self, training: bool = False) -> ResidualForm | None:
        """`call`'s math (see `keras_rnnkit.cell_protocol`)."""
        inner = cell_protocol.fused_form(self.cell, training)
        return None if inner is None else ResidualForm(inner)
