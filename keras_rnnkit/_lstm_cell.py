"""What the kit's LSTM cells share: gate weights, peepholes, states, config.

`PeepholeLSTMCell` and `LayerNormLSTMCell` both keep Keras's layout: a
`kernel` over the input and a `recurrent_kernel` over `h`, gates in the
order i, f, c, o, an optional bias whose forget block starts at 1
(`unit_forget_bias`), optional diagonal peepholes, TF1's run-time
`forget_bias`, per-sequence dropout masks and the states `[h, c]`. Each
cell adds its own settings and its own `call`.
"""

import dataclasses

import keras
from keras import ops

from keras_rnnkit import _validation as check
from keras_rnnkit import cell_protocol
from keras_rnnkit._compat import ThreadLocalMasks


class LSTMCellBase(keras.layers.Layer, ThreadLocalMasks):
    """Base of the kit's LSTM cells (see the module docstring).

    A subclass sets `SERIALIZED` (its initializer, regularizer, constraint
    and activation arguments and the Keras module that (de)serializes
    each), calls `_set_lstm_arguments(locals())` in `__init__`,
    `_build_gates` and `_build_peepholes` in `build`, and adds its own
    settings to `get_config` with `_lstm_config(**settings)`.
    """

    # The cell protocol (keras_rnnkit.cell_protocol): states [h, c], the
    # carry c, and the output is the new h.
    carry_states = (False, True)
    output_is_first_state = True

    SERIALIZED: dict = {}

    def _set_lstm_arguments(self, args):
        self.units = check.positive_int("units", args["units"])
        self.use_peepholes = check.boolean("use_peepholes", args["use_peepholes"])
        self.forget_bias = check.finite_float("forget_bias", args["forget_bias"])
        self.use_bias = check.boolean("use_bias", args["use_bias"])
        self.unit_forget_bias = check.boolean(
            "unit_forget_bias", args["unit_forget_bias"]
        )
        for name, module in self.SERIALIZED.items():
            setattr(self, name, module.get(args[name]))
        self.dropout = check.rate("dropout", args["dropout"])
        self.recurrent_dropout = check.rate(
            "recurrent_dropout", args["recurrent_dropout"]
        )
        self.seed = args["seed"]
        self.seed_generator = keras.random.SeedGenerator(seed=self.seed)

    def _check_input_shape(self, input_shape):
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects step inputs "
                "of shape (batch, features) with a known number of features. "
                f"Received: input_shape={tuple(input_shape)}"
            )

    def _build_gates(self, input_dim, recurrent_dim):
        """`kernel`, `recurrent_kernel` and (with `use_bias`) `bias`."""
        units = self.units
        self.kernel = self.add_weight(
            shape=(input_dim, 4 * units),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(recurrent_dim, 4 * units),
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

    def _build_peepholes(self, regularizer=None, constraint=None):
        """The three peephole vectors, when `use_peepholes`."""
        if not self.use_peepholes:
            return
        for gate in ("input", "forget", "output"):
            weight = self.add_weight(
                shape=(self.units,),
                name=f"{gate}_gate_peephole_weights",
                initializer=self.peephole_initializer,
                regularizer=regularizer,
                constraint=constraint,
            )
            setattr(self, f"{gate}_gate_peephole_weights", weight)

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

    def _with_dropout_masks(self, form, training, recurrent=True):
        """`form` (this cell's math without dropout) with the per-sequence
        dropout masks drawn before the loop, while training: the input
        mask as a `MaskedForm` around it, the recurrent one (when
        `recurrent`, else no form) as the form's `recurrent_mask`. None
        when a mask was not drawn (the cell is called step by step)."""
        if not training or not (self.dropout or self.recurrent_dropout):
            return form
        if self.recurrent_dropout:
            if not recurrent or self._recurrent_dropout_mask is None:
                return None
            form = dataclasses.replace(
                form, recurrent_mask=self._recurrent_dropout_mask
            )
        if self.dropout:
            if self._dropout_mask is None:
                return None
            form = cell_protocol.MaskedForm(form, input_mask=self._dropout_mask)
        return form

    def _dropped_input(self, inputs, training):
        """The step input after input dropout (training only)."""
        if training and self.dropout > 0.0:
            return inputs * self.get_dropout_mask(inputs)
        return inputs

    def get_initial_state(self, batch_size=None):
        return [
            ops.zeros((batch_size, size), dtype=self.compute_dtype)
            for size in self.state_size
        ]

    def _lstm_config(self, **settings):
        """The config: the shared arguments, the cell's own `settings` and
        every `SERIALIZED` argument."""
        config = {
            "units": self.units,
            **settings,
            "use_peepholes": self.use_peepholes,
            "forget_bias": self.forget_bias,
            "use_bias": self.use_bias,
            "unit_forget_bias": self.unit_forget_bias,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
        for name, module in self.SERIALIZED.items():
            config[name] = module.serialize(getattr(self, name))
        return {**super().get_config(), **config}
