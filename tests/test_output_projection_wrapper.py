"""OutputProjectionWrapper: contract, TF1 oracle, equal to a Dense afterwards."""

import keras
import numpy as np
import pytest
from contract import Case, ContractTests
from helpers import compare_with_tf1, draw_lengths, lstm_spec, rnn_factory
from hypothesis import given
from hypothesis import strategies as st

from keras_rnnkit import OutputProjectionWrapper, PeepholeLSTMCell


class TestOutputProjectionWrapperContract(ContractTests):
    cases = [
        Case(
            "lstm",
            rnn_factory(
                lambda units, dtype: OutputProjectionWrapper(
                    keras.layers.LSTMCell(units, dtype=dtype), 3, dtype=dtype
                )
            ),
        ),
        Case(
            "peephole-proj-tanh-sequences-state",
            rnn_factory(
                lambda units, dtype: OutputProjectionWrapper(
                    PeepholeLSTMCell(units, num_proj=2, dtype=dtype),
                    5,
                    activation="tanh",
                    dtype=dtype,
                ),
                return_sequences=True,
                return_state=True,
            ),
        ),
    ]


@given(
    data=st.data(),
    units=st.integers(1, 5),
    output_size=st.integers(1, 4),
    batch=st.integers(1, 3),
    timesteps=st.integers(1, 6),
    input_dim=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_matches_tf1_output_projection_wrapper(
    tf1_oracle, data, units, output_size, batch, timesteps, input_dim, seed
):
    rng = np.random.default_rng(seed)
    lengths = draw_lengths(data, batch, timesteps)
    spec = {
        "type": "projection",
        "cell": lstm_spec(rng, input_dim, units, use_peepholes=True, cell_clip=1.0),
        "kernel": rng.normal(size=(units, output_size)),
        "bias": rng.normal(size=(output_size,)),
    }
    x = rng.normal(size=(batch, timesteps, input_dim))
    compare_with_tf1(tf1_oracle, spec, x, lengths)


@pytest.mark.parametrize("activation", [None, "relu"])
def test_equals_dense_on_the_sequence_output(activation):
    # The tutorial's alternative: run the plain RNN, then one Dense over all
    # steps ("reshape, dense, reshape"). Same weights, same numbers.
    x = np.random.default_rng(0).normal(size=(4, 7, 3)).astype("float32")
    cell = keras.layers.LSTMCell(6)
    wrapped = keras.layers.RNN(
        OutputProjectionWrapper(cell, 2, activation=activation), return_sequences=True
    )
    got = wrapped(x)
    plain = keras.layers.RNN(keras.layers.LSTMCell(6), return_sequences=True)
    dense = keras.layers.Dense(2, activation=activation)
    plain.build(x.shape)
    dense.build((None, 7, 6))
    plain.set_weights(cell.get_weights())
    dense.set_weights(
        [
            keras.ops.convert_to_numpy(w)
            for w in (wrapped.cell.kernel, wrapped.cell.bias)
        ]
    )
    want = dense(plain(x))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_states_are_untouched():
    x = np.random.default_rng(1).normal(size=(2, 5, 3)).astype("float32")
    inner = keras.layers.GRUCell(4)
    wrapped = keras.layers.RNN(OutputProjectionWrapper(inner, 1), return_state=True)
    _, state = wrapped(x)
    plain = keras.layers.RNN(keras.layers.GRUCell(4), return_state=True)
    plain.build(x.shape)
    plain.set_weights(inner.get_weights())
    output, want = plain(x)
    np.testing.assert_allclose(state, want, rtol=1e-6)
    np.testing.assert_allclose(state, output, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            {"output_size": 0},
            r"`output_size` must be a positive integer. Received: output_size=0",
        ),
        ({"output_size": -2}, r"output_size=-2"),
        ({"output_size": 1.5}, r"output_size=1.5"),
    ],
)
def test_bad_output_size(kwargs, match):
    with pytest.raises(ValueError, match=match):
        OutputProjectionWrapper(keras.layers.LSTMCell(2), **kwargs)


@pytest.mark.parametrize(
    "cell", [None, "lstm", keras.layers.Dense(3), keras.layers.LSTM(3)], ids=str
)
def test_non_cells_are_refused(cell):
    with pytest.raises(ValueError, match=r"Argument `cell` must be a"):
        OutputProjectionWrapper(cell, 2)
