"""Fuzz: a public layer, cell or helper, a valid call, one corruption; the
documented outcome.

Hypothesis draws a layer, a valid batch and one corruption of the call. A
corruption of the data's meaning (wrong rank, integer inputs, no time step,
lengths out of range or of a float dtype, a mask of the wrong shape) must end
as a `ValueError` or `TypeError` whose message names what was wrong; a
corruption of the padding only (NaN or huge values where the mask is False)
must give exactly the result of the clean call, finite. Cells and wrappers
called step by step get a step of the wrong rank or dtype, or states of the
wrong width or count; `tf1.set_lstm_weights` gets variables missing, left over,
misnamed or misshapen, a non-finite `forget_bias`, or the wrong cell: a named
error, and nothing written to the cell.
"""

import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from keras_rnnkit import (
    AttentionPooling,
    BidirectionalEncoder,
    DropoutWrapper,
    DynamicRNN,
    HierarchicalEncoder,
    MultiRNNCell,
    OutputProjectionWrapper,
    PeepholeLSTM,
    PeepholeLSTMCell,
    ResidualWrapper,
    tf1,
)

LAYERS = {
    "dynamic_rnn": lambda: DynamicRNN(keras.layers.GRUCell(3), return_sequences=True),
    "peephole_lstm": lambda: PeepholeLSTM(3, cell_clip=1.0, num_proj=2),
    "bidirectional": lambda: BidirectionalEncoder(keras.layers.LSTMCell(3)),
    "attention": lambda: AttentionPooling(4),
    "hierarchical": lambda: HierarchicalEncoder(
        DynamicRNN(keras.layers.GRUCell(3), return_sequences=True),
        DynamicRNN(keras.layers.GRUCell(3), return_sequences=True),
    ),
}
TAKES_LENGTHS = {"dynamic_rnn", "peephole_lstm", "bidirectional"}

# corruption -> (error type, words the message must contain)
ERRORS = {
    "rank": ((ValueError,), r"ndim|shape|rank|expects"),
    "integer inputs": ((TypeError,), "floating-point"),
    "no time step": ((ValueError,), "at least one time step"),
    "negative length": ((ValueError,), "sequence_length"),
    "length past the end": ((ValueError,), "sequence_length"),
    "float lengths": ((TypeError,), "sequence_length"),
    "mask shape": ((ValueError,), "mask"),
}


def valid_call(name, rng, batch, steps):
    """(inputs, call kwargs, (batch, steps[, words]) validity of the mask)."""
    if name == "hierarchical":
        x = rng.normal(size=(batch, steps, 4, 2)).astype("float32")
        valid = rng.random((batch, steps, 4)) < 0.7
        return x, {"mask": valid}, valid
    x = rng.normal(size=(batch, steps, 2)).astype("float32")
    lengths = rng.integers(0, steps + 1, size=batch)
    valid = np.arange(steps)[None, :] < lengths[:, None]
    if name in TAKES_LENGTHS:
        return x, {"sequence_length": lengths.astype("int32")}, valid
    return x, {"mask": valid}, valid


def corrupt(name, kind, x, kwargs):
    kwargs = dict(kwargs)
    if kind == "rank":
        x = x[..., 0]
        kwargs.pop("mask", None)
        kwargs.pop("sequence_length", None)
    elif kind == "integer inputs":
        x = (x * 10).astype("int32")
    elif kind == "no time step":
        x = x[:, :0]
        kwargs = {}
    elif kind == "mask shape":
        kwargs.pop("sequence_length", None)
        shape = x.shape[:-1]
        kwargs["mask"] = np.ones((shape[0], shape[1] + 1, *shape[2:]), bool)
    else:
        lengths = np.asarray(kwargs["sequence_length"])
        if kind == "negative length":
            lengths = lengths.copy()
            lengths[0] = -1
        elif kind == "length past the end":
            lengths = lengths.copy()
            lengths[0] = x.shape[1] + 1
        else:
            lengths = lengths.astype("float32")
        kwargs["sequence_length"] = lengths
    return x, kwargs


def corruptions(name):
    kinds = ["rank", "integer inputs", "mask shape"]
    if name != "attention":
        kinds.append("no time step")
    if name in TAKES_LENGTHS:
        kinds += ["negative length", "length past the end", "float lengths"]
    return kinds


@st.composite
def bad_calls(draw):
    name = draw(st.sampled_from(sorted(LAYERS)))
    kind = draw(st.sampled_from(corruptions(name)))
    return name, kind, draw(st.integers(1, 3)), draw(st.integers(1, 4))


@given(bad_calls(), st.integers(0, 1000))
def test_a_corrupted_call_is_a_named_error(call, seed):
    name, kind, batch, steps = call
    layer = LAYERS[name]()
    x, kwargs, _ = valid_call(name, np.random.default_rng(seed), batch, steps)
    layer(x, **kwargs)  # the valid call works
    x, kwargs = corrupt(name, kind, x, kwargs)
    errors, words = ERRORS[kind]
    with pytest.raises(errors, match=words):
        layer(x, **kwargs)


@given(
    st.sampled_from(sorted(LAYERS)),
    st.integers(1, 3),
    st.integers(1, 4),
    st.sampled_from([np.nan, np.inf, 1e30]),
    st.integers(0, 1000),
)
def test_whatever_the_padding_holds_the_result_is_the_clean_one(
    name, batch, steps, garbage, seed
):
    layer = LAYERS[name]()
    x, kwargs, valid = valid_call(name, np.random.default_rng(seed), batch, steps)
    clean = np.where(valid[..., None], x, 0.0).astype("float32")
    dirty = np.where(valid[..., None], x, garbage).astype("float32")
    want = [
        keras.ops.convert_to_numpy(t)
        for t in keras.tree.flatten(layer(clean, **kwargs))
    ]
    got = [
        keras.ops.convert_to_numpy(t)
        for t in keras.tree.flatten(layer(dirty, **kwargs))
    ]
    for g, w in zip(got, want, strict=True):
        assert np.isfinite(g).all()
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)


# -- cells and wrappers called step by step ---------------------------------

CELLS = {
    "peephole": lambda: PeepholeLSTMCell(3, num_proj=2),
    "dropout": lambda: DropoutWrapper(
        keras.layers.GRUCell(3), input_rate=0.3, state_rate=0.3, output_rate=0.3
    ),
    "residual": lambda: ResidualWrapper(keras.layers.GRUCell(2)),
    "projection": lambda: OutputProjectionWrapper(keras.layers.LSTMCell(3), 2),
    "multi_concat": lambda: MultiRNNCell(
        [keras.layers.GRUCell(3), keras.layers.LSTMCell(2)], state_is_tuple=False
    ),
}

CELL_ERRORS = {
    "rank": ((ValueError,), r"one step of inputs, shaped \(batch, features\)"),
    "integer inputs": ((TypeError,), "floating-point `inputs`"),
    "state width": ((ValueError,), r"`states`|state"),
    "state count": ((ValueError,), r"`states`|state"),
}


def _valid_states(cell, batch, rng):
    sizes = keras.tree.flatten(cell.state_size)
    if isinstance(cell, MultiRNNCell) and not cell.state_is_tuple:
        sizes = [sum(sizes)]
    return [rng.normal(size=(batch, size)).astype("float32") for size in sizes]


def _corrupt_step(kind, x, states):
    if kind == "rank":
        return x[:, None, :], states
    if kind == "integer inputs":
        return (x * 10).astype("int32"), states
    if kind == "state width":
        return x, [np.concatenate([states[0], states[0][:, :1]], -1), *states[1:]]
    return x, [*states, states[-1]]  # state count


@given(
    st.sampled_from(sorted(CELLS)),
    st.sampled_from(sorted(CELL_ERRORS)),
    st.integers(1, 3),
    st.booleans(),
    st.integers(0, 1000),
)
def test_a_corrupted_step_is_a_named_error(name, kind, batch, training, seed):
    rng = np.random.default_rng(seed)
    cell = CELLS[name]()
    x = rng.normal(size=(batch, 2)).astype("float32")
    states = _valid_states(cell, batch, rng)
    output, _ = cell(x, states, training=training)  # the valid step works
    assert np.isfinite(keras.ops.convert_to_numpy(output)).all()
    x, states = _corrupt_step(kind, x, states)
    errors, words = CELL_ERRORS[kind]
    with pytest.raises(errors, match=words):
        cell(x, states, training=training)


# -- tf1 weight conversion ----------------------------------------------------

TF1_ERRORS = {
    "missing": ((ValueError,), "has no"),
    "left over": ((ValueError,), "no place for"),
    "shape": ((ValueError,), "has shape"),
    "unknown name": ((ValueError,), "Unknown TF1 LSTMCell variable"),
    "forget_bias": ((ValueError,), "forget_bias"),
    "not a cell": ((TypeError,), "`cell` must be"),
    "not a dict": ((TypeError,), "`variables` must be a dict"),
}


@st.composite
def tf1_corruptions(draw):
    config = {
        "units": draw(st.integers(1, 4)),
        "use_peepholes": draw(st.booleans()),
        "num_proj": draw(st.none() | st.integers(1, 3)),
    }
    kind = draw(st.sampled_from(sorted(TF1_ERRORS)))
    return config, draw(st.integers(1, 4)), kind, draw(st.integers(0, 1000))


@given(tf1_corruptions())
def test_a_corrupted_tf1_conversion_is_a_named_error_and_writes_nothing(case):
    config, input_dim, kind, seed = case
    rng = np.random.default_rng(seed)
    source = PeepholeLSTMCell(**config)
    source.build((None, input_dim))
    for weight in source.weights:
        weight.assign(rng.normal(size=weight.shape))
    variables = tf1.get_lstm_weights(source)
    target = PeepholeLSTMCell(**config)
    target.build((None, input_dim))
    before = [keras.ops.convert_to_numpy(w).copy() for w in target.weights]

    names = sorted(variables)
    victim = names[rng.integers(len(names))]
    args = {"cell": target, "variables": dict(variables), "forget_bias": 1.0}
    if kind == "missing":
        del args["variables"][victim]
    elif kind == "left over":
        extra = "projection/kernel" if config["num_proj"] is None else None
        if extra is None and not config["use_peepholes"]:
            extra = "w_f_diag"
        if extra is None:  # the cell has every variable: a second copy
            args["variables"]["rnn/other/" + victim] = variables[victim]
            kind = "duplicate"
        else:
            args["variables"][extra] = np.zeros(3)
    elif kind == "shape":
        args["variables"][victim] = np.zeros((*variables[victim].shape[:-1], 99))
    elif kind == "unknown name":
        args["variables"]["rnn/lstm_cell/w_x_diag"] = np.zeros(3)
    elif kind == "forget_bias":
        args["forget_bias"] = float(rng.choice([np.nan, np.inf, -np.inf]))
    elif kind == "not a cell":
        args["cell"] = keras.layers.LSTMCell(config["units"])
    else:
        args["variables"] = list(variables.items())
    errors, words = TF1_ERRORS.get(kind, ((ValueError,), "Two entries"))
    with pytest.raises(errors, match=words):
        tf1.set_lstm_weights(**args)
    after = [keras.ops.convert_to_numpy(w) for w in target.weights]
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
