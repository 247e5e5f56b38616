"""Wrappers nest in any order and live in RNN, Bidirectional and stacks."""

import keras
import numpy as np
from contract import Case, ContractTests

from keras_rnnkit import (
    DropoutWrapper,
    DynamicRNN,
    MultiRNNCell,
    OutputProjectionWrapper,
    PeepholeLSTMCell,
    ResidualWrapper,
)


def _dropout_projection_peephole(units, dtype=None, **kwargs):
    cell = DropoutWrapper(
        OutputProjectionWrapper(
            PeepholeLSTMCell(units, num_proj=3, cell_clip=2.0, dtype=dtype),
            4,
            dtype=dtype,
        ),
        input_rate=0.1,
        output_rate=0.2,
        dtype=dtype,
    )
    return DynamicRNN(cell, dtype=dtype, **kwargs)


def _deep_residual_stack(units, dtype=None, **kwargs):
    # The GNMT shape: a bottom layer, then residual layers, dropout between.
    cells = [
        DropoutWrapper(
            keras.layers.LSTMCell(5, dtype=dtype), output_rate=0.2, dtype=dtype
        ),
        ResidualWrapper(
            DropoutWrapper(
                PeepholeLSTMCell(5, dtype=dtype), state_rate=0.2, dtype=dtype
            ),
            dtype=dtype,
        ),
        ResidualWrapper(keras.layers.GRUCell(5, dtype=dtype), dtype=dtype),
    ]
    return DynamicRNN(
        MultiRNNCell(cells, dtype=dtype), return_sequences=True, dtype=dtype, **kwargs
    )


def _bidirectional(units, dtype=None, **kwargs):
    cell = DropoutWrapper(
        ResidualWrapper(PeepholeLSTMCell(3, dtype=dtype), dtype=dtype),
        output_rate=0.3,
        dtype=dtype,
    )
    return keras.layers.Bidirectional(
        DynamicRNN(cell, dtype=dtype), dtype=dtype, **kwargs
    )


def _multi_of_wrappers_concatenated(units, dtype=None, **kwargs):
    cells = [
        OutputProjectionWrapper(
            keras.layers.GRUCell(units, dtype=dtype), 2, dtype=dtype
        ),
        DropoutWrapper(
            MultiRNNCell([keras.layers.LSTMCell(units, dtype=dtype)], dtype=dtype),
            state_rate=0.3,
            dtype=dtype,
        ),
    ]
    cell = MultiRNNCell(cells, state_is_tuple=False, dtype=dtype)
    return DynamicRNN(cell, return_state=True, dtype=dtype, **kwargs)


class TestCompositionContract(ContractTests):
    cases = [
        Case(
            "dropout(projection(peephole))",
            _dropout_projection_peephole,
            stochastic=True,
        ),
        Case(
            "multi(dropout, residual(dropout), residual)",
            _deep_residual_stack,
            features=5,
            stochastic=True,
        ),
        Case(
            "bidirectional(dropout(residual(peephole)))",
            _bidirectional,
            stochastic=True,
        ),
        Case(
            "multi(projection, dropout(multi)) concatenated",
            _multi_of_wrappers_concatenated,
            stochastic=True,
        ),
    ]

    def test_symbolic_shapes_equal_eager(self, case):
        # Residual sizes are fixed by the cases; draw batch and length only.
        for batch, timesteps in [(1, 1), (3, 4)]:
            layer = case.layer()
            symbolic = layer(keras.Input(batch_shape=(batch, timesteps, case.features)))
            eager = layer(np.ones((batch, timesteps, case.features), "float32"))
            got = [tuple(t.shape) for t in keras.tree.flatten(symbolic)]
            assert got == [tuple(t.shape) for t in keras.tree.flatten(eager)]


def test_nested_masks_are_all_drawn_before_the_loop():
    cell = DropoutWrapper(
        MultiRNNCell(
            [
                keras.layers.LSTMCell(4, dropout=0.5, recurrent_dropout=0.5),
                DropoutWrapper(keras.layers.GRUCell(3, dropout=0.5), input_rate=0.5),
            ]
        ),
        output_rate=0.5,
    )
    layer = keras.layers.RNN(cell)
    seen = []
    inner_lstm, inner_wrapper = cell.cell.cells
    original = inner_wrapper._draw_masks

    def spy(step_input):
        seen.append(tuple(step_input.shape))
        return original(step_input)

    inner_wrapper._draw_masks = spy
    layer(np.ones((2, 5, 6), "float32"), training=True)
    # The inner wrapper drew once, for a step input shaped like the LSTM's
    # output (batch, 4), not once per step.
    assert seen == [(2, 4)]
    assert inner_wrapper._masks is None and inner_lstm._dropout_mask is None
