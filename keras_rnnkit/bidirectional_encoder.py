"""A bidirectional encoder whose final states are concatenated (TF1 style)."""

from typing import Any

import keras
from keras import ops

from keras_rnnkit import _validation as check
from keras_rnnkit._cell_wrapper import cells_inside, check_cell, output_size
from keras_rnnkit._registration import register
from keras_rnnkit._serialization import construct, load_nested
from keras_rnnkit._types import States, Tensor
from keras_rnnkit.dynamic_rnn import DynamicRNN, prepare_mask
from keras_rnnkit.sequence import last_valid_output, reverse_valid

_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _cell_of(name, layer):
    """The cell to run: `layer` itself, or the cell of a recurrent layer."""
    if isinstance(layer, keras.layers.RNN):
        return layer.cell
    return check_cell(name, layer)


def _merge(mode, forward, backward):
    if mode == "concat":
        return ops.concatenate([forward, backward], axis=-1)
    if mode == "sum":
        return forward + backward
    if mode == "mul":
        return forward * backward
    if mode == "ave":
        return (forward + backward) / 2
    return [forward, backward]


@register
class BidirectionalEncoder(check.LengthsCheckedFirst, keras.layers.Layer):
    """Runs a cell forwards and backwards; concatenates the final states.

    TF1's `bidirectional_dynamic_rnn` followed by what the kit's TF1
    tutorial (a Chinese RNN tutorial written for `tf.contrib.rnn`) does:
    `LSTMStateTuple(c=concat(c_fw, c_bw), h=concat(h_fw, h_bw))`: the final
    states come back concatenated component by component (`h` with `h`, `c`
    with `c`; per layer for a `MultiRNNCell`), ready to initialise a decoder
    twice as wide. `keras.layers.Bidirectional` returns them separately.

    The backward direction reverses each row within its valid steps only, as
    TF1's `reverse_sequence`: backward outputs line up with their positions,
    padding stays zero and never reaches a state. Valid steps need not be a
    prefix: with left padding (or any mask) the valid steps are reversed
    among themselves, so padding never changes a result.

    Args:
        layer: The forward cell (any Keras RNN cell, kit cell or wrapper), or
            a recurrent layer whose cell is used (`keras.layers.RNN`,
            `DynamicRNN`, `PeepholeLSTM`, ...; only its cell is kept).
        backward_layer: Optional cell or recurrent layer for the backward
            direction. Default: a copy of the forward cell's configuration,
            with weights of its own (the copy keeps any seeds of the
            configuration: with seeded initializers or dropout seeds, pass a
            backward cell of its own). Its state sizes must equal the
            forward ones, and it may not share a cell with the forward one.
        merge_mode: How outputs are merged: `"concat"` (default), `"sum"`,
            `"mul"`, `"ave"`, or `None` for the list `[forward, backward]`.
        return_sequences: Boolean (default `True`): return every step's
            merged output; else the merged outputs of the last valid step
            (forward) and of the first valid step (backward, which reads the
            row last).
        return_state: Boolean (default `False`): also return the
            concatenated final states.
        **kwargs: Standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        sequences: Float tensor `(batch, timesteps, features)`.
        initial_state: Optional initial states, shaped like the states this
            layer returns (forward and backward halves concatenated).
        mask: Optional boolean tensor `(batch, timesteps)`.
        training: Boolean, passed to the cells (dropout).
        sequence_length: Optional integer tensor `(batch,)` of row lengths,
            `0 <= length <= timesteps`. Checked when its values are known;
            inside a compiled function (`fit`, `predict`) they are not, and a
            length outside `[0, timesteps]` acts as if clipped to it (see
            `keras_rnnkit.set_runtime_checks`).

    Returns:
        The merged output(s); with `return_state`, `[output, *states]` with
        every state the concatenation of its forward and backward values.

    Raises:
        ValueError: At construction: `layer` or `backward_layer` is not a
            recurrent layer or cell; the two share a cell; their state sizes
            differ; an unknown `merge_mode`; a non-boolean flag. At call:
            inputs with no time step; a mask or `sequence_length` that does
            not fit the inputs or lengths outside `[0, timesteps]` (when
            known, see `sequence_length`); an `initial_state` of other
            widths than the states it returns.
        TypeError: At call: integer inputs, or a `sequence_length` that is
            not of an integer dtype.

    Examples:
        >>> import numpy as np, keras, keras_rnnkit
        >>> encoder = keras_rnnkit.BidirectionalEncoder(
        ...     keras.layers.LSTMCell(8), return_state=True)
        >>> x = np.ones((2, 5, 3), "float32")
        >>> outputs, h, c = encoder(x, sequence_length=np.array([5, 3]))
        >>> tuple(outputs.shape), tuple(h.shape), tuple(c.shape)
        ((2, 5, 16), (2, 16), (2, 16))
    """

    def __init__(
        self,
        layer: keras.layers.Layer,
        backward_layer: keras.layers.Layer | None = None,
        merge_mode: str | None = "concat",
        return_sequences: bool = True,
        return_state: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        forward_cell = _cell_of("layer", layer)
        if backward_layer is None:
            backward_cell = keras.saving.deserialize_keras_object(
                keras.saving.serialize_keras_object(forward_cell)
            )
        else:
            backward_cell = _cell_of("backward_layer", backward_layer)
            shared = set(map(id, cells_inside(forward_cell))) & set(
                map(id, cells_inside(backward_cell))
            )
            if shared:
                raise ValueError(
                    "Argument `backward_layer` shares a cell with the forward "
                    "layer (the two directions would share weights). Pass new "
                    "cells, or None to copy the forward configuration. "
                    f"Received: backward_layer={backward_layer!r}"
                )
        if backward_cell.state_size != forward_cell.state_size:
            raise ValueError(
                "Argument `backward_layer` must have the forward cell's state "
                "sizes, so that the final states concatenate component-wise. "
                f"Received: backward state_size={backward_cell.state_size}, "
                f"forward state_size={forward_cell.state_size}"
            )
        if merge_mode not in _MERGE_MODES:
            raise ValueError(
                f"Argument `merge_mode` must be one of {list(_MERGE_MODES)}. "
                f"Received: merge_mode={merge_mode!r}"
            )
        self.merge_mode = merge_mode
        self.return_sequences = check.boolean("return_sequences", return_sequences)
        self.return_state = check.boolean("return_state", return_state)
        options = dict(
            return_sequences=True, return_state=True, dtype=self.dtype_policy
        )
        self.forward_layer = DynamicRNN(forward_cell, name="forward", **options)
        self.backward_layer = DynamicRNN(backward_cell, name="backward", **options)
        self.supports_masking = True

    def build(self, sequences_shape, initial_state_shape=None):
        self.forward_layer.build(sequences_shape)
        self.backward_layer.build(sequences_shape)

    def call(
        self,
        sequences: Tensor,
        initial_state: States | None = None,
        mask: Tensor | None = None,
        training: bool = False,
        sequence_length: Tensor | None = None,
    ):
        mask = prepare_mask(self, sequences, mask, sequence_length)
        initial_fw = initial_bw = None
        if initial_state is not None:
            initial_fw, initial_bw = self._split_state(initial_state)

        forward, *states_fw = self.forward_layer(
            sequences, initial_state=initial_fw, mask=mask, training=training
        )
        if mask is None:
            reverse = lambda x: ops.flip(x, axis=1)  # noqa: E731
        else:
            reverse = lambda x: reverse_valid(x, mask)  # noqa: E731
        backward, *states_bw = self.backward_layer(
            reverse(sequences), initial_state=initial_bw, mask=mask, training=training
        )
        backward = reverse(backward)

        if self.return_sequences:
            output = _merge(self.merge_mode, forward, backward)
        elif mask is None:
            output = _merge(self.merge_mode, forward[:, -1], backward[:, 0])
        else:
            # The backward pass reads a row last at its first valid step.
            first = last_valid_output(
                ops.flip(backward, axis=1), ops.flip(mask, axis=1)
            )
            output = _merge(self.merge_mode, last_valid_output(forward, mask), first)
        if not self.return_state:
            return output
        states = keras.tree.map_structure(
            lambda fw, bw: ops.concatenate([fw, bw], axis=-1), states_fw, states_bw
        )
        return [output, *states]

    def _split_state(self, initial_state):
        """Forward and backward halves of a concatenated initial state."""
        state = (
            list(initial_state)
            if keras.tree.is_nested(initial_state)
            else [initial_state]
        )

        sizes = keras.tree.flatten(self.forward_layer.cell.state_size)
        tensors = keras.tree.flatten(state)
        widths = [t.shape[-1] for t in tensors]
        if widths != [2 * size for size in sizes]:
            raise ValueError(
                f"Layer '{self.name}' expects `initial_state` shaped like the "
                "states it returns: widths "
                f"{[2 * size for size in sizes]} (forward and backward halves "
                f"concatenated). Received widths {widths}"
            )
        halves = [ops.split(t, 2, axis=-1) for t in tensors]
        return tuple(
            keras.tree.pack_sequence_as(state, [h[which] for h in halves])
            for which in (0, 1)
        )

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        batch, time = sequences_shape[0], sequences_shape[1]
        size = output_size(self.forward_layer.cell)
        if self.merge_mode == "concat":
            size *= 2
        shape = (batch, time, size) if self.return_sequences else (batch, size)
        output = [shape, shape] if self.merge_mode is None else shape
        if not self.return_state:
            return output

        # Plain lists and tuples: cells keep state_size in Keras-tracked
        # lists, which JAX refuses as output structure.
        def state_shapes(sizes):
            if isinstance(sizes, int):
                return (batch, 2 * sizes)
            return [state_shapes(size) for size in sizes]

        sizes = self.forward_layer.cell.state_size
        return (output, *state_shapes(sizes if not isinstance(sizes, int) else [sizes]))

    def compute_mask(self, inputs, mask=None):
        if keras.tree.is_nested(mask):
            mask = keras.tree.flatten(mask)[0]
        output_mask = mask if self.return_sequences else None
        if self.merge_mode is None:
            output_mask = [output_mask, output_mask]
        if self.return_state:
            states = keras.tree.flatten(self.forward_layer.cell.state_size)
            return [output_mask] + [None] * len(states)
        return output_mask

    def get_config(self):
        config = {
            "layer": keras.saving.serialize_keras_object(self.forward_layer.cell),
            "backward_layer": keras.saving.serialize_keras_object(
                self.backward_layer.cell
            ),
            "merge_mode": self.merge_mode,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
        }
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        layer = load_nested(cls, config, "layer", config.pop("layer"))
        backward = load_nested(
            cls, config, "backward_layer", config.pop("backward_layer")
        )
        return construct(cls, config, layer, backward_layer=backward, **config)
