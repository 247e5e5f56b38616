"""Linear-chain CRF functions: `tf.contrib.crf` / `tfa.text` for Keras 3.

The functions of TF1's `tf.contrib.crf` and tensorflow-addons' `tfa.text`
(its TF 2 home, no longer maintained), with the same names, arguments and
results, written with `keras.ops` so that they run on TensorFlow, JAX and
PyTorch, eagerly and inside compiled functions (`tf.function`, `jax.jit`).
The layer built on them is `keras_rnnkit.CRF`.

Conventions (those of `tf.contrib.crf`):

- `inputs` (or `potentials`): the unary scores, float `(batch, time,
  num_tags)`, typically a `Dense(num_tags)` over an RNN's outputs.
- `tag_indices`: integer `(batch, time)`.
- `sequence_lengths`: integer `(batch,)`; row `b` is its first
  `sequence_lengths[b]` steps, the rest is padding.
- `transition_params`: float `(num_tags, num_tags)`;
  `transition_params[i, j]` is the score of tag `i` followed by tag `j`.
- The score of a tag path `y` of a row of length `L` is
  `sum_t inputs[t, y_t] + sum_{t>=1} transition_params[y_{t-1}, y_t]`, and
  the CRF's log-likelihood of `y` is that score minus the log of the sum of
  `exp(score)` over all `num_tags ** L` paths (the log-partition).

What is defined here beyond the originals:

- **Padding**: whatever the padded steps of `inputs` hold (NaN and inf
  included) changes neither results nor gradients: padded steps are set to
  zero before any arithmetic (a "double where"). Tags at padded steps are
  never read (any value, -1 included).
- **Length 0**: a row of length 0 has one path, the empty one, of score 0:
  its sequence score, log-partition and log-likelihood are 0, `crf_decode`
  gives tags 0 and a best score of 0. (tensorflow-addons' `crf_decode`
  returns the first step's argmax for such a row instead, and its
  `crf_multitag_sequence_score` a log-sum-exp over the first step's allowed
  tags when the time axis has one step.)
- **Length 1**: the score is the unary score of the one tag (no
  transition); the log-partition is the log-sum-exp of the first step's
  scores; decoding takes its argmax.
- **Precision**: every function computes in float32, whatever the dtype of
  its inputs (float16 and bfloat16 under a mixed-precision policy), and
  returns float32 scores (tensorflow-addons returned the inputs' dtype).
- **Bad arguments** raise a `ValueError` or `TypeError` naming the
  argument, before any computation: shapes that do not fit, non-integer
  lengths or tags, and (when their values are known, i.e. outside a
  compiled function) lengths outside `[0, time]` and tags outside
  `[0, num_tags)` at valid steps. Inside a compiled function, lengths act
  as if clipped to `[0, time]` and tags to `[0, num_tags)`.

Examples:
    >>> import numpy as np
    >>> from keras_rnnkit import crf
    >>> inputs = np.array([[[1.0, 0.0], [0.0, 2.0], [9.0, 9.0]]], "float32")
    >>> transitions = np.array([[0.5, -0.5], [0.0, 0.0]], "float32")
    >>> lengths = np.array([2])  # the third step is padding
    >>> tags, best = crf.crf_decode(inputs, transitions, lengths)
    >>> np.asarray(tags), np.asarray(best)  # 1.0 + 2.0 - 0.5
    (array([[0, 1, 0]], dtype=int32), array([2.5], dtype=float32))
    >>> ll, _ = crf.crf_log_likelihood(inputs, tags, lengths, transitions)
    >>> round(float(np.exp(np.asarray(ll)[0])), 4)  # the path's probability
    0.4863
"""

import itertools
import numbers
from collections.abc import Mapping, Sequence

import keras
import numpy as np
from keras import ops

from keras_rnnkit import _validation as check
from keras_rnnkit._backend import take_along_axis
from keras_rnnkit._types import Tensor

__all__ = [
    "allowed_transitions",
    "crf_binary_score",
    "crf_constrained_decode",
    "crf_decode",
    "crf_decode_top_k",
    "crf_filtered_inputs",
    "crf_forward",
    "crf_log_likelihood",
    "crf_log_norm",
    "crf_multitag_sequence_score",
    "crf_sequence_score",
    "crf_unary_score",
    "viterbi_decode",
]

# The score given to a forbidden transition while training (a finite
# number: exp() of it is 0 in float32, and nothing turns into NaN).
# Decoding forbids with -inf.
TRAINING_PENALTY = -1e4

SCHEMES = ("BIO", "IOB1", "BIOUL", "BMES")


# -- argument checks ---------------------------------------------------------


def _dtype(x):
    return keras.backend.standardize_dtype(x.dtype)


def _inputs(name, inputs):
    """`inputs` as a tensor, checked to be float `(batch, time, num_tags)`."""
    inputs = ops.convert_to_tensor(inputs)
    if "float" not in _dtype(inputs):
        raise TypeError(
            f"Argument `{name}` must be a floating-point tensor of unary "
            f"scores (batch, time, num_tags). Received: {name}.dtype="
            f"{_dtype(inputs)}"
        )
    if len(inputs.shape) != 3:
        raise ValueError(
            f"Argument `{name}` must be of shape (batch, time, num_tags). "
            f"Received: {name}.shape={tuple(inputs.shape)}"
        )
    if inputs.shape[1] == 0 or inputs.shape[2] == 0:
        raise ValueError(
            f"Argument `{name}` needs at least one time step and one tag "
            "(a row of length 0 is given by its sequence length, not by an "
            f"empty time axis). Received: {name}.shape={tuple(inputs.shape)}"
        )
    return inputs


def _transitions(name, transitions, num_tags):
    """`transitions` as a float32 tensor, checked to be `(num_tags, num_tags)`."""
    transitions = ops.convert_to_tensor(transitions)
    if "float" not in _dtype(transitions):
        raise TypeError(
            f"Argument `{name}` must be a floating-point (num_tags, num_tags) "
            f"matrix. Received: {name}.dtype={_dtype(transitions)}"
        )
    shape = tuple(transitions.shape)
    if len(shape) != 2 or not check.shapes_agree(shape, (num_tags, num_tags)):
        raise ValueError(
            f"Argument `{name}` must be of shape (num_tags, num_tags) = "
            f"({num_tags}, {num_tags}), num_tags being the last axis of the "
            f"unary scores. Received: {name}.shape={shape}"
        )
    return ops.cast(transitions, "float32")


def _lengths(name, lengths, inputs):
    """Checked integer lengths `(batch,)` as int32."""
    lengths = ops.convert_to_tensor(lengths)
    if "int" not in _dtype(lengths):
        raise TypeError(
            f"Argument `{name}` must hold integers (row lengths). Received: "
            f"{name}.dtype={_dtype(lengths)}"
        )
    batch, time = inputs.shape[0], inputs.shape[1]
    if len(lengths.shape) != 1 or not check.shapes_agree(lengths.shape, (batch,)):
        raise ValueError(
            f"Argument `{name}` must be of shape (batch,) = ({batch},). "
            f"Received: {name}.shape={tuple(lengths.shape)}"
        )
    values = check.concrete(lengths)
    if values is not None and time is not None:
        bad = (values < 0) | (values > time)
        if bad.any():
            raise ValueError(
                f"Argument `{name}` must hold lengths in [0, {time}] (the time "
                f"axis of the unary scores). Received: {name}={values.tolist()}"
            )
    return ops.cast(lengths, "int32")


def _tags(name, tags, inputs, mask):
    """Checked integer tags `(batch, time)`: 0 at padded steps, clipped."""
    tags = ops.convert_to_tensor(tags)
    if "int" not in _dtype(tags):
        raise TypeError(
            f"Argument `{name}` must hold integer tag indices. Received: "
            f"{name}.dtype={_dtype(tags)}"
        )
    if not check.shapes_agree(tags.shape, inputs.shape[:2]):
        raise ValueError(
            f"Argument `{name}` must be of shape (batch, time) = "
            f"{tuple(inputs.shape[:2])}, like the unary scores. Received: "
            f"{name}.shape={tuple(tags.shape)}"
        )
    num_tags = inputs.shape[2]
    values, valid = check.concrete(tags), check.concrete(mask)
    if values is not None and valid is not None and num_tags is not None:
        bad = valid.astype(bool) & ((values < 0) | (values >= num_tags))
        if bad.any():
            raise ValueError(
                f"Argument `{name}` must hold tags in [0, {num_tags}) at the "
                f"valid steps. Received: {values[bad].tolist()[:10]} at "
                f"(row, step) {np.argwhere(bad).tolist()[:10]}"
            )
    tags = ops.where(mask, ops.cast(tags, "int32"), 0)
    if num_tags is not None:
        tags = ops.clip(tags, 0, num_tags - 1)
    return tags


def _bitmap(name, bitmap, inputs):
    bitmap = ops.convert_to_tensor(bitmap)
    if not check.shapes_agree(bitmap.shape, inputs.shape):
        raise ValueError(
            f"Argument `{name}` must be of shape (batch, time, num_tags) = "
            f"{tuple(inputs.shape)}, like the unary scores. Received: "
            f"{name}.shape={tuple(bitmap.shape)}"
        )
    return ops.cast(bitmap, "bool")


# -- the computations (float32, padded steps zeroed) -------------------------


def _steps(x):
    """0, 1, ... along the time axis of `x` (batch, time, ...), as int32
    (a cumsum over the axis, not an arange: its length may be symbolic)."""
    ones = ops.ones_like(x[:, :, 0] if len(x.shape) > 2 else x, dtype="int32")
    return ops.cumsum(ones, axis=1) - 1


def length_mask(lengths, x):
    """`(batch, time)` boolean mask, True before each row's length."""
    return ops.less(_steps(x), ops.expand_dims(lengths, -1))


def zero_padding(inputs, mask):
    """`inputs` in float32 with every padded step set to 0 (NaN included):
    the first where of the double where."""
    inputs = ops.cast(inputs, "float32")
    return ops.where(ops.expand_dims(mask, -1), inputs, ops.zeros_like(inputs))


def _scan(step, init, xs, reverse=False, ys_like=None):
    """`keras.ops.scan` over the leading axis of `xs` (a tuple of tensors):
    `step(carry, x) -> (carry, y)`; returns the last carry and the stacked
    `y`s (None when `step` returns None for them).

    `ys_like`: a tensor of the shape and dtype of one `y` (None when there
    are none); TensorFlow's scan needs it to start. On torch the steps are
    split with `unbind`, not indexed one by one: an index per step costs a
    full-size zero gradient per step on the way back.
    """
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        carry, ys = init, []
        slices = list(zip(*(torch.unbind(x, 0) for x in xs), strict=True))
        for x in reversed(slices) if reverse else slices:
            carry, y = step(carry, x)
            ys.append(y)
        if reverse:
            ys.reverse()
        if ys_like is None:
            return carry, None
        if not ys:
            return carry, ys_like[None][:0]
        return carry, torch.stack(ys)
    if backend == "tensorflow":
        return _tf_scan(step, init, xs, reverse, ys_like)
    return ops.scan(step, init, xs, reverse=reverse)


def _tf_scan(step, init, xs, reverse, ys_like):
    """`tf.scan`: Keras's TF scan (3.15) keeps its carry in a TensorArray
    and asks its outputs to have the carry's dtype, which made this 1.3 to
    3 times slower, and fails on several `xs` of unknown length (a
    SavedModel signature)."""
    import tensorflow as tf

    xs = tuple(xs)
    if ys_like is None:
        carries = tf.scan(
            lambda c, x: step(c, x)[0], xs, initializer=init, reverse=reverse
        )
        ys = None
    else:
        carries, ys = tf.scan(
            lambda state, x: step(state[0], x),
            xs,
            initializer=(init, ys_like),
            reverse=reverse,
        )
    # the last carry (with `init` beside them: a scan over no step gives it)
    if reverse:
        return tf.concat([carries, init[None]], 0)[0], ys
    return tf.concat([init[None], carries], 0)[-1], ys


class _Kernels:
    """The operations of one time step, over axis 1, in the backend's own
    functions: on torch each `keras.ops` call adds tens of microseconds of
    dispatch (these run once per step, eagerly), and on TensorFlow and JAX
    `keras.ops.argmax` adds three element-wise operations over the whole
    `(batch, from, to)` block (a fix for negative zeros that a Viterbi
    step does not need) and `take_along_axis` builds its indices. Measured
    with benchmarks/crf.py.

    `index` is the dtype of Viterbi backpointers, the backend's own."""

    def __init__(self):
        backend = keras.backend.backend()
        self.where, self.index = ops.where, "int32"
        self.logsumexp = lambda x: ops.logsumexp(x, axis=1)
        self.to_index = lambda x: ops.cast(x, "int32")
        if backend == "torch":
            import torch

            self.where, self.index, self.to_index = torch.where, "int64", lambda x: x
            self.logsumexp = lambda x: torch.logsumexp(x, dim=1)
            self.max_argmax = lambda x: torch.max(x, dim=1)
            self.gather = lambda x, index: torch.gather(x, 1, index[:, None])[:, 0]
        elif backend == "tensorflow":
            import tensorflow as tf

            self.max_argmax = lambda x: (
                tf.reduce_max(x, axis=1),
                tf.argmax(x, axis=1, output_type=tf.int32),
            )
            self.gather = lambda x, index: tf.gather(x, index, batch_dims=1)
        elif backend == "jax":
            import jax.numpy as jnp

            def max_argmax(x):
                # the first index of the maximum as a min-reduction: XLA's
                # CPU argmax (a two-value reduction) took 2.8x as long
                best = jnp.max(x, axis=1)
                steps = jnp.arange(x.shape[1], dtype="int32")[None, :, None]
                hits = jnp.where(x == best[:, None, :], steps, x.shape[1])
                return best, jnp.min(hits, axis=1)

            self.max_argmax = max_argmax
            self.gather = lambda x, index: jnp.take_along_axis(
                x, index[:, None], axis=1
            )[:, 0]
        else:  # any other Keras backend
            self.max_argmax = lambda x: (ops.max(x, axis=1), ops.argmax(x, axis=1))
            self.gather = lambda x, index: ops.take_along_axis(
                x, index[:, None], axis=1
            )[:, 0]


def _time_major(*tensors):
    return tuple(ops.transpose(t, (1, 0, *range(2, len(t.shape)))) for t in tensors)


def _step_masks(mask, rank=3):
    """Per step, time-major, shaped to broadcast over `(batch, N)` (rank 3)
    or `(batch, N, k)` (rank 4): whether the step is valid, whether a valid
    step came before it, and both. Computed once, outside the loop."""
    count = ops.cumsum(ops.cast(mask, "int32"), axis=1)
    started = (count - ops.cast(mask, "int32")) > 0
    shape = (*ops.shape(mask), *[1] * (rank - 2))
    masks = (mask, started, mask & started)
    return _time_major(*(ops.reshape(m, shape) for m in masks))


def log_partition(potentials, mask, transitions, start=None, end=None):
    """log sum over all paths of exp(score): the forward algorithm.

    `potentials` float32 (batch, time, N) with zeros at padding; `mask`
    boolean (batch, time), any pattern (valid steps need not be a prefix:
    masked steps are skipped, and transitions join consecutive valid
    steps); `transitions` (N, N); optional `start`/`end` (N,) scores of the
    first and last valid tag. Rows without valid steps give 0.
    """
    alpha = ops.zeros_like(potentials[:, 0])
    first = ops.zeros_like(alpha) if start is None else start[None, :] + alpha
    valid, started, _ = _step_masks(mask)
    xs = (*_time_major(potentials), valid, started)
    pairs = transitions[None, :, :]
    k = _Kernels()

    def step(alpha, x):
        unary, valid, started = x
        inner = k.logsumexp(alpha[:, :, None] + pairs)
        new = unary + k.where(started, inner, first)
        return k.where(valid, new, alpha), None

    alpha, _ = _scan(step, alpha, xs)
    if end is not None:
        alpha = alpha + end[None, :]
    log_z = ops.logsumexp(alpha, axis=1)
    return ops.where(ops.any(mask, axis=1), log_z, ops.zeros_like(log_z))


def _previous_valid(tags, mask, prefix):
    """(tag at the previous valid step, whether there is one), per step."""
    if prefix:  # valid steps are a prefix: the previous step is the one
        zeros = ops.zeros_like(tags[:, :1])
        previous = ops.concatenate([zeros, tags[:, :-1]], axis=1)
        has = ops.concatenate([ops.zeros_like(mask[:, :1]), mask[:, :-1]], axis=1)
        return previous, has
    # The valid steps' positions in order (an argsort of distinct keys:
    # valid steps keep their position, masked ones go after them; no
    # scatter, which torch.compile's inductor refuses here), then for each
    # step the position of the last valid step before it.
    steps = _steps(tags)
    keys = ops.where(mask, steps, steps + ops.shape(tags)[1])
    order = ops.cast(ops.argsort(keys, axis=1), "int32")
    before = ops.cumsum(ops.cast(mask, "int32"), axis=1) - ops.cast(mask, "int32")
    slot = ops.maximum(before - 1, 0)
    position = take_along_axis(order, slot, axis=1)
    return take_along_axis(tags, position, axis=1), before > 0


def _binary(tags, mask, transitions, prefix):
    """(sum of the transition scores between consecutive valid steps,
    whether each step has a valid step before it)."""
    previous, has_previous = _previous_valid(tags, mask, prefix)
    num_tags = ops.shape(transitions)[0]
    pair = ops.take(ops.reshape(transitions, (-1,)), previous * num_tags + tags)
    zero = ops.zeros((), "float32")
    return ops.sum(ops.where(mask & has_previous, pair, zero), axis=1), has_previous


def path_score(potentials, tags, mask, transitions, start=None, end=None, prefix=False):
    """Score of the tag path `tags` (int32, 0 at padding) of each row: the
    unary scores of its valid steps, the transitions between consecutive
    valid steps and the optional start/end scores. `prefix=True` promises
    that each row's valid steps come first (lengths)."""
    zero = ops.zeros((), "float32")
    picked = take_along_axis(potentials, tags[..., None], axis=2)[..., 0]
    score = ops.sum(ops.where(mask, picked, zero), axis=1)
    binary, has_previous = _binary(tags, mask, transitions, prefix)
    score = score + binary
    if start is not None:
        first = mask & ~has_previous
        score = score + ops.sum(ops.where(first, ops.take(start, tags), zero), 1)
    if end is not None:
        count = ops.cumsum(ops.cast(mask, "int32"), axis=1)
        last = mask & (count == count[:, -1:])
        score = score + ops.sum(ops.where(last, ops.take(end, tags), zero), 1)
    return score


def viterbi(potentials, mask, transitions, start=None, end=None):
    """Best path of each row: `(tags int32 (batch, time), score (batch,))`.

    Same arguments as `log_partition`; forbidden transitions may be -inf.
    Tags are 0 at masked steps; a row without valid steps gets score 0.
    """
    k = _Kernels()
    alpha = ops.zeros_like(potentials[:, 0])
    first = ops.zeros_like(alpha) if start is None else start[None, :] + alpha
    # the backpointer of a step that is skipped: each tag points to itself
    ones = ops.ones_like(alpha, dtype=k.index)
    identity = ops.cumsum(ones, axis=1) - ones
    xs = (*_time_major(potentials), *_step_masks(mask))
    pairs = transitions[None, :, :]

    def forward(alpha, x):
        unary, valid, started, joined = x
        best, pointer = k.max_argmax(alpha[:, :, None] + pairs)  # over `from`
        new = unary + k.where(started, best, first)
        pointer = k.where(joined, k.to_index(pointer), identity)
        return k.where(valid, new, alpha), pointer

    alpha, pointers = _scan(forward, alpha, xs, ys_like=identity)
    if end is not None:
        alpha = alpha + end[None, :]
    last = ops.cast(ops.argmax(alpha, axis=1), k.index)
    best = ops.max(alpha, axis=1)

    def backward(tag, x):
        (pointer,) = x
        return k.gather(pointer, tag), tag

    _, tags = _scan(backward, last, (pointers,), reverse=True, ys_like=last)
    tags = ops.transpose(ops.cast(tags, "int32"), (1, 0))
    tags = ops.where(mask, tags, ops.zeros_like(tags))
    any_valid = ops.any(mask, axis=1)
    return tags, ops.where(any_valid, best, ops.zeros_like(best))


def viterbi_top_k(potentials, mask, transitions, top_k, start=None, end=None):
    """The `top_k` best paths of each row, best first: `(tags int32 (batch,
    top_k, time), scores (batch, top_k))`. Same arguments as `viterbi`.

    The k-best Viterbi recursion: each tag keeps the `top_k` best partial
    paths that end in it. A row with fewer than `top_k` paths fills the
    rest with score -inf (tags then meaningless).
    """
    k = _Kernels()
    batch_like = potentials[:, 0]  # (batch, N)
    num_tags = potentials.shape[2]
    ones = ops.ones_like(ops.repeat(batch_like[:, :, None], top_k, axis=2))
    # rank r of tag j is state j * top_k + r; a skipped step maps each to
    # itself
    states = ops.ones_like(ones, dtype="int32")
    identity = ops.reshape(
        ops.cumsum(ops.reshape(states, (-1, num_tags * top_k)), 1) - 1,
        ops.shape(ones),
    )
    minus_inf = ops.full_like(ones, -np.inf)
    fresh = ops.concatenate([ops.zeros_like(ones[:, :, :1]), minus_inf[:, :, 1:]], 2)
    first = fresh if start is None else fresh + start[None, :, None]
    alpha = fresh  # (batch, N, top_k)
    xs = (*_time_major(potentials[:, :, :, None]), *_step_masks(mask, rank=4))
    pairs = transitions[None, :, None, :]  # (1, from, 1, to)

    def forward(alpha, x):
        unary, valid, started, joined = x
        candidates = alpha[:, :, :, None] + pairs  # (batch, from, rank, to)
        candidates = ops.reshape(candidates, (-1, num_tags * top_k, num_tags))
        best, pointer = ops.top_k(ops.transpose(candidates, (0, 2, 1)), top_k)
        new = unary + k.where(started, best, first)
        pointer = k.where(joined, ops.cast(pointer, "int32"), identity)
        return k.where(valid, new, alpha), pointer

    alpha, pointers = _scan(forward, alpha, xs, ys_like=identity)
    if end is not None:
        alpha = alpha + end[None, :, None]
    scores, last = ops.top_k(ops.reshape(alpha, (-1, num_tags * top_k)), top_k)
    index = "int64" if keras.backend.backend() == "torch" else "int32"
    pointers = ops.cast(
        ops.reshape(pointers, (ops.shape(pointers)[0], -1, num_tags * top_k)), index
    )

    def backward(state, x):
        (pointer,) = x  # (batch, N * top_k): the previous state of each state
        previous = take_along_axis(pointer, state, axis=1)
        return previous, state // top_k  # the tag of each path at this step

    last = ops.cast(last, index)
    _, tags = _scan(backward, last, (pointers,), reverse=True, ys_like=last)
    tags = ops.transpose(ops.cast(tags, "int32"), (1, 2, 0))  # (batch, top_k, time)
    tags = ops.where(mask[:, None, :], tags, ops.zeros_like(tags))
    any_valid = ops.any(mask, axis=1)[:, None]
    empty = ops.concatenate(
        [ops.zeros_like(scores[:, :1]), ops.full_like(scores[:, 1:], -np.inf)], 1
    )
    return tags, ops.where(any_valid, scores, empty)


def _prepare(inputs, sequence_lengths, name="inputs"):
    inputs = _inputs(name, inputs)
    lengths = _lengths("sequence_lengths", sequence_lengths, inputs)
    mask = length_mask(lengths, inputs)
    return zero_padding(inputs, mask), lengths, mask


# -- the public functions ----------------------------------------------------


def crf_unary_score(tag_indices: Tensor, sequence_lengths: Tensor, inputs: Tensor):
    """Unary part of the score of tag sequences: the sum of the unary
    scores of the tags at each row's valid steps.

    `tf.contrib.crf.crf_unary_score` / `tfa.text.crf_unary_score`, with the
    same (unusual) argument order.

    Args:
        tag_indices: Integer tensor `(batch, time)`.
        sequence_lengths: Integer tensor `(batch,)`.
        inputs: Float tensor `(batch, time, num_tags)`, the unary scores.

    Returns:
        Float32 tensor `(batch,)`; 0 for a row of length 0.

    Raises:
        ValueError, TypeError: See the module's notes on bad arguments.

    Examples:
        >>> import numpy as np
        >>> from keras_rnnkit import crf
        >>> inputs = np.arange(6, dtype="float32").reshape(1, 3, 2)
        >>> np.asarray(crf.crf_unary_score(np.array([[1, 0, 1]]), [2], inputs))
        array([3.], dtype=float32)
    """
    inputs, _, mask = _prepare(inputs, sequence_lengths)
    tags = _tags("tag_indices", tag_indices, inputs, mask)
    picked = take_along_axis(inputs, tags[..., None], axis=2)[..., 0]
    return ops.sum(ops.where(mask, picked, ops.zeros_like(picked)), axis=1)


def crf_binary_score(
    tag_indices: Tensor, sequence_lengths: Tensor, transition_params: Tensor
):
    """Binary part of the score of tag sequences: the sum of the
    transition scores between consecutive tags of each row's valid steps.

    `tf.contrib.crf.crf_binary_score` / `tfa.text.crf_binary_score`.

    Args:
        tag_indices: Integer tensor `(batch, time)`.
        sequence_lengths: Integer tensor `(batch,)`.
        transition_params: Float tensor `(num_tags, num_tags)`.

    Returns:
        Float32 tensor `(batch,)`; 0 for rows of length 0 or 1.

    Raises:
        ValueError, TypeError: See the module's notes on bad arguments.

    Examples:
        >>> import numpy as np
        >>> from keras_rnnkit import crf
        >>> transitions = np.array([[0.0, 1.0], [2.0, 0.0]], "float32")
        >>> tags = np.array([[0, 1, 0, 0]])  # 0->1, 1->0; the 4th is padding
        >>> np.asarray(crf.crf_binary_score(tags, [3], transitions))
        array([3.], dtype=float32)
    """
    tags = ops.convert_to_tensor(tag_indices)
    if len(tags.shape) != 2:
        raise ValueError(
            "Argument `tag_indices` must be of shape (batch, time). Received: "
            f"tag_indices.shape={tuple(tags.shape)}"
        )
    transitions = ops.convert_to_tensor(transition_params)
    num_tags = transitions.shape[0] if len(transitions.shape) == 2 else None
    shape = (tags.shape[0], tags.shape[1], num_tags)
    transitions = _transitions("transition_params", transitions, num_tags)
    lengths = _lengths("sequence_lengths", sequence_lengths, keras.KerasTensor(shape))
    mask = length_mask(lengths, tags)
    tags = _tags("tag_indices", tags, keras.KerasTensor(shape), mask)
    return _binary(tags, mask, transitions, prefix=True)[0]


def crf_sequence_score(
    inputs: Tensor,
    tag_indices: Tensor,
    sequence_lengths: Tensor,
    transition_params: Tensor,
):
    """Score of tag sequences: unary plus binary scores (unnormalized).

    `tf.contrib.crf.crf_sequence_score` / `tfa.text.crf_sequence_score`.

    Args:
        inputs: Float tensor `(batch, time, num_tags)`, the unary scores.
        tag_indices: Integer tensor `(batch, time)`.
        sequence_lengths: Integer tensor `(batch,)`.
        transition_params: Float tensor `(num_tags, num_tags)`.

    Returns:
        Float32 tensor `(batch,)`; for a row of length 1 the unary score of
        its tag, for a row of length 0 zero.

    Raises:
        ValueError, TypeError: See the module's notes on bad arguments.

    Examples:
        >>> import numpy as np
        >>> from keras_rnnkit import crf
        >>> inputs = np.array([[[1.0, 0.0], [0.0, 2.0]]], "float32")
        >>> transitions = np.array([[0.5, -1.0], [0.0, 0.0]], "float32")
        >>> tags = np.array([[0, 1]])  # 1.0 + 2.0 + (-1.0)
        >>> np.asarray(crf.crf_sequence_score(inputs, tags, [2], transitions))
        array([2.], dtype=float32)
    """
    inputs, _, mask = _prepare(inputs, sequence_lengths)
    transitions = _transitions("transition_params", transition_params, inputs.shape[2])
    tags = _tags("tag_indices", tag_indices, inputs, mask)
    return path_score(inputs, tags, mask, transitions, prefix=True)


def crf_filtered_inputs(inputs: Tensor, tag_bitmap: Tensor):
    """The unary scores with -inf where `tag_bitmap` is False.

    `tfa.text.crf_filtered_inputs`: the scores that restrict a CRF to the
    tags allowed at each step.

    Args:
        inputs: Float tensor `(batch, time, num_tags)`.
        tag_bitmap: Boolean tensor `(batch, time, num_tags)`.

    Returns:
        Float32 tensor `(batch, time, num_tags)`.

    Raises:
        ValueError, TypeError: See the module's notes on bad arguments.

    Examples:
        >>> import numpy as np
        >>> from keras_rnnkit import crf
        >>> inputs = np.ones((1, 1, 3), "float32")
        >>> np.asarray(crf.crf_filtered_inputs(inputs, [[[True, False, True]]]))
        array([[[  1., -inf,   1.]]], dtype=float32)
    """
    inputs = _inputs("inputs", inputs)
    bitmap = _bitmap("tag_bitmap", tag_bitmap, inputs)
    inputs = ops.cast(inputs, "float32")
    return ops.where(bitmap, inputs, ops.full_like(inputs, -np.inf))


def _filtered(inputs, bitmap, mask):
    """Zero at padded steps, -inf at forbidden tags of valid steps."""
    forbidden = ops.expand_dims(mask, -1) & ~bitmap
    return ops.where(forbidden, ops.full_like(inputs, -np.inf), inputs)


def crf_multitag_sequence_score(
    inputs: Tensor,
    tag_bitmap: Tensor,
    sequence_lengths: Tensor,
    transition_params: Tensor,
):
    """Log-sum-exp of the scores of every tag path that the bitmap allows.

    `tfa.text.crf_multitag_sequence_score`: a step may have several
    acceptable tags (`tag_bitmap[b, t, j]` True when tag `j` is acceptable);
    this is the log of the sum of `exp(score)` over the paths made only of
    acceptable tags. With exactly one True per valid step it equals
    `crf_sequence_score` of those tags.

    Args:
        inputs: Float tensor `(batch, time, num_tags)`, the unary scores.
        tag_bitmap: Boolean tensor `(batch, time, num_tags)`.
        sequence_lengths: Integer tensor `(batch,)`.
        transition_params: Float tensor `(num_tags, num_tags)`.

    Returns:
        Float32 tensor `(batch,)`: 0 for a row of length 0, -inf for a row
        with a valid step where no tag is acceptable (no path; its
        gradients are 0, not NaN).

    Raises:
        ValueError, TypeError: See the module's notes on bad arguments.

    Examples:
        >>> import numpy as np
        >>> from keras_rnnkit import crf
        >>> inputs = np.zeros((1, 2, 2), "float32")
        >>> transitions = np.zeros((2, 2), "float32")
        >>> every = np.ones((1, 2, 2), bool)  # all 4 paths: log 4
        >>> score = crf.crf_multitag_sequence_score(inputs, every, [2], transitions)
        >>> bool(np.isclose(np.asarray(score)[0], np.log(4)))
        True
    """
    inputs, _, mask = _prepare(inputs, sequence_lengths)
    transitions = _transitions("transition_params", transition_params, inputs.shape[2])
    bitmap = _bitmap("tag_bitmap", tag_bitmap, inputs)
    # A row with a valid step where no tag is acceptable has no path: its
    # score is -inf. Its bitmap is opened up (all tags acceptable) so that
    # nothing computes -inf - (-inf), which would make NaN gradients.
    acceptable = ~ops.expand_dims(mask, -1) | bitmap
    possible = ops.all(ops.any(acceptable, axis=2), axis=1)
    bitmap = bitmap | ~possible[:, None, None]
    log_z = log_partition(_filtered(inputs, bitmap, mask), mask, transitions)
    return ops.where(possible, log_z, ops.full_like(log_z, -np.inf))


def crf_log_norm(inputs: Tensor, sequence_lengths: Tensor, transition_params: Tensor):
    """Log-partition of the CRF: log of the sum of exp(score) over all paths.

    `tf.contrib.crf.crf_log_norm` / `tfa.text.crf_log_norm` (the forward
    algorithm).

    Args:
        inputs: Float tensor `(batch, time, num_tags)`, the unary scores.
        sequence_lengths: Integer tensor `(batch,)`.
        transition_params: Float tensor `(num_tags, num_tags)`.

    Returns:
        Float32 tensor `(batch,)`: for a row of length 1 the log-sum-exp of
        its first step's scores; 0 for a row of length 0.

    Raises:
        ValueError, TypeError: See the module's notes on bad arguments.

    Examples:
        >>> import numpy as np
        >>> from keras_rnnkit import crf
        >>> inputs = np.zeros((1, 3, 2), "float32")  # 2**3 paths of score 0
        >>> log_z = crf.crf_log_norm(inputs, [3], np.zeros((2, 2), "float32"))
        >>> round(float(np.exp(np.asarray(log_z)[0])), 4)
        8.0
    """
    inputs, _, mask = _prepare(inputs, sequence_lengths)
    transitions = _transitions("transition_params", transition_params, inputs.shape[2])
    return log_partition(inputs, mask, transitions)


def crf_log_likelihood(
    inputs: Tensor,
    tag_indices: Tensor,
    sequence_lengths: Tensor,
    transition_params: Tensor | None = None,
):
    """Log-likelihood of tag sequences under a linear-chain CRF.

    `tf.contrib.crf.crf_log_likelihood` / `tfa.text.crf_log_likelihood`:
    `crf_sequence_score - crf_log_norm`. Its negative mean is the usual
    training loss; in a model, `keras_rnnkit.CRF` with `keras_rnnkit.CRFLoss`
    computes it for you.

    Args:
        inputs: Float tensor `(batch, time, num_tags)`, the unary scores.
        tag_indices: Integer tensor `(batch, time)`, the gold tags.
        sequence_lengths: Integer tensor `(batch,)`.
        transition_params: Float tensor `(num_tags, num_tags)`. `None`
            creates a new `keras.Variable` named `transitions` (Glorot
            uniform), as TF1 did: useful eagerly only, since a new
            variable is made at each call.

    Returns:
        A tuple `(log_likelihood, transition_params)`: float32 `(batch,)`
        (0 for a row of length 0) and the transition matrix used (the
        argument as given, or the new variable).

    Raises:
        ValueError, TypeError: See the module's notes on bad arguments.

    Examples:
        >>> import numpy as np
        >>> from keras_rnnkit import crf
        >>> inputs = np.zeros((1, 2, 3), "float32")  # 9 equally likely paths
        >>> ll, _ = crf.crf_log_likelihood(
        ...     inputs, np.array([[0, 2]]), [2], np.zeros((3, 3), "float32")
        ... )
        >>> round(float(np.exp(np.asarray(ll)[0]) * 9), 4)
        1.0
    """
    checked = _inputs("inputs", inputs)
    if transition_params is None:
        num_tags = checked.shape[2]
        transition_params = keras.Variable(
            keras.initializers.GlorotUniform()((num_tags, num_tags)),
            name="transitions",
        )
    inputs, _, mask = _prepare(checked, sequence_lengths)
    transitions = _transitions("transition_params", transition_params, inputs.shape[2])
    tags = _tags("tag_indices", tag_indices, inputs, mask)
    score = path_score(inputs, tags, mask, transitions, prefix=True)
    return score - log_partition(inputs, mask, transitions), transition_params


def crf_forward(
    inputs: Tensor, state: Tensor, transition_params: Tensor, sequence_lengths: Tensor
):
    """The forward algorithm from a given first state: log-space alphas at
    each row's last valid step.

    `tf.contrib.crf.crf_forward` / `tfa.text.crf_forward`: `state` holds the
    alphas of step 0 (for `crf_log_norm`, the first step's unary scores)
    and `inputs` the unary scores of steps 1, 2, ... of the same rows;
    `sequence_lengths` are the lengths of the whole rows (step 0 included).

    Args:
        inputs: Float tensor `(batch, time - 1, num_tags)`.
        state: Float tensor `(batch, num_tags)`.
        transition_params: Float tensor `(num_tags, num_tags)`.
        sequence_lengths: Integer tensor `(batch,)`, in `[0, time]`.

    Returns:
        Float32 tensor `(batch, num_tags)`: the alphas at step
        `max(length - 1, 0)`, so `state` itself for rows of length 0 or 1.

    Raises:
        ValueError, TypeError: See the module's notes on bad arguments.

    Examples:
        >>> import numpy as np
        >>> from keras_rnnkit import crf
        >>> state = np.zeros((1, 2), "float32")
        >>> rest = np.zeros((1, 1, 2), "float32")
        >>> alphas = crf.crf_forward(rest, state, np.zeros((2, 2), "float32"), [2])
        >>> np.round(np.exp(np.asarray(alphas)), 4)  # 2 paths into each tag
        array([[2., 2.]], dtype=float32)
    """
    state = ops.convert_to_tensor(state)
    inputs = ops.convert_to_tensor(inputs)
    if len(inputs.shape) != 3 or "float" not in _dtype(inputs):
        raise ValueError(
            "Argument `inputs` must be a float tensor (batch, time - 1, "
            f"num_tags). Received: inputs.shape={tuple(inputs.shape)}, "
            f"dtype={_dtype(inputs)}"
        )
    if len(state.shape) != 2 or not check.shapes_agree(
        state.shape, (inputs.shape[0], inputs.shape[2])
    ):
        raise ValueError(
            "Argument `state` must be of shape (batch, num_tags) = "
            f"{(inputs.shape[0], inputs.shape[2])}. Received: "
            f"state.shape={tuple(state.shape)}"
        )
    # The whole rows: step 0 (the state) and the steps of `inputs`.
    state = ops.cast(state, "float32")
    whole = ops.concatenate([state[:, None, :], ops.cast(inputs, "float32")], axis=1)
    lengths = _lengths("sequence_lengths", sequence_lengths, whole)
    transitions = _transitions("transition_params", transition_params, inputs.shape[2])
    mask = length_mask(lengths, whole)[:, 1:]
    if inputs.shape[1] == 0:
        return state
    rest = zero_padding(inputs, mask)
    xs = _time_major(rest, mask)
    pairs = transitions[None, :, :]
    k = _Kernels()

    def step(alpha, x):
        unary, valid = x
        new = unary + k.logsumexp(alpha[:, :, None] + pairs)
        return k.where(valid[:, None], new, alpha), None

    alpha, _ = _scan(step, state, xs)
    return alpha


def crf_decode(potentials: Tensor, transition_params: Tensor, sequence_length: Tensor):
    """Viterbi decoding: the highest-scoring tag path of each row.

    `tf.contrib.crf.crf_decode` / `tfa.text.crf_decode`, batched, for
    compiled functions too (a `keras.ops.scan` forward, then backward).

    Args:
        potentials: Float tensor `(batch, time, num_tags)`.
        transition_params: Float tensor `(num_tags, num_tags)`.
        sequence_length: Integer tensor `(batch,)`.

    Returns:
        A tuple `(decode_tags, best_score)`: int32 `(batch, time)`, with 0 at
        padded steps, and float32 `(batch,)`, the score of the best path
        (`crf_sequence_score` of `decode_tags`). A row of length 0 gives
        tags 0 and score 0. Ties go to the lower tag index.

    Raises:
        ValueError, TypeError: See the module's notes on bad arguments.

    Examples:
        >>> import numpy as np
        >>> from keras_rnnkit import crf
        >>> potentials = np.array([[[2.0, 0.0], [0.0, 1.0], [2.0, 0.0]]], "float32")
        >>> transitions = np.array([[0.0, -3.0], [-3.0, 0.0]], "float32")
        >>> tags, score = crf.crf_decode(potentials, transitions, [3])
        >>> np.asarray(tags), np.asarray(score)  # switching costs too much
        (array([[0, 0, 0]], dtype=int32), array([4.], dtype=float32))
    """
    potentials, _, mask = _prepare(potentials, sequence_length, "potentials")
    transitions = _transitions(
        "transition_params", transition_params, potentials.shape[2]
    )
    return viterbi(potentials, mask, transitions)


def crf_constrained_decode(
    potentials: Tensor,
    tag_bitmap: Tensor,
    transition_params: Tensor,
    sequence_length: Tensor,
):
    """Viterbi decoding restricted to the tags allowed at each step.

    `tfa.text.crf_constrained_decode`: `crf_decode` over the paths whose
    every valid step `t` has `tag_bitmap[b, t, tag]` True. (To forbid
    transitions between tags, BIO's O -> I say, see `allowed_transitions`
    and the `constraints` of `keras_rnnkit.CRF`.)

    Args:
        potentials: Float tensor `(batch, time, num_tags)`.
        tag_bitmap: Boolean tensor `(batch, time, num_tags)`.
        transition_params: Float tensor `(num_tags, num_tags)`.
        sequence_length: Integer tensor `(batch,)`.

    Returns:
        A tuple `(decode_tags, best_score)` as `crf_decode`; a row with a
        valid step where no tag is allowed has best score -inf.

    Raises:
        ValueError, TypeError: See the module's notes on bad arguments.

    Examples:
        >>> import numpy as np
        >>> from keras_rnnkit import crf
        >>> potentials = np.array([[[2.0, 0.0], [3.0, 1.0]]], "float32")
        >>> only_one = np.array([[[True, True], [False, True]]])
        >>> tags, _ = crf.crf_constrained_decode(
        ...     potentials, only_one, np.zeros((2, 2), "float32"), [2]
        ... )
        >>> np.asarray(tags)
        array([[0, 1]], dtype=int32)
    """
    potentials, _, mask = _prepare(potentials, sequence_length, "potentials")
    transitions = _transitions(
        "transition_params", transition_params, potentials.shape[2]
    )
    bitmap = _bitmap("tag_bitmap", tag_bitmap, potentials)
    return viterbi(_filtered(potentials, bitmap, mask), mask, transitions)


def crf_decode_top_k(
    potentials: Tensor,
    transition_params: Tensor,
    sequence_length: Tensor,
    top_k: int,
):
    """The `top_k` highest-scoring tag paths of each row, best first.

    Not in `tf.contrib.crf` or tensorflow-addons (AllenNLP's
    `viterbi_tags(top_k=...)` is its counterpart): the k-best Viterbi
    recursion, batched and compilable like `crf_decode`, whose first path
    it returns first.

    Args:
        potentials: Float tensor `(batch, time, num_tags)`.
        transition_params: Float tensor `(num_tags, num_tags)`.
        sequence_length: Integer tensor `(batch,)`.
        top_k: Positive int, the number of paths per row.

    Returns:
        A tuple `(decode_tags, scores)`: int32 `(batch, top_k, time)`, 0 at
        padded steps, and float32 `(batch, top_k)`, non-increasing along
        the second axis. A row with fewer than `top_k` distinct paths (e.g.
        `num_tags ** length < top_k`) has score -inf for the rest; a row of
        length 0 has one path, the empty one, of score 0.

    Raises:
        ValueError, TypeError: See the module's notes on bad arguments, and
            a `top_k` that is not a positive integer.

    Examples:
        >>> import numpy as np
        >>> from keras_rnnkit import crf
        >>> potentials = np.array([[[2.0, 0.0], [0.0, 1.0]]], "float32")
        >>> tags, scores = crf.crf_decode_top_k(
        ...     potentials, np.zeros((2, 2), "float32"), [2], top_k=3
        ... )
        >>> np.asarray(tags)[0].tolist(), np.asarray(scores)[0].tolist()
        ([[0, 1], [0, 0], [1, 1]], [3.0, 2.0, 1.0])
    """
    top_k = check.positive_int("top_k", top_k)
    potentials, _, mask = _prepare(potentials, sequence_length, "potentials")
    transitions = _transitions(
        "transition_params", transition_params, potentials.shape[2]
    )
    return viterbi_top_k(potentials, mask, transitions, top_k)


def viterbi_decode(score, transition_params):
    """Viterbi decoding of one sequence, in NumPy (outside any model).

    `tf.contrib.crf.viterbi_decode` / `tfa.text.viterbi_decode`.

    Args:
        score: Array `(time, num_tags)` of unary scores (time may be 0).
        transition_params: Array `(num_tags, num_tags)`.

    Returns:
        A tuple `(viterbi, viterbi_score)`: the best path as a list of
        Python ints, and its score as a float (`[]` and 0.0 for time 0).
        Ties go to the lower tag index.

    Raises:
        ValueError: `score` is not 2-D, or the shapes do not fit.

    Examples:
        >>> import numpy as np
        >>> from keras_rnnkit import crf
        >>> path, best = crf.viterbi_decode(
        ...     np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([[0.0, 0.5], [0.0, 0.0]])
        ... )
        >>> path, float(best)
        ([0, 1], 3.5)
    """
    score = np.asarray(score)
    transitions = np.asarray(transition_params)
    if score.ndim != 2:
        raise ValueError(
            "Argument `score` must be of shape (time, num_tags). Received: "
            f"score.shape={score.shape}"
        )
    num_tags = score.shape[1]
    if transitions.shape != (num_tags, num_tags):
        raise ValueError(
            "Argument `transition_params` must be of shape (num_tags, "
            f"num_tags) = ({num_tags}, {num_tags}). Received: "
            f"transition_params.shape={transitions.shape}"
        )
    if score.shape[0] == 0:
        return [], 0.0
    alpha = score[0]
    pointers = []
    for unary in score[1:]:
        candidates = alpha[:, None] + transitions  # (from, to)
        pointers.append(np.argmax(candidates, axis=0))
        alpha = unary + np.max(candidates, axis=0)
    path = [int(np.argmax(alpha))]
    for pointer in reversed(pointers):
        path.append(int(pointer[path[-1]]))
    path.reverse()
    return path, float(np.max(alpha))


# -- constraints -------------------------------------------------------------

# For each scheme: (tags a path may start with, tags it may end with, and
# whether `from_tag -> to_tag` is allowed given `same`, True when the two
# labels name the same entity type). AllenNLP's rules.
_RULES = {
    "BIO": (
        {"O", "B"},
        {"O", "B", "I"},
        lambda a, b, same: b in ("O", "B") or (b == "I" and a in ("B", "I") and same),
    ),
    "IOB1": (
        {"O", "I"},
        {"O", "B", "I"},
        lambda a, b, same: b in ("O", "I") or (b == "B" and a in ("B", "I") and same),
    ),
    "BIOUL": (
        {"O", "B", "U"},
        {"O", "L", "U"},
        lambda a, b, same: (
            (a in ("O", "L", "U") and b in ("O", "B", "U"))
            or (a in ("B", "I") and b in ("I", "L") and same)
        ),
    ),
    "BMES": (
        {"B", "S"},
        {"E", "S"},
        lambda a, b, same: (
            (a in ("E", "S") and b in ("B", "S"))
            or (a in ("B", "M") and b in ("M", "E") and same)
        ),
    ),
}


def _split_label(scheme, label):
    """`(tag, entity)` of a label such as "B-PER" (-> "B", "PER") or "O"."""
    if not isinstance(label, str):
        raise ValueError(
            f"Argument `labels` must hold strings. Received: {label!r} of type "
            f"{type(label).__name__}"
        )
    tags = set().union(*_RULES[scheme][:2]) | ({"M"} if scheme == "BMES" else {"I"})
    tag, entity = label[:1], label[1:].lstrip("-_")
    if label == "O" and "O" in tags:
        return "O", ""
    if tag not in tags or tag == "O":
        prefixes = ", ".join(sorted(t for t in tags if t != "O"))
        other = " or 'O'" if "O" in tags else ""
        raise ValueError(
            f"Label {label!r} does not belong to the {scheme} scheme: labels "
            f"are a prefix {prefixes} (alone or followed by '-' and an entity "
            f"type, e.g. '{sorted(tags - {'O'})[0]}-PER'){other}."
        )
    return tag, entity


def allowed_transitions(scheme: str, labels: Sequence[str] | Mapping[int, str]):
    """The transitions a tagging scheme allows, for `CRF(constraints=...)`.

    AllenNLP's `allowed_transitions`: for every pair of labels, whether a
    path may go from one to the other, with two extra states, START (index
    `len(labels)`) and END (index `len(labels) + 1`), for the tags a path
    may begin and end with. Schemes (`I-x`, `B-x`, ... of the same entity
    type `x`):

    - `"BIO"`: I-x follows only B-x or I-x; paths start with O or B.
    - `"IOB1"`: B-x follows only B-x or I-x; paths start with O or I.
    - `"BIOUL"`: I-x and L-x follow only B-x or I-x; O, B and U follow only
      O, L or U (or start); paths end with O, L or U.
    - `"BMES"` (word segmentation; entity types optional): M and E follow
      only B or M; B and S follow only E or S (or start); paths end with E
      or S.

    Args:
        scheme: One of `"BIO"`, `"IOB1"`, `"BIOUL"`, `"BMES"`.
        labels: The label of each tag index: a list, or a dict
            `{index: label}` with indices `0 .. num_tags - 1`.

    Returns:
        A sorted list of `(from_index, to_index)` pairs of Python ints.

    Raises:
        ValueError: An unknown scheme, or a label that is not of the scheme
            (the message names the label and the allowed prefixes).

    Examples:
        >>> from keras_rnnkit import crf
        >>> pairs = crf.allowed_transitions("BMES", ["B", "M", "E", "S"])
        >>> (1, 2) in pairs, (0, 3) in pairs  # M -> E yes, B -> S no
        (True, False)
        >>> [j for i, j in pairs if i == 4]  # START -> B or S
        [0, 3]
    """
    if scheme not in _RULES:
        raise ValueError(
            f"Argument `scheme` must be one of {', '.join(SCHEMES)}. Received: "
            f"scheme={scheme!r}"
        )
    if isinstance(labels, Mapping):
        keys = sorted(labels)
        if keys != list(range(len(keys))):
            raise ValueError(
                "Argument `labels`, as a dict, must map the indices 0 .. "
                f"num_tags - 1 to labels. Received keys: {keys}"
            )
        labels = [labels[k] for k in keys]
    elif isinstance(labels, str) or not isinstance(labels, Sequence):
        raise ValueError(
            "Argument `labels` must be a list of labels or a dict {index: "
            f"label}}. Received: labels={labels!r}"
        )
    if not labels:
        raise ValueError("Argument `labels` must not be empty. Received: []")
    starts, ends, rule = _RULES[scheme]
    parsed = [_split_label(scheme, label) for label in labels]
    start, end = len(labels), len(labels) + 1
    pairs = [(start, j) for j, (tag, _) in enumerate(parsed) if tag in starts]
    pairs += [(i, end) for i, (tag, _) in enumerate(parsed) if tag in ends]
    for (i, (a, x)), (j, (b, y)) in itertools.product(enumerate(parsed), repeat=2):
        if rule(a, b, x == y):
            pairs.append((i, j))
    return sorted(pairs)


def constraint_masks(constraints, num_tags):
    """Boolean NumPy masks `(transitions (N, N), start (N,), end (N,))` of a
    list of allowed `(from, to)` pairs (START = N, END = N + 1). A side that
    no pair mentions (no pair from START, or none to END) is unconstrained.
    Raises a ValueError naming the first bad pair."""
    if isinstance(constraints, (str, bytes)) or not isinstance(constraints, Sequence):
        raise ValueError(
            "Argument `constraints` must be a list of allowed (from, to) tag "
            "index pairs (see keras_rnnkit.crf.allowed_transitions), or None. "
            f"Received: constraints={constraints!r}"
        )
    start, end = num_tags, num_tags + 1
    inner = np.zeros((num_tags, num_tags), bool)
    first = np.zeros(num_tags, bool)
    last = np.zeros(num_tags, bool)
    for pair in constraints:
        ok = (
            isinstance(pair, Sequence)
            and len(pair) == 2
            and all(
                isinstance(i, numbers.Integral) and not isinstance(i, bool)
                for i in pair
            )
        )
        if ok:
            i, j = int(pair[0]), int(pair[1])
            ok = (0 <= i <= start and (0 <= j < num_tags or j == end)) and not (
                i == start and j == end
            )
        if not ok:
            raise ValueError(
                "Argument `constraints` must hold (from, to) pairs of tag "
                f"indices: from in [0, {num_tags}] ({num_tags} = START), to in "
                f"[0, {num_tags - 1}] or {end} (END), not START -> END. "
                f"Received the pair {pair!r}"
            )
        if i == start:
            first[j] = True
        elif j == end:
            last[i] = True
        else:
            inner[i, j] = True
    if not any(i == start for i, _ in constraints):
        first[:] = True
    if not any(j == end for _, j in constraints):
        last[:] = True
    return inner, first, last
