"""cuDNN's LSTM in the JAX loop (_jax_cudnn.py).

On a CPU the cuDNN call is replaced by JAX's reference of it
(`jax.experimental.rnn.lstm_ref`, fed the same packed weights): outputs,
states and every gradient must equal the kit's own scan, which tests the
weight packing, the forget bias and the dispatch. On a GPU the real cuDNN
kernels are compared with the scan at full float32 precision.
"""

from unittest import mock

import keras
import numpy as np
import pytest
from test_jax_loop import outputs_and_gradients

from keras_rnnkit import DynamicRNN, PeepholeLSTMCell

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason=f"tests the JAX loop's cuDNN path, running {keras.backend.backend()}",
)


def reference(x, h0, c0, weights, lengths, **sizes):
    """`jax.experimental.rnn.lstm`'s arguments, run by its reference."""
    from jax.experimental import rnn

    unpacked = rnn.unpack_lstm_weights(
        weights,
        sizes["input_size"],
        sizes["hidden_size"],
        sizes["num_layers"],
        sizes["bidirectional"],
    )
    return rnn.lstm_ref(x, h0, c0, *unpacked, lengths, **sizes)


def compare(make_cell, training, lengths=None, go_backwards=False, dtype="float32"):
    """Outputs and gradients of `DynamicRNN(make_cell())` with the cuDNN
    path (its reference) and with the scan; and how often the path ran."""
    from keras_rnnkit import _jax_cudnn

    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return reference(*args, **kwargs)

    options = dict(return_sequences=True, return_state=True, go_backwards=go_backwards)
    layer = DynamicRNN(make_cell(), dtype=dtype, **options)
    layer.build((None, 5, 3))
    rng = np.random.default_rng(3)
    layer.set_weights([rng.normal(size=w.shape) for w in layer.get_weights()])
    x = rng.normal(size=(2, 5, 3)).astype(dtype)
    states = [rng.normal(size=(2, 4)).astype(dtype) for _ in range(2)]
    import jax

    # full float32 on both sides wherever this runs (a GPU's default is TF32)
    with (
        jax.default_matmul_precision("highest"),
        mock.patch.object(_jax_cudnn, "enabled", lambda: True),
        mock.patch.object(_jax_cudnn.rnn, "lstm", counted),
    ):
        got = outputs_and_gradients(layer, x, states, lengths, training)
    with (
        jax.default_matmul_precision("highest"),
        mock.patch.object(_jax_cudnn, "enabled", lambda: False),
    ):
        want = outputs_and_gradients(layer, x, states, lengths, training)
    return got, want, len(calls)


CUDNN_CELLS = {
    "no peepholes": lambda: PeepholeLSTMCell(4, use_peepholes=False),
    "forget bias": lambda: PeepholeLSTMCell(4, use_peepholes=False, forget_bias=1.0),
    "no bias": lambda: PeepholeLSTMCell(
        4, use_peepholes=False, use_bias=False, forget_bias=0.5
    ),
    "keras LSTMCell": lambda: keras.layers.LSTMCell(4),
}


def cell_weights(name):
    cell = CUDNN_CELLS[name]()
    cell.build((None, 3))
    return cell.trainable_weights


@pytest.mark.parametrize("cell", sorted(CUDNN_CELLS))
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_cudnn_lstm_equals_the_scan(cell, training, go_backwards):
    got, want, calls = compare(CUDNN_CELLS[cell], training, go_backwards=go_backwards)
    assert calls > 0  # traced once for the outputs, once for the gradients
    # outputs, states; gradients of x, the states and each weight
    assert (
        len(got) == len(want) == 3 + 1 + 2 + len(keras.tree.flatten(cell_weights(cell)))
    )
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)


OTHER_CELLS = {
    "peepholes": (lambda: PeepholeLSTMCell(4), None, "float32"),
    "cell clip": (lambda: PeepholeLSTMCell(4, use_peepholes=False, cell_clip=1.0),)
    + (None, "float32"),
    "projection": (lambda: PeepholeLSTMCell(4, use_peepholes=False, num_proj=4),)
    + (None, "float32"),
    "lengths": (lambda: PeepholeLSTMCell(4, use_peepholes=False), [5, 2], "float32"),
    "relu": (lambda: keras.layers.LSTMCell(4, activation="relu"), None, "float32"),
}


@pytest.mark.parametrize("cell", sorted(OTHER_CELLS))
def test_other_lstms_keep_the_scan(cell):
    make, lengths, dtype = OTHER_CELLS[cell]
    got, want, calls = compare(
        make, True, lengths=np.array(lengths or [5, 5]), dtype=dtype
    )
    assert calls == 0
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_only_float32_is_cudnns():
    from keras_rnnkit import _jax_cudnn
    from keras_rnnkit.cell_protocol import LSTMForm

    form = LSTMForm(kernel=None, recurrent_kernel=None)
    assert _jax_cudnn.is_cudnn_lstm(form, "float32")
    for dtype in ("float64", "float16", "bfloat16"):
        assert not _jax_cudnn.is_cudnn_lstm(form, dtype)


@pytest.mark.skipif(
    keras.backend.backend() != "jax" or __import__("jax").default_backend() == "gpu",
    reason="where cuDNN cannot run: on a CPU",
)
def test_without_cudnn_the_scan_runs_with_a_warning():
    from keras_rnnkit import _jax_cudnn

    _jax_cudnn._warn_once.cache_clear()
    layer = DynamicRNN(PeepholeLSTMCell(4, use_peepholes=False), return_sequences=True)
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    with (
        mock.patch.object(_jax_cudnn, "enabled", lambda: True),
        pytest.warns(RuntimeWarning, match="cuDNN's LSTM is unavailable"),
    ):
        tried = np.asarray(layer(x))
    np.testing.assert_array_equal(tried, np.asarray(layer(x)))


@pytest.mark.parametrize(
    "backend, version, expected",
    [("gpu", "cuda 12080", True), ("gpu", "rocm 60300", False), ("cpu", "cpu", False)],
)
def test_only_nvidia_gpus_run_cudnn(monkeypatch, backend, version, expected):
    """ROCm's MIOpen takes the gates in another order: its GPUs run the scan."""
    import jax
    from jax.extend import backend as backends

    from keras_rnnkit import _jax_cudnn

    monkeypatch.delenv(_jax_cudnn.VARIABLE, raising=False)
    monkeypatch.setattr(jax, "default_backend", lambda: backend)
    fake = type("Backend", (), {"platform_version": version})()
    monkeypatch.setattr(backends, "get_backend", lambda *a: fake)
    assert _jax_cudnn.enabled() is expected


def test_switched_off_by_the_variable(monkeypatch):
    from keras_rnnkit import _jax_cudnn

    monkeypatch.setenv(_jax_cudnn.VARIABLE, "0")
    assert not _jax_cudnn.enabled()


@pytest.mark.skipif(
    keras.backend.backend() != "jax" or __import__("jax").default_backend() != "gpu",
    reason="cuDNN runs on a GPU: none here",
)
@pytest.mark.parametrize("training", [False, True])
def test_cudnn_on_the_gpu_equals_the_scan(training):
    import jax

    from keras_rnnkit import _jax_cudnn

    layer = DynamicRNN(
        PeepholeLSTMCell(4, use_peepholes=False, forget_bias=1.0),
        return_sequences=True,
        return_state=True,
    )
    layer.build((None, 5, 3))
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    states = [rng.normal(size=(2, 4)).astype("float32") for _ in range(2)]
    with jax.default_matmul_precision("highest"):  # no TF32 on either path
        got = outputs_and_gradients(layer, x, states, None, training)
        with mock.patch.object(_jax_cudnn, "enabled", lambda: False):
            want = outputs_and_gradients(layer, x, states, None, training)
    text = str(
        jax.make_jaxpr(lambda x: layer(x, initial_state=states, training=training))(x)
    )
    assert "rnn_fwd" in text
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
