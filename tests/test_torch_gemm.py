"""Products through oneDNN in the torch LSTM loop (_torch_gemm.py).

Where it is worth it (float32 on the CPU, 128 units or more, or many rows),
the loop's fixed matrices are packed for oneDNN once per call. The numbers
must be `torch.mm`'s to float32 rounding: outputs, final states and every
gradient of the layers, with lengths, projections and clipping, and the
packed path must really run at those sizes; float64, small matrices and
``KERAS_RNNKIT_ONEDNN=0`` keep `torch.mm`.
"""

import contextlib
import os
from unittest import mock

import keras
import numpy as np
import pytest
from helpers import draw_lengths
from hypothesis import given, settings
from hypothesis import strategies as st
from test_torch_loop import random_states, run

from keras_rnnkit import DynamicRNN, PeepholeLSTMCell

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "torch",
    reason=f"tests the torch loop's products, running {keras.backend.backend()}",
)


@pytest.fixture(scope="module")
def gemm():
    """The module, or a skip when this torch's oneDNN operations do not run."""
    from keras_rnnkit import _torch_gemm

    if not _torch_gemm.available():
        pytest.skip("this torch has no working oneDNN linear operations")
    return _torch_gemm


@pytest.mark.parametrize("rows", [64, 37, 1])
def test_packed_products_equal_torch_mm(gemm, rows):
    import torch

    generator = torch.Generator().manual_seed(rows)
    matrix = torch.randn(128, 512, generator=generator)
    a = torch.randn(rows, 128, generator=generator)
    c = torch.randn(rows, 512, generator=generator)
    bias = torch.randn(512, generator=generator)
    with decisions(gemm) as decided:
        product, product_plus = gemm.multiplier(matrix, 64, uses=100)
    assert decided == [True]
    expected = torch.mm(a, matrix)
    torch.testing.assert_close(product(a), expected, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(product(a, bias), expected + bias, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(product_plus(c, a), expected + c, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    "shape, rows, uses, dtype, variable, expected",
    [
        ((128, 512), 64, 100, "float32", None, True),  # a recurrent kernel
        ((512, 128), 64, 100, "float32", None, True),  # its transpose
        ((32, 512), 6400, 1, "float32", None, True),  # inputs of 100 x 64 steps
        ((64, 256), 64, 100, "float32", None, False),  # 64 units: little gain
        ((128, 512), 64, 4, "float32", None, False),  # packing not paid back
        ((16, 64), 8192, 1, "float32", None, False),
        ((128, 512), 64, 100, "float64", None, False),  # oneDNN has no float64
        ((128, 512), 64, 100, "float32", "0", False),
        ((128, 512), 64, 100, "float32", "false", False),
    ],
)
def test_when_products_go_through_onednn(
    gemm, shape, rows, uses, dtype, variable, expected
):
    import torch

    matrix = torch.ones(shape, dtype=getattr(torch, dtype))
    env = {} if variable is None else {gemm.VARIABLE: variable}
    with mock.patch.dict(os.environ, env):
        if variable is None:
            os.environ.pop(gemm.VARIABLE, None)
        assert gemm._worth_it(matrix, rows, uses) is expected


CONFIGS = {
    "peepholes": {},
    "clip": {"cell_clip": 0.4},
    "projection+clips": {"num_proj": 128, "proj_clip": 0.3, "cell_clip": 0.5},
    "no bias, tf1 forget bias": {"use_bias": False, "forget_bias": 1.0},
}


CASES = dict(
    name=st.sampled_from(sorted(CONFIGS)),
    batch=st.integers(1, 5),
    timesteps=st.integers(8, 11),
    masked=st.booleans(),
    go_backwards=st.booleans(),
    training=st.booleans(),
    data=st.data(),
)


@settings(max_examples=12)  # cheap: 12 examples under every profile
@given(**CASES)
def test_the_python_loop_gives_the_same_numbers_with_onednn(gemm, **case):
    """128 units: every per-step product is packed for oneDNN; outputs,
    states and every gradient as with `torch.mm`."""
    compare_with_and_without_onednn(gemm, "0", **case)


@settings(max_examples=12)
@given(**CASES)
def test_the_compiled_loop_gives_the_same_numbers_with_onednn(gemm, kernels, **case):
    """The same with the compiled loop (KERAS_RNNKIT_TORCH_KERNELS=1),
    which calls oneDNN from C++."""
    compare_with_and_without_onednn(gemm, "1", **case)


def compare_with_and_without_onednn(
    gemm, kernels_flag, name, batch, timesteps, masked, go_backwards, training, data
):

    layer = DynamicRNN(
        PeepholeLSTMCell(128, **CONFIGS[name]),
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
    )
    layer.build((None, timesteps, 3))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    layer.set_weights([w * 2 for w in layer.get_weights()])  # larger: clips act
    x = rng.normal(size=(batch, timesteps, 3)).astype("float32")
    states = random_states(rng, layer.cell, batch)
    lengths = draw_lengths(data, batch, timesteps) if masked else None
    if lengths is not None:  # padding holds NaN: read by neither path
        x[np.arange(timesteps)[None] >= np.asarray(lengths)[:, None]] = np.nan
    plain_calls, calls = with_and_without_onednn(
        gemm, kernels_flag, layer, x, states, lengths, seed=1, training=training
    )
    # Reversed, a row that ends early is left-padded: the cell's own step
    # runs (no fused loop, no packed products).
    ends = [] if lengths is None else list(lengths)
    left_padded = go_backwards and any(0 < n < timesteps for n in ends)
    steps_run = 0 if left_padded else max(ends, default=timesteps)
    # a product forward and one backward at every step run, at least
    assert calls >= 2 * steps_run
    assert calls == 0 or not left_padded
    assert plain_calls == 0


@pytest.mark.parametrize("kernels_flag", ["0", "1"])
@pytest.mark.parametrize("num_proj", [None, 48])
def test_long_batches_project_their_inputs_through_onednn(
    gemm, request, kernels_flag, num_proj
):
    """70 steps x 64 rows: the input projection and the inputs' gradient
    (4,480 rows each) go through oneDNN too, with 32 units (the per-step
    products stay `torch.mm`); the same numbers either way."""

    if kernels_flag == "1":
        request.getfixturevalue("kernels")
    layer = DynamicRNN(
        PeepholeLSTMCell(32, num_proj=num_proj, forget_bias=1.0),
        return_sequences=True,
        return_state=True,
    )
    layer.build((None, 70, 32))
    rng = np.random.default_rng(7)
    x = rng.normal(size=(64, 70, 32)).astype("float32")
    states = random_states(rng, layer.cell, 64)
    lengths = rng.integers(1, 71, size=64)
    x[np.arange(70)[None] >= lengths[:, None]] = np.nan
    calls = with_and_without_onednn(gemm, kernels_flag, layer, x, states, lengths, 2)
    assert calls == [0, 2]


def with_and_without_onednn(gemm, kernels_flag, *args, **kwargs):
    """`test_torch_loop.run(*args, **kwargs)` with oneDNN off, then on (the
    compiled loop on as `kernels_flag` says): asserts the same numbers, and
    returns how many times oneDNN ran each time."""
    from keras_rnnkit import _torch_kernels

    results, calls = [], []
    with mock.patch.dict(os.environ, {_torch_kernels.VARIABLE: kernels_flag}):
        for flag in ("0", "1"):
            with (
                mock.patch.dict(os.environ, {gemm.VARIABLE: flag}),
                onednn_calls() as counted,
            ):
                results.append(run(*args, **kwargs))
            calls.append(counted[0])
    for plain, packed in zip(*results, strict=True):
        assert np.isfinite(packed).all()
        np.testing.assert_allclose(packed, plain, rtol=1e-4, atol=1e-5)
    return calls


@contextlib.contextmanager
def onednn_calls():
    """`[n]`: how many times oneDNN's linear operation ran in the block
    (filled in when it ends; PyTorch's profiler sees C++ calls too)."""
    import torch

    counted = [0]
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as p:
        yield counted
    counted[0] = sum(e.name == "mkldnn::_linear_pointwise" for e in p.events())


@contextlib.contextmanager
def decisions(gemm):
    """The list of `_worth_it`'s answers while the block runs."""
    answers = []
    decide = gemm._worth_it

    def recorded(*args):
        answers.append(decide(*args))
        return answers[-1]

    with mock.patch.object(gemm, "_worth_it", recorded):
        yield answers


def test_float64_layers_keep_torch_mm(gemm):
    layer = DynamicRNN(PeepholeLSTMCell(128, dtype="float64"), dtype="float64")
    x = np.ones((2, 9, 2))
    with decisions(gemm) as decided:
        out = layer(x)
    assert decided and not any(decided)
    assert np.isfinite(keras.ops.convert_to_numpy(out)).all()


def test_torchs_own_onednn_switch_turns_it_off(gemm):
    import torch

    matrix = torch.ones(128, 512)
    assert gemm._worth_it(matrix, 64, 100)
    torch.backends.mkldnn.enabled = False
    try:
        assert not gemm._worth_it(matrix, 64, 100)
    finally:
        torch.backends.mkldnn.enabled = True


def test_the_first_use_check_ignores_torchs_default_dtype(gemm):
    import torch

    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        assert gemm._check() is True
    finally:
        torch.set_default_dtype(default)
