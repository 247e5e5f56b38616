"""Argument checks shared by the kit's layers.

Every message names the argument, the value received and what is allowed.
"""

import math
import numbers

import keras
import numpy as np

from keras_rnnkit._backend import torch_tracing
from keras_rnnkit.runtime_checks import runtime_checks_enabled


def positive_int(name, value, allow_none=False):
    """Returns `value` if it is a positive integer (or None when allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        allowed = "a positive integer" + (" or None" if allow_none else "")
        raise ValueError(
            f"Argument `{name}` must be {allowed}. Received: {name}={value!r}"
        )
    return int(value)


def positive_float(name, value, allow_none=False):
    """Returns `value` as a float if it is finite and > 0 (or None)."""
    if value is None and allow_none:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value <= 0
    ):
        allowed = "a finite number > 0" + (" or None" if allow_none else "")
        raise ValueError(
            f"Argument `{name}` must be {allowed}. Received: {name}={value!r}"
        )
    return float(value)


def finite_float(name, value):
    """Returns `value` as a float if it is a finite real number."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
    ):
        raise ValueError(
            f"Argument `{name}` must be a finite number. Received: {name}={value!r}"
        )
    return float(value)


def rate(name, value):
    """Returns a dropout rate as a float if it lies in [0, 1)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0.0 <= value < 1.0
    ):
        raise ValueError(
            f"Argument `{name}` must be a float in [0, 1). Received: {name}={value!r}"
        )
    return float(value)


def probability(name, value):
    """Returns a probability as a float if it lies in [0, 1]."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0.0 <= value <= 1.0
    ):
        raise ValueError(
            f"Argument `{name}` must be a float in [0, 1]. Received: {name}={value!r}"
        )
    return float(value)


def boolean(name, value):
    """Returns `value` if it is a bool."""
    if not isinstance(value, bool):
        raise ValueError(
            f"Argument `{name}` must be True or False. Received: {name}={value!r}"
        )
    return value


def integer_lengths(name, lengths, layer=None):
    """Raises a TypeError when `lengths`, given as a NumPy array or a Python
    list or tuple, holds anything but integers (strings, floats, booleans).

    Checked on the host before any backend converts the value: torch's
    conversion of a string array fails with "Invalid dtype: str32", which
    names neither the argument nor what it takes, and JAX's with a staging
    error. Tensors are left to the callers' own dtype check.
    """
    if isinstance(lengths, (list, tuple)):
        try:
            lengths = np.asarray(lengths)
        except ValueError:  # ragged: the shape check says so later
            return
    if not isinstance(lengths, (np.ndarray, np.generic)):
        return
    if lengths.dtype.kind in "iu":
        return
    dtype = lengths.dtype.name + (" (strings)" if lengths.dtype.kind in "SU" else "")
    if layer is None:
        raise TypeError(
            f"Argument `{name}` must hold integers (row lengths), of an integer "
            f"dtype such as int32. Received: {name}.dtype={dtype}"
        )
    raise TypeError(
        f"Layer '{layer.name}' expects integer `{name}` (row lengths, of an "
        f"integer dtype such as int32). Received: {name}.dtype={dtype}"
    )


class LengthsCheckedFirst:
    """Mixin of the layers that take `sequence_length`: checks its dtype in
    `__call__`, before Keras converts the call's arguments (torch's
    conversion of a string array fails with "Invalid dtype: str32")."""

    def __call__(self, *args, **kwargs):
        integer_lengths("sequence_length", kwargs.get("sequence_length"), self)
        return super().__call__(*args, **kwargs)


def floating_inputs(layer, name, x):
    """Raises a TypeError unless `x` has a floating-point dtype."""
    dtype = keras.backend.standardize_dtype(x.dtype)
    if "float" not in dtype:
        raise TypeError(
            f"Layer '{layer.name}' ({type(layer).__name__}) expects "
            f"floating-point `{name}`. Received: {name}.dtype={dtype}. "
            "Embed token ids first (e.g. with keras.layers.Embedding) or "
            "cast the inputs to float."
        )


def integer_inputs(layer, name, x):
    """Raises a TypeError unless `x` holds integers (token ids)."""
    dtype = keras.backend.standardize_dtype(x.dtype)
    if "int" not in dtype:
        raise TypeError(
            f"Layer '{layer.name}' ({type(layer).__name__}) with an `embedding` "
            f"expects integer token ids as `{name}`. Received: {name}.dtype="
            f"{dtype} (a keras.Input of token ids needs dtype='int32'). "
            "Without `embedding`, give it the vectors instead."
        )


def shapes_agree(got, want):
    """True when shapes `got` and `want` have the same rank and agree on
    every dimension known in both."""
    got, want = tuple(got), tuple(want)
    return len(got) == len(want) and all(
        a is None or b is None or a == b for a, b in zip(got, want, strict=True)
    )


def sequence_mask_matches(layer, sequences, mask):
    """Raises a ValueError unless `mask` is (batch, timesteps) like `sequences`."""
    if mask is None:
        return
    mask_shape = tuple(mask.shape)
    expected = tuple(sequences.shape[:2])
    if not shapes_agree(mask_shape, expected):
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) expects `mask` of "
            f"shape (batch, timesteps) = {expected}, matching the inputs of "
            f"shape {tuple(sequences.shape)}. Received: mask.shape={mask_shape}"
        )


def concrete(x):
    """`x` as a numpy array when its values are known (eager), else None
    (symbolic, or traced inside a compiled function)."""
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, keras.KerasTensor) or torch_tracing():
        return None
    try:
        return np.asarray(keras.ops.convert_to_numpy(x))
    except Exception:  # a graph tensor or a tracer: values unknown here
        return None


def lengths_in_range(layer, lengths, timesteps, dynamic_timesteps=None):
    """Raises a ValueError for lengths < 0 or > timesteps, when known. When
    they are not (inside a compiled function) and the run-time checks are on
    (`keras_rnnkit.set_runtime_checks`), puts the check into the graph;
    `dynamic_timesteps` is the time axis's size as a tensor."""
    values = concrete(lengths)
    if values is None:
        if runtime_checks_enabled() and not isinstance(lengths, keras.KerasTensor):
            _check_in_graph(layer, lengths, timesteps, dynamic_timesteps)
        return
    _raise_unless_in_range(layer, values, timesteps)


def _raise_unless_in_range(layer, values, timesteps):
    values = np.asarray(values)
    timesteps = None if timesteps is None else int(timesteps)
    limit = timesteps if timesteps is not None else np.inf
    bad = (values < 0) | (values > limit)
    if bad.any():
        raise ValueError(
            f"Layer '{layer.name}' expects `sequence_length` values in "
            f"[0, {timesteps}] (the time axis of the inputs). Received: "
            f"sequence_length={values.tolist()}"
        )


def _check_in_graph(layer, lengths, timesteps, dynamic_timesteps):
    """The range check as a graph op (TensorFlow) or a host callback (JAX)."""
    limit = timesteps if timesteps is not None else dynamic_timesteps
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        limit = tf.cast(limit, lengths.dtype)
        valid = tf.reduce_all((lengths >= 0) & (lengths <= limit))
        tf.debugging.Assert(
            valid,
            [
                f"Layer '{layer.name}' expects `sequence_length` values in "
                "[0, timesteps] (the time axis of the inputs). Received: "
                "sequence_length =",
                lengths,
                "timesteps =",
                limit,
            ],
            summarize=64,
        )
    elif backend == "jax":
        import jax

        jax.debug.callback(
            lambda values, steps: _raise_unless_in_range(layer, values, steps),
            lengths,
            limit,
        )


def masks_agree(layer, mask, from_lengths):
    """Raises a ValueError when a mask and sequence_length disagree."""
    given, derived = concrete(mask), concrete(from_lengths)
    if given is None or derived is None:
        return
    rows = np.flatnonzero((given.astype(bool) != derived).any(axis=1))
    if rows.size:
        raise ValueError(
            f"Layer '{layer.name}' received both a mask and `sequence_length`,"
            f" and they disagree in rows {rows.tolist()}. Pass one of them, "
            "or make the mask True exactly before each row's length."
        )


def step_fits(cell, inputs, states):
    """Raises a ValueError unless a cell's step input is `(batch, features)`
    and `states` has one tensor per entry of `cell.state_size`, each as wide
    as its entry (nested entries are left to the cells inside). Python-level
    checks on static shapes only: cheap enough for every step. Integer
    inputs are refused too (`floating_inputs`)."""
    floating_inputs(cell, "inputs", inputs)
    if len(inputs.shape) != 2:
        raise ValueError(
            f"Cell '{cell.name}' ({type(cell).__name__}) expects one step of "
            "inputs, shaped (batch, features); run sequences through "
            "keras_rnnkit.DynamicRNN or keras.layers.RNN. Received: "
            f"inputs.shape={tuple(inputs.shape)}"
        )
    sizes = cell.state_size
    sizes = [sizes] if isinstance(sizes, int) else list(sizes)
    given = list(states) if isinstance(states, (list, tuple)) else [states]
    widths = [None if isinstance(s, (list, tuple)) else s.shape[-1] for s in given]
    if len(given) != len(sizes) or any(
        isinstance(size, int) and width is not None and width != size
        for width, size in zip(widths, sizes, strict=True)
    ):
        raise ValueError(
            f"Cell '{cell.name}' ({type(cell).__name__}) expects `states` "
            f"with {len(sizes)} tensor(s) of widths {sizes} (its state_size). "
            f"Received {len(given)} of widths {widths}"
        )
