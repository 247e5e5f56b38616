"""Recurrent layer running a `PeepholeLSTMCell` over a sequence."""

import inspect
from typing import Any

from keras_rnnkit._registration import register
from keras_rnnkit._serialization import construct
from keras_rnnkit._types import Activation, Constraint, Initializer, Regularizer
from keras_rnnkit.dynamic_rnn import DynamicRNN
from keras_rnnkit.peephole_lstm_cell import PeepholeLSTMCell

# Every argument of the cell, in signature order (units first).
_CELL_ARGS = tuple(inspect.signature(PeepholeLSTMCell.__init__).parameters)[1:-1]


@register
class PeepholeLSTM(DynamicRNN):
    """LSTM layer with peepholes, cell clipping and an output projection.

    `DynamicRNN(PeepholeLSTMCell(...))` with the arguments and defaults of
    `keras.layers.LSTM`, which it can replace: see `PeepholeLSTMCell` for
    the equations and the cell arguments. With `zero_output_for_mask=True`
    it computes what TF1's `tf.nn.dynamic_rnn` over a
    `tf.contrib.rnn.LSTMCell(use_peepholes=True, ...)` computed; its
    default, `False`, is Keras's (the rule, for every layer of the kit, is
    on the `DynamicRNN` page of the docs).

    Masks and lengths: a mask (from `Masking`, from
    `Embedding(mask_zero=True)` or passed as `mask=`) or per-row
    `sequence_length=` skips time steps. The state is carried unchanged over
    a skipped step, so the final state of a right-padded row is its state
    after its last valid step, as in TF1's `dynamic_rnn`. The output of a
    skipped step repeats the previous output (the default, as
    `keras.layers.LSTM`) or is zero with `zero_output_for_mask=True` (TF1's
    behaviour); the last output is always the last valid step's.

    The arguments from `use_peepholes` to `seed` in the signature are
    `PeepholeLSTMCell`'s and are passed to it; see there.

    Args:
        units: Positive integer, size of the cell state.
        activity_regularizer: Regularizer applied to the layer's output.
        return_sequences: Boolean (default `False`): return the output of
            every step, `(batch, timesteps, output_size)`, instead of the
            last one.
        return_state: Boolean (default `False`): also return the final
            states `h` and `c`.
        go_backwards: Boolean (default `False`): process the sequence
            backwards and return the reversed sequence.
        stateful: Boolean (default `False`): the last state of each sample is
            the initial state of the same sample in the next batch.
        unroll: Boolean (default `False`): unroll the loop (only for short
            sequences of known length).
        zero_output_for_mask: Boolean (default `False`): output zeros at
            masked steps, as TF1's `dynamic_rnn`, instead of repeating the
            previous output.
        **kwargs: Standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        sequences: Float tensor of shape `(batch, timesteps, features)`.
        initial_state: Optional list `[h, c]` of initial states.
        mask: Optional boolean tensor of shape `(batch, timesteps)`; `False`
            marks a step to skip.
        sequence_length: Optional integer tensor `(batch,)` of row lengths,
            `0 <= length <= timesteps`. Checked when its values are known;
            inside a compiled function (`fit`, `predict`) they are not, and a
            length outside `[0, timesteps]` acts as if clipped to it (see
            `keras_rnnkit.set_runtime_checks`).
        training: Boolean. Dropout is applied only when `True`.

    Returns:
        The output, `(batch, output_size)` or `(batch, timesteps,
        output_size)` with `return_sequences`, where `output_size` is
        `num_proj` or `units`; with `return_state`, the list
        `[output, h, c]`.

    Raises:
        ValueError: At construction: the cell arguments' errors (see
            `PeepholeLSTMCell`). At call: inputs with no time step, a mask
            or `sequence_length` that does not fit the inputs, lengths
            outside `[0, timesteps]` (when known), or an `initial_state` that
            is not two tensors of the state widths.
        TypeError: At call: integer inputs, or a `sequence_length` that is
            not of an integer dtype.

    Examples:
        >>> import numpy as np, keras, keras_rnnkit
        >>> model = keras.Sequential([
        ...     keras.Input((None, 3)),
        ...     keras_rnnkit.PeepholeLSTM(16, num_proj=8, cell_clip=5.0),
        ...     keras.layers.Dense(1),
        ... ])
        >>> model.predict(np.zeros((4, 7, 3)), verbose=0).shape
        (4, 1)
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
        activity_regularizer: Regularizer = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        **kwargs: Any,
    ) -> None:
        args = locals()
        cell = PeepholeLSTMCell(
            **{name: args[name] for name in _CELL_ARGS},
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="peephole_lstm_cell",
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            zero_output_for_mask=zero_output_for_mask,
            activity_regularizer=activity_regularizer,
            **kwargs,
        )

    def get_config(self):
        cell_config = self.cell.get_config()
        config = {name: cell_config[name] for name in _CELL_ARGS}
        base_config = super().get_config()
        del base_config["cell"]
        return {**base_config, **config}

    @classmethod
    def from_config(cls, config):
        return construct(cls, config, **config)


# Cell arguments read as layer attributes (`layer.num_proj`), as
# `keras.layers.LSTM` exposes `layer.units`.
for _name in _CELL_ARGS:
    setattr(
        PeepholeLSTM,
        _name,
        property(lambda self, _name=_name: getattr(self.cell, _name)),
    )
del _name
