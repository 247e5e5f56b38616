"""ZoneoutWrapper: the kept fraction, exact old values, the expected mix at
inference (against the wrapped cell stepped by hand), per-step masks under
JAX's jit, errors."""

import keras
import numpy as np
import pytest
from contract import Case, ContractTests
from helpers import rnn_factory
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_rnnkit import DynamicRNN, MultiRNNCell, PeepholeLSTMCell, ZoneoutWrapper


class TestZoneoutWrapperContract(ContractTests):
    cases = [
        Case(
            "lstm-h-and-c",
            rnn_factory(
                lambda units, dtype: ZoneoutWrapper(
                    keras.layers.LSTMCell(units, dtype=dtype),
                    zoneout_h=0.3,
                    zoneout_c=0.4,
                    seed=5,
                    dtype=dtype,
                ),
                return_sequences=True,
                return_state=True,
            ),
            stochastic=True,
        ),
    ]


class CounterCell(keras.layers.Layer):
    """Adds 1 to every unit of its state at each step; outputs the state."""

    def __init__(self, size, **kwargs):
        super().__init__(**kwargs)
        self.state_size = size
        self.output_size = size

    def call(self, inputs, states):
        new = states[0] + 1.0
        return new, [new]


def _counts(rate, batch=400, timesteps=6, size=25, training=True, layer_cls=None):
    wrapper = ZoneoutWrapper(CounterCell(size), zoneout_h=rate, seed=7)
    layer = (layer_cls or DynamicRNN)(wrapper, return_sequences=True)
    x = np.zeros((batch, timesteps, 1), "float32")
    return keras.ops.convert_to_numpy(layer(x, training=training))


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_each_unit_keeps_its_old_value_with_the_rate_per_step(rate):
    wrapper = ZoneoutWrapper(CounterCell(25), zoneout_h=rate, seed=7)
    layer = DynamicRNN(wrapper, return_sequences=True, return_state=True)
    x = np.zeros((400, 6, 1), "float32")
    outputs, state = [keras.ops.convert_to_numpy(t) for t in layer(x, training=True)]
    # The final state counts the steps at which the unit was not zoned out.
    assert abs(state.mean() - 6 * (1 - rate)) < 0.05
    assert set(np.unique(state)) <= set(range(7))
    # Each output is the cell's own (old state + 1, not zoned out: a
    # CounterCell's output is not its state), so it moves by 0 or 1.
    moved = np.diff(outputs, axis=1)
    assert set(np.unique(moved)) <= {0.0, 1.0}
    assert abs(moved.mean() - (1 - rate)) < 0.03


def test_kept_units_differ_by_step_and_row():
    size, timesteps = 40, 8
    wrapper = ZoneoutWrapper(keras.layers.SimpleRNNCell(size), zoneout_h=0.5, seed=2)
    layer = DynamicRNN(wrapper, return_sequences=True)
    x = np.random.default_rng(0).normal(size=(64, timesteps, 3)).astype("float32")
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    kept = out[:, 1:] == out[:, :-1]  # a zoned-out unit repeats its value
    assert abs(kept.mean() - 0.5) < 0.03
    assert not np.all(kept[:, 1:] == kept[:, :1])  # new masks at every step
    assert not np.all(kept == kept[:1])  # and in every row


def test_inference_is_the_expected_mix_of_old_and_new():
    layer = DynamicRNN(
        ZoneoutWrapper(CounterCell(3), zoneout_h=0.3), return_sequences=True
    )
    x = np.zeros((2, 6, 1), "float32")
    outputs = keras.ops.convert_to_numpy(layer(x))
    # state_t = 0.3 * state_{t-1} + 0.7 * (state_{t-1} + 1); output = old + 1
    np.testing.assert_allclose(outputs[:, -1], 5 * 0.7 + 1, rtol=1e-6)


@settings(max_examples=6, deadline=None)
@given(
    zoneout_h=st.sampled_from([0.0, 0.2, 0.6]),
    zoneout_c=st.sampled_from([0.0, 0.35]),
    lengths=st.lists(st.integers(0, 5), min_size=3, max_size=3),
    peephole=st.booleans(),
)
def test_inference_matches_the_cell_stepped_by_hand(
    zoneout_h, zoneout_c, lengths, peephole
):
    units, timesteps = 4, 5
    inner = (
        PeepholeLSTMCell(units, num_proj=3)
        if peephole
        else keras.layers.LSTMCell(units)
    )
    layer = DynamicRNN(
        ZoneoutWrapper(inner, zoneout_h=zoneout_h, zoneout_c=zoneout_c),
        return_sequences=True,
        return_state=True,
    )
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, timesteps, 2)).astype("float32")
    lengths = np.array(lengths)
    outputs, h, c = [
        keras.ops.convert_to_numpy(t) for t in layer(x, sequence_length=lengths)
    ]
    h_size = 3 if peephole else units
    want_h, want_c = np.zeros((3, h_size)), np.zeros((3, units))
    want_outputs = np.zeros((3, timesteps, h_size))
    for t in range(timesteps):
        new_out, (new_h, new_c) = inner(x[:, t], [want_h, want_c])
        new_h = zoneout_h * want_h + (1 - zoneout_h) * np.asarray(new_h)
        new_c = zoneout_c * want_c + (1 - zoneout_c) * np.asarray(new_c)
        valid = (t < lengths)[:, None]
        want_outputs[:, t] = np.where(valid, new_h, 0.0)
        want_h = np.where(valid, new_h, want_h).astype("float32")
        want_c = np.where(valid, new_c, want_c).astype("float32")
    np.testing.assert_allclose(outputs, want_outputs, atol=1e-6)
    np.testing.assert_allclose(h, want_h, atol=1e-6)
    np.testing.assert_allclose(c, want_c, atol=1e-6)


def test_zero_rates_are_the_cell_itself_in_training():
    inner = keras.layers.GRUCell(5)
    x = np.random.default_rng(2).normal(size=(3, 4, 2)).astype("float32")
    plain = DynamicRNN(inner, return_sequences=True)
    wrapped = DynamicRNN(ZoneoutWrapper(inner), return_sequences=True)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(wrapped(x, training=True)),
        keras.ops.convert_to_numpy(plain(x, training=True)),
        rtol=1e-6,
    )


def test_per_layer_inside_a_multi_rnn_cell():
    cells = [
        ZoneoutWrapper(keras.layers.LSTMCell(6), zoneout_h=0.2, zoneout_c=0.5, seed=i)
        for i in range(2)
    ]
    layer = DynamicRNN(MultiRNNCell(cells), return_sequences=True)
    x = np.random.default_rng(3).normal(size=(8, 7, 3)).astype("float32")
    train = keras.ops.convert_to_numpy(layer(x, training=True))
    again = keras.ops.convert_to_numpy(layer(x, training=True))
    assert not np.allclose(train, again)
    kept = train[:, 1:] == train[:, :-1]
    assert 0.1 < kept.mean() < 0.3


def test_keras_rnn_draws_per_step_except_on_jax():
    if keras.backend.backend() == "jax":
        with pytest.raises(RuntimeError, match="ZoneoutWrapper.*DynamicRNN"):
            _counts(0.5, batch=2, layer_cls=keras.layers.RNN)
        return
    counts = _counts(0.5, batch=200, layer_cls=keras.layers.RNN)
    state_moved = np.diff(counts, axis=1)
    assert set(np.unique(state_moved)) <= {0.0, 1.0}
    assert 0.4 < state_moved.mean() < 0.6


def test_trains_under_jit_and_reloads(tmp_path):
    inputs = keras.Input((5, 3))
    cell = ZoneoutWrapper(keras.layers.LSTMCell(6), zoneout_h=0.1, zoneout_c=0.3)
    hidden = DynamicRNN(cell)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(hidden))
    model.compile("adam", "mse", jit_compile=keras.backend.backend() != "torch")
    rng = np.random.default_rng(4)
    x = rng.normal(size=(32, 5, 3)).astype("float32")
    history = model.fit(x, x[:, -1, :1], epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    path = tmp_path / "zoneout.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        reloaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6
    )
    assert reloaded.layers[1].cell.zoneout_c == 0.3


@pytest.mark.parametrize("value", [1.0, -0.1, "0.5", True])
@pytest.mark.parametrize("name", ["zoneout_h", "zoneout_c"])
def test_rates_outside_zero_one_are_refused(name, value):
    with pytest.raises(ValueError, match=f"`{name}` must be a float in \\[0, 1\\)"):
        ZoneoutWrapper(keras.layers.LSTMCell(2), **{name: value})


def test_zoneout_c_on_a_cell_without_carry_is_refused():
    with pytest.raises(ValueError, match="zoneout_c.*GRUCell.*no carry"):
        ZoneoutWrapper(keras.layers.GRUCell(2), zoneout_c=0.2)


def test_integer_step_inputs_are_refused_by_name():
    wrapper = ZoneoutWrapper(keras.layers.GRUCell(2), zoneout_h=0.2)
    with pytest.raises(TypeError, match="ZoneoutWrapper"):
        wrapper(np.ones((1, 3), "int32"), [np.zeros((1, 2), "float32")])
