"""cuDNN's LSTM for the JAX loop, on a GPU.

An `LSTMForm` with no peepholes, no clipping and no projection, tanh and
sigmoid activations, float32 and no mask is exactly the LSTM that cuDNN
computes (Keras's gate order i, f, c, o is cuDNN's). On a GPU `_jax_loop`
runs such a form with `jax.experimental.rnn.lstm` (cuDNN's fused kernels,
forward and backward), as Keras's own `keras.layers.LSTM` does on JAX;
anywhere else, or for any other form, it runs its own scan. The forget
bias is folded into the forget gate's input bias; cuDNN's second bias is
zero.

Like Keras's, the cuDNN path is a custom call of the GPU platform: a model
exported from a GPU machine carries it. `KERAS_RNNKIT_CUDNN=0` turns it off
(the scan then runs on the GPU too), e.g. to export a portable graph.
"""

import functools
import os
import warnings

import jax
import jax.numpy as jnp
from jax.experimental import rnn

VARIABLE = "KERAS_RNNKIT_CUDNN"


def enabled():
    """Whether cuDNN may run here: JAX's default backend is an NVIDIA GPU
    (CUDA; ROCm's MIOpen orders the gates otherwise) and `KERAS_RNNKIT_CUDNN`
    is not "0"."""
    if os.environ.get(VARIABLE, "1") == "0" or jax.default_backend() != "gpu":
        return False
    from jax.extend import backend

    return "cuda" in backend.get_backend().platform_version.lower()


def is_cudnn_lstm(form, dtype):
    """Whether `form` over inputs of `dtype` is exactly cuDNN's LSTM (with
    no mask; whatever the device)."""
    return jnp.dtype(dtype) == jnp.float32 and form.is_standard()


def lstm(form, x, h0, c0, kernel, recurrent, bias, implementation=None):
    """cuDNN's LSTM over time-major `x` `(time, batch, features)`:
    `(outputs, h, c)`, outputs time-major.

    `implementation` (default `jax.experimental.rnn.lstm`) takes the
    arguments of `jax.experimental.rnn.lstm` (the tests pass its reference,
    which runs anywhere)."""
    implementation = implementation or rnn.lstm
    units = recurrent.shape[0]
    input_bias = jnp.zeros((4 * units,), x.dtype) if bias is None else bias
    if form.forget_bias:
        input_bias = input_bias.at[units : 2 * units].add(form.forget_bias)
    weights = jnp.concatenate(
        [
            kernel.T.ravel(),
            recurrent.T.ravel(),
            input_bias,
            jnp.zeros((4 * units,), x.dtype),
        ]
    )
    batch_major = jnp.swapaxes(x, 0, 1)
    lengths = jnp.full((x.shape[1],), x.shape[0], jnp.int32)
    y, h, c = implementation(
        batch_major,
        h0[None],
        c0[None],
        weights,
        lengths,
        input_size=kernel.shape[0],
        hidden_size=units,
        num_layers=1,
        dropout=0.0,
        bidirectional=False,
    )
    return jnp.swapaxes(y, 0, 1), h[0], c[0]


def try_lstm(form, x, h0, c0, kernel, recurrent, bias):
    """`lstm`, or None (with a warning, once) where this JAX cannot trace
    cuDNN's LSTM (no GPU plugin with it): the caller then runs its own
    scan, as Keras's LSTM falls back to its loop. Errors of the compiled
    kernel itself (memory, sizes cuDNN refuses) are not caught."""
    try:
        return lstm(form, x, h0, c0, kernel, recurrent, bias)
    except (AttributeError, NotImplementedError, RuntimeError) as error:
        _warn_once(f"{type(error).__name__}: {error}")
        return None


@functools.cache
def _warn_once(error):
    warnings.warn(
        f"cuDNN's LSTM is unavailable ({error}); "
        f"the kit's own scan runs instead (set {VARIABLE}=0 to skip trying)",
        RuntimeWarning,
        stacklevel=3,
    )
