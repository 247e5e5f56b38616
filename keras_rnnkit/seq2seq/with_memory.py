"""Runs an RNN layer or a decoder whose attention cells attend over a memory
given per call."""

import contextlib
import inspect
from typing import Any

import keras
from keras import ops

from keras_rnnkit import _compat
from keras_rnnkit import _validation as check
from keras_rnnkit._registration import register
from keras_rnnkit._serialization import construct, load_nested
from keras_rnnkit._types import States, Tensor
from keras_rnnkit.dynamic_rnn import DynamicRNN
from keras_rnnkit.seq2seq.attention_wrapper import AttentionWrapper, attention_wrappers
from keras_rnnkit.seq2seq.beam_search_decoder import tile_batch
from keras_rnnkit.seq2seq.decoder import BaseDecoder


@register
class WithMemory(keras.layers.Layer):
    """Gives a memory to the `AttentionWrapper` cells of an RNN layer or a
    decoder, per call.

    Keras 3's `keras.layers.RNN` has no `constants=` (Keras 2 had), so this
    layer carries the memory: it owns an RNN layer (`keras.layers.RNN`,
    `keras_rnnkit.DynamicRNN`, ...) or a decoder (`BasicDecoder`,
    `BeamSearchDecoder`) whose cell is, or contains, one or more
    `AttentionWrapper`s. Each call prepares the memory once (the mechanisms'
    `memory_layer` projects it for the whole sequence), binds it to those
    cells for this call and this thread only, runs the layer, and unbinds
    it. Nothing is stored on the layers: one model may be called from
    several threads, and the bound tensors are those of the current trace
    under `jit`.

    **An RNN layer** runs teacher-forced over `inputs`, the decoder inputs.

    **A decoder** decodes from the memory: `inputs` is the decoder's first
    argument (`None` for the embedding samplers and `BeamSearchDecoder`;
    the decoder inputs for a `TrainingSampler`), and `start_tokens`,
    `end_token` and `sequence_length` go to the decoder. Its cell must be
    the `AttentionWrapper` itself; the initial state is the wrapper's, from
    `initial_cell_state` (one row per memory row). For a
    `BeamSearchDecoder`, the memory, its lengths and mask are tiled
    `beam_width` times here (`tile_batch`), and the decoder tiles the state:
    pass everything with one row per batch entry. Decoding in a model is
    compiled, so the decoder needs `maximum_iterations`.

    Args:
        layer: An RNN layer or a decoder whose `cell` is or contains an
            `AttentionWrapper`.
        **kwargs: Standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: The decoder inputs: a float tensor `(batch, steps,
            features)` for an RNN layer (its mask, e.g. from
            `Embedding(mask_zero=True)`, reaches the RNN); a decoder's first
            argument, or `None`.
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
            lengths, passed to a `DynamicRNN` (or a `BasicDecoder` with a
            training sampler).
        mask: Optional boolean tensor `(batch, steps)`, the decoder mask.
        training: Boolean, passed to the layer.
        return_alignments: Boolean (default `False`), RNN layers only: also
            return each step's alignments, `(batch, steps, max_time)` (a
            list of one per mechanism with several), whether or not the
            cells were built with `alignment_history`.
        start_tokens: A decoder's start tokens, int `(batch,)`.
        end_token: A decoder's end token (an int, or a scalar tensor).
        initial_state: A decoder's initial state, instead of the wrapper's
            own (one row per memory row).

    Returns:
        What the layer returns: an RNN layer's outputs (and the flat final
        states of `AttentionWrapper.state_layout()` with
        `return_state=True`), then the alignments with
        `return_alignments=True`; a decoder's `(outputs, final_state,
        lengths)`.

    Raises:
        ValueError: At construction: `layer` is not a layer with a `cell`
            holding an `AttentionWrapper`, or a decoder whose cell is not
            one. At call: a memory not shaped `(batch, max_time, depth)`,
            decoder arguments given to an RNN layer, `return_alignments`
            with a decoder.

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

        The same cell decodes with beam search (shared weights):

        >>> from keras_rnnkit.seq2seq import BeamSearchDecoder
        >>> decoder = BeamSearchDecoder(
        ...     cell, beam_width=3, embedding_fn=keras.layers.Embedding(10, 3),
        ...     output_layer=keras.layers.Dense(10), end_token=0,
        ...     maximum_iterations=7)
        >>> start = keras.ops.ones_like(lengths)  # start token 1, one per row
        >>> outputs, _, ids_lengths = WithMemory(decoder)(
        ...     None, memory, memory_sequence_length=lengths, start_tokens=start)
        >>> ids = keras.Model([memory, lengths], outputs.predicted_ids[:, :, 0])
        >>> ids.predict([np.ones((2, 5, 6)), np.array([5, 3])], verbose=0).shape
        (2, 7)
    """

    def __init__(self, layer: keras.layers.Layer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        cell = getattr(layer, "cell", None)
        if not isinstance(layer, keras.layers.Layer) or not (
            cell is not None and attention_wrappers(cell)
        ):
            raise ValueError(
                "Argument `layer` must be an RNN layer (keras.layers.RNN, "
                "keras_rnnkit.DynamicRNN, ...) or a keras_rnnkit.seq2seq "
                "decoder whose cell is or contains a keras_rnnkit.seq2seq."
                f"AttentionWrapper. Received: layer={layer!r}"
            )
        if isinstance(layer, BaseDecoder) and not isinstance(cell, AttentionWrapper):
            raise ValueError(
                "Argument `layer`: a decoder's cell must be the AttentionWrapper "
                "itself, whose initial state WithMemory makes. Received a "
                f"{type(layer).__name__} whose cell is a {type(cell).__name__}; "
                "bind the memory with `cell.bind_memory(...)` instead."
            )
        self.layer = layer
        self.supports_masking = True
        self._decoder = isinstance(layer, BaseDecoder)
        self._takes_lengths = (
            "sequence_length" in inspect.signature(layer.call).parameters
        )

    @property
    def wrappers(self):
        return attention_wrappers(self.layer.cell)

    def build(self, inputs_shape=None, memory_shape=None):
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
        if not self._decoder:  # a decoder builds its layers on its first step
            self.layer.build(inputs_shape)
        self.built = True

    def call(
        self,
        inputs: Tensor | None,
        memory: Tensor,
        memory_sequence_length: Tensor | None = None,
        memory_mask: Tensor | None = None,
        initial_cell_state: States | None = None,
        sequence_length: Tensor | None = None,
        mask: Tensor | None = None,
        training: bool = False,
        return_alignments: bool = False,
        start_tokens: Tensor | None = None,
        end_token: Any = None,
        initial_state: States | None = None,
    ):
        return_alignments = check.boolean("return_alignments", return_alignments)
        given = {
            "start_tokens": start_tokens,
            "end_token": end_token,
            "initial_state": initial_state,
        }
        kwargs = {k: v for k, v in given.items() if v is not None}
        if self._decoder:
            return self._decode(
                inputs,
                memory,
                memory_sequence_length,
                memory_mask,
                initial_cell_state,
                sequence_length,
                mask,
                training,
                return_alignments,
                kwargs,
            )
        if kwargs:
            raise ValueError(
                f"WithMemory '{self.name}': arguments {sorted(kwargs)} are for "
                f"decoders; its layer is a {type(self.layer).__name__}."
            )
        call_kwargs = {"mask": mask, "training": training}
        if sequence_length is not None:
            if not self._takes_lengths:
                raise ValueError(
                    f"WithMemory '{self.name}': its layer "
                    f"{type(self.layer).__name__} takes no `sequence_length`; "
                    "give a `mask` or use keras_rnnkit.DynamicRNN."
                )
            call_kwargs["sequence_length"] = sequence_length
        if (
            return_alignments
            and keras.backend.backend() == "jax"
            and (mask is not None or _compat.get_keras_mask(inputs) is not None)
            and isinstance(self.layer, keras.layers.RNN)
            and not isinstance(self.layer, DynamicRNN)
            and not self.layer.zero_output_for_mask
        ):
            raise ValueError(
                f"WithMemory '{self.name}': return_alignments with a mask needs "
                "keras_rnnkit.DynamicRNN on JAX: keras.layers.RNN's JAX loop "
                "outputs the first state at masked steps, not the previous "
                "output (an AttentionWrapper's output is not its first state)."
            )
        with self._bind(
            memory,
            memory_sequence_length,
            memory_mask,
            initial_cell_state,
            return_alignments,
        ):
            outputs = self.layer(inputs, **call_kwargs)
            if not return_alignments:
                return outputs
            return self._split_alignments(outputs)

    def _bind(self, memory, lengths, mask, initial_cell_state, history=False):
        stack = contextlib.ExitStack()
        for wrapper in self.wrappers:
            stack.enter_context(
                wrapper.bind_memory(
                    memory,
                    memory_sequence_length=lengths,
                    memory_mask=mask,
                    initial_cell_state=initial_cell_state,
                    alignment_history=history,
                )
            )
        return stack

    def _split_alignments(self, outputs):
        """`(outputs, alignments)`: the RNN's outputs without the alignments
        its wrappers appended, and those (one wrapper only)."""
        wrappers = self.wrappers
        if len(wrappers) != 1:
            raise ValueError(
                f"WithMemory '{self.name}': return_alignments needs exactly one "
                f"AttentionWrapper in the layer's cell; it has {len(wrappers)}."
            )
        sequence = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
        if len(sequence.shape) != 3:
            raise ValueError(
                f"WithMemory '{self.name}': return_alignments needs an RNN layer "
                "with return_sequences=True."
            )
        sequence, alignments = wrappers[0].split_alignment_history(sequence)
        alignments = alignments[0] if len(alignments) == 1 else alignments
        if isinstance(outputs, (list, tuple)):
            return [sequence, *outputs[1:], alignments]
        return sequence, alignments

    def _decode(
        self,
        inputs,
        memory,
        lengths,
        memory_mask,
        initial_cell_state,
        sequence_length,
        mask,
        training,
        return_alignments,
        kwargs,
    ):
        if return_alignments:
            raise ValueError(
                f"WithMemory '{self.name}': return_alignments is for RNN layers, "
                f"not decoders ({type(self.layer).__name__})."
            )
        width = getattr(self.layer, "beam_width", 1)
        batch = ops.shape(keras.tree.flatten(memory)[0])[0]
        if width > 1:
            memory, lengths, memory_mask = (
                None if x is None else tile_batch(x, width)
                for x in (memory, lengths, memory_mask)
            )
        takes = inspect.signature(self.layer.call).parameters
        if sequence_length is not None:
            if "sequence_length" not in takes:
                raise ValueError(
                    f"WithMemory '{self.name}': its {type(self.layer).__name__} "
                    "takes no `sequence_length`."
                )
            kwargs["sequence_length"] = sequence_length
        if mask is not None and inputs is not None and "mask" in takes:
            kwargs["mask"] = mask
        with self._bind(memory, lengths, memory_mask, initial_cell_state):
            if kwargs.get("initial_state") is None:
                kwargs["initial_state"] = self.layer.cell.get_initial_state(
                    batch_size=batch
                )
            return self.layer(inputs, training=training, **kwargs)

    def compute_mask(self, inputs, mask=None):
        if self._decoder:
            return None
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
