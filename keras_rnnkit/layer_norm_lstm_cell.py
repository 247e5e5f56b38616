"""Layer-normalised LSTM cell: TF1 contrib's and tensorflow-addons' variants."""

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
from keras_rnnkit.cell_protocol import LayerNormLSTMForm, MaskedForm

NORMS = ("fused", "per_gate")
# Each source's epsilon: tensorflow-addons' `norm_epsilon` default, and the
# `variance_epsilon` hard-coded in TF1's `tf.contrib.layers.layer_norm`.
_DEFAULT_EPSILON = {"fused": 1e-3, "per_gate": 1e-12}


@register
class LayerNormLSTMCell(LSTMCellBase):
    """LSTM cell with layer normalisation, in either of its two TF versions.

    `norm` picks the variant. With input `x`, state `[h, c]` (the Keras
    order), gates in Keras order i, f, c, o, `LN` a layer normalisation over
    the last axis with its own gain and shift, `sigma` the
    `recurrent_activation` and `act` the `activation`:

    `norm="fused"`, tensorflow-addons' `tfa.rnn.LayerNormLSTMCell`:

    ```
    z  = LN_kernel(x @ kernel) + LN_recurrent(h @ recurrent_kernel) + bias
    c' = sigma(z_f + forget_bias) * c + sigma(z_i) * act(z_c)
    c' = LN_state(c')
    h' = sigma(z_o) * act(c')
    ```

    `norm="per_gate"`, TF1's `tf.contrib.rnn.LayerNormBasicLSTMCell`:

    ```
    z   = x @ kernel + h @ recurrent_kernel
    z_g = LN_g(z_g) for each gate g separately, then + bias
    c'  = sigma(z_f + forget_bias) * c + sigma(z_i) * act(z_c)
    c'  = LN_state(c')
    h'  = sigma(z_o) * act(c')
    ```

    Both carry the normalised `c'` as state. TF1 had no bias with layer norm
    and added `forget_bias` (default 1.0) at run time; here the bias comes
    after the normalisation, so the defaults (`unit_forget_bias=True`: the
    stored forget bias starts at 1) start where TF1 did; `use_bias=False,
    forget_bias=1.0` is TF1's exact parametrisation.

    The variants also differ in `recurrent_dropout`: `"fused"` drops `h` on
    its way into the recurrent matmul (Keras and addons), `"per_gate"` drops
    the candidate `act(z_c)` (TF1's `dropout_keep_prob`, Semeniuta et al.'s
    "recurrent dropout without memory loss"). The masks are drawn once per
    sequence (TF1 drew a new one at every step).

    With `use_peepholes=True` the gates also see the cell state, after the
    normalisation and the bias: `z_i += w_i * c`, `z_f += w_f * c` and
    `z_o += w_o * c'` (the new, normalised state), as in `PeepholeLSTMCell`.
    Neither source has peepholes.

    Args:
        units: Positive integer, size of `h` and `c` (TF1 `num_units`).
        norm: `"fused"` (default, tensorflow-addons) or `"per_gate"` (TF1
            contrib), see above.
        use_peepholes: Boolean (default `False`), whether the gates see `c`.
        forget_bias: Float (default `0.0`) added to the forget gate at every
            step, not trained (TF1's `forget_bias`).
        activation: Activation of the candidate and of the cell output.
            Default: `"tanh"`.
        recurrent_activation: Activation of the gates. Default: `"sigmoid"`.
        use_bias: Boolean (default `True`), whether the gates have a bias
            (added after the normalisation).
        kernel_initializer: Initializer of the input kernel.
            Default: `"glorot_uniform"`.
        recurrent_initializer: Initializer of the recurrent kernel.
            Default: `"orthogonal"`.
        bias_initializer: Initializer of the bias. Default: `"zeros"`.
        unit_forget_bias: Boolean (default `True`). If `True`, the forget part
            of the bias starts at 1 (added to `bias_initializer`'s values).
        peephole_initializer: Initializer of the three peephole vectors.
            Default: `"glorot_uniform"`.
        norm_gamma_initializer: Initializer of the normalisation gains
            (TF1 `norm_gain`). Default: `"ones"`.
        norm_beta_initializer: Initializer of the normalisation shifts
            (TF1 `norm_shift`). Default: `"zeros"`.
        norm_epsilon: Positive float added to the variance, or `None`
            (default) for the source's own: `1e-3` for `"fused"` (addons'
            `norm_epsilon`), `1e-12` for `"per_gate"` (TF1's
            `tf.contrib.layers.layer_norm`).
        kernel_regularizer: Optional regularizer of `kernel`.
        recurrent_regularizer: Optional regularizer of `recurrent_kernel`.
        bias_regularizer: Optional regularizer of `bias`.
        kernel_constraint: Optional constraint on `kernel`.
        recurrent_constraint: Optional constraint on `recurrent_kernel`.
        bias_constraint: Optional constraint on `bias`.
        dropout: Float in `[0, 1)`. Fraction of the input features dropped
            (one mask per sequence; training only).
        recurrent_dropout: Float in `[0, 1)`. Fraction of `h` (`"fused"`) or
            of the candidate (`"per_gate"`) dropped (one mask per sequence;
            training only).
        seed: Integer or `None`, random seed for the dropout masks.
        **kwargs: Standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: Float tensor of shape `(batch, features)`, one step.
        states: List `[h, c]`, both of shape `(batch, units)`.
        training: Boolean. Dropout is applied only when `True`.

    Returns:
        A tuple `(output, [h, c])`; `output` is the new `h`.

    Raises:
        ValueError: At construction: `units` not a positive integer, `norm`
            not `"fused"` or `"per_gate"`, `norm_epsilon` not a finite number
            > 0, a non-finite `forget_bias`, a dropout rate outside `[0, 1)`,
            a non-boolean flag. At build: inputs not shaped `(batch,
            features)` with known features. At call: a step not shaped
            `(batch, features)`, or states other than `[h, c]` of width
            `units`.
        TypeError: At call: an integer step input.

    Examples:
        >>> import numpy as np, keras, keras_rnnkit
        >>> cell = keras_rnnkit.LayerNormLSTMCell(8, norm="per_gate")
        >>> layer = keras.layers.RNN(cell, return_state=True)
        >>> output, h, c = layer(np.ones((2, 5, 3), "float32"))
        >>> tuple(output.shape), tuple(h.shape), tuple(c.shape)
        ((2, 8), (2, 8), (2, 8))
    """

    SERIALIZED = {
        "activation": keras.activations,
        "recurrent_activation": keras.activations,
        **{
            f"{weight}_initializer": keras.initializers
            for weight in ("kernel", "recurrent", "bias", "peephole")
        },
        "norm_gamma_initializer": keras.initializers,
        "norm_beta_initializer": keras.initializers,
        **{
            f"{weight}_{kind}": module
            for kind, module in (
                ("regularizer", keras.regularizers),
                ("constraint", keras.constraints),
            )
            for weight in ("kernel", "recurrent", "bias")
        },
    }

    def __init__(
        self,
        units: int,
        norm: str = "fused",
        use_peepholes: bool = False,
        forget_bias: float = 0.0,
        activation: Activation = "tanh",
        recurrent_activation: Activation = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Initializer = "glorot_uniform",
        recurrent_initializer: Initializer = "orthogonal",
        bias_initializer: Initializer = "zeros",
        unit_forget_bias: bool = True,
        peephole_initializer: Initializer = "glorot_uniform",
        norm_gamma_initializer: Initializer = "ones",
        norm_beta_initializer: Initializer = "zeros",
        norm_epsilon: float | None = None,
        kernel_regularizer: Regularizer = None,
        recurrent_regularizer: Regularizer = None,
        bias_regularizer: Regularizer = None,
        kernel_constraint: Constraint = None,
        recurrent_constraint: Constraint = None,
        bias_constraint: Constraint = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._set_lstm_arguments(locals())
        if not isinstance(norm, str) or norm not in NORMS:
            raise ValueError(
                f'Argument `norm` must be "fused" (tensorflow-addons) or '
                f'"per_gate" (TF1 contrib). Received: norm={norm!r}'
            )
        self.norm = norm
        self.norm_epsilon = check.positive_float("norm_epsilon", norm_epsilon, True)
        self.state_size = [self.units, self.units]
        self.output_size = self.units

    @property
    def epsilon(self) -> float:
        """The epsilon in use: `norm_epsilon`, or the source's default."""
        if self.norm_epsilon is not None:
            return self.norm_epsilon
        return _DEFAULT_EPSILON[self.norm]

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        units = self.units
        self._build_gates(input_shape[-1], units)
        if self.norm == "fused":
            self._norm_weights("kernel_norm", 4 * units)
            self._norm_weights("recurrent_norm", 4 * units)
        else:
            self._norm_weights("gate_norm", 4 * units)
        self._norm_weights("state_norm", units)
        self._build_peepholes()

    def _norm_weights(self, name, size):
        for part, initializer in (
            ("gamma", self.norm_gamma_initializer),
            ("beta", self.norm_beta_initializer),
        ):
            weight = self.add_weight(
                shape=(size,), name=f"{name}_{part}", initializer=initializer
            )
            setattr(self, f"{name}_{part}", weight)

    def _normalize(self, x, name, groups=1):
        """Layer norm of `x` over its last axis, cut into `groups` equal
        parts normalised separately. Half precision is normalised in float32
        (as `keras.layers.LayerNormalization` does)."""
        gamma = getattr(self, f"{name}_gamma")
        beta = getattr(self, f"{name}_beta")
        dtype = keras.backend.standardize_dtype(x.dtype)
        if dtype in ("float16", "bfloat16"):
            x = ops.cast(x, "float32")
        if groups > 1:
            x = ops.reshape(x, (-1, groups, self.units))
        # Not ops.moments: on torch it takes E[x^2] - E[x]^2, which rounds
        # below 0 and, under an epsilon of 1e-12, gives NaN. Not ops.mean:
        # it sums float64 in float32 on torch (see `_float64`).
        centered = x - _float64.mean(x)
        variance = _float64.mean(ops.square(centered))
        x = centered * ops.rsqrt(variance + self.epsilon)
        if groups > 1:
            x = ops.reshape(x, (-1, groups * self.units))
        x = x * ops.cast(gamma, x.dtype) + ops.cast(beta, x.dtype)
        return ops.cast(x, dtype)

    def call(self, inputs: Tensor, states: States, training: bool = False):
        check.step_fits(self, inputs, states)
        h_tm1, c_tm1 = states[0], states[1]
        fused = self.norm == "fused"
        inputs = self._dropped_input(inputs, training)
        candidate_mask = None
        if training and self.recurrent_dropout > 0.0:
            if fused:
                h_tm1 = h_tm1 * self.get_recurrent_dropout_mask(h_tm1)
            else:
                candidate_mask = self.get_recurrent_dropout_mask(h_tm1)

        x_part = _float64.matmul(inputs, self.kernel)
        h_part = _float64.matmul(h_tm1, self.recurrent_kernel)
        if fused:
            z = self._normalize(x_part, "kernel_norm")
            z = z + self._normalize(h_part, "recurrent_norm")
        else:
            z = self._normalize(x_part + h_part, "gate_norm", groups=4)
        if self.use_bias:
            z = z + self.bias
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)

        if self.use_peepholes:
            z_i = z_i + self.input_gate_peephole_weights * c_tm1
            z_f = z_f + self.forget_gate_peephole_weights * c_tm1
        if self.forget_bias:
            z_f = z_f + self.forget_bias
        g = self.activation(z_c)
        if candidate_mask is not None:
            g = g * candidate_mask
        c = self.recurrent_activation(z_f) * c_tm1
        c = c + self.recurrent_activation(z_i) * g
        c = self._normalize(c, "state_norm")
        if self.use_peepholes:
            z_o = z_o + self.output_gate_peephole_weights * c
        h = self.recurrent_activation(z_o) * self.activation(c)
        return h, [h, c]

    # The config keys that cannot change what `fused_form` computes (a test
    # checks that it reads every other one): weight settings, and the size
    # the weights' shapes imply.
    fused_form_ignores = (
        *(
            f"{weight}_{kind}"
            for weight in ("kernel", "recurrent", "bias")
            for kind in ("initializer", "regularizer", "constraint")
        ),
        "peephole_initializer",
        "norm_gamma_initializer",
        "norm_beta_initializer",
        "unit_forget_bias",  # an initializer setting
        "seed",
        "units",
    )

    def fused_form(
        self, training: bool = False
    ) -> LayerNormLSTMForm | MaskedForm | None:
        """`call`'s math as a `LayerNormLSTMForm` (see
        `keras_rnnkit.cell_protocol`); while training with input dropout,
        with its mask drawn before the loop (a `MaskedForm` around it); None
        while recurrent dropout trains (its mask acts inside the step) or
        when the mask was not drawn."""

        def pair(name):
            return getattr(self, f"{name}_gamma"), getattr(self, f"{name}_beta")

        fused = self.norm == "fused"
        peepholes = None
        if self.use_peepholes:
            peepholes = (
                self.input_gate_peephole_weights,
                self.forget_gate_peephole_weights,
                self.output_gate_peephole_weights,
            )
        form = LayerNormLSTMForm(
            kernel=self.kernel,
            recurrent_kernel=self.recurrent_kernel,
            state_norm=pair("state_norm"),
            epsilon=self.epsilon,
            input_norm=pair("kernel_norm") if fused else None,
            recurrent_norm=pair("recurrent_norm") if fused else None,
            gate_norm=None if fused else pair("gate_norm"),
            bias=self.bias if self.use_bias else None,
            peepholes=peepholes,
            forget_bias=self.forget_bias,
            activation=self.activation,
            recurrent_activation=self.recurrent_activation,
        )
        return self._with_dropout_masks(form, training, recurrent=False)

    def get_config(self):
        return self._lstm_config(norm=self.norm, norm_epsilon=self.norm_epsilon)
