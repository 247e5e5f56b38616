"""Multiplicative attention (Luong et al. 2015), plain and monotonic."""

from typing import Any

from keras import ops

from keras_rnnkit import _float64
from keras_rnnkit import _validation as check
from keras_rnnkit._registration import register
from keras_rnnkit.seq2seq.attention_mechanism import (
    AttentionMechanism,
    MonotonicScores,
    check_probability_fn,
)


@register
class LuongAttention(AttentionMechanism):
    """Multiplicative attention: `score_j = g * (q . W_m m_j)`.

    tensorflow-addons' `tfa.seq2seq.LuongAttention` and TF1's
    `tf.contrib.seq2seq.LuongAttention`, with the same weights:
    `memory_layer/kernel` `(memory_depth, units)` and, with `scale`,
    `attention_g` (a scalar, initially 1; `g = 1` without it). The query is
    not projected, so `units` must equal the query's depth (the decoder
    cell's output size): a mismatch is refused when the layer is built.

    Args:
        units: Positive integer, the depth of the keys = the query's depth.
        memory: Must be None (the memory is a call argument; see
            `BahdanauAttention`).
        memory_sequence_length: Must be None.
        scale: Boolean (default `False`): learn the scalar `attention_g`.
        probability_fn: `"softmax"` (default) or `"hardmax"`.
        **kwargs: Standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        query: Float tensor `(batch, units)`.
        memory: Float tensor `(batch, max_time, memory_depth)`.
        state: Optional `(batch, max_time)`: unused.
        memory_sequence_length: Optional integer tensor `(batch,)`.
        memory_mask: Optional boolean tensor `(batch, max_time)`.
        training: Boolean; unused.

    Returns:
        `(alignments, next_state)`, both `(batch, max_time)`, exactly 0 past
        each row's length.

    Raises:
        ValueError: At construction: a bad `units` or `probability_fn`, or
            a memory given. At build: a query whose depth is not `units`.

    Examples:
        >>> import numpy as np
        >>> from keras import ops
        >>> from keras_rnnkit.seq2seq import LuongAttention
        >>> attention = LuongAttention(3, probability_fn="hardmax")
        >>> alignments, _ = attention(np.ones((1, 3), "float32"),
        ...                           np.ones((1, 4, 2), "float32"),
        ...                           memory_sequence_length=np.array([2]))
        >>> ops.convert_to_numpy(alignments).tolist()
        [[1.0, 0.0, 0.0, 0.0]]
    """

    def __init__(
        self,
        units: int,
        memory: Any = None,
        memory_sequence_length: Any = None,
        scale: bool = False,
        probability_fn: str = "softmax",
        **kwargs: Any,
    ) -> None:
        super().__init__(units, memory, memory_sequence_length, **kwargs)
        self.scale = check.boolean("scale", scale)
        self.probability_fn = check_probability_fn(probability_fn)

    def _build_scorer(self, query_depth):
        if query_depth is not None and query_depth != self.units:
            raise ValueError(
                f"{type(self).__name__} '{self.name}' compares the query with "
                f"keys of depth units={self.units} without projecting it, so "
                "the query (the decoder cell's output) must have that depth. "
                f"Received: a query of depth {query_depth}. Use "
                "BahdanauAttention, or give the cell `units` units."
            )
        if self.scale:
            self.attention_g = self.add_weight(
                shape=(), initializer="ones", name="attention_g"
            )

    def _score(self, query, keys):
        score = ops.squeeze(_float64.matmul(keys, ops.expand_dims(query, -1)), -1)
        if self.scale:
            score = self.attention_g * score
        return score

    def get_config(self):
        config = {"scale": self.scale, "probability_fn": self.probability_fn}
        return {**super().get_config(), **config}


@register
class LuongMonotonicAttention(MonotonicScores, LuongAttention):
    """Monotonic multiplicative attention (Raffel et al. 2017).

    The Luong score plus a learned scalar `attention_score_bias` gives each
    position a probability of being chosen; see
    `BahdanauMonotonicAttention` for the rest (noise, modes, state).
    Weights: `memory_layer/kernel`, `attention_g` with `scale`, and
    `attention_score_bias`.

    Args:
        units: Positive integer, the query's depth.
        memory: Must be None (the memory is a call argument).
        memory_sequence_length: Must be None.
        scale: Boolean (default `False`).
        sigmoid_noise: Float >= 0 (default 0), pre-sigmoid noise when
            training (see `BahdanauMonotonicAttention`).
        sigmoid_noise_seed: Optional integer seed.
        score_bias_init: Float (default 0).
        mode: `"parallel"` (default), `"recursive"` or `"hard"`.
        **kwargs: Standard layer arguments.

    Call arguments:
        query: Float tensor `(batch, units)`.
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
        >>> from keras_rnnkit.seq2seq import LuongMonotonicAttention
        >>> attention = LuongMonotonicAttention(3, mode="hard")
        >>> alignments, _ = attention(np.ones((2, 3), "float32"),
        ...                           np.ones((2, 5, 6), "float32"))
        >>> tuple(alignments.shape)
        (2, 5)
    """

    def __init__(
        self,
        units: int,
        memory: Any = None,
        memory_sequence_length: Any = None,
        scale: bool = False,
        sigmoid_noise: float = 0.0,
        sigmoid_noise_seed: int | None = None,
        score_bias_init: float = 0.0,
        mode: str = "parallel",
        **kwargs: Any,
    ) -> None:
        kwargs.pop("probability_fn", None)
        super().__init__(units, memory, memory_sequence_length, scale=scale, **kwargs)
        self._init_monotonic(sigmoid_noise, sigmoid_noise_seed, score_bias_init, mode)
