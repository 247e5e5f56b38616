"""Sequence lengths and masks, with TF1 `dynamic_rnn` semantics."""

from keras import ops


def lengths_to_mask(lengths, maxlen):
    """Boolean mask `(batch, maxlen)` that is `True` before each row's length.

    The Keras counterpart of `tf.sequence_mask(lengths, maxlen)`, for
    right-padded batches: row `b` is valid at steps `t < lengths[b]`.

    Args:
        lengths: Integer tensor or array of shape `(batch,)`.
        maxlen: Integer, the padded length (the time axis of the inputs).

    Returns:
        A boolean tensor of shape `(batch, maxlen)`.

    Examples:
        >>> import numpy as np
        >>> from keras_rnnkit import lengths_to_mask
        >>> np.asarray(lengths_to_mask(np.array([2, 0, 3]), 3))
        array([[ True,  True, False],
               [False, False, False],
               [ True,  True,  True]])
    """
    lengths = ops.convert_to_tensor(lengths)
    steps = ops.arange(maxlen, dtype=lengths.dtype)
    return ops.less(ops.expand_dims(steps, 0), ops.expand_dims(lengths, -1))


def _valid_order(mask):
    """`(steps, order, count)` for a `(batch, time)` mask: `order[:, k]` is
    the position of a row's k-th valid step (valid steps first, in order);
    `count[:, t]` the number of valid steps up to and including `t`."""
    time = ops.shape(mask)[1]
    steps = ops.arange(time, dtype="int32")[None, :]
    order = ops.argsort(ops.where(mask, steps, steps + time), axis=1)
    count = ops.cumsum(ops.cast(mask, "int32"), axis=1)
    return steps, ops.cast(order, "int32"), count


def _gather_steps(x, source):
    """x[b, source[b, t]] for every row b and step t of `x` (batch, time, ...)."""
    shape = (*ops.shape(source), *[1] * (len(x.shape) - 2))
    return ops.take_along_axis(x, ops.reshape(source, shape), axis=1)


def forward_fill(outputs, mask):
    """Replaces each masked step of `outputs` `(batch, time, ...)` with the
    output of the last valid step before it, or zeros when there is none.

    This is what `keras.layers.RNN` means by masked outputs when
    `zero_output_for_mask=False`; computed here from the outputs of valid
    steps alone, so it holds on every backend.
    """
    _, order, count = _valid_order(mask)
    source = ops.take_along_axis(order, ops.maximum(count - 1, 0), axis=1)
    filled = _gather_steps(outputs, source)
    seen = ops.reshape(count > 0, (*ops.shape(count), *[1] * (len(outputs.shape) - 2)))
    return ops.where(seen, filled, ops.zeros_like(filled))


def reverse_valid(x, mask):
    """Reverses the valid steps of each row among themselves; masked steps
    stay where they are.

    For right padding this is TF1's `tf.reverse_sequence(x, lengths)`: row
    `b` becomes `x[b, L-1], ..., x[b, 0]`, then its padding. Applying it twice
    gives `x` back.

    Args:
        x: Tensor `(batch, time, ...)`.
        mask: Boolean tensor `(batch, time)`.

    Returns:
        A tensor shaped like `x`.

    Examples:
        >>> import numpy as np
        >>> from keras_rnnkit import reverse_valid
        >>> x = np.arange(1, 5, dtype="float32").reshape(1, 4, 1)
        >>> mask = np.array([[True, True, True, False]])
        >>> np.asarray(reverse_valid(x, mask))[0, :, 0]
        array([3., 2., 1., 4.], dtype=float32)
    """
    steps, order, count = _valid_order(mask)
    length = count[:, -1:]
    mirrored = ops.clip(length - count, 0, ops.shape(mask)[1] - 1)
    source = ops.take_along_axis(order, mirrored, axis=1)
    return _gather_steps(x, ops.where(mask, source, steps))


def last_valid_output(outputs, mask):
    """`outputs[b, t_b]` at each row's last valid step `t_b`, or zeros for a
    row with no valid step. `outputs` is `(batch, time, features)`."""
    steps = ops.arange(ops.shape(mask)[1], dtype="int32")[None, :]
    last = ops.max(ops.where(mask, steps, -1), axis=1)
    index = ops.reshape(ops.maximum(last, 0), (-1, 1, 1))
    picked = ops.take_along_axis(outputs, index, axis=1)[:, 0]
    return ops.where(last[:, None] >= 0, picked, ops.zeros_like(picked))
