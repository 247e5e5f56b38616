"""What every attention mechanism shares: memory, masking, probabilities.

An attention mechanism scores a query (the decoder cell's output) against a
memory (the encoder's outputs) and turns the scores into alignments, one
weight per memory position. tensorflow-addons stored the memory on the
mechanism (`setup_memory`); here the memory is an argument: `prepare_memory`
turns it into a `Memory` (values, keys, mask) once per sequence, and `align`
scores one query against it. Nothing is stored on the layer between calls,
so one mechanism serves several threads and traces under JAX's `jit`.

Padding (from `memory_sequence_length` or `memory_mask`) is removed with
selects, never multiplications: padded positions get exactly zero weight,
and a NaN or inf in padded memory changes neither the outputs nor the
gradients. A row with no valid position gets all-zero alignments (tfa
refused a length of 0).
"""

import collections
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_rnnkit import _validation as check

Memory = collections.namedtuple("Memory", ["values", "keys", "mask"])
Memory.__doc__ = """A prepared memory: `values` `(batch, max_time, depth)`
(zero where padded), `keys` `(batch, max_time, units)` (the memory layer's
projection of the values) and `mask`, boolean `(batch, max_time)` or None."""

_PROBABILITY_FNS = ("softmax", "hardmax")
_MODES = ("parallel", "recursive", "hard")


def hardmax(logits: Any, name: str | None = None) -> Any:
    """One-hot vectors of the largest logit along the last axis.

    Args:
        logits: Float tensor `(..., depth)`.
        name: Ignored; kept for tensorflow-addons' signature.

    Returns:
        A tensor like `logits`: 1 at the (first) maximum, 0 elsewhere.

    Examples:
        >>> from keras import ops
        >>> from keras_rnnkit.seq2seq import hardmax
        >>> ops.convert_to_numpy(hardmax([[1.0, 3.0, 2.0]])).tolist()
        [[0.0, 1.0, 0.0]]
    """
    logits = ops.convert_to_tensor(logits)
    depth = logits.shape[-1]
    if depth is None:  # a symbolic tensor of unknown depth (TensorFlow)
        depth = ops.shape(logits)[-1]
    return ops.one_hot(ops.argmax(logits, axis=-1), depth, dtype=logits.dtype)


def _exclusive(x, axis):
    """`x` shifted one step along `axis` (last axis only), a zero first."""
    if axis not in (-1, len(x.shape) - 1):
        raise ValueError(
            f"Argument `axis` must be the last axis. Received: axis={axis!r}"
        )
    zeros = ops.zeros_like(x[..., :1])
    return ops.concatenate([zeros, x[..., :-1]], axis=-1)


def safe_cumprod(x: Any, axis: int = -1, exclusive: bool = False) -> Any:
    """Cumulative product computed in log space, safe for small factors.

    `exp(cumsum(log(clip(x, tiny, 1))))`, tensorflow-addons' formula: the
    factors must lie in `[0, 1]`; a 0 counts as the smallest positive float.

    Args:
        x: Float tensor with values in `[0, 1]`.
        axis: The axis to multiply along (the last).
        exclusive: If `True`, the product of the factors before each position
            (1 at the first), as `tf.math.cumprod(exclusive=True)`.

    Returns:
        A tensor like `x`.

    Examples:
        >>> from keras import ops
        >>> from keras_rnnkit.seq2seq import safe_cumprod
        >>> [round(v, 4) for v in ops.convert_to_numpy(
        ...     safe_cumprod([0.5, 0.5, 0.1], exclusive=True)).tolist()]
        [1.0, 0.5, 0.25]
    """
    x = ops.convert_to_tensor(x)
    tiny = float(np.finfo(keras.backend.standardize_dtype(x.dtype)).tiny)
    logs = ops.log(ops.clip(x, tiny, 1.0))
    if exclusive:
        logs = _exclusive(logs, axis)
    return ops.exp(ops.cumsum(logs, axis=axis))


def monotonic_attention(p_choose_i: Any, previous_attention: Any, mode: str) -> Any:
    """Monotonic attention: the expected alignments given choosing probabilities.

    Raffel et al. 2017, "Online and Linear-Time Attention by Enforcing
    Monotonic Alignments". Position `j` is chosen with probability
    `p_choose_i[:, j]`, scanning forward from where the previous step's
    attention stood.

    Args:
        p_choose_i: Float tensor `(batch, max_time)`, probabilities in
            `[0, 1]`.
        previous_attention: Float tensor `(batch, max_time)`, the previous
            step's alignments (one-hot at 0 before the first step).
        mode: `"recursive"` (an exact scan over memory positions),
            `"parallel"` (the closed form with cumulative products, exact
            unless some `1 - p` underflows) or `"hard"` (`p_choose_i` must be
            0 or 1: the first chosen position at or after the previous one).

    Returns:
        Float tensor `(batch, max_time)`.

    Raises:
        ValueError: `mode` is not one of the three.

    Examples:
        >>> import numpy as np
        >>> from keras import ops
        >>> from keras_rnnkit.seq2seq import monotonic_attention
        >>> p = np.array([[0.0, 1.0, 1.0]], "float32")
        >>> prev = np.array([[1.0, 0.0, 0.0]], "float32")
        >>> ops.convert_to_numpy(monotonic_attention(p, prev, "hard")).tolist()
        [[0.0, 1.0, 0.0]]
    """
    if mode not in _MODES:
        raise ValueError(
            "Argument `mode` must be one of 'recursive', 'parallel' or 'hard'. "
            f"Received: mode={mode!r}"
        )
    p_choose_i = ops.convert_to_tensor(p_choose_i)
    previous_attention = ops.cast(
        ops.convert_to_tensor(previous_attention), p_choose_i.dtype
    )
    if mode == "recursive":
        # q[j] = (1 - p[j - 1]) q[j - 1] + previous[j]; attention = p q
        shifted = ops.concatenate(
            [ops.ones_like(p_choose_i[:, :1]), 1 - p_choose_i[:, :-1]], axis=1
        )

        if p_choose_i.shape[1] is None:  # TensorFlow, memory length unknown
            return p_choose_i * _recursion_of_unknown_length(
                shifted, previous_attention
            )

        def step(q, factors):
            decay, previous = factors
            q = decay * q + previous
            return q, q

        _, q = ops.scan(
            step,
            ops.zeros_like(p_choose_i[:, 0]),
            (ops.transpose(shifted), ops.transpose(previous_attention)),
        )
        return p_choose_i * ops.transpose(q)
    if mode == "parallel":
        cumprod = safe_cumprod(1 - p_choose_i, axis=-1, exclusive=True)
        return (
            p_choose_i
            * cumprod
            * ops.cumsum(previous_attention / ops.clip(cumprod, 1e-10, 1.0), axis=1)
        )
    p_choose_i = p_choose_i * ops.cumsum(previous_attention, axis=1)
    # exclusive cumprod of (1 - p), exact for p in {0, 1}
    kept = ops.cumprod(
        ops.concatenate(
            [ops.ones_like(p_choose_i[:, :1]), 1 - p_choose_i[:, :-1]], axis=1
        ),
        axis=1,
    )
    return p_choose_i * kept


def _recursion_of_unknown_length(decay, previous):
    """`q[:, j] = decay[:, j] * q[:, j - 1] + previous[:, j]` in a while loop
    (Keras's `scan` needs the length when a graph is built): the same
    products in the same order as the scan, so no division by a factor that
    may be 0."""
    length = ops.shape(decay)[1]

    def body(j, carry):
        q, found = carry
        q = ops.take(decay, j, axis=1) * q + ops.take(previous, j, axis=1)
        here = ops.one_hot(j, length, dtype=decay.dtype)
        return q, found + ops.expand_dims(q, 1) * ops.expand_dims(here, 0)

    start = (ops.zeros_like(decay[:, 0]), ops.zeros_like(decay))
    return ops.fori_loop(0, length, body, start)[1]


class AttentionMechanism(keras.layers.Layer):
    """Base of the attention mechanisms (tensorflow-addons' public name).

    Subclasses create their weights in `build_for(query_depth,
    memory_depth)` and score a query against the keys in `_score`; this base
    prepares the memory, masks the scores and applies `probability_fn`.

    Call arguments (of every mechanism):
        query: Float tensor `(batch, query_depth)`, e.g. a decoder output.
        memory: Float tensor `(batch, max_time, memory_depth)`.
        state: Optional float tensor `(batch, max_time)`: the previous
            alignments (only monotonic attention reads it). Default: the
            initial alignments.
        memory_sequence_length: Optional integer tensor `(batch,)`.
        memory_mask: Optional boolean tensor `(batch, max_time)`. With
            `memory_sequence_length` too, a position is valid when both say
            so.

    Returns:
        `(alignments, next_state)`, each `(batch, max_time)`, as tfa's
        `mechanism([query, state])`.
    """

    monotonic = False

    def __init__(self, units, memory=None, memory_sequence_length=None, **kwargs):
        if memory is not None or memory_sequence_length is not None:
            raise ValueError(
                f"{type(self).__name__} takes no memory when it is created "
                "(tensorflow-addons' `memory=` and `memory_sequence_length=`): "
                "the memory is an argument of each call. In a model, give it to "
                "`keras_rnnkit.seq2seq.WithMemory(rnn)(inputs, memory, "
                "memory_sequence_length=...)`; alone, call "
                "`mechanism(query, memory, memory_sequence_length=...)`. "
                f"Received: memory={_short(memory)}, memory_sequence_length="
                f"{_short(memory_sequence_length)}"
            )
        super().__init__(**kwargs)
        self.units = check.positive_int("units", units)
        self.memory_depth = None

    # -- building ------------------------------------------------------------

    def build(self, query_shape, memory_shape):
        self.build_for(
            query_shape[-1], None if memory_shape is None else memory_shape[-1]
        )

    def build_for(self, query_depth, memory_depth):
        """Creates the weights for queries and memories of these depths."""
        if memory_depth is None:
            raise ValueError(
                f"{type(self).__name__} '{self.name}' needs the depth of its "
                "memory (the last axis of the encoder outputs) to create its "
                "weights. Received a memory of unknown depth."
            )
        self.memory_depth = int(memory_depth)
        self.memory_layer = keras.layers.Dense(
            self.units,
            use_bias=False,
            name="memory_layer",
            dtype=self.dtype_policy,
            kernel_initializer=self._kernel_initializer(),
        )
        self.memory_layer.build((None, None, self.memory_depth))
        self._build_scorer(query_depth)
        self.built = True

    def _kernel_initializer(self):
        return "glorot_uniform"

    def _build_scorer(self, query_depth):
        raise NotImplementedError

    # -- the memory ----------------------------------------------------------

    def prepare_memory(
        self, memory, memory_sequence_length=None, memory_mask=None
    ) -> Memory:
        """The `Memory` (values, keys, mask) of `memory`, computed once per
        sequence: padded positions are zeros in `values` and `keys`."""
        memory = ops.convert_to_tensor(memory, dtype=self.compute_dtype)
        if len(memory.shape) != 3:
            raise ValueError(
                f"{type(self).__name__} '{self.name}' expects a memory shaped "
                "(batch, max_time, depth). Received: memory.shape="
                f"{tuple(memory.shape)}"
            )
        if self.memory_depth is not None and memory.shape[-1] not in (
            None,
            self.memory_depth,
        ):
            raise ValueError(
                f"{type(self).__name__} '{self.name}' was built for a memory "
                f"of depth {self.memory_depth}. Received: memory.shape="
                f"{tuple(memory.shape)}"
            )
        mask = memory_mask_of(self, memory, memory_sequence_length, memory_mask)
        if mask is not None:
            memory = ops.where(
                ops.expand_dims(mask, -1), memory, ops.zeros_like(memory)
            )
        return Memory(memory, self.memory_layer(memory), mask)

    def initial_alignments(self, batch_size, max_time, dtype=None):
        """The alignments before the first step: zeros (monotonic attention:
        all weight on position 0)."""
        dtype = dtype or self.compute_dtype
        if self.monotonic:
            return ops.one_hot(
                ops.zeros((batch_size,), dtype="int32"), max_time, dtype=dtype
            )
        return ops.zeros((batch_size, max_time), dtype=dtype)

    def initial_state(self, batch_size, max_time, dtype=None):
        """The state before the first step: the initial alignments."""
        return self.initial_alignments(batch_size, max_time, dtype)

    # -- one step ------------------------------------------------------------

    def align(self, query, state, memory: Memory, training=False, noise=None):
        """`(alignments, next_state)` of `query` against a prepared memory.

        `noise`: optional standard normal numbers `(batch, max_time)` for
        monotonic attention's pre-sigmoid noise (drawn here when training
        and not given)."""
        score = self._score(query, memory.keys)
        if memory.mask is not None:
            floor = float(np.finfo(keras.backend.standardize_dtype(score.dtype)).min)
            score = ops.where(memory.mask, score, ops.full_like(score, floor))
        alignments = self._probabilities(score, state, training, noise)
        if memory.mask is not None:
            alignments = ops.where(memory.mask, alignments, ops.zeros_like(alignments))
        return alignments, alignments

    def _score(self, query, keys):
        raise NotImplementedError

    def _probabilities(self, score, state, training=False, noise=None):
        if self.probability_fn == "hardmax":
            return hardmax(score)
        # Written out: Keras's ops.softmax warns on an axis of size 1, and a
        # memory of one step is legitimate.
        score = score - ops.stop_gradient(ops.max(score, axis=-1, keepdims=True))
        exp = ops.exp(score)
        return exp / ops.sum(exp, axis=-1, keepdims=True)

    def call(
        self,
        query,
        memory,
        state=None,
        memory_sequence_length=None,
        memory_mask=None,
        training=False,
    ):
        prepared = self.prepare_memory(memory, memory_sequence_length, memory_mask)
        if state is None:
            state = self.initial_state(
                ops.shape(prepared.values)[0], ops.shape(prepared.values)[1]
            )
        return self.align(query, state, prepared, training=training)

    def compute_output_spec(self, query, memory, state=None, **kwargs):
        spec = keras.KerasTensor((query.shape[0], memory.shape[1]), self.compute_dtype)
        return spec, spec

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def _short(value):
    return "None" if value is None else f"<{type(value).__name__}>"


def check_probability_fn(value):
    if value not in _PROBABILITY_FNS:
        raise ValueError(
            "Argument `probability_fn` must be 'softmax' or 'hardmax' (a "
            "custom function cannot be saved in a config: subclass the "
            "mechanism and override `_probabilities`). Received: "
            f"probability_fn={value!r}"
        )
    return value


def check_mode(value):
    if value not in _MODES:
        raise ValueError(
            "Argument `mode` must be one of 'parallel', 'recursive' or 'hard'. "
            f"Received: mode={value!r}"
        )
    return value


def memory_mask_of(layer, memory, memory_sequence_length=None, memory_mask=None):
    """The boolean `(batch, max_time)` mask of the valid memory, or None:
    positions before the length and (when both are given) in the mask."""
    valid = None
    if memory_sequence_length is not None:
        lengths = ops.convert_to_tensor(memory_sequence_length)
        if "int" not in keras.backend.standardize_dtype(lengths.dtype):
            raise TypeError(
                f"{type(layer).__name__} '{layer.name}' expects integer "
                "`memory_sequence_length`. Received: memory_sequence_length."
                f"dtype={lengths.dtype}"
            )
        if len(lengths.shape) != 1:
            raise ValueError(
                f"{type(layer).__name__} '{layer.name}' expects "
                "`memory_sequence_length` shaped (batch,). Received: shape="
                f"{tuple(lengths.shape)}"
            )
        positions = ops.arange(ops.shape(memory)[1], dtype=lengths.dtype)
        valid = ops.expand_dims(positions, 0) < ops.expand_dims(lengths, 1)
    if memory_mask is not None:
        mask = ops.convert_to_tensor(memory_mask)
        if len(mask.shape) != 2:
            raise ValueError(
                f"{type(layer).__name__} '{layer.name}' expects `memory_mask` "
                f"shaped (batch, max_time). Received: shape={tuple(mask.shape)}"
            )
        mask = ops.cast(mask, "bool")
        valid = mask if valid is None else ops.logical_and(valid, mask)
    return valid


def monotonic_probabilities(layer, score, state, training=False, noise=None):
    """Monotonic attention's probability step (tfa's
    `_monotonic_probability_fn`): pre-sigmoid noise when training (`noise`,
    standard normal numbers, or drawn now), then a sigmoid (or a hard
    threshold at 0), then `monotonic_attention`."""
    if layer.sigmoid_noise > 0 and training:
        if noise is None:
            noise = keras.random.normal(
                ops.shape(score), dtype=score.dtype, seed=layer.seed_generator
            )
        score = score + layer.sigmoid_noise * ops.cast(noise, score.dtype)
    if layer.mode == "hard":
        p_choose_i = ops.cast(score > 0, score.dtype)
    else:
        p_choose_i = ops.sigmoid(score)
    return monotonic_attention(p_choose_i, state, layer.mode)


class MonotonicScores:
    """What the monotonic mechanisms add to their parent's scores (TF1's
    `_BaseMonotonicAttentionMechanism`): a learned scalar
    `attention_score_bias`, pre-sigmoid noise when training, and
    `monotonic_attention` in place of the softmax. Mixed in before the
    parent mechanism (`class X(MonotonicScores, BahdanauAttention)`); the
    subclass's `__init__` calls `_init_monotonic` after its parent's."""

    monotonic = True

    def _init_monotonic(self, sigmoid_noise, sigmoid_noise_seed, score_bias_init, mode):
        sigmoid_noise = check.finite_float("sigmoid_noise", sigmoid_noise)
        if sigmoid_noise < 0:
            raise ValueError(
                "Argument `sigmoid_noise` must be >= 0. Received: "
                f"sigmoid_noise={sigmoid_noise!r}"
            )
        self.sigmoid_noise = sigmoid_noise
        self.sigmoid_noise_seed = sigmoid_noise_seed
        self.seed_generator = keras.random.SeedGenerator(sigmoid_noise_seed)
        self.score_bias_init = check.finite_float("score_bias_init", score_bias_init)
        self.mode = check_mode(mode)

    def _build_scorer(self, query_depth):
        super()._build_scorer(query_depth)
        self.attention_score_bias = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(self.score_bias_init),
            name="attention_score_bias",
        )

    def _score(self, query, keys):
        return super()._score(query, keys) + self.attention_score_bias

    def _probabilities(self, score, state, training=False, noise=None):
        return monotonic_probabilities(self, score, state, training, noise)

    def get_config(self):
        config = super().get_config()
        del config["probability_fn"]
        config.update(
            sigmoid_noise=self.sigmoid_noise,
            sigmoid_noise_seed=self.sigmoid_noise_seed,
            score_bias_init=self.score_bias_init,
            mode=self.mode,
        )
        return config


def normal_from_uniform(numbers):
    """Standard normal numbers from uniform ones (Box-Muller): the first half
    of the last axis with the second half gives as many as each half."""
    first, second = ops.split(numbers, 2, axis=-1)
    tiny = float(np.finfo(keras.backend.standardize_dtype(first.dtype)).tiny)
    radius = ops.sqrt(-2.0 * ops.log(ops.maximum(first, tiny)))
    return radius * ops.cos(2.0 * np.pi * second)


__all__ = [
    "AttentionMechanism",
    "Memory",
    "hardmax",
    "monotonic_attention",
    "safe_cumprod",
]
