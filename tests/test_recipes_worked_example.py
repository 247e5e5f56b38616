"""The worked-example recipe: the tutorial's two RNN steps, by hand and in Keras."""

import math
import pathlib

import numpy as np
import pytest

from keras_rnnkit.recipes import worked_example


def _numpy(variable):
    import keras

    return keras.ops.convert_to_numpy(variable)


def test_by_hand_gives_the_printed_values():
    hand = worked_example.by_hand()
    np.testing.assert_allclose(hand["before_activation"][0], [0.6, 0.5])
    for name, printed in worked_example.PRINTED.items():
        np.testing.assert_allclose(hand[name], printed, atol=1e-8)
    # the second step reads the first state through the first two rows of W1
    state = hand["state"][0]
    w1 = worked_example.W1
    expected = np.tanh(state @ w1[:2] + 2 * w1[2] + [0.1, -0.1])
    np.testing.assert_allclose(hand["state"][1], expected)


def test_check_raises_on_disagreement():
    assert worked_example.check("x", [1.0, 2.0], [1.0, 2.0 + 1e-7]) < 1e-6
    with pytest.raises(AssertionError, match="x: .* by 0.001"):
        worked_example.check("x", [1.0], [1.001])


def test_keras_models_carry_the_tutorials_weights():
    model = worked_example.keras_model()
    cell = model.get_layer("cell").cell
    np.testing.assert_allclose(_numpy(cell.kernel), [[0.5, 0.6]])
    np.testing.assert_allclose(_numpy(cell.recurrent_kernel), [[0.1, 0.2], [0.3, 0.4]])
    projection = worked_example.projection_model().get_layer("rnn").cell
    np.testing.assert_allclose(_numpy(projection.kernel), [[1.0], [2.0]])
    np.testing.assert_allclose(_numpy(projection.bias), [0.1])


def test_run(tmp_path, capsys):
    figures = worked_example.run(quick=True, out=tmp_path)
    assert "all within 1e-06" in capsys.readouterr().out
    for key, value in figures.items():
        if key != "plots":
            assert math.isfinite(value), key
    assert figures["max_difference"] < 1e-6
    assert figures["output_step1"] == pytest.approx(1.56128388, abs=1e-6)
    assert figures["output_step2"] == pytest.approx(2.72707101, abs=1e-6)
    assert figures["state_step2_unit1"] == pytest.approx(0.88366641, abs=1e-6)
    (path,) = figures["plots"]
    assert pathlib.Path(path).name == "worked_example.png"
    assert pathlib.Path(path).stat().st_size > 5000


def test_run_raises_when_the_model_disagrees(tmp_path, monkeypatch):
    # a wrong weight: the computation no longer gives the printed values
    monkeypatch.setattr(worked_example, "B2", 0.2)
    with pytest.raises(AssertionError, match="output"):
        worked_example.run(out=tmp_path)
