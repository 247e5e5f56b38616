"""DynamicRNN and lengths_to_mask: TF1 dynamic_rnn semantics on every backend."""

import keras
import numpy as np
import pytest
from contract import Case, ContractTests
from helpers import compare_with_tf1, draw_lengths, lstm_spec
from hypothesis import given
from hypothesis import strategies as st

from keras_rnnkit import (
    BidirectionalEncoder,
    DynamicRNN,
    OutputProjectionWrapper,
    PeepholeLSTM,
    PeepholeLSTMCell,
    lengths_to_mask,
)


class TestDynamicRNNContract(ContractTests):
    cases = [
        Case(
            "gru",
            lambda units, dtype=None, **kw: DynamicRNN(
                keras.layers.GRUCell(units, dtype=dtype), dtype=dtype, **kw
            ),
        ),
        Case(
            "lstm-repeat-outputs-sequences-state",
            lambda units, dtype=None, **kw: DynamicRNN(
                keras.layers.LSTMCell(units, dtype=dtype),
                zero_output_for_mask=False,
                return_sequences=True,
                return_state=True,
                dtype=dtype,
                **kw,
            ),
        ),
        Case(
            "list-of-cells-backwards",
            lambda units, dtype=None, **kw: DynamicRNN(
                [
                    PeepholeLSTMCell(units, dtype=dtype),
                    keras.layers.SimpleRNNCell(2, dtype=dtype),
                ],
                go_backwards=True,
                dtype=dtype,
                **kw,
            ),
        ),
    ]


@given(
    data=st.data(),
    units=st.integers(1, 5),
    num_proj=st.one_of(st.none(), st.integers(1, 3)),
    batch=st.integers(1, 4),
    timesteps=st.integers(1, 6),
    input_dim=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_matches_tf1_dynamic_rnn_with_lengths(
    tf1_oracle, data, units, num_proj, batch, timesteps, input_dim, seed
):
    rng = np.random.default_rng(seed)
    lengths = draw_lengths(data, batch, timesteps)
    spec = lstm_spec(rng, input_dim, units, use_peepholes=True, num_proj=num_proj)
    x = rng.normal(size=(batch, timesteps, input_dim))
    layer = compare_with_tf1(tf1_oracle, spec, x, lengths)
    # The last output is the output of step L - 1 (zeros for L == 0).
    last = DynamicRNN(layer.cell)(x.astype("float32"), sequence_length=lengths)
    outputs = keras.ops.convert_to_numpy(
        layer(x.astype("float32"), sequence_length=lengths)[0]
    )
    want = np.stack(
        [outputs[b, max(n - 1, 0)] * (n > 0) for b, n in enumerate(lengths)]
    )
    np.testing.assert_allclose(last, want, rtol=1e-6, atol=1e-7)


@given(
    data=st.data(),
    batch=st.integers(1, 4),
    timesteps=st.integers(1, 7),
    zero_output=st.booleans(),
    go_backwards=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_padded_values_never_change_anything(
    data, batch, timesteps, zero_output, go_backwards, seed
):
    rng = np.random.default_rng(seed)
    lengths = draw_lengths(data, batch, timesteps)
    layer = DynamicRNN(
        OutputProjectionWrapper(keras.layers.LSTMCell(4), 3),
        return_sequences=True,
        return_state=True,
        zero_output_for_mask=zero_output,
        go_backwards=go_backwards,
    )
    x = rng.normal(size=(batch, timesteps, 2)).astype("float32")
    valid = np.asarray(lengths_to_mask(lengths, timesteps))[..., None]
    garbage = np.where(valid, x, rng.normal(size=x.shape) * 100).astype("float32")
    zeros = np.where(valid, x, 0).astype("float32")
    for a, b in zip(
        keras.tree.flatten(layer(garbage, sequence_length=lengths)),
        keras.tree.flatten(layer(zeros, sequence_length=lengths)),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
        assert np.isfinite(keras.ops.convert_to_numpy(a)).all()


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("zero_output", [False, True])
def test_unrolled_equals_the_loop_with_masks(go_backwards, zero_output):
    # Keras's unrolled loops treat masked outputs differently from its scans
    # (JAX ignores zero_output_for_mask, TF zeroes backwards in the wrong
    # order); DynamicRNN gives one answer.
    x = np.random.default_rng(5).normal(size=(3, 4, 2)).astype("float32")
    lengths = np.array([4, 2, 0])
    cell = OutputProjectionWrapper(keras.layers.LSTMCell(3), 2)
    options = dict(
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
        zero_output_for_mask=zero_output,
    )
    looped = DynamicRNN(cell, **options)
    unrolled = DynamicRNN(cell, unroll=True, **options)
    for a, b in zip(
        looped(x, sequence_length=lengths),
        unrolled(x, sequence_length=lengths),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    last = DynamicRNN(cell, unroll=True, go_backwards=go_backwards)(
        x, sequence_length=lengths
    )
    np.testing.assert_allclose(
        last,
        DynamicRNN(cell, go_backwards=go_backwards)(x, sequence_length=lengths),
        rtol=1e-6,
        atol=1e-6,
    )


def test_masked_outputs_repeat_the_last_output_not_the_state():
    # Keras's JAX loop would repeat the first *state* here; DynamicRNN repeats
    # the last *output* on every backend.
    x = np.random.default_rng(0).normal(size=(3, 5, 2)).astype("float32")
    lengths = np.array([5, 2, 0])
    layer = DynamicRNN(
        OutputProjectionWrapper(keras.layers.GRUCell(4), 3),
        return_sequences=True,
        zero_output_for_mask=False,
    )
    outputs = keras.ops.convert_to_numpy(layer(x, sequence_length=lengths))
    np.testing.assert_array_equal(outputs[1, 2:], np.repeat(outputs[1, 1:2], 3, axis=0))
    np.testing.assert_array_equal(outputs[2], 0)
    alone = keras.ops.convert_to_numpy(layer(x[1:2, :2]))
    np.testing.assert_allclose(outputs[1, :2], alone[0], rtol=1e-6)


def test_left_padding_skips_the_leading_steps():
    # Masked steps are skipped wherever they are: a left-padded row ends in
    # the same state as the same row without its padding.
    x = np.random.default_rng(1).normal(size=(1, 3, 2)).astype("float32")
    layer = DynamicRNN(keras.layers.LSTMCell(4), return_state=True)
    padded = np.concatenate([np.zeros((1, 2, 2), "float32"), x], axis=1)
    mask = np.array([[False, False, True, True, True]])
    got = layer(padded, mask=mask)
    want = layer(x)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_sequence_length_equals_the_mask_it_stands_for():
    x = np.random.default_rng(2).normal(size=(3, 4, 2)).astype("float32")
    lengths = np.array([4, 1, 3])
    layer = DynamicRNN(keras.layers.GRUCell(3), return_sequences=True)
    by_length = layer(x, sequence_length=lengths)
    by_mask = layer(x, mask=lengths_to_mask(lengths, 4))
    both = layer(x, mask=lengths_to_mask(lengths, 4), sequence_length=lengths)
    np.testing.assert_array_equal(by_length, by_mask)
    np.testing.assert_array_equal(by_length, both)


def test_lengths_in_a_functional_model():
    tokens = keras.Input((None, 2))
    lengths = keras.Input((), dtype="int32")
    outputs = DynamicRNN(keras.layers.GRUCell(3))(tokens, sequence_length=lengths)
    model = keras.Model([tokens, lengths], outputs)
    x = np.random.default_rng(3).normal(size=(2, 5, 2)).astype("float32")
    got = model.predict([x, np.array([5, 2])], verbose=0)
    alone = DynamicRNN(model.layers[-1].cell)(x[1:, :2])
    np.testing.assert_allclose(got[1], alone[0], rtol=1e-5, atol=1e-6)


def test_lengths_to_mask():
    mask = np.asarray(lengths_to_mask(np.array([0, 2, 3]), 3))
    np.testing.assert_array_equal(
        mask, [[False, False, False], [True, True, False], [True, True, True]]
    )


@pytest.mark.parametrize(
    "lengths, error, match",
    [
        (
            np.array([5, 2]),
            ValueError,
            r"`sequence_length` values in \[0, 4\].*Received: sequence_length=\[5, 2\]",
        ),
        (np.array([-1, 2]), ValueError, r"sequence_length=\[-1, 2\]"),
        (
            np.array([1, 2, 3]),
            ValueError,
            r"`sequence_length` of shape \(batch,\) = \(2,\).*shape=\(3,\)",
        ),
        (np.array([[1, 2]]), ValueError, r"sequence_length.shape=\(1, 2\)"),
        (np.array([1.0, 2.0]), TypeError, r"expects integer `sequence_length`"),
    ],
)
def test_bad_lengths(lengths, error, match):
    with pytest.raises(error, match=match):
        DynamicRNN(keras.layers.GRUCell(2))(
            np.zeros((2, 4, 1), "float32"), sequence_length=lengths
        )


def test_mask_and_lengths_must_agree():
    layer = DynamicRNN(keras.layers.GRUCell(2))
    mask = np.array([[True, True, False, False], [True, False, False, False]])
    with pytest.raises(
        ValueError,
        match=r"both a mask and `sequence_length`, and they disagree in rows \[1\]",
    ):
        layer(
            np.zeros((2, 4, 1), "float32"), mask=mask, sequence_length=np.array([2, 3])
        )


@pytest.mark.parametrize(
    "make",
    [
        lambda: DynamicRNN(keras.layers.GRUCell(4), return_state=True),
        lambda: DynamicRNN(OutputProjectionWrapper(keras.layers.LSTMCell(4), 3)),
        lambda: PeepholeLSTM(4, cell_clip=1.0, num_proj=3, return_state=True),
        lambda: BidirectionalEncoder(
            PeepholeLSTMCell(4), return_sequences=False, return_state=True
        ),
    ],
    ids=["gru", "projection", "peephole", "bidirectional"],
)
def test_nan_in_padding_reaches_no_gradient(make):
    # A training step on NaN-padded rows moves every weight exactly as the
    # same step on zero-padded rows: the padding reaches no gradient.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 6, 2)).astype("float32")
    valid = np.arange(6)[None, :] < np.array([6, 2, 0])[:, None]
    nan_padded = np.where(valid[..., None], x, np.nan).astype("float32")
    zero_padded = np.where(valid[..., None], x, 0.0).astype("float32")
    inputs, mask = keras.Input((6, 2)), keras.Input((6,), dtype="bool")
    outputs = keras.tree.flatten(make()(inputs, mask=mask))  # final outputs, states
    joined = outputs[0] if len(outputs) == 1 else keras.layers.Concatenate()(outputs)
    model = keras.Model([inputs, mask], keras.layers.Dense(1)(joined))
    start = model.get_weights()
    y = rng.normal(size=(3, 1)).astype("float32")

    def step(padded):
        model.set_weights(start)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        loss = model.train_on_batch([padded, valid], y)
        return loss, model.get_weights()

    loss, got = step(nan_padded)
    want_loss, want = step(zero_padded)
    assert np.isfinite(loss)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-6)
    for g, w in zip(got, want, strict=True):
        assert np.isfinite(g).all()
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)
