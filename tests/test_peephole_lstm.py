"""PeepholeLSTMCell and PeepholeLSTM: contract, TF1 oracle, golden numbers."""

import keras
import numpy as np
import pytest
from contract import Case, ContractTests
from hypothesis import given
from hypothesis import strategies as st

from keras_rnnkit import PeepholeLSTM, PeepholeLSTMCell, tf1


def _cell_layer(**cell_kwargs):
    def make(units, dtype=None, **kwargs):
        cell = PeepholeLSTMCell(units, dtype=dtype, **cell_kwargs)
        return keras.layers.RNN(cell, dtype=dtype, **kwargs)

    return make


class TestPeepholeLSTMContract(ContractTests):
    cases = [
        Case("layer", lambda units, **kw: PeepholeLSTM(units, **kw)),
        Case(
            "layer-proj-clip-sequences-state",
            lambda units, **kw: PeepholeLSTM(
                units,
                num_proj=max(units - 1, 1),
                cell_clip=0.5,
                proj_clip=0.3,
                forget_bias=1.0,
                return_sequences=True,
                return_state=True,
                **kw,
            ),
        ),
        Case(
            "layer-dropout",
            lambda units, **kw: PeepholeLSTM(
                units, dropout=0.3, recurrent_dropout=0.4, seed=3, **kw
            ),
            stochastic=True,
        ),
        Case("cell-in-rnn", _cell_layer(num_proj=2, cell_clip=1.0)),
    ]
