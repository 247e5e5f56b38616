"""keras_rnnkit.tf1: moving weights between TF1's LSTMCell and the kit."""

import keras
import numpy as np
import pytest

from keras_rnnkit import PeepholeLSTM, PeepholeLSTMCell, tf1


def _variables(input_dim=3, units=4, num_proj=None, peepholes=True, seed=0):
    rng = np.random.default_rng(seed)
    out = num_proj or units
    variables = {
        "kernel": rng.normal(size=(input_dim + out, 4 * units)),
        "bias": rng.normal(size=(4 * units,)),
    }
    if peepholes:
        variables |= {
            n: rng.normal(size=units) for n in ("w_i_diag", "w_f_diag", "w_o_diag")
        }
    if num_proj:
        variables["projection/kernel"] = rng.normal(size=(units, num_proj))
    return variables


@pytest.mark.parametrize("num_proj", [None, 2])
@pytest.mark.parametrize("peepholes", [True, False])
@pytest.mark.parametrize("forget_bias", [0.0, 1.0, 2.5])
def test_round_trip(num_proj, peepholes, forget_bias):
    variables = _variables(num_proj=num_proj, peepholes=peepholes)
    cell = PeepholeLSTMCell(4, num_proj=num_proj, use_peepholes=peepholes)
    tf1.set_lstm_weights(cell, variables, forget_bias=forget_bias)
    back = tf1.get_lstm_weights(cell, forget_bias=forget_bias)
    assert sorted(back) == sorted(variables)
    for name in variables:
        np.testing.assert_allclose(back[name], variables[name], rtol=1e-6, atol=1e-6)


def test_gates_are_reordered_and_forget_bias_folded():
    units = 2
    variables = _variables(input_dim=1, units=units, peepholes=False)
    cell = PeepholeLSTMCell(units, use_peepholes=False, forget_bias=0.25)
    tf1.set_lstm_weights(cell, variables, forget_bias=1.0)
    i, j, f, o = np.split(variables["bias"], 4)
    bias = keras.ops.convert_to_numpy(cell.bias)
    np.testing.assert_allclose(bias, np.concatenate([i, f + 0.75, j, o]), rtol=1e-6)
    ki, kj, kf, ko = np.split(variables["kernel"], 4, axis=1)
    kernel = np.concatenate([ki, kf, kj, ko], axis=1)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(cell.kernel), kernel[:1], rtol=1e-6
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(cell.recurrent_kernel), kernel[1:], rtol=1e-6
    )


def test_scoped_names_and_layers_are_accepted():
    variables = {f"rnn/lstm_cell/{k}:0": v for k, v in _variables(num_proj=2).items()}
    layer = PeepholeLSTM(4, num_proj=2)
    tf1.set_lstm_weights(layer, variables)
    assert layer.cell.built
    out = layer(np.ones((1, 5, 3), "float32"))
    assert out.shape == (1, 2)


def test_the_built_input_size_is_kept():
    cell = PeepholeLSTMCell(4)
    cell.build((None, 3))
    with pytest.raises(
        ValueError, match=r"'kernel' has shape \(9, 16\); the cell needs \(7, 16\)"
    ):
        tf1.set_lstm_weights(cell, _variables(input_dim=5))


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda v: v.pop("kernel"), r"`variables` has no 'kernel'"),
        (
            lambda v: v.pop("w_f_diag"),
            r"`variables` has no 'w_f_diag', needed because use_peepholes",
        ),
        (
            lambda v: v.update(bias=np.zeros(3)),
            r"'bias' has shape \(3,\); the cell needs \(16,\)",
        ),
        (
            lambda v: v.update(w_o_diag=np.zeros(5)),
            r"'w_o_diag' has shape \(5,\); the cell needs \(4,\)",
        ),
        (
            lambda v: v.update({"projection/kernel": np.zeros((4, 2))}),
            r"holds \['projection/kernel'\], which this cell has no place for",
        ),
        (
            lambda v: v.update(momentum=np.zeros(2)),
            r"Unknown TF1 LSTMCell variable 'momentum'",
        ),
        (
            lambda v: v.update({"a/kernel": v["kernel"]}),
            r"Two entries of `variables` map to 'kernel'",
        ),
    ],
)
def test_bad_variables_are_explained(mutate, match):
    variables = _variables()
    mutate(variables)
    with pytest.raises(ValueError, match=match):
        tf1.set_lstm_weights(PeepholeLSTMCell(4), variables)


def test_bad_cells_are_refused():
    with pytest.raises(
        TypeError, match=r"`cell` must be a `keras_rnnkit.PeepholeLSTMCell`"
    ):
        tf1.set_lstm_weights(keras.layers.LSTMCell(4), _variables())
    with pytest.raises(ValueError, match=r"use_bias=False"):
        tf1.set_lstm_weights(PeepholeLSTMCell(4, use_bias=False), _variables())
    with pytest.raises(ValueError, match=r"is not built yet"):
        tf1.get_lstm_weights(PeepholeLSTMCell(4))
