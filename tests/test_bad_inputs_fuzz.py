"""Fuzz: a public layer, a valid call, one corruption; the documented outcome.

Hypothesis draws a layer, a valid batch and one corruption of the call. A
corruption of the data's meaning (wrong rank, integer inputs, no time step,
lengths out of range or of a float dtype, a mask of the wrong shape) must end
as a `ValueError` or `TypeError` whose message names what was wrong; a
corruption of the padding only (NaN or huge values where the mask is False)
must give exactly the result of the clean call, finite.
"""

import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from keras_rnnkit import (
    AttentionPooling,
    BidirectionalEncoder,
    DynamicRNN,
    HierarchicalEncoder,
    PeepholeLSTM,
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
