"""Beam search: `BeamSearchDecoder`, `tile_batch` and `gather_tree`.

The semantics of tensorflow-addons' `BeamSearchDecoder` (and TF1's), step
for step:

- Beam 0 starts alone (log-prob 0, the others -inf).
- Each step adds the log-softmax of the outputs to each live beam's
  log-prob and keeps the `beam_width` best of the `beam_width * vocab`
  continuations by score (the log-prob divided by the length penalty
  `((5 + length) / 6) ** length_penalty_weight` of GNMT, Wu et al. 2016,
  plus the coverage penalty of finished beams).
- A finished beam (one that emitted `end_token`) continues only with
  `end_token` at no cost: it keeps its log-prob, length and score and
  stops growing.
- `length` counts the steps a beam was live, its `end_token` included.
- The cell states follow their beams: every state tensor is gathered by
  the parent beam at each step.

The cell runs on `batch * beam_width` rows: its initial state is tiled
(`tile_batch`) by the decoder when it has one row per start token, and any
memory an attention cell holds must be tiled with `tile_batch`.

The decoder keeps nothing of a call on itself: `initialize` puts the
embedding, the end token, the embedded start tokens and the batch size of
the call in a per-call object of this thread (`decoder.begin_call`; see
`decoder.py`), which `step` and `finalize` read back.
"""

import collections

import keras
import numpy as np
from keras import ops

from keras_rnnkit import _validation as check
from keras_rnnkit._backend import all_true, take_along_axis
from keras_rnnkit._registration import register
from keras_rnnkit.seq2seq.basic_decoder import build_step_layers
from keras_rnnkit.seq2seq.decoder import (
    BaseDecoder,
    begin_call,
    current_call,
    per_call,
)
from keras_rnnkit.seq2seq.samplers import (
    _embedder,
    _start_tokens,
    _token,
    check_token_in_vocab,
)

__all__ = [
    "BeamSearchDecoder",
    "BeamSearchDecoderOutput",
    "BeamSearchDecoderState",
    "FinalBeamSearchDecoderOutput",
    "gather_tree",
    "tile_batch",
]

BeamSearchDecoderState = collections.namedtuple(
    "BeamSearchDecoderState",
    ("cell_state", "log_probs", "finished", "lengths", "accumulated_attention_probs"),
)
BeamSearchDecoderOutput = collections.namedtuple(
    "BeamSearchDecoderOutput", ("scores", "predicted_ids", "parent_ids")
)
FinalBeamSearchDecoderOutput = collections.namedtuple(
    "FinalBeamSearchDecoderOutput", ("predicted_ids", "beam_search_decoder_output")
)


def _dims(x):
    """`x`'s shape, the static size where known and the traced one where
    not (an attention state's memory length, in a model)."""
    return [
        size if size is not None else ops.shape(x)[axis]
        for axis, size in enumerate(x.shape)
    ]


def tile_batch(t, multiplier):
    """Repeats each batch entry `multiplier` times along axis 0:
    `[a, b] -> [a, a, a, b, b, b]` (tfa's `tile_batch`; nested structures
    of tensors too).

    This is the layout `BeamSearchDecoder` expects of the cell's initial
    state and of an attention cell's memory and memory lengths.

    Args:
        t: A tensor or a nested structure of tensors, batch first.
        multiplier: A positive int (the beam width).

    Returns:
        The tiled tensors, batch `batch * multiplier`.

    Examples:
        >>> import numpy as np
        >>> from keras_rnnkit import seq2seq
        >>> np.asarray(seq2seq.tile_batch(np.array([[1], [2]]), 3))[:, 0].tolist()
        [1, 1, 1, 2, 2, 2]
    """
    multiplier = check.positive_int("multiplier", multiplier)
    return keras.tree.map_structure(
        lambda x: ops.repeat(ops.convert_to_tensor(x), multiplier, axis=0), t
    )


def gather_tree(step_ids, parent_ids, max_sequence_lengths, end_token):
    """Follows the parent pointers back from the last step of each beam
    (tfa's `gather_tree`).

    Beam `w` of batch entry `b` is `step_ids[L-1, b, w]` preceded by the
    ids of its ancestors, `L = min(time, max_sequence_lengths[b])`; steps
    from `L` on hold `end_token`, and so does every step after the first
    `end_token`.

    Args:
        step_ids: int `(time, batch, beam_width)`: the id each beam chose.
        parent_ids: int `(time, batch, beam_width)`: the beam it continued.
        max_sequence_lengths: int `(batch,)`.
        end_token: An int.

    Returns:
        int32 `(time, batch, beam_width)`: the full sequence of each final
        beam.

    Raises:
        ValueError: Shapes that do not fit, or (when values are known)
            parent ids outside `[0, beam_width)`.

    Examples:
        >>> import numpy as np
        >>> from keras_rnnkit import seq2seq
        >>> ids = np.array([[[1, 2]], [[3, 4]], [[5, 6]]])  # (time 3, batch 1, beam 2)
        >>> parents = np.array([[[0, 0]], [[1, 0]], [[1, 1]]])
        >>> out = seq2seq.gather_tree(ids, parents, np.array([3]), end_token=9)
        >>> np.asarray(out)[:, 0].T.tolist()  # beam 0: 5 <- 4 (beam 1) <- 1 (beam 0)
        [[1, 4, 5], [1, 4, 6]]
    """
    step_ids = ops.convert_to_tensor(step_ids)
    parent_ids = ops.convert_to_tensor(parent_ids)
    max_sequence_lengths = ops.convert_to_tensor(max_sequence_lengths)
    end_token = _token("end_token", end_token)
    for name, x in (("step_ids", step_ids), ("parent_ids", parent_ids)):
        if "int" not in keras.backend.standardize_dtype(x.dtype) or len(x.shape) != 3:
            raise ValueError(
                f"Argument `{name}` must be an integer tensor of shape (time, "
                f"batch, beam_width). Received: {name} of shape "
                f"{tuple(x.shape)} and dtype {x.dtype}"
            )
    if not check.shapes_agree(parent_ids.shape, step_ids.shape):
        raise ValueError(
            "Arguments `step_ids` and `parent_ids` must have the same shape. "
            f"Received: {tuple(step_ids.shape)} and {tuple(parent_ids.shape)}"
        )
    if len(max_sequence_lengths.shape) != 1 or not check.shapes_agree(
        max_sequence_lengths.shape, step_ids.shape[1:2]
    ):
        raise ValueError(
            "Argument `max_sequence_lengths` must be of shape (batch,) = "
            f"({step_ids.shape[1]},). Received: "
            f"{tuple(max_sequence_lengths.shape)}"
        )
    beam_width = step_ids.shape[2]
    parents = check.concrete(parent_ids)
    if parents is not None and beam_width is not None:
        if ((parents < 0) | (parents >= beam_width)).any():
            raise ValueError(
                f"Argument `parent_ids` must hold beam indices in [0, "
                f"{beam_width}). Received values from {parents.min()} to "
                f"{parents.max()}"
            )
    step_ids = ops.cast(step_ids, "int32")
    parent_ids = ops.clip(ops.cast(parent_ids, "int32"), 0, ops.shape(step_ids)[2] - 1)
    lengths = ops.cast(max_sequence_lengths, "int32")
    time = step_ids.shape[0]
    if time == 0:
        return step_ids
    levels = ops.arange(ops.shape(step_ids)[0], dtype="int32")
    beams = ops.broadcast_to(
        ops.arange(ops.shape(step_ids)[2], dtype="int32")[None, :],
        ops.shape(step_ids)[1:],
    )

    def back(beam, x):
        ids, parents, level = x
        valid = ops.less(level, lengths)[:, None]
        here = take_along_axis(ids, beam, axis=1)
        out = ops.where(valid, here, ops.full_like(here, end_token))
        beam = ops.where(valid, take_along_axis(parents, beam, axis=1), beam)
        return beam, out

    _, out = ops.scan(back, beams, (step_ids, parent_ids, levels), reverse=True)
    # end_token after the first end_token
    is_end = ops.cast(ops.equal(out, end_token), "int32")
    before = ops.cumsum(is_end, axis=0) - is_end
    return ops.where(before > 0, ops.full_like(out, end_token), out)


def _find_alignments(state):
    """The `alignments` of the attention states inside `state` (averaged
    over several mechanisms or layers), or None."""
    found = []

    def visit(node):
        alignments = getattr(node, "alignments", None)
        if alignments is not None and not callable(alignments):
            if isinstance(alignments, (tuple, list)):
                alignments = ops.mean(ops.stack(list(alignments), -1), -1)
            found.append(alignments)
            return
        if isinstance(node, (tuple, list)):
            for child in node:
                visit(child)
        elif isinstance(node, dict):
            for child in node.values():
                visit(child)

    visit(state)
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    return ops.mean(ops.stack(found, -1), -1)


@register
class BeamSearchDecoder(BaseDecoder):
    """Beam search over a cell's outputs (tfa's `BeamSearchDecoder`, TF1's
    `tf.contrib.seq2seq.BeamSearchDecoder`).

    Args:
        cell: A recurrent cell (`cell(inputs, states) -> (output,
            new_states)`).
        beam_width: A positive int.
        embedding_fn: Ids -> the cell's inputs, e.g. a
            `keras.layers.Embedding` (or pass an `embedding` matrix when
            calling).
        output_layer: Applied to the cell's output (a `Dense` over the
            vocabulary), or None.
        length_penalty_weight: `w` of the length penalty `((5 + len) / 6)
            ** w` (0: none).
        coverage_penalty_weight: `b` of the coverage penalty `b * sum_j
            log(min(sum_t a_tj, 1))` over the source positions of finished
            beams (0: none). Needs the attention alignments: the cell's
            state must hold an `alignments` field (an attention wrapper's
            state does), or give `alignments_fn`.
        end_token: The id that ends a beam (or give it when calling).
        maximum_iterations: The most steps; required when compiled.
        alignments_fn: `cell_state -> alignments (batch * beam_width,
            source_time)`, for coverage penalty with a cell whose state
            has no `alignments` field.
        output_all_scores: Whether `scores` holds every continuation's
            score `(batch, time, beam_width, vocab)`.
        **kwargs: `output_time_major`, `name`, `dtype`.

    Call arguments:
        embedding: An embedding matrix `(vocab, depth)` or None (with
            `embedding_fn`).
        start_tokens: int `(batch,)`.
        end_token: int (overrides the constructor's).
        initial_state: The cell's initial state: `batch` rows (one per
            start token; tiled here), or `batch * beam_width` rows tiled
            with `tile_batch` (tfa's way). An attention cell's memory must
            be tiled with `tile_batch` in any case.
        training: Passed to the cell.

    Returns:
        `(FinalBeamSearchDecoderOutput(predicted_ids, beam_search_decoder_output),
        final_state, final_sequence_lengths)`:

        - `predicted_ids`: int32 `(batch, time, beam_width)`, beams best
          first, `end_token` after each beam's end.
        - `beam_search_decoder_output`: per step, `scores`, `predicted_ids`
          and `parent_ids` `(batch, time, beam_width)` (unordered beams,
          before backtracking). After a row's last step decoded, its
          `scores` repeat its final scores, so `scores[:, -1]` is each
          final beam's score (per row: a row decodes the same in any
          batch).
        - `final_state`: a `BeamSearchDecoderState` (`cell_state` split to
          `(batch, beam_width, ...)`, `log_probs`, `finished`, `lengths`).
        - `final_sequence_lengths`: int32 `(batch, beam_width)`, each beam's
          length (its `end_token` included).

    Examples:
        >>> import numpy as np, keras
        >>> from keras_rnnkit import seq2seq
        >>> cell = keras.layers.GRUCell(8)
        >>> decoder = seq2seq.BeamSearchDecoder(
        ...     cell, beam_width=3, embedding_fn=keras.layers.Embedding(10, 4),
        ...     output_layer=keras.layers.Dense(10), end_token=0,
        ...     length_penalty_weight=0.6, maximum_iterations=4)
        >>> encoder_state = np.zeros((2, 8), "float32")  # batch 2
        >>> outputs, state, lengths = decoder(
        ...     None, start_tokens=np.array([1, 1]), initial_state=encoder_state)
        >>> tuple(outputs.predicted_ids.shape), tuple(lengths.shape)
        ((2, 4, 3), (2, 3))
    """

    tracks_own_finished = True

    def __init__(
        self,
        cell,
        beam_width,
        embedding_fn=None,
        output_layer=None,
        length_penalty_weight=0.0,
        coverage_penalty_weight=0.0,
        end_token=None,
        maximum_iterations=None,
        alignments_fn=None,
        output_all_scores=False,
        **kwargs,
    ):
        if kwargs.get("impute_finished"):
            raise ValueError(
                "BeamSearchDecoder tracks its own finished beams: "
                "impute_finished=True does not apply to it."
            )
        kwargs.pop("impute_finished", None)
        super().__init__(maximum_iterations=maximum_iterations, **kwargs)
        self.cell = cell
        self.beam_width = check.positive_int("beam_width", beam_width)
        self.embedding_fn = embedding_fn
        self.output_layer = output_layer
        self.length_penalty_weight = check.finite_float(
            "length_penalty_weight", length_penalty_weight
        )
        self.coverage_penalty_weight = check.finite_float(
            "coverage_penalty_weight", coverage_penalty_weight
        )
        self.end_token = None if end_token is None else _token("end_token", end_token)
        self.alignments_fn = alignments_fn
        self.output_all_scores = check.boolean("output_all_scores", output_all_scores)

    # -- helpers ---------------------------------------------------------

    def _split(self, x):
        """(batch * beam, ...) -> (batch, beam, ...)."""
        return ops.reshape(x, (-1, self.beam_width, *_dims(x)[1:]))

    def _merge(self, x):
        """(batch, beam, ...) -> (batch * beam, ...)."""
        return ops.reshape(x, (-1, *_dims(x)[2:]))

    def _alignments(self, cell_state):
        """(batch, beam, source_time) alignments, or None without coverage."""
        if self.coverage_penalty_weight == 0.0:
            return None
        if self.alignments_fn is not None:
            alignments = self.alignments_fn(cell_state)
        else:
            alignments = _find_alignments(cell_state)
        if alignments is None:
            raise ValueError(
                "BeamSearchDecoder's coverage_penalty_weight="
                f"{self.coverage_penalty_weight} needs the attention "
                "alignments of each step, and the cell's state has no "
                "`alignments` field (an attention wrapper's state has). Use "
                "an attention cell, pass alignments_fn=<cell_state -> "
                "alignments (batch * beam_width, source_time)>, or set "
                "coverage_penalty_weight=0."
            )
        return self._split(ops.cast(alignments, "float32"))

    def _tiled_state(self, state, start_tokens):
        """The initial state with `batch * beam_width` rows: tiled here when
        it has `batch` rows (one per start token)."""
        width = self.beam_width
        batch = start_tokens.shape[0]

        def tile(leaf):
            leaf = ops.convert_to_tensor(leaf)
            if width == 1 or len(leaf.shape) == 0:
                return leaf
            rows = leaf.shape[0]
            if rows is None or batch is None:  # TensorFlow graph, unknown
                import tensorflow as tf

                alone = tf.equal(tf.shape(leaf)[0], tf.shape(start_tokens)[0])
                return tf.cond(
                    alone, lambda: ops.repeat(leaf, width, axis=0), lambda: leaf
                )
            if rows == batch:  # also symbolic sizes standing for the batch
                return ops.repeat(leaf, width, axis=0)
            if isinstance(rows, int) and isinstance(batch, int):
                if rows != batch * width:
                    raise ValueError(
                        "BeamSearchDecoder expects the cell's initial state "
                        f"with batch = {batch} rows (one per start token), or "
                        f"batch * beam_width = {batch * width} rows tiled with "
                        "keras_rnnkit.seq2seq.tile_batch(state, beam_width). "
                        f"Received a state tensor of shape {tuple(leaf.shape)}"
                    )
            return leaf

        return keras.tree.map_structure(tile, state)

    # -- the decoder protocol --------------------------------------------

    def initialize(
        self, embedding, start_tokens=None, end_token=None, initial_state=None
    ):
        embed = _embedder(self.embedding_fn, embedding, "BeamSearchDecoder")
        if start_tokens is None:
            raise ValueError("BeamSearchDecoder needs `start_tokens` (batch,).")
        if end_token is None:
            end_token = self.end_token
        if end_token is None:
            raise ValueError(
                "BeamSearchDecoder needs `end_token`: pass it to the "
                "constructor or the call."
            )
        end = _token("end_token", end_token)
        start_tokens = _start_tokens(start_tokens)
        if initial_state is None:
            raise ValueError(
                "BeamSearchDecoder needs `initial_state`, the cell's state "
                "tiled to batch * beam_width rows with tile_batch."
            )
        initial_state = self._tiled_state(initial_state, start_tokens)
        width = self.beam_width
        tiled = ops.repeat(start_tokens[:, None], width, axis=1)
        start_inputs = self._merge(embed(tiled))
        begin_call(
            self,
            embed=embed,
            end=end,
            start_inputs=start_inputs,
            batch_size=start_tokens.shape[0],
        )
        first = ops.arange(width)[None, :] == 0
        finished = ops.logical_not(ops.broadcast_to(first, ops.shape(tiled)))
        dtype = "float32"
        log_probs = ops.where(
            finished, ops.full(ops.shape(tiled), float("-inf"), dtype), 0.0
        )
        lengths = ops.zeros(ops.shape(tiled), "int32")
        attention = self._alignments(initial_state)
        build_step_layers(self.cell, self.output_layer, start_inputs, initial_state)
        state = BeamSearchDecoderState(
            initial_state,
            log_probs,
            finished,
            lengths,
            () if attention is None else attention,
        )
        return finished, start_inputs, state

    batch_size = per_call("batch_size", "The current call's batch size.")

    def step(self, time, inputs, state, training=None):
        call = current_call(self)
        cell_state = state.cell_state
        outputs, next_cell_state = self.cell(inputs, cell_state, training=training)
        next_cell_state = keras.tree.pack_sequence_as(
            cell_state, keras.tree.flatten(next_cell_state)
        )
        if self.output_layer is not None:
            outputs = self.output_layer(outputs, training=training)
        logits = self._split(ops.cast(outputs, "float32"))
        check_token_in_vocab("end_token", call.end, logits)
        output, next_state = self._beam_step(logits, next_cell_state, state, call.end)
        finished = next_state.finished
        embedded = self._merge(call.embed(output.predicted_ids))
        next_inputs = ops.where(
            all_true(finished),
            call.start_inputs,
            ops.cast(embedded, call.start_inputs.dtype),
        )
        return output, next_state, next_inputs, finished

    def _beam_step(self, logits, next_cell_state, state, end):
        width = self.beam_width
        vocab = logits.shape[-1]
        finished = state.finished
        step_log_probs = ops.log_softmax(logits, axis=-1)
        # finished beams continue with end_token only, at no cost
        eos_row = ops.where(
            ops.arange(vocab) == end,
            ops.zeros((vocab,), "float32"),
            ops.full((vocab,), float(np.finfo("float32").min), "float32"),
        )
        step_log_probs = ops.where(finished[:, :, None], eos_row, step_log_probs)
        total = state.log_probs[:, :, None] + step_log_probs
        not_eos = ops.cast(ops.arange(vocab) != end, "int32")
        live = ops.cast(ops.logical_not(finished), "int32")
        new_lengths = state.lengths[:, :, None] + not_eos * live[:, :, None]
        attention = None
        if self.coverage_penalty_weight != 0.0:
            step_attention = self._alignments(next_cell_state)
            step_attention = step_attention * ops.cast(live, "float32")[:, :, None]
            attention = state.accumulated_attention_probs + step_attention
        scores = total
        if self.length_penalty_weight != 0.0:
            penalty = ops.power(
                (5.0 + ops.cast(new_lengths, "float32")) / 6.0,
                self.length_penalty_weight,
            )
            scores = total / penalty
        if attention is not None:
            coverage = ops.where(attention == 0.0, ops.ones_like(attention), attention)
            coverage = ops.sum(ops.log(ops.minimum(coverage, 1.0)), axis=2)
            coverage = coverage * ops.cast(finished, "float32")
            scores = scores + (self.coverage_penalty_weight * coverage)[:, :, None]
        flat = ops.reshape(scores, (-1, width * vocab))
        next_scores, indices = ops.top_k(flat, width)
        indices = ops.cast(indices, "int32")
        word_ids = indices % vocab
        parent_ids = indices // vocab
        next_log_probs = take_along_axis(
            ops.reshape(total, (-1, width * vocab)), indices, axis=1
        )
        parent_finished = take_along_axis(finished, parent_ids, axis=1)
        next_finished = ops.logical_or(parent_finished, word_ids == end)
        next_lengths = take_along_axis(state.lengths, parent_ids, axis=1)
        next_lengths = next_lengths + ops.cast(
            ops.logical_not(parent_finished), "int32"
        )
        next_attention = ()
        if attention is not None:
            next_attention = take_along_axis(attention, parent_ids[:, :, None], axis=1)
        # the parents' rows of the flat (batch * beam_width, ...) states
        rows = parent_ids + ops.expand_dims(
            ops.arange(ops.shape(parent_ids)[0], dtype="int32") * width, 1
        )
        rows = ops.reshape(rows, (-1,))
        next_cell_state = keras.tree.map_structure(
            lambda x: x if len(x.shape) == 0 else ops.take(x, rows, axis=0),
            next_cell_state,
        )
        output = BeamSearchDecoderOutput(
            scores if self.output_all_scores else next_scores, word_ids, parent_ids
        )
        return output, BeamSearchDecoderState(
            next_cell_state, next_log_probs, next_finished, next_lengths, next_attention
        )

    def finalize(self, outputs, final_state, sequence_lengths):
        end = current_call(self).end
        lengths = final_state.lengths
        steps = outputs.predicted_ids.shape[0]
        ids, parents, scores = outputs.predicted_ids, outputs.parent_ids, outputs.scores
        if steps:
            # each row's steps after its own last one decoded: end_token,
            # each beam its own parent, the row's final scores repeated (per
            # row, so that a row decodes the same alone as in any batch: the
            # loop runs on while other rows decode, and a finished beam's
            # score still changes once, when its end token starts to count)
            decoded = ops.max(lengths, axis=1)  # (batch,)
            time = ops.arange(steps, dtype="int32")[:, None]
            pad = (time >= decoded[None, :])[:, :, None]  # (steps, batch, 1)
            ids = ops.where(pad, end, ids)
            parents = ops.where(
                pad, ops.arange(self.beam_width, dtype="int32"), parents
            )
            at_last = time == ops.maximum(decoded - 1, 0)[None, :]
            pad_scores = pad
            for _ in range(len(scores.shape) - 2):  # beam (and vocab) axes
                at_last = ops.expand_dims(at_last, -1)
            for _ in range(len(scores.shape) - 3):  # vocab axis
                pad_scores = ops.expand_dims(pad_scores, -1)
            last = ops.sum(ops.where(at_last, scores, ops.zeros_like(scores)), axis=0)
            scores = ops.where(pad_scores, last[None], scores)
        outputs = BeamSearchDecoderOutput(scores, ids, parents)
        predicted = gather_tree(ids, parents, ops.max(lengths, axis=1), end)
        cell_state = keras.tree.map_structure(
            lambda x: self._split(x) if len(x.shape) else x, final_state.cell_state
        )
        final_state = final_state._replace(cell_state=cell_state)
        return FinalBeamSearchDecoderOutput(predicted, outputs), final_state

    def call(
        self,
        embedding,
        start_tokens=None,
        end_token=None,
        initial_state=None,
        training=None,
    ):
        return super().call(
            embedding,
            initial_state=initial_state,
            training=training,
            start_tokens=start_tokens,
            end_token=end_token,
        )

    def get_config(self):
        serialize = keras.saving.serialize_keras_object
        config = super().get_config()
        config.pop("impute_finished", None)
        return {
            **config,
            "cell": serialize(self.cell),
            "beam_width": self.beam_width,
            "embedding_fn": None
            if self.embedding_fn is None
            else serialize(self.embedding_fn),
            "output_layer": None
            if self.output_layer is None
            else serialize(self.output_layer),
            "length_penalty_weight": self.length_penalty_weight,
            "coverage_penalty_weight": self.coverage_penalty_weight,
            "end_token": self.end_token,
            "output_all_scores": self.output_all_scores,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        deserialize = keras.saving.deserialize_keras_object
        for key in ("cell", "embedding_fn", "output_layer"):
            if config.get(key) is not None:
                config[key] = deserialize(config[key])
        return cls(**config)
