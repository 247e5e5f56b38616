"""A debug switch: check `sequence_length` values inside compiled functions."""

import os

_ENV = "KERAS_RNNKIT_RUNTIME_CHECKS"
_enabled = os.environ.get(_ENV, "").strip().lower() not in ("", "0", "false", "no")


def set_runtime_checks(enabled):
    """Turns the run-time checks of `sequence_length` on or off.

    Outside compiled functions (eager calls, `run_eagerly=True`, the torch
    backend) the kit always checks that every `sequence_length` value lies in
    `[0, timesteps]`. Inside a compiled function (`fit`, `predict`,
    `tf.function`, `jax.jit`) the values are not known when the graph is
    built, so by default they are not checked, and a length outside the range
    acts as if clipped to it. With the checks on, the kit adds the check to
    the graph itself:

    - TensorFlow: an assertion op; a bad length stops the step with an
      `InvalidArgumentError` that quotes the layer, the lengths and the number
      of time steps. XLA drops assertions, so the kit's recurrent layers
      report `supports_jit=False` while the checks are on, and Keras's `fit`
      then runs without XLA.
    - JAX: a `jax.debug.callback` that raises the kit's `ValueError`; JAX
      reports it as a `JaxRuntimeError` whose text holds the message.
    - PyTorch: eager, always checked.

    A debugging aid: each check costs a host round trip per call. It acts on
    functions traced after it is turned on (call it before `compile`/`fit`).
    The environment variable `KERAS_RNNKIT_RUNTIME_CHECKS=1` turns it on at
    import.

    Args:
        enabled: Boolean.

    Returns:
        The previous setting (a boolean).

    Raises:
        TypeError: `enabled` is not a boolean.

    Examples:
        >>> import keras_rnnkit
        >>> previous = keras_rnnkit.set_runtime_checks(True)
        >>> keras_rnnkit.runtime_checks_enabled()
        True
        >>> _ = keras_rnnkit.set_runtime_checks(previous)
    """
    global _enabled
    if not isinstance(enabled, bool):
        raise TypeError(
            "Argument `enabled` must be a boolean (True or False). Received: "
            f"enabled={enabled!r} of type {type(enabled).__name__}"
        )
    previous, _enabled = _enabled, enabled
    return previous


def runtime_checks_enabled():
    """Whether `sequence_length` is checked inside compiled functions (see
    `set_runtime_checks`).

    Returns:
        A boolean.
    """
    return _enabled
