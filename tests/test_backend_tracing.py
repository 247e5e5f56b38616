"""keras_rnnkit._backend's operations while torch traces (as Keras's ONNX,
OpenVINO and torch exports do): the same values as `keras.ops`, with ops
that torch's ONNX exporter and onnxruntime convert (`gather` for
`take_along_dim`, `all` without `dim=None`, no boolean `Where`)."""

import warnings

import keras
import numpy as np
import pytest

from keras_rnnkit import _backend

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "torch",
    reason=f"torch tracing, running {keras.backend.backend()}",
)


def traced(fn, *args):
    """`fn(*args)` run under `torch.jit.trace`, and its traced graph."""
    import torch

    seen = []

    def record(*a):
        seen.append(_backend.torch_tracing())
        return fn(*a)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings
        args = tuple(torch.as_tensor(a) for a in args)
        graph = torch.jit.trace(record, args, check_trace=False)
    assert seen == [True]
    return graph


@pytest.mark.parametrize(
    "x_shape, index_shape, axis",
    [
        ((3, 5), (3, 4), 1),  # beam search's scores, ids
        ((2, 3, 6), (2, 3, 1), 1),  # accumulated attention: broadcast
        ((2, 4, 3), (2, 4, 1), 2),  # the CRF's unary scores
        ((4, 3), (2, 3), 0),
    ],
)
def test_take_along_axis_while_tracing(x_shape, index_shape, axis):
    rng = np.random.default_rng(0)
    x = rng.normal(size=x_shape).astype("float32")
    size = x_shape[axis]
    index = rng.integers(-size, size, index_shape).astype("int32")
    graph = traced(lambda a, i: _backend.take_along_axis(a, i, axis), x, index)
    assert "take_along_dim" not in str(graph.graph)
    want = keras.ops.convert_to_numpy(keras.ops.take_along_axis(x, index, axis=axis))
    np.testing.assert_array_equal(graph(*map(_tensor, (x, index))).numpy(), want)


def test_all_true_and_boolean_where_while_tracing():
    flags = np.array([[True, False], [True, True]])
    other = np.array([[False, False], [True, False]])
    for condition in (np.array(True), np.array(False), flags[:, :1]):
        graph = traced(
            lambda c, a, b: (_backend.all_true(a), _backend.where(c, a, b)),
            condition,
            flags,
            other,
        )
        assert "aten::where" not in str(graph.graph)
        got_all, got_where = graph(*map(_tensor, (condition, flags, other)))
        assert bool(got_all) is False
        np.testing.assert_array_equal(
            got_where.numpy(), np.where(condition, flags, other)
        )


def _tensor(a):
    import torch

    return torch.as_tensor(a)
