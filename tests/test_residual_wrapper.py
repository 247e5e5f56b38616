"""ResidualWrapper: contract, TF1 oracle, size checks."""

import keras
import numpy as np
import pytest
from contract import Case, ContractTests
from helpers import compare_with_tf1, draw_lengths, lstm_spec
from hypothesis import given
from hypothesis import strategies as st

from keras_rnnkit import DynamicRNN, PeepholeLSTMCell, ResidualWrapper


class TestResidualWrapperContract(ContractTests):
    cases = [
        Case(
            "gru",
            lambda units, dtype=None, **kw: DynamicRNN(
                ResidualWrapper(keras.layers.GRUCell(units, dtype=dtype), dtype=dtype),
                dtype=dtype,
                **kw,
            ),
            features=4,
        ),
        Case(
            "peephole-sequences",
            lambda units, dtype=None, **kw: DynamicRNN(
                ResidualWrapper(PeepholeLSTMCell(units, dtype=dtype), dtype=dtype),
                return_sequences=True,
                dtype=dtype,
                **kw,
            ),
            features=4,
        ),
    ]

    # Residual sizes must match: the shapes property draws features = units.
    def test_symbolic_shapes_equal_eager(self, case):
        for batch, timesteps, units in [(1, 1, 1), (3, 4, 5), (2, 6, 2)]:
            layer = case.make(units)
            symbolic = layer(keras.Input(batch_shape=(batch, timesteps, units)))
            eager = layer(np.ones((batch, timesteps, units), "float32"))
            assert tuple(symbolic.shape) == tuple(eager.shape)


@given(
    data=st.data(),
    units=st.integers(1, 5),
    batch=st.integers(1, 3),
    timesteps=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_matches_tf1_residual_wrapper(tf1_oracle, data, units, batch, timesteps, seed):
    rng = np.random.default_rng(seed)
    lengths = draw_lengths(data, batch, timesteps)
    spec = {
        "type": "residual",
        "cell": lstm_spec(rng, units, units, use_peepholes=True),
    }
    x = rng.normal(size=(batch, timesteps, units))
    compare_with_tf1(tf1_oracle, spec, x, lengths)


def test_output_is_input_plus_cell_output():
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    inner = keras.layers.SimpleRNNCell(3)
    got = keras.layers.RNN(ResidualWrapper(inner), return_sequences=True)(x)
    plain = keras.layers.RNN(keras.layers.SimpleRNNCell(3), return_sequences=True)
    plain.build(x.shape)
    plain.set_weights(inner.get_weights())
    want = x + keras.ops.convert_to_numpy(plain(x))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_mismatched_sizes_are_refused_at_build():
    layer = keras.layers.RNN(ResidualWrapper(keras.layers.LSTMCell(4)))
    with pytest.raises(ValueError, match=r"inputs with 3 features, cell output_size=4"):
        layer(np.zeros((2, 5, 3), "float32"))


def test_non_cells_are_refused():
    with pytest.raises(ValueError, match=r"Argument `cell` must be a Keras RNN cell"):
        ResidualWrapper(keras.layers.Dense(2))
