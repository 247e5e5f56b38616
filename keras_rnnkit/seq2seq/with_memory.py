"""Runs an RNN layer whose attention cells attend over a memory given per call."""

import contextlib
import inspect
from typing import Any

import keras

from keras_rnnkit._registration import register
from keras_rnnkit._serialization import construct, load_nested
from keras_rnnkit._types import States, Tensor
from keras_rnnkit.seq2seq.attention_wrapper import attention_wrappers


@register
class WithMemory(keras.layers.Layer):
    """Gives a memory to the `AttentionWrapper` cells of an RNN layer, per call.

    Keras 3's `keras.layers.RNN` has no `constants=` (Keras 2 had), so this
    layer carries the memory: it owns an RNN layer (`keras.layers.RNN`,
    `keras_rnnkit.DynamicRNN`, ...) whose cell is, or contains, one or more
    `AttentionWrapper`s. Each call prepares the memory once (the mechanisms'
    `memory_layer` projects it for the whole sequence), binds it to those
    cells for this call and this thread only, runs the RNN layer on the
    decoder inputs (teacher forcing), and unbinds it. Nothing is stored on
    the layers: one model may be called from several threads, and the
    bound tensors are those of the current trace under `jit`.

    Args:
        layer: An RNN layer whose `cell` is or contains an
            `AttentionWrapper`.
        **kwargs: Standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: Float tensor `(batch, steps, features)`, the decoder inputs.
            Its mask (e.g. from `Embedding(mask_zero=True)`) reaches the RNN.
        memory: Float tensor `(batch, max_time, depth)` (the encoder
            outputs), or a list of one per attention mechanism.
        memory_sequence_length: Optional integer tensor `(batch,)` (or a
            list): memory positions at or past it get zero weight.
        memory_mask: Optional boolean tensor `(batch, max_time)` (or a
            list). Keras fills it with the memory's own mask: encoder
            outputs masked by `Embedding(mask_zero=True)` or `Masking` need
            no lengths. With `memory_sequence_length` too, a position is
            valid when both say so.
        initial_cell_state: Optional initial state of the wrapped cell, e.g.
            the encoder's final `[h, c]` (tfa's `initial_cell_state`).
        sequence_length: Optional integer tensor `(batch,)` of decoder
            lengths, passed to a `DynamicRNN`.
        mask: Optional boolean tensor `(batch, steps)`, the decoder mask.
        training: Boolean, passed to the RNN layer.

    Returns:
        What the RNN layer returns (the outputs, and the flat final states
        of `AttentionWrapper.state_layout()` with `return_state=True`).

    Raises:
        ValueError: At construction: `layer` is not a layer with a `cell`
            holding an `AttentionWrapper`. At call: a memory not shaped
            `(batch, max_time, depth)`.

    Examples:
        >>> import numpy as np, keras, keras_rnnkit
        >>> from keras_rnnkit.seq2seq import (
        ...     AttentionWrapper, BahdanauAttention, WithMemory)
        >>> memory = keras.Input((None, 6))
        >>> lengths = keras.Input((), dtype="int32")
        >>> inputs = keras.Input((None, 3))
        >>> cell = AttentionWrapper(keras.layers.GRUCell(8), BahdanauAttention(5),
        ...                         attention_layer_size=4)
        >>> rnn = keras_rnnkit.DynamicRNN(cell, return_sequences=True)
        >>> outputs = WithMemory(rnn)(inputs, memory, memory_sequence_length=lengths)
        >>> model = keras.Model([inputs, memory, lengths], outputs)
        >>> model.predict([np.ones((2, 4, 3)), np.ones((2, 5, 6)),
        ...                np.array([5, 3])], verbose=0).shape
        (2, 4, 4)
    """

    def __init__(self, layer: keras.layers.Layer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        cell = getattr(layer, "cell", None)
        if not isinstance(layer, keras.layers.Layer) or not (
            cell is not None and attention_wrappers(cell)
        ):
            raise ValueError(
                "Argument `layer` must be an RNN layer (keras.layers.RNN, "
                "keras_rnnkit.DynamicRNN, ...) whose cell is or contains a "
                f"keras_rnnkit.seq2seq.AttentionWrapper. Received: layer={layer!r}"
            )
        self.layer = layer
        self.supports_masking = True
        self._takes_lengths = (
            "sequence_length" in inspect.signature(layer.call).parameters
        )

    @property
    def wrappers(self):
        return attention_wrappers(self.layer.cell)

    def build(self, inputs_shape, memory_shape):
        shapes = memory_shape
        for wrapper in self.wrappers:
            count = len(wrapper.attention_mechanisms)
            if isinstance(shapes, (list, tuple)) and isinstance(
                shapes[0], (list, tuple)
            ):
                per_mechanism = list(shapes)
            else:
                per_mechanism = [shapes] * count
            for mechanism, shape in zip(
                wrapper.attention_mechanisms, per_mechanism, strict=True
            ):
                if not mechanism.built:
                    mechanism.build((None, _query_depth(wrapper)), shape)
        self.layer.build(inputs_shape)
        self.built = True

    def call(
        self,
        inputs: Tensor,
        memory: Tensor,
        memory_sequence_length: Tensor | None = None,
        memory_mask: Tensor | None = None,
        initial_cell_state: States | None = None,
        sequence_length: Tensor | None = None,
        mask: Tensor | None = None,
        training: bool = False,
    ):
        kwargs = {"mask": mask, "training": training}
        if sequence_length is not None:
            if not self._takes_lengths:
                raise ValueError(
                    f"WithMemory '{self.name}': its layer "
                    f"{type(self.layer).__name__} takes no `sequence_length`; "
                    "give a `mask` or use keras_rnnkit.DynamicRNN."
                )
            kwargs["sequence_length"] = sequence_length
        with contextlib.ExitStack() as stack:
            for wrapper in self.wrappers:
                stack.enter_context(
                    wrapper.bind_memory(
                        memory,
                        memory_sequence_length=memory_sequence_length,
                        memory_mask=memory_mask,
                        initial_cell_state=initial_cell_state,
                    )
                )
            return self.layer(inputs, **kwargs)

    def compute_mask(self, inputs, mask=None):
        return self.layer.compute_mask(inputs, mask)

    def get_config(self):
        config = {"layer": keras.saving.serialize_keras_object(self.layer)}
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        layer = load_nested(cls, config, "layer", config.pop("layer"))
        return construct(cls, config, layer, **config)


def _query_depth(wrapper):
    from keras_rnnkit._cell_wrapper import output_size

    return output_size(wrapper.cell)
