"""`matmul`, `mean` and `clip` that keep float64 in float64 on torch.

Keras 3.15's `keras.backend.result_type` maps float64 to float32 on every
backend but TensorFlow (keras-team/keras#23704), and some ops follow it on
float64 inputs. On torch, `ops.matmul` (and `dot`, `tensordot`) computes in
float32 and returns float32, and `ops.mean` sums in float32 before casting
back; `ops.clip` turns Python bounds into floatx tensors, so that a float64
tensor is clipped at `float32(0.3)` (0.30000001192...). A float64 cell
built on those ops computes its step at float32 precision, while the kit's
torch loop (`_torch_loop.py`) computes its fused form in float64: the two
then differ by float32 rounding, which the normalisations of
`LayerNormLSTMCell` can amplify to 1e-5.

The cells' steps use these instead. For any dtype other than float64 they
are Keras's ops, unchanged. (JAX has float64 only with `jax_enable_x64`,
where Keras's `ops.mean` and `ops.tanh`, the `"tanh"` activation, compute
in float32 too; `mean` here helps, the activation is left to Keras.)
"""

import keras
from keras import ops


def is_float64(x):
    """Whether tensor `x` is float64."""
    return keras.backend.standardize_dtype(x.dtype) == "float64"


def matmul(x, y):
    """`ops.matmul(x, y)`, computed in float64 when both are float64."""
    if keras.backend.backend() == "torch":
        x, y = ops.convert_to_tensor(x), ops.convert_to_tensor(y)
        if is_float64(x) and is_float64(y):
            import torch

            return torch.matmul(x, y)
    return ops.matmul(x, y)


def mean(x, axis=-1):
    """`ops.mean(x, axis, keepdims=True)` over one axis, summed in float64
    when `x` is float64."""
    if is_float64(x):
        count = ops.cast(ops.shape(x)[axis], x.dtype)
        return ops.sum(x, axis=axis, keepdims=True) / count
    return ops.mean(x, axis=axis, keepdims=True)


def clip(x, bound):
    """`x` clipped to `[-bound, bound]`, the bound (a Python number) taken
    in `x`'s dtype."""
    bound = ops.convert_to_tensor(bound, keras.backend.standardize_dtype(x.dtype))
    return ops.clip(x, -bound, bound)
