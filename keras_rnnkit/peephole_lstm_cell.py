"""LSTM cell with peepholes, cell clipping and an output projection."""

from typing import Any

import keras
from keras import ops

from keras_rnnkit import _validation as check
from keras_rnnkit._compat import ThreadLocalMasks
from keras_rnnkit._registration import register
from keras_rnnkit._types import (
    Activation,
    Constraint,
    Initializer,
    Regularizer,
    States,
    Tensor,
)

_SERIALIZED = {
    "activation": keras.activations,
    "recurrent_activation": keras.activations,
    "kernel_initializer": keras.initializers,
    "recurrent_initializer": keras.initializers,
    "bias_initializer": keras.initializers,
    "peephole_initializer": keras.initializers,
    "projection_initializer": keras.initializers,
    "kernel_regularizer": keras.regularizers,
    "recurrent_regularizer": keras.regularizers,
    "bias_regularizer": keras.regularizers,
    "peephole_regularizer": keras.regularizers,
    "projection_regularizer": keras.regularizers,
    "kernel_constraint": keras.constraints,
    "recurrent_constraint": keras.constraints,
    "bias_constraint": keras.constraints,
    "peephole_constraint": keras.constraints,
    "projection_constraint": keras.constraints,
}


@register
class PeepholeLSTMCell(keras.layers.Layer, ThreadLocalMasks):
    """LSTM cell with peepholes, cell clipping and an output projection.

    The Keras 3 counterpart of TF1's `tf.contrib.rnn.LSTMCell(use_peepholes,
    cell_clip, num_proj, proj_clip, forget_bias)`. For one step with input
    `x`, state `[h, c]` (the Keras order) and gates in Keras order i, f, c, o:

    ```
    z   = x @ kernel + h @ recurrent_kernel + bias
    i   = recurrent_activation(z_i + w_i * c)
    f   = recurrent_activation(z_f + w_f * c + forget_bias)
    c'  = f * c + i * activation(z_c)
    c'  = clip(c', -cell_clip, cell_clip)            # if cell_clip
    o   = recurrent_activation(z_o + w_o * c')       # peeks at the new c'
    h'  = o * activation(c')
    h'  = clip(h' @ projection_kernel, +-proj_clip)  # if num_proj
    ```

    The peephole weights `w_i`, `w_f`, `w_o` are vectors (diagonal matrices).
    The output and the new `h` state are `h'`; they have `num_proj` features
    when `num_proj` is set, else `units`. With `use_peepholes=False`, no clip
    and no projection, the cell computes exactly what `keras.layers.LSTMCell`
    computes and its weights can be copied with `set_weights`.

    TF1 added `forget_bias` (default 1.0) at run time and stored a zero bias;
    Keras instead initialises the stored forget bias to 1
    (`unit_forget_bias=True`) and adds nothing. Both are available here: the
    defaults follow Keras, and `forget_bias=1.0, unit_forget_bias=False`
    reproduces TF1 exactly. `keras_rnnkit.tf1.set_lstm_weights` loads the
    variables of a trained TF1 cell.

    Args:
        units: Positive integer, size of the cell state `c` (TF1 `num_units`).
        use_peepholes: Boolean (default `True`), whether the gates see `c`.
        cell_clip: Positive float or `None` (default). If set, `c` is clipped
            to `[-cell_clip, cell_clip]` before the output gate.
        num_proj: Positive integer or `None` (default). If set, the output
            (and `h`) is projected from `units` to `num_proj` features by a
            bias-free matrix.
        proj_clip: Positive float or `None` (default). Clips the projected
            output to `[-proj_clip, proj_clip]`; needs `num_proj`.
        forget_bias: Float (default `0.0`) added to the forget gate at every
            step, not trained (TF1's `forget_bias`).
        activation: Activation of the candidate and of the cell output.
            Default: `"tanh"`.
        recurrent_activation: Activation of the gates. Default: `"sigmoid"`.
        use_bias: Boolean (default `True`), whether the gates have a bias.
        kernel_initializer: Initializer of the input kernel.
            Default: `"glorot_uniform"`.
        recurrent_initializer: Initializer of the recurrent kernel.
            Default: `"orthogonal"`.
        bias_initializer: Initializer of the bias. Default: `"zeros"`.
        unit_forget_bias: Boolean (default `True`). If `True`, the forget part
            of the bias starts at 1 (added to `bias_initializer`'s values).
        peephole_initializer: Initializer of the three peephole vectors.
            Default: `"glorot_uniform"` (TF1's default initializer).
        projection_initializer: Initializer of the projection matrix.
            Default: `"glorot_uniform"`.
        kernel_regularizer: Optional regularizer of `kernel`.
        recurrent_regularizer: Optional regularizer of `recurrent_kernel`.
        bias_regularizer: Optional regularizer of `bias`.
        peephole_regularizer: Optional regularizer of the peephole vectors.
        projection_regularizer: Optional regularizer of `projection_kernel`.
        kernel_constraint: Optional constraint on `kernel`.
        recurrent_constraint: Optional constraint on `recurrent_kernel`.
        bias_constraint: Optional constraint on `bias`.
        peephole_constraint: Optional constraint on the peephole vectors.
        projection_constraint: Optional constraint on `projection_kernel`.
        dropout: Float in `[0, 1)`. Fraction of the input features dropped
            (one mask per sequence, reused at every step; training only).
        recurrent_dropout: Float in `[0, 1)`. Fraction of the `h` features
            dropped on the way into the recurrent matmul (one mask per
            sequence; training only).
        seed: Integer or `None`, random seed for the dropout masks.
        **kwargs: Standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: Float tensor of shape `(batch, features)`, one step.
        states: List `[h, c]` of shapes `(batch, num_proj or units)` and
            `(batch, units)`.
        training: Boolean. Dropout is applied only when `True`; at inference
            nothing random is drawn. The masks are kept per thread, so one
            layer may be trained from several threads at once.

    Returns:
        A tuple `(output, [h, c])`; `output` is the new `h`.

    Raises:
        ValueError: At construction: `units` or `num_proj` not a positive
            integer, a clip not a finite number > 0, `proj_clip` without
            `num_proj`, a non-finite `forget_bias`, a dropout rate outside
            `[0, 1)`, a non-boolean flag. At build: inputs not shaped
            `(batch, features)` with known features. At call: a step not
            shaped `(batch, features)`, or states other than `[h, c]` of
            widths `[num_proj or units, units]`.
        TypeError: At call: an integer step input.

    Examples:
        >>> import numpy as np, keras, keras_rnnkit
        >>> cell = keras_rnnkit.PeepholeLSTMCell(8, num_proj=4, cell_clip=3.0)
        >>> layer = keras.layers.RNN(cell, return_state=True)
        >>> output, h, c = layer(np.ones((2, 5, 3), "float32"))
        >>> tuple(output.shape), tuple(h.shape), tuple(c.shape)
        ((2, 4), (2, 4), (2, 8))
    """

    def __init__(
        self,
        units: int,
        use_peepholes: bool = True,
        cell_clip: float | None = None,
        num_proj: int | None = None,
        proj_clip: float | None = None,
        forget_bias: float = 0.0,
        activation: Activation = "tanh",
        recurrent_activation: Activation = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Initializer = "glorot_uniform",
        recurrent_initializer: Initializer = "orthogonal",
        bias_initializer: Initializer = "zeros",
        unit_forget_bias: bool = True,
        peephole_initializer: Initializer = "glorot_uniform",
        projection_initializer: Initializer = "glorot_uniform",
        kernel_regularizer: Regularizer = None,
        recurrent_regularizer: Regularizer = None,
        bias_regularizer: Regularizer = None,
        peephole_regularizer: Regularizer = None,
        projection_regularizer: Regularizer = None,
        kernel_constraint: Constraint = None,
        recurrent_constraint: Constraint = None,
        bias_constraint: Constraint = None,
        peephole_constraint: Constraint = None,
        projection_constraint: Constraint = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        args = locals()
        super().__init__(**kwargs)
        self.units = check.positive_int("units", units)
        self.use_peepholes = check.boolean("use_peepholes", use_peepholes)
        self.cell_clip = check.positive_float("cell_clip", cell_clip, True)
        self.num_proj = check.positive_int("num_proj", num_proj, True)
        self.proj_clip = check.positive_float("proj_clip", proj_clip, True)
        if self.proj_clip is not None and self.num_proj is None:
            raise ValueError(
                "Argument `proj_clip` needs `num_proj`: it clips the projected "
                f"output. Received: proj_clip={proj_clip!r}, num_proj=None"
            )
        self.forget_bias = check.finite_float("forget_bias", forget_bias)
        self.use_bias = check.boolean("use_bias", use_bias)
        self.unit_forget_bias = check.boolean("unit_forget_bias", unit_forget_bias)
        for name, module in _SERIALIZED.items():
            setattr(self, name, module.get(args[name]))
        self.dropout = check.rate("dropout", dropout)
        self.recurrent_dropout = check.rate("recurrent_dropout", recurrent_dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)

        output_units = self.num_proj or self.units
        self.state_size = [output_units, self.units]
        self.output_size = output_units

    def build(self, input_shape):
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(
                f"Layer '{self.name}' (PeepholeLSTMCell) expects step inputs "
                "of shape (batch, features) with a known number of features. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        input_dim = input_shape[-1]
        units = self.units
        self.kernel = self.add_weight(
            shape=(input_dim, 4 * units),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.output_size, 4 * units),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(4 * units,),
                name="bias",
                initializer=self._bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        if self.use_peepholes:
            self.input_gate_peephole_weights = self._peephole("input")
            self.forget_gate_peephole_weights = self._peephole("forget")
            self.output_gate_peephole_weights = self._peephole("output")
        self.projection_kernel = None
        if self.num_proj is not None:
            self.projection_kernel = self.add_weight(
                shape=(units, self.num_proj),
                name="projection_kernel",
                initializer=self.projection_initializer,
                regularizer=self.projection_regularizer,
                constraint=self.projection_constraint,
            )

    def _peephole(self, gate):
        return self.add_weight(
            shape=(self.units,),
            name=f"{gate}_gate_peephole_weights",
            initializer=self.peephole_initializer,
            regularizer=self.peephole_regularizer,
            constraint=self.peephole_constraint,
        )

    def _bias_initializer(self, shape, dtype=None):
        bias = self.bias_initializer(shape, dtype=dtype)
        if not self.unit_forget_bias:
            return bias
        units = self.units
        forget = ops.concatenate(
            [
                ops.zeros((units,), dtype=dtype),
                ops.ones((units,), dtype=dtype),
                ops.zeros((2 * units,), dtype=dtype),
            ]
        )
        return bias + forget

    def call(self, inputs: Tensor, states: States, training: bool = False):
        check.step_fits(self, inputs, states)
        h_tm1, c_tm1 = states[0], states[1]
        if training and self.dropout > 0.0:
            inputs = inputs * self.get_dropout_mask(inputs)
        if training and self.recurrent_dropout > 0.0:
            h_tm1 = h_tm1 * self.get_recurrent_dropout_mask(h_tm1)

        z = ops.matmul(inputs, self.kernel)
        z = ops.add(z, ops.matmul(h_tm1, self.recurrent_kernel))
        if self.use_bias:
            z = ops.add(z, self.bias)
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)

        if self.use_peepholes:
            z_i = z_i + self.input_gate_peephole_weights * c_tm1
            z_f = z_f + self.forget_gate_peephole_weights * c_tm1
        if self.forget_bias:
            z_f = z_f + self.forget_bias
        c = self.recurrent_activation(z_f) * c_tm1
        c = c + self.recurrent_activation(z_i) * self.activation(z_c)
        if self.cell_clip is not None:
            c = ops.clip(c, -self.cell_clip, self.cell_clip)
        if self.use_peepholes:
            z_o = z_o + self.output_gate_peephole_weights * c
        h = self.recurrent_activation(z_o) * self.activation(c)

        if self.num_proj is not None:
            h = ops.matmul(h, self.projection_kernel)
            if self.proj_clip is not None:
                h = ops.clip(h, -self.proj_clip, self.proj_clip)
        return h, [h, c]

    def get_initial_state(self, batch_size=None):
        return [
            ops.zeros((batch_size, size), dtype=self.compute_dtype)
            for size in self.state_size
        ]

    def get_config(self):
        config = {
            "units": self.units,
            "use_peepholes": self.use_peepholes,
            "cell_clip": self.cell_clip,
            "num_proj": self.num_proj,
            "proj_clip": self.proj_clip,
            "forget_bias": self.forget_bias,
            "use_bias": self.use_bias,
            "unit_forget_bias": self.unit_forget_bias,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
        for name, module in _SERIALIZED.items():
            config[name] = module.serialize(getattr(self, name))
        return {**super().get_config(), **config}
