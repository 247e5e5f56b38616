"""Backend facts the kit's code must know: whether a call is being traced
into a graph of fixed structure, and operations spelled per backend.

The kit takes data-dependent shortcuts where the backend allows them
(skipping padded sentences, sorting rows by length in its torch loop,
checking argument values). A graph that an exporter traces once and then
replays (`torch.jit.trace`, `torch.export`, JAX's `jit`, as in ONNX export)
must not depend on the values seen while tracing: there the kit takes the
plain path.
"""

import keras


def torch_tracing():
    """True while torch traces or compiles (TorchScript, `torch.export`,
    `torch.compile`), as Keras's ONNX, OpenVINO and torch exports do."""
    if keras.backend.backend() != "torch":
        return False
    import torch

    return bool(torch.jit.is_tracing() or torch.compiler.is_compiling())


def jax_tracing(*tensors):
    """True when one of `tensors` is a JAX tracer (inside `jit`)."""
    if keras.backend.backend() != "jax":
        return False
    import jax

    return any(isinstance(t, jax.core.Tracer) for t in tensors)


def take_along_axis(x, index, axis):
    """`keras.ops.take_along_axis(x, index, axis)` for an integer `index` of
    `x`'s rank, except while torch traces: there torch's `take_along_dim`
    has no ONNX conversion and `gather` has. `gather` does not broadcast, so
    the axes where `index` has size 1 are expanded to `x`'s size first."""
    if torch_tracing():
        import torch

        axis = axis % x.ndim
        index = index.long()
        index = torch.where(index < 0, index + x.shape[axis], index)
        shape = [
            x.shape[d] if d != axis and index.shape[d] == 1 else index.shape[d]
            for d in range(x.ndim)
        ]
        return torch.gather(x, axis, index.expand(*shape))
    return keras.ops.take_along_axis(x, index, axis=axis)


def take_along_time(x, index):
    """`x[b, index[b, t], ...]` for `x` `(batch, time, ...)` and an integer
    `index` `(batch, steps)` (`take_along_axis` on axis 1)."""
    shape = (*keras.ops.shape(index), *[1] * (len(x.shape) - 2))
    return take_along_axis(x, keras.ops.reshape(index, shape), axis=1)


def all_true(x):
    """`keras.ops.all(x)` over every axis. Keras's torch `all` passes
    `dim=None`, which torch's ONNX exporter cannot convert ("'NoneType'
    object has no attribute 'view'"); while torch traces this calls
    `torch.all(x)`, which it converts."""
    if torch_tracing():
        import torch

        return torch.all(x)
    return keras.ops.all(x)


def where(condition, x, y):
    """`keras.ops.where(condition, x, y)`, except while torch traces boolean
    `x` and `y`: onnxruntime has no `Where` kernel for booleans ("Could not
    find an implementation for Where(16)"), so there it is
    `(condition and x) or (not condition and y)`."""
    if torch_tracing() and x.dtype == y.dtype and str(x.dtype) == "torch.bool":
        import torch

        condition = condition.bool()
        return torch.logical_or(
            torch.logical_and(condition, x),
            torch.logical_and(torch.logical_not(condition), y),
        )
    return keras.ops.where(condition, x, y)


def rank_positions(rank, position):
    """`out[b, k] = sum of position[b, t] over t with rank[b, t] == k`, for
    integer `(batch, time)` tensors: each valid step's position put in the
    slot of its rank (`keras.ops.scatter` is a Python loop per element on
    torch; there `scatter_add` does it at once)."""
    if keras.backend.backend() == "torch":
        import torch

        out = torch.zeros_like(position)
        return out.scatter_add(1, rank.long(), position)
    ops = keras.ops
    ones = ops.ones_like(rank)
    rows = ops.cumsum(ones, axis=0) - 1
    indices = ops.stack([ops.reshape(rows, (-1,)), ops.reshape(rank, (-1,))], axis=1)
    return ops.scatter(indices, ops.reshape(position, (-1,)), ops.shape(rank))
