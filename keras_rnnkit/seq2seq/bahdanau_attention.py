"""Additive attention (Bahdanau et al. 2015), plain and monotonic."""

import math
from typing import Any

import keras
from keras import ops

from keras_rnnkit import _validation as check
from keras_rnnkit._registration import register
from keras_rnnkit.seq2seq.attention_mechanism import (
    AttentionMechanism,
    MonotonicScores,
    check_probability_fn,
)


@register
class BahdanauAttention(AttentionMechanism):
    """Additive attention: `score_j = v . tanh(W_m m_j + W_q q)`.

    tensorflow-addons' `tfa.seq2seq.BahdanauAttention` and TF1's
    `tf.contrib.seq2seq.BahdanauAttention`, with the same weights:
    `memory_layer/kernel` `(memory_depth, units)`, `query_layer/kernel`
    `(query_depth, units)`, `attention_v` `(units,)` and, with `normalize`,
    `attention_g` (a scalar, initially `sqrt(1 / units)`) and `attention_b`
    `(units,)`: the normalized form (Salimans and Kingma 2016) is
    `score_j = g v / ||v|| . tanh(W_m m_j + W_q q + b)`.

    The memory is not given to the constructor (tfa's `memory=` is refused
    with a message saying where it goes): each call takes it, and an
    `AttentionWrapper` inside a model receives it from `WithMemory`.

    Args:
        units: Positive integer, the depth of the keys and of the projected
            query.
        memory: Must be None (see above).
        memory_sequence_length: Must be None (see above).
        normalize: Boolean (default `False`): the weight-normalized form.
        probability_fn: `"softmax"` (default) or `"hardmax"`.
        kernel_initializer: Initializer of `attention_v` (tfa's meaning).
        **kwargs: Standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        query: Float tensor `(batch, query_depth)`.
        memory: Float tensor `(batch, max_time, memory_depth)`.
        state: Optional `(batch, max_time)`: unused (the previous alignments).
        memory_sequence_length: Optional integer tensor `(batch,)`.
        memory_mask: Optional boolean tensor `(batch, max_time)`.
        training: Boolean; unused.

    Returns:
        `(alignments, next_state)`, both `(batch, max_time)`: the
        probabilities, exactly 0 past each row's length (all 0 in a row of
        length 0).

    Raises:
        ValueError: At construction: `units` not a positive integer, a
            `probability_fn` other than the two, or a memory given. At call:
            a memory not shaped `(batch, max_time, depth)`.
        TypeError: At call: non-integer `memory_sequence_length`.

    Examples:
        >>> import numpy as np
        >>> from keras import ops
        >>> from keras_rnnkit.seq2seq import BahdanauAttention
        >>> attention = BahdanauAttention(4)
        >>> query = np.ones((2, 3), "float32")
        >>> memory = np.ones((2, 5, 6), "float32")
        >>> alignments, _ = attention(query, memory,
        ...                           memory_sequence_length=np.array([5, 2]))
        >>> ops.convert_to_numpy(alignments)[1].round(2).tolist()
        [0.5, 0.5, 0.0, 0.0, 0.0]
    """

    def __init__(
        self,
        units: int,
        memory: Any = None,
        memory_sequence_length: Any = None,
        normalize: bool = False,
        probability_fn: str = "softmax",
        kernel_initializer: Any = "glorot_uniform",
        **kwargs: Any,
    ) -> None:
        super().__init__(units, memory, memory_sequence_length, **kwargs)
        self.normalize = check.boolean("normalize", normalize)
        self.probability_fn = check_probability_fn(probability_fn)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def _build_scorer(self, query_depth):
        if query_depth is None:
            raise ValueError(
                f"{type(self).__name__} '{self.name}' needs the depth of its "
                "queries to create `query_layer`. Received an unknown depth."
            )
        self.query_layer = keras.layers.Dense(
            self.units, use_bias=False, name="query_layer", dtype=self.dtype_policy
        )
        self.query_layer.build((None, query_depth))
        self.attention_v = self.add_weight(
            shape=(self.units,), initializer=self.kernel_initializer, name="attention_v"
        )
        if self.normalize:
            self.attention_g = self.add_weight(
                shape=(),
                initializer=keras.initializers.Constant(math.sqrt(1.0 / self.units)),
                name="attention_g",
            )
            self.attention_b = self.add_weight(
                shape=(self.units,), initializer="zeros", name="attention_b"
            )

    def _score(self, query, keys):
        hidden = keys + ops.expand_dims(self.query_layer(query), 1)
        v = self.attention_v
        if self.normalize:
            v = self.attention_g * v * ops.rsqrt(ops.sum(ops.square(v)))
            hidden = hidden + self.attention_b
        return ops.sum(v * ops.tanh(hidden), axis=2)

    def get_config(self):
        config = {
            "normalize": self.normalize,
            "probability_fn": self.probability_fn,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
        return {**super().get_config(), **config}


@register
class BahdanauMonotonicAttention(MonotonicScores, BahdanauAttention):
    """Monotonic additive attention (Raffel et al. 2017).

    The Bahdanau score plus a learned scalar `attention_score_bias`
    (initially `score_bias_init`) gives each memory position a probability
    of being chosen, `sigmoid(score + noise)`; `monotonic_attention` turns
    those and the previous alignments into the new alignments, which move
    only forward. The state is the previous alignments; initially all
    weight is on position 0. Weights as `BahdanauAttention` plus
    `attention_score_bias`.

    Args:
        units: Positive integer.
        memory: Must be None (the memory is a call argument).
        memory_sequence_length: Must be None.
        normalize: Boolean (default `False`).
        sigmoid_noise: Float >= 0 (default 0): standard deviation of the
            Gaussian noise added to the scores before the sigmoid when
            training, which pushes the choices towards 0 or 1 (inference
            adds none). In an `AttentionWrapper` run by `DynamicRNN` the
            noise of every step is drawn before the loop (so it works under
            JAX's `jit`); in `keras.layers.RNN` each step draws its own,
            which JAX cannot do inside a compiled loop (a clear error).
        sigmoid_noise_seed: Optional integer seed of the noise.
        score_bias_init: Float (default 0), the initial score bias.
        mode: `"parallel"` (default), `"recursive"` or `"hard"`; see
            `monotonic_attention`.
        kernel_initializer: Initializer of `attention_v`.
        **kwargs: Standard layer arguments.

    Call arguments:
        query: Float tensor `(batch, query_depth)`.
        memory: Float tensor `(batch, max_time, memory_depth)`.
        state: Optional `(batch, max_time)`, the previous alignments.
        memory_sequence_length: Optional integer tensor `(batch,)`.
        memory_mask: Optional boolean tensor `(batch, max_time)`.
        training: Boolean: adds the sigmoid noise when `True`.

    Returns:
        `(alignments, next_state)`, both `(batch, max_time)`.

    Raises:
        ValueError: At construction: a bad `units`, `mode`,
            `sigmoid_noise` or `score_bias_init`.

    Examples:
        >>> import numpy as np
        >>> from keras_rnnkit.seq2seq import BahdanauMonotonicAttention
        >>> attention = BahdanauMonotonicAttention(4, mode="recursive")
        >>> alignments, state = attention(np.ones((2, 3), "float32"),
        ...                               np.ones((2, 5, 6), "float32"))
        >>> tuple(alignments.shape)
        (2, 5)
    """

    def __init__(
        self,
        units: int,
        memory: Any = None,
        memory_sequence_length: Any = None,
        normalize: bool = False,
        sigmoid_noise: float = 0.0,
        sigmoid_noise_seed: int | None = None,
        score_bias_init: float = 0.0,
        mode: str = "parallel",
        kernel_initializer: Any = "glorot_uniform",
        **kwargs: Any,
    ) -> None:
        kwargs.pop("probability_fn", None)
        super().__init__(
            units,
            memory,
            memory_sequence_length,
            normalize=normalize,
            kernel_initializer=kernel_initializer,
            **kwargs,
        )
        self._init_monotonic(sigmoid_noise, sigmoid_noise_seed, score_bias_init, mode)
