"""The debug switch `set_runtime_checks`: `sequence_length` checked inside
compiled functions (`fit`, `predict`), on every backend."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_rnnkit import (
    BidirectionalEncoder,
    DynamicRNN,
    runtime_checks_enabled,
    set_runtime_checks,
)

MESSAGE = "expects `sequence_length` values in"


@pytest.fixture
def checks_on():
    previous = set_runtime_checks(True)
    yield
    set_runtime_checks(previous)


def _model(layer):
    sequences = keras.Input((6, 3))
    lengths = keras.Input((), dtype="int32")
    outputs = layer(sequences, sequence_length=lengths)
    if isinstance(outputs, (list, tuple)):
        outputs = outputs[0]
    return keras.Model([sequences, lengths], outputs)


@pytest.mark.parametrize(
    "make",
    [
        lambda: DynamicRNN(keras.layers.GRUCell(4)),
        lambda: BidirectionalEncoder(keras.layers.GRUCell(4)),
    ],
    ids=["dynamic", "bidirectional"],
)
@pytest.mark.parametrize("bad", [[6, 99, 1], [-1, 2, 3]])
def test_out_of_range_lengths_stop_a_compiled_predict(checks_on, make, bad):
    model = _model(make())
    x = np.ones((3, 6, 3), "float32")
    assert model.predict([x, np.array([6, 2, 0])], verbose=0).shape[0] == 3
    with pytest.raises(Exception, match="sequence_length") as caught:
        model.predict([x, np.array(bad)], verbose=0)
    assert MESSAGE in str(caught.value)


def test_off_by_default_lengths_act_as_clipped():
    assert runtime_checks_enabled() is False
    model = _model(DynamicRNN(keras.layers.GRUCell(4)))
    x = np.ones((2, 6, 3), "float32")
    if keras.backend.backend() == "torch":  # eager: always checked
        with pytest.raises(ValueError, match=MESSAGE):
            model.predict([x, np.array([99, 2])], verbose=0)
        return
    clipped = model.predict([x, np.array([99, -1])], verbose=0)
    np.testing.assert_allclose(
        clipped, model.predict([x, np.array([6, 0])], verbose=0), atol=1e-6
    )


def test_fit_trains_with_the_checks_on(checks_on):
    model = _model(DynamicRNN(keras.layers.GRUCell(4)))
    model.compile("adam", "mse")
    x, y = np.ones((4, 6, 3), "float32"), np.zeros((4, 4), "float32")
    history = model.fit([x, np.array([6, 3, 1, 0])], y, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    if keras.backend.backend() == "tensorflow":
        # XLA would drop the assertion: the layer keeps fit off XLA.
        assert not model.layers[-1].supports_jit
        assert model.jit_compile is False


def test_supports_jit_follows_the_switch():
    layer = DynamicRNN(keras.layers.GRUCell(4))
    assert layer.supports_jit
    previous = set_runtime_checks(True)
    try:
        expected = keras.backend.backend() != "tensorflow"
        assert layer.supports_jit is expected
    finally:
        set_runtime_checks(previous)
    assert layer.supports_jit


@pytest.mark.parametrize("value", [1, "yes", None])
def test_the_switch_takes_booleans_only(value):
    with pytest.raises(TypeError, match=r"`enabled` must be a boolean.*Received"):
        set_runtime_checks(value)


@pytest.mark.tf_only
def test_the_environment_variable_turns_it_on():
    code = "import keras_rnnkit; print(keras_rnnkit.runtime_checks_enabled())"
    env = {**os.environ, "KERAS_RNNKIT_RUNTIME_CHECKS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert out.stdout.strip() == "True", out.stderr[-2000:]
