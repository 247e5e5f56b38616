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


def forward_fill(outputs, mask):
    """Replaces each masked step of `outputs` `(batch, time, ...)` with the
    output of the last valid step before it, or zeros when there is none.

    This is what `keras.layers.RNN` means by masked outputs when
    `zero_output_for_mask=False`; computed here from the outputs of valid
    steps alone, so it holds on every backend.
    """
    time = ops.shape(mask)[1]
    steps = ops.arange(time, dtype="int32")[None, :]
    # Valid steps first, in order: order[:, k] is the position of the k-th.
    order = ops.argsort(ops.where(mask, steps, steps + time), axis=1)
    count = ops.cumsum(ops.cast(mask, "int32"), axis=1)
    source = ops.take_along_axis(order, ops.maximum(count - 1, 0), axis=1)
    source = ops.reshape(source, (*ops.shape(source), *[1] * (len(outputs.shape) - 2)))
    filled = ops.take_along_axis(outputs, source, axis=1)
    seen = ops.reshape(count > 0, ops.shape(source))
    return ops.where(seen, filled, ops.zeros_like(filled))
