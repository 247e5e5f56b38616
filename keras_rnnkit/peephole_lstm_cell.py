"""LSTM cell with peepholes, cell clipping and an output projection."""

from typing import Any

import keras
from keras import ops

from keras_rnnkit import _float64
from keras_rnnkit import _validation as check
from keras_rnnkit._lstm_cell import LSTMCellBase
from keras_rnnkit._registration import register
from keras_rnnkit._types import (
    Activation,
    Constraint,
    Initializer,
    Regularizer,
    States,
    Tensor,
)
from keras_rnnkit.cell_protocol import LSTMForm, MaskedForm

_WEIGHTS = ("kernel", "recurrent", "bias", "peephole", "projection")
_KINDS = {
    "initializer": keras.initializers,
    "regularizer": keras.regularizers,
    "constraint": keras.constraints,
}


@register
class PeepholeLSTMCell(LSTMCellBase):
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

    SERIALIZED = {
        "activation": keras.activations,
        "recurrent_activation": keras.activations,
        **{
            f"{weight}_{kind}": module
            for kind, module in _KINDS.items()
            for weight in _WEIGHTS
        },
    }

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
        super().__init__(**kwargs)
        self._set_lstm_arguments(locals())
        self.cell_clip = check.positive_float("cell_clip", cell_clip, True)
        self.num_proj = check.positive_int("num_proj", num_proj, True)
        self.proj_clip = check.positive_float("proj_clip", proj_clip, True)
        if self.proj_clip is not None and self.num_proj is None:
            raise ValueError(
                "Argument `proj_clip` needs `num_proj`: it clips the projected "
                f"output. Received: proj_clip={proj_clip!r}, num_proj=None"
            )
        output_units = self.num_proj or self.units
        self.state_size = [output_units, self.units]
        self.output_size = output_units

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        self._build_gates(input_shape[-1], self.output_size)
        self._build_peepholes(self.peephole_regularizer, self.peephole_constraint)
        self.projection_kernel = None
        if self.num_proj is not None:
            self.projection_kernel = self.add_weight(
                shape=(self.units, self.num_proj),
                name="projection_kernel",
                initializer=self.projection_initializer,
                regularizer=self.projection_regularizer,
                constraint=self.projection_constraint,
            )

    def call(self, inputs: Tensor, states: States, training: bool = False):
        check.step_fits(self, inputs, states)
        h_tm1, c_tm1 = states[0], states[1]
        inputs = self._dropped_input(inputs, training)
        if training and self.recurrent_dropout > 0.0:
            h_tm1 = h_tm1 * self.get_recurrent_dropout_mask(h_tm1)

        z = _float64.matmul(inputs, self.kernel)
        z = ops.add(z, _float64.matmul(h_tm1, self.recurrent_kernel))
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
            c = _float64.clip(c, self.cell_clip)
        if self.use_peepholes:
            z_o = z_o + self.output_gate_peephole_weights * c
        h = self.recurrent_activation(z_o) * self.activation(c)

        if self.num_proj is not None:
            h = _float64.matmul(h, self.projection_kernel)
            if self.proj_clip is not None:
                h = _float64.clip(h, self.proj_clip)
        return h, [h, c]

    # The config keys that cannot change what `fused_form` computes (a test
    # checks that it reads every other one): weight settings, and sizes the
    # weights' shapes imply.
    fused_form_ignores = (
        *(f"{weight}_{kind}" for weight in _WEIGHTS for kind in _KINDS),
        "unit_forget_bias",  # an initializer setting
        "seed",
        "units",
    )

    def fused_form(self, training: bool = False) -> LSTMForm | MaskedForm | None:
        """`call`'s math as an `LSTMForm` (see `keras_rnnkit.cell_protocol`);
        while training with dropout, with the masks drawn before the loop
        (the input mask as a `MaskedForm` around it), or None when they were
        not drawn."""
        peepholes = None
        if self.use_peepholes:
            peepholes = (
                self.input_gate_peephole_weights,
                self.forget_gate_peephole_weights,
                self.output_gate_peephole_weights,
            )
        form = LSTMForm(
            kernel=self.kernel,
            recurrent_kernel=self.recurrent_kernel,
            bias=self.bias if self.use_bias else None,
            peepholes=peepholes,
            projection=self.projection_kernel if self.num_proj else None,
            forget_bias=self.forget_bias,
            cell_clip=self.cell_clip,
            proj_clip=self.proj_clip,
            activation=self.activation,
            recurrent_activation=self.recurrent_activation,
        )
        return self._with_dropout_masks(form, training)

    def get_config(self):
        return self._lstm_config(
            cell_clip=self.cell_clip,
            num_proj=self.num_proj,
            proj_clip=self.proj_clip,
        )
