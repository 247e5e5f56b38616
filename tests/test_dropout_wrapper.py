"""DropoutWrapper: statistics, variational masks, inference, TF1, errors."""

import keras
import numpy as np
import pytest
from contract import Case, ContractTests
from helpers import IdentityCell, compare_with_tf1, draw_lengths, lstm_spec, rnn_factory
from hypothesis import given
from hypothesis import strategies as st

from keras_rnnkit import DropoutWrapper, DynamicRNN, MultiRNNCell, PeepholeLSTMCell


class TestDropoutWrapperContract(ContractTests):
    cases = [
        Case(
            "lstm-all-rates",
            rnn_factory(
                lambda units, dtype: DropoutWrapper(
                    keras.layers.LSTMCell(units, dtype=dtype),
                    input_rate=0.2,
                    state_rate=0.3,
                    output_rate=0.4,
                    seed=5,
                    dtype=dtype,
                )
            ),
            stochastic=True,
        ),
        Case(
            "peephole-in-cell-dropout-too-sequences",
            rnn_factory(
                lambda units, dtype: DropoutWrapper(
                    PeepholeLSTMCell(
                        units,
                        num_proj=2,
                        dropout=0.2,
                        recurrent_dropout=0.2,
                        dtype=dtype,
                    ),
                    output_keep_prob=0.7,
                    dtype=dtype,
                ),
                return_sequences=True,
                return_state=True,
            ),
            stochastic=True,
        ),
        Case(
            "rates-zero",
            rnn_factory(
                lambda units, dtype: DropoutWrapper(
                    keras.layers.GRUCell(units, dtype=dtype), dtype=dtype
                )
            ),
        ),
    ]


def _identity_outputs(wrapper, batch=2000, timesteps=4, size=50, training=True):
    layer = keras.layers.RNN(wrapper, return_sequences=True)
    x = np.ones((batch, timesteps, size), "float32")
    return keras.ops.convert_to_numpy(layer(x, training=training))


@pytest.mark.parametrize("place", ["input", "output"])
@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_dropped_fraction_and_scaling(place, rate):
    wrapper = DropoutWrapper(IdentityCell(50), **{f"{place}_rate": rate}, seed=3)
    out = _identity_outputs(wrapper)
    dropped = (out == 0).mean()
    # 400,000 draws: the binomial standard deviation is below 0.001.
    assert abs(dropped - rate) < 0.005
    np.testing.assert_allclose(out[out != 0], 1.0 / (1.0 - rate), rtol=1e-6)


def test_state_dropout_scales_the_carried_state():
    # The identity cell's state is its input, so the state mask shows in the
    # final state (returned) but not in the output sequence.
    wrapper = DropoutWrapper(IdentityCell(50), state_rate=0.4, seed=2)
    layer = keras.layers.RNN(wrapper, return_state=True)
    out, state = layer(np.ones((2000, 3, 50), "float32"), training=True)
    state = keras.ops.convert_to_numpy(state)
    assert np.all(keras.ops.convert_to_numpy(out) == 1.0)
    assert abs((state == 0).mean() - 0.4) < 0.005
    np.testing.assert_allclose(state[state != 0], 1 / 0.6, rtol=1e-6)


def test_variational_mask_is_constant_across_steps_and_new_per_batch():
    wrapper = DropoutWrapper(IdentityCell(50), input_rate=0.5, seed=1)
    first = _identity_outputs(wrapper, batch=64, timesteps=6)
    for t in range(1, 6):
        np.testing.assert_array_equal(first[:, t], first[:, 0])
    second = _identity_outputs(wrapper, batch=64, timesteps=6)
    assert not np.array_equal(first, second)
    # Per sample, not shared across the batch (TF1 shared it).
    assert not np.array_equal(first[0, 0], first[1, 0])


@pytest.mark.tf_only
def test_non_variational_mask_changes_every_step():
    wrapper = DropoutWrapper(
        IdentityCell(50), input_rate=0.5, variational=False, seed=1
    )
    out = _identity_outputs(wrapper, batch=64, timesteps=6)
    assert abs((out == 0).mean() - 0.5) < 0.02
    assert not np.array_equal(out[:, 1], out[:, 0])


def test_non_variational_in_keras_rnn_is_refused_on_jax_with_a_clear_error():
    if keras.backend.backend() != "jax":
        pytest.skip("the refusal is JAX-only; other backends draw per step")
    wrapper = DropoutWrapper(IdentityCell(5), input_rate=0.5, variational=False)
    with pytest.raises(RuntimeError, match=r"DropoutWrapper.*DynamicRNN"):
        _identity_outputs(wrapper, batch=2, size=5)


def test_non_variational_in_dynamic_rnn_draws_every_step_before_the_loop():
    # Every backend, JAX's scanned loop included: DynamicRNN draws all steps'
    # numbers before its loop and hands each step its slice.
    wrapper = DropoutWrapper(
        IdentityCell(50), input_rate=0.5, output_rate=0.2, variational=False, seed=1
    )
    layer = DynamicRNN(wrapper, return_sequences=True)
    x = np.ones((64, 6, 50), "float32")
    lengths = np.array([6, 3] * 32)
    out = keras.ops.convert_to_numpy(layer(x, training=True, sequence_length=lengths))
    valid = out[:, :3]
    assert abs((valid == 0).mean() - (1 - 0.5 * 0.8)) < 0.02
    np.testing.assert_allclose(np.unique(valid), [0.0, 1 / (0.5 * 0.8)], rtol=1e-6)
    assert not np.array_equal(out[:, 1] == 0, out[:, 0] == 0)
    assert np.all(out[1::2, 3:] == 0)  # past the length
    again = keras.ops.convert_to_numpy(layer(x, training=True))
    assert not np.array_equal(again[:, :3] == 0, valid == 0)


def test_non_variational_trains_in_a_compiled_fit():
    inputs = keras.Input((6, 5))
    cell = DropoutWrapper(
        keras.layers.GRUCell(8),
        input_rate=0.3,
        state_rate=0.3,
        output_rate=0.2,
        variational=False,
        seed=2,
    )
    model = keras.Model(inputs, keras.layers.Dense(1)(DynamicRNN(cell)(inputs)))
    model.compile("sgd", "mse", jit_compile=keras.backend.backend() != "torch")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 6, 5)).astype("float32")
    before = model.predict(x, verbose=0)
    history = model.fit(x, x[:, -1, :1], epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert not np.allclose(model.predict(x, verbose=0), before)


def test_identity_at_inference_without_rebuilding():
    x = np.random.default_rng(0).normal(size=(3, 5, 4)).astype("float32")
    inner = PeepholeLSTMCell(6)
    wrapped = keras.layers.RNN(
        DropoutWrapper(inner, input_rate=0.5, state_rate=0.5, output_rate=0.5)
    )
    train = wrapped(x, training=True)
    plain = keras.layers.RNN(PeepholeLSTMCell(6))
    plain.build(x.shape)
    plain.set_weights(inner.get_weights())
    assert not np.allclose(train, plain(x))
    # The same wrapped layer, now at inference: exactly the plain cell.
    np.testing.assert_allclose(wrapped(x, training=False), plain(x), rtol=1e-6)
    model = keras.Sequential([keras.Input((5, 4)), wrapped])
    np.testing.assert_allclose(model.predict(x, verbose=0), plain(x), rtol=1e-5)


def test_inference_draws_nothing_and_writes_no_variable():
    # Export formats need a pure inference graph: no random op, no write to a
    # seed generator's state (tf2onnx used to strip AssignVariableOps).
    from keras_rnnkit import BidirectionalEncoder, DynamicRNN, PeepholeLSTM

    tokens = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(50, 8, mask_zero=True)(tokens)
    stack = MultiRNNCell(
        [
            DropoutWrapper(
                PeepholeLSTMCell(6, dropout=0.2),
                input_rate=0.3,
                state_rate=0.2,
                output_rate=0.3,
                seed=2,
            ),
            DropoutWrapper(keras.layers.GRUCell(5, dropout=0.1), output_rate=0.2),
        ]
    )
    outputs = [
        BidirectionalEncoder(stack)(x),
        PeepholeLSTM(4, dropout=0.3, recurrent_dropout=0.3)(x),
        DynamicRNN(DropoutWrapper(keras.layers.GRUCell(3), input_rate=0.5))(x),
    ]
    model = keras.Model(tokens, outputs)
    data = np.random.default_rng(0).integers(1, 50, (3, 7))
    data[1, 4:] = 0

    def seeds():
        return [
            keras.ops.convert_to_numpy(v).copy() for v in model.non_trainable_variables
        ]

    before = seeds()
    assert before, "the model should have seed generators"
    model(data, training=False)
    model.predict(data, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, seeds(), strict=True))
    model(data, training=True)  # while training, masks are drawn
    assert not all(np.array_equal(a, b) for a, b in zip(before, seeds(), strict=True))


def test_reproducible_with_a_seed():
    x = np.ones((8, 4, 3), "float32")
    outs = []
    for _ in range(2):
        keras.utils.set_random_seed(0)  # same initial weights
        layer = keras.layers.RNN(
            DropoutWrapper(
                keras.layers.GRUCell(5), input_rate=0.3, output_rate=0.3, seed=42
            )
        )
        outs.append(keras.ops.convert_to_numpy(layer(x, training=True)))
    np.testing.assert_array_equal(outs[0], outs[1])


def test_lstm_carry_is_never_dropped():
    x = np.random.default_rng(0).normal(size=(64, 1, 3)).astype("float32")
    inner = keras.layers.LSTMCell(20)
    layer = keras.layers.RNN(
        DropoutWrapper(inner, state_rate=0.5, seed=0), return_state=True
    )
    _, h, c = layer(x, training=True)
    plain = keras.layers.RNN(keras.layers.LSTMCell(20), return_state=True)
    plain.build(x.shape)
    plain.set_weights(inner.get_weights())
    _, h_want, c_want = plain(x)
    np.testing.assert_allclose(c, c_want, rtol=1e-6)  # carry untouched
    h = keras.ops.convert_to_numpy(h)
    assert 0.3 < (h == 0).mean() < 0.7  # h dropped
    np.testing.assert_allclose(
        h[h != 0], 2 * keras.ops.convert_to_numpy(h_want)[h != 0], rtol=1e-5
    )


def test_state_dropout_around_a_keras_stack():
    stack = keras.layers.StackedRNNCells(
        [keras.layers.LSTMCell(3), keras.layers.GRUCell(2)]
    )
    layer = keras.layers.RNN(
        DropoutWrapper(stack, state_rate=0.5, seed=1), return_state=True
    )
    out, (h1, c1), h2 = layer(np.ones((64, 2, 4), "float32"), training=True)
    assert (keras.ops.convert_to_numpy(h1) == 0).any()  # h dropped
    assert not (keras.ops.convert_to_numpy(c1) == 0).any()  # carry untouched


@given(
    data=st.data(),
    units=st.integers(1, 5),
    batch=st.integers(1, 3),
    timesteps=st.integers(1, 5),
    input_dim=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_keep_probability_one_matches_tf1(
    tf1_oracle, data, units, batch, timesteps, input_dim, seed
):
    rng = np.random.default_rng(seed)
    lengths = draw_lengths(data, batch, timesteps)
    spec = {
        "type": "dropout",
        "cell": lstm_spec(rng, input_dim, units, use_peepholes=True),
        "input_keep_prob": 1.0,
        "state_keep_prob": 1.0,
        "output_keep_prob": 1.0,
    }
    x = rng.normal(size=(batch, timesteps, input_dim))
    compare_with_tf1(tf1_oracle, spec, x, lengths, training=True)


def test_keep_prob_spelling_maps_to_rates():
    wrapper = DropoutWrapper(
        keras.layers.GRUCell(2),
        input_keep_prob=0.8,
        state_keep_prob=1.0,
        output_keep_prob=0.25,
    )
    assert (
        wrapper.input_rate,
        wrapper.state_rate,
        wrapper.output_rate,
    ) == pytest.approx((0.2, 0.0, 0.75))
    config = wrapper.get_config()
    assert "input_keep_prob" not in config and config["output_rate"] == pytest.approx(
        0.75
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            {"input_rate": 1.0},
            r"`input_rate` must be a float in \[0, 1\). Received: input_rate=1.0",
        ),
        ({"state_rate": -0.2}, r"state_rate=-0.2"),
        ({"output_rate": 2}, r"output_rate=2"),
        (
            {"input_keep_prob": 0.0},
            r"`input_keep_prob` must be a float in \(0, 1\]. Received: input_keep_prob=0.0",
        ),
        ({"output_keep_prob": 1.5}, r"output_keep_prob=1.5"),
        (
            {"state_rate": 0.1, "state_keep_prob": 0.9},
            r"either `state_rate` or TF1's `state_keep_prob`",
        ),
        ({"variational": "yes"}, r"`variational` must be True or False"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DropoutWrapper(keras.layers.GRUCell(2), **kwargs)


def test_non_cells_are_refused():
    with pytest.raises(
        ValueError, match=r"Argument `cell` must be a Keras RNN cell.*Received: cell=3"
    ):
        DropoutWrapper(3)


def test_masks_of_a_list_of_cells_are_drawn_once_per_sequence():
    # DynamicRNN stacks a list as keras.layers.StackedRNNCells and draws each
    # cell's masks before its loop: variational masks stay the same at every
    # step, per-step ones change (on JAX too, in the compiled loop).
    cells = [
        DropoutWrapper(IdentityCell(40), output_rate=0.5, seed=1),
        DropoutWrapper(IdentityCell(40), input_rate=0.3, variational=False, seed=2),
    ]
    layer = DynamicRNN(cells, return_sequences=True)
    x = np.ones((32, 5, 40), "float32")
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    first_dropped = np.all(out == 0, axis=1)  # dropped by the variational mask
    assert abs(first_dropped.mean() - 0.5) < 0.05
    per_step = (out != 0) & ~first_dropped[:, None, :]
    assert abs(per_step.mean() / (1 - first_dropped.mean()) - 0.7) < 0.05
    assert not np.all(per_step == per_step[:, :1])
