"""MultiRNNCell: contract, TF1 oracle, concatenated states, errors."""

import keras
import numpy as np
import pytest
from contract import Case, ContractTests
from helpers import compare_with_tf1, draw_lengths, lstm_spec
from hypothesis import given
from hypothesis import strategies as st

from keras_rnnkit import DropoutWrapper, DynamicRNN, MultiRNNCell, PeepholeLSTMCell


def _stack(state_is_tuple, **rnn_kwargs):
    def make(units, dtype=None, **kwargs):
        cells = [
            keras.layers.LSTMCell(units, dtype=dtype),
            PeepholeLSTMCell(units + 1, num_proj=2, dtype=dtype),
            keras.layers.GRUCell(units, dtype=dtype),
        ]
        cell = MultiRNNCell(cells, state_is_tuple=state_is_tuple, dtype=dtype)
        return DynamicRNN(cell, dtype=dtype, **rnn_kwargs, **kwargs)

    return make


class TestMultiRNNCellContract(ContractTests):
    cases = [
        Case("tuple-states", _stack(True, return_state=True)),
        Case(
            "concatenated-sequences",
            _stack(False, return_sequences=True, return_state=True),
        ),
        Case(
            "dropout-inside",
            lambda units, dtype=None, **kw: DynamicRNN(
                MultiRNNCell(
                    [
                        keras.layers.LSTMCell(
                            units, dropout=0.3, recurrent_dropout=0.3, dtype=dtype
                        ),
                        PeepholeLSTMCell(units, dropout=0.3, dtype=dtype),
                    ],
                    dtype=dtype,
                ),
                dtype=dtype,
                **kw,
            ),
            stochastic=True,
        ),
    ]


@given(
    data=st.data(),
    layers=st.integers(1, 3),
    batch=st.integers(1, 3),
    timesteps=st.integers(1, 5),
    input_dim=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_matches_tf1_multi_rnn_cell(
    tf1_oracle, data, layers, batch, timesteps, input_dim, seed
):
    rng = np.random.default_rng(seed)
    lengths = draw_lengths(data, batch, timesteps)
    cells, dim = [], input_dim
    for _ in range(layers):
        units = data.draw(st.integers(1, 5))
        num_proj = data.draw(st.one_of(st.none(), st.integers(1, 3)))
        cells.append(lstm_spec(rng, dim, units, use_peepholes=True, num_proj=num_proj))
        dim = num_proj or units
    spec = {"type": "multi", "cells": cells}
    x = rng.normal(size=(batch, timesteps, input_dim))
    compare_with_tf1(tf1_oracle, spec, x, lengths)


def test_concatenated_state_is_the_tuple_states_concatenated():
    x = np.random.default_rng(0).normal(size=(3, 5, 2)).astype("float32")
    tuple_layer = keras.layers.RNN(_cells(), return_state=True)
    _, *states = tuple_layer(x)
    flat_layer = keras.layers.RNN(
        MultiRNNCell(_cells().cells, state_is_tuple=False), return_state=True
    )
    flat_layer.build(x.shape)
    flat_layer.set_weights(tuple_layer.get_weights())
    out, state = flat_layer(x)
    want = np.concatenate(
        [keras.ops.convert_to_numpy(s) for s in keras.tree.flatten(states)], -1
    )
    assert state.shape == (3, flat_layer.cell.state_size) == (3, 4 + 4 + 3)
    np.testing.assert_allclose(state, want, rtol=1e-6)
    # The concatenated state feeds the next call as an initial state.
    again = flat_layer(x, initial_state=state)[1]
    assert not np.allclose(again, state)


def _cells():
    return MultiRNNCell([keras.layers.LSTMCell(4), keras.layers.GRUCell(3)])


def test_equals_keras_stacked_rnn_cells():
    x = np.random.default_rng(1).normal(size=(2, 6, 3)).astype("float32")
    ours = keras.layers.RNN(_cells(), return_sequences=True)
    theirs = keras.layers.RNN(
        [keras.layers.LSTMCell(4), keras.layers.GRUCell(3)], return_sequences=True
    )
    want = theirs(x)
    ours.build(x.shape)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours(x), want, rtol=1e-6)


def test_the_same_cell_twice_is_refused():
    cell = keras.layers.LSTMCell(4)
    with pytest.raises(
        ValueError,
        match=r"cells\[1\] contains a cell already in cells\[0\].*share one set of weights",
    ):
        MultiRNNCell([cell, cell])
    with pytest.raises(
        ValueError, match=r"cells\[2\] contains a cell already in cells\[0\]"
    ):
        MultiRNNCell([cell, keras.layers.GRUCell(2), cell])
    # The TF1 habit in its wrapped form: one cell inside every wrapper.
    with pytest.raises(
        ValueError, match=r"cells\[1\] contains a cell already in cells\[0\]"
    ):
        MultiRNNCell([DropoutWrapper(cell, output_rate=0.5) for _ in range(2)])


@pytest.mark.parametrize("cells", [[], (), None, keras.layers.LSTMCell(2)], ids=str)
def test_cells_must_be_a_non_empty_list(cells):
    with pytest.raises(
        ValueError, match=r"`cells` must be a non-empty list of RNN cells"
    ):
        MultiRNNCell(cells)


def test_non_cells_are_refused():
    with pytest.raises(
        ValueError, match=r"Argument `cells\[1\]` must be a Keras RNN cell"
    ):
        MultiRNNCell([keras.layers.LSTMCell(2), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"`state_is_tuple` must be True or False"):
        MultiRNNCell([keras.layers.LSTMCell(2)], state_is_tuple=1)
