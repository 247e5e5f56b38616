"""Backend facts the kit's code must know: whether a call is being traced
into a graph of fixed structure, and two operations spelled per backend.

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


def take_along_time(x, index):
    """`x[b, index[b, t], ...]` for `x` `(batch, time, ...)` and an integer
    `index` `(batch, steps)`. `keras.ops.take_along_axis`, except while torch
    traces: its `take_along_dim` has no ONNX conversion there, `gather` has."""
    if torch_tracing():
        import torch

        index = index.long().reshape(*index.shape, *[1] * (x.ndim - 2))
        return torch.gather(x, 1, index.expand(*index.shape[:2], *x.shape[2:]))
    shape = (*keras.ops.shape(index), *[1] * (len(x.shape) - 2))
    return keras.ops.take_along_axis(x, keras.ops.reshape(index, shape), axis=1)


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
