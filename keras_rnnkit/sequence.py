"""Sequence lengths and masks, with TF1 `dynamic_rnn` semantics."""

import numbers

import keras
from keras import ops

from keras_rnnkit import _validation as check
from keras_rnnkit._backend import rank_positions, take_along_time
from keras_rnnkit._types import Tensor


def lengths_to_mask(lengths: Tensor, maxlen: int) -> Tensor:
    """Boolean mask `(batch, maxlen)` that is `True` before each row's length.

    The Keras counterpart of `tf.sequence_mask(lengths, maxlen)`, for
    right-padded batches: row `b` is valid at steps `t < lengths[b]`.

    Args:
        lengths: Integer tensor or array of shape `(batch,)`.
        maxlen: Integer, the padded length (the time axis of the inputs).

    Returns:
        A boolean tensor of shape `(batch, maxlen)`.

    Raises:
        TypeError: `lengths` is not of an integer dtype, or `maxlen` is not
            an integer.
        ValueError: `lengths` is not of rank 1, holds a negative value (when
            its values are known, i.e. outside a compiled function), or
            `maxlen` is negative.

    Examples:
        >>> import numpy as np
        >>> from keras_rnnkit import lengths_to_mask
        >>> np.asarray(lengths_to_mask(np.array([2, 0, 3]), 3))
        array([[ True,  True, False],
               [False, False, False],
               [ True,  True,  True]])
    """
    if (
        maxlen is None
        or isinstance(maxlen, (bool, str))
        or (
            isinstance(maxlen, numbers.Number)
            and not isinstance(maxlen, numbers.Integral)
        )
    ):
        raise TypeError(
            "Argument `maxlen` must be an integer >= 0 (or a scalar integer "
            f"tensor). Received: maxlen={maxlen!r}"
        )
    if isinstance(maxlen, numbers.Integral) and maxlen < 0:
        raise ValueError(
            f"Argument `maxlen` must be an integer >= 0. Received: maxlen={maxlen}"
        )
    check.integer_lengths("lengths", lengths)  # before a backend converts it
    lengths = ops.convert_to_tensor(lengths)
    dtype = keras.backend.standardize_dtype(lengths.dtype)
    if "int" not in dtype:
        raise TypeError(
            "Argument `lengths` must hold integers (row lengths). Received: "
            f"lengths.dtype={dtype}"
        )
    if len(lengths.shape) != 1:
        raise ValueError(
            "Argument `lengths` must be of shape (batch,). Received: "
            f"lengths.shape={tuple(lengths.shape)}"
        )
    values = check.concrete(lengths)
    if values is not None and (values < 0).any():
        raise ValueError(
            "Argument `lengths` must hold lengths >= 0. Received: "
            f"lengths={values.tolist()}"
        )
    # int32 whatever came in: `arange` refuses some dtypes (uint8 on TF).
    lengths = ops.cast(lengths, "int32")
    steps = ops.arange(0, maxlen, dtype="int32")
    return ops.less(ops.expand_dims(steps, 0), ops.expand_dims(lengths, -1))


def mask_like(lengths, sequences):
    """`lengths_to_mask(lengths, time)` for `sequences` `(batch, time, ...)`,
    with the time axis taken from `sequences` itself (a cumsum over it, not an
    arange of its length: exporters keep the two axes the same that way).
    `lengths` is a checked integer tensor `(batch,)`."""
    ones = ops.ones_like(sequences[:, :, 0] if len(sequences.shape) > 2 else sequences)
    steps = ops.cumsum(ops.cast(ones, "int32"), axis=1) - 1
    return ops.less(steps, ops.expand_dims(ops.cast(lengths, "int32"), -1))


def _valid_order(mask):
    """`(steps, order, count)` for a `(batch, time)` mask: `order[:, k]` is
    the position of a row's k-th valid step, for k below the row's number of
    valid steps (0 beyond it); `count[:, t]` the number of valid steps up to
    and including `t`."""
    ones = ops.ones_like(mask, dtype="int32")
    # 0, 1, ... along time, (batch, time); a cumsum, not arange: jax2onnx
    # (ONNX export from JAX) cannot take an arange over a symbolic length.
    steps = ops.cumsum(ones, axis=1) - 1
    count = ops.cumsum(ops.cast(mask, "int32"), axis=1)
    # Each valid step goes to the slot of its rank; masked ones add 0 to
    # slot 0. A scatter, not an argsort: exporters need a static length to
    # sort.
    slot = ops.where(mask, count - 1, 0)
    order = rank_positions(slot, ops.where(mask, steps, 0))
    return steps, order, count


def _gather_steps(x, source):
    """x[b, source[b, t]] for every row b and step t of `x` (batch, time, ...)."""
    return take_along_time(x, source)


def forward_fill(outputs, mask):
    """Replaces each masked step of `outputs` `(batch, time, ...)` with the
    output of the last valid step before it, or zeros when there is none.

    This is what `keras.layers.RNN` means by masked outputs when
    `zero_output_for_mask=False`; computed here from the outputs of valid
    steps alone, so it holds on every backend.
    """
    _, order, count = _valid_order(mask)
    source = take_along_time(order, ops.maximum(count - 1, 0))
    filled = _gather_steps(outputs, source)
    seen = ops.reshape(count > 0, (*ops.shape(count), *[1] * (len(outputs.shape) - 2)))
    return ops.where(seen, filled, ops.zeros_like(filled))


def reverse_valid(x: Tensor, mask: Tensor) -> Tensor:
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

    Raises:
        ValueError: `x` has fewer than 2 axes, or `mask` is not of shape
            `(batch, time)` like `x` (a dimension unknown when tracing is
            not checked).

    Examples:
        >>> import numpy as np
        >>> from keras_rnnkit import reverse_valid
        >>> x = np.arange(1, 5, dtype="float32").reshape(1, 4, 1)
        >>> mask = np.array([[True, True, True, False]])
        >>> np.asarray(reverse_valid(x, mask))[0, :, 0]
        array([3., 2., 1., 4.], dtype=float32)
    """
    _check_mask_fits(x, mask)
    steps, order, count = _valid_order(ops.cast(mask, "bool"))
    length = count[:, -1:]
    # length - count >= 0; the minimum keeps masked steps' (unused) index in
    # range. No integer clip: converters lower it to Relu6 (LiteRT has none
    # for int32).
    mirrored = ops.minimum(length - count, ops.shape(mask)[1] - 1)
    source = take_along_time(order, mirrored)
    return _gather_steps(x, ops.where(mask, source, steps))


def _check_mask_fits(x, mask):
    """Raises a ValueError unless `mask` is `(batch, time)` like `x`."""
    if len(x.shape) < 2:
        raise ValueError(
            "Argument `x` must have a batch and a time axis, (batch, time, "
            f"...). Received: x.shape={tuple(x.shape)}"
        )
    got, want = tuple(mask.shape), tuple(x.shape[:2])
    if not check.shapes_agree(got, want):
        raise ValueError(
            f"Argument `mask` must be of shape (batch, time) = {want}, like "
            f"`x`. Received: mask.shape={got}"
        )


def last_valid_output(outputs, mask):
    """`outputs[b, t_b]` at each row's last valid step `t_b`, or zeros for a
    row with no valid step. `outputs` is `(batch, time, features)`."""
    # 1, 2, ... along time; a cumsum, not arange(time): jax2onnx (ONNX
    # export from JAX) cannot slice an arange over a symbolic length.
    steps = ops.cumsum(ops.ones_like(mask, dtype="int32"), axis=1)
    # argmax, not max: it also takes an empty batch on every backend.
    last = ops.argmax(ops.where(mask, steps, 0), axis=1)
    picked = take_along_time(outputs, ops.reshape(ops.cast(last, "int32"), (-1, 1)))
    picked = picked[:, 0]
    return ops.where(ops.any(mask, axis=1)[:, None], picked, ops.zeros_like(picked))
