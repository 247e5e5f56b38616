"""The optional compiled kernels of the torch LSTM loop (_torch_kernels.py,
_torch_lstm_kernels.cpp), switched on by KERAS_RNNKIT_TORCH_KERNELS=1.

With them, `PeepholeLSTMCell` and `keras.layers.LSTMCell` in `DynamicRNN`
must give what the Python loop gives (the same fused function without
them): outputs, final states and every gradient, over the cells' config
space, with lengths (rows ending at different steps, NaN in the
padding), both directions, training and inference. The kernels must really run (their calls are
counted), float64 must keep the Python loop, and a failed build must warn
once and fall back.
"""

import os
import warnings
from unittest import mock

import keras
import numpy as np
import pytest
from helpers import draw_lengths
from hypothesis import assume, given
from hypothesis import strategies as st
from test_torch_loop import config_space, random_states, run

from keras_rnnkit import DynamicRNN, PeepholeLSTM, PeepholeLSTMCell

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "torch",
    reason=f"tests the torch loop's kernels, running {keras.backend.backend()}",
)


def both_ways(module, layer, x, states, lengths, training):
    """`test_torch_loop.run` without and with the kernels, and how many
    times the compiled loops ran (forward, backward) in the second."""
    from keras_rnnkit import _torch_kernels

    with mock.patch.dict(os.environ, {_torch_kernels.VARIABLE: "0"}):
        plain = run(layer, x, states, lengths, seed=1, training=training)
    with (
        mock.patch.dict(os.environ, {_torch_kernels.VARIABLE: "1"}),
        mock.patch.object(
            module, "forward_sequence", wraps=module.forward_sequence
        ) as forward,
        mock.patch.object(
            module, "backward_sequence", wraps=module.backward_sequence
        ) as backward,
    ):
        compiled = run(layer, x, states, lengths, seed=1, training=training)
    return plain, compiled, (forward.call_count, backward.call_count)


@given(
    cls=st.sampled_from([PeepholeLSTMCell, keras.layers.LSTMCell]),
    batch=st.integers(1, 5),
    timesteps=st.integers(1, 6),
    features=st.integers(1, 4),
    units=st.integers(1, 9),
    masked=st.booleans(),
    go_backwards=st.booleans(),
    training=st.booleans(),
    data=st.data(),
)
def test_kernels_equal_the_python_loop(
    kernels, cls, batch, timesteps, features, units, masked, go_backwards,
    training, data,
):  # fmt: skip
    config = data.draw(config_space(cls), label="config")
    assume(config.get("proj_clip") is None or config.get("num_proj") is not None)
    config = {**config, "dropout": 0.0, "recurrent_dropout": 0.0}
    layer = DynamicRNN(
        cls(units, **config),
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
    )
    layer.build((None, timesteps, features))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    layer.set_weights([w * 2 for w in layer.get_weights()])  # larger: clips act
    x = rng.normal(size=(batch, timesteps, features)).astype("float32")
    states = random_states(rng, layer.cell, batch)
    lengths = draw_lengths(data, batch, timesteps) if masked else None
    if lengths is not None:  # padding holds NaN: read by neither loop
        x[np.arange(timesteps)[None] >= np.asarray(lengths)[:, None]] = np.nan
    plain, compiled, (forward, backward) = both_ways(
        kernels, layer, x, states, lengths, training
    )
    assert len(plain) == len(compiled)
    for p, c in zip(plain, compiled, strict=True):
        assert np.isfinite(c).all()
        np.testing.assert_allclose(c, p, rtol=1e-5, atol=1e-6)
    # Cells that compute what PyTorch's LSTM computes run that instead.
    fused_by_torch = (
        not config.get("use_peepholes", False)
        and config.get("cell_clip") is None
        and config.get("num_proj") is None
        and config.get("forget_bias", 0.0) == 0.0
    )
    other_activations = (config.get("activation"), config.get("recurrent_activation"))
    other_activations = other_activations != ("tanh", "sigmoid")  # a plain loop
    # Reversed, a row that ends early is left-padded: the plain loop runs.
    ends = [] if lengths is None else list(lengths)
    left_padded = go_backwards and any(0 < n < timesteps for n in ends)
    if fused_by_torch or other_activations or left_padded:
        assert forward == backward == 0
    else:
        assert forward == backward == 1


def test_a_trained_model_is_the_same_with_and_without_kernels(kernels):
    """`fit` of a model with peepholes, clipping and a projection: the same
    weights after three steps either way."""
    from keras_rnnkit import _torch_kernels

    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 12, 5)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    weights = []
    for flag in ("0", "1"):
        keras.utils.set_random_seed(3)
        model = keras.Sequential(
            [
                keras.Input((12, 5)),
                PeepholeLSTM(7, cell_clip=0.8, num_proj=4, proj_clip=0.9),
                keras.layers.Dense(1),
            ]
        )
        model.compile("adam", "mse")
        with mock.patch.dict(os.environ, {_torch_kernels.VARIABLE: flag}):
            model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
            model.fit(x[:8], y[:8], batch_size=8, epochs=1, verbose=0)
        weights.append(model.get_weights())
    for plain, compiled in zip(*weights, strict=True):
        np.testing.assert_allclose(compiled, plain, rtol=1e-5, atol=1e-6)


def test_float64_keeps_the_python_loop(kernels):
    from keras_rnnkit import _torch_kernels

    layer = DynamicRNN(PeepholeLSTMCell(3, dtype="float64"), dtype="float64")
    x = np.ones((2, 4, 2))
    with (
        mock.patch.dict(os.environ, {_torch_kernels.VARIABLE: "1"}),
        mock.patch.object(kernels, "forward_sequence") as forward,
    ):
        out = layer(x)
    assert forward.call_count == 0
    assert np.isfinite(keras.ops.convert_to_numpy(out)).all()


def test_a_failed_build_warns_once_and_the_python_loop_runs(monkeypatch):
    from keras_rnnkit import _torch_kernels

    monkeypatch.setattr(_torch_kernels, "_module", None)
    monkeypatch.setattr(_torch_kernels, "_failure", None)
    monkeypatch.setattr(
        _torch_kernels, "_build", lambda: (None, "CalledProcessError: no compiler")
    )
    monkeypatch.setenv(_torch_kernels.VARIABLE, "1")
    layer = DynamicRNN(PeepholeLSTMCell(3))
    x = np.ones((2, 4, 2), "float32")
    with pytest.warns(RuntimeWarning, match="no compiler.*Python loop runs"):
        first = keras.ops.convert_to_numpy(layer(x))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        second = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_array_equal(first, second)
    assert _torch_kernels.failure() == "CalledProcessError: no compiler"


def test_not_requested_means_not_built(monkeypatch):
    from keras_rnnkit import _torch_kernels

    monkeypatch.setattr(_torch_kernels, "_module", None)
    monkeypatch.setattr(_torch_kernels, "_failure", None)
    build = mock.Mock(side_effect=AssertionError("built"))
    monkeypatch.setattr(_torch_kernels, "_build", build)
    for value in ("", "0", "false", "False"):
        monkeypatch.setenv(_torch_kernels.VARIABLE, value)
        assert _torch_kernels.load() is None
    monkeypatch.delenv(_torch_kernels.VARIABLE)
    assert _torch_kernels.load() is None
    build.assert_not_called()
