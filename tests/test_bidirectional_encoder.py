"""BidirectionalEncoder: TF1 oracle, padding properties, states, errors."""

import keras
import numpy as np
import pytest
from contract import Case, ContractTests
from helpers import draw_lengths, kit_cell, lstm_spec, respec, tf1_state_order
from hypothesis import given
from hypothesis import strategies as st

from keras_rnnkit import (
    BidirectionalEncoder,
    DropoutWrapper,
    DynamicRNN,
    MultiRNNCell,
    PeepholeLSTMCell,
    lengths_to_mask,
    reverse_valid,
)


class TestBidirectionalEncoderContract(ContractTests):
    cases = [
        Case(
            "lstm-states",
            lambda units, dtype=None, **kw: BidirectionalEncoder(
                keras.layers.LSTMCell(units, dtype=dtype),
                return_state=True,
                dtype=dtype,
                **kw,
            ),
        ),
        Case(
            "gru-last-sum",
            lambda units, dtype=None, **kw: BidirectionalEncoder(
                keras.layers.GRUCell(units, dtype=dtype),
                merge_mode="sum",
                return_sequences=False,
                dtype=dtype,
                **kw,
            ),
        ),
        Case(
            "stacked-peephole-dropout-explicit-backward",
            lambda units, dtype=None, **kw: BidirectionalEncoder(
                MultiRNNCell(
                    [
                        DropoutWrapper(
                            PeepholeLSTMCell(units, dtype=dtype),
                            output_rate=0.3,
                            dtype=dtype,
                        ),
                        keras.layers.GRUCell(3, dtype=dtype),
                    ],
                    dtype=dtype,
                ),
                backward_layer=MultiRNNCell(
                    [
                        PeepholeLSTMCell(units, dtype=dtype),
                        keras.layers.GRUCell(3, dtype=dtype),
                    ],
                    dtype=dtype,
                ),
                return_state=True,
                dtype=dtype,
                **kw,
            ),
            stochastic=True,
        ),
    ]


@given(
    data=st.data(),
    units=st.integers(1, 4),
    stacked=st.booleans(),
    batch=st.integers(1, 4),
    timesteps=st.integers(1, 6),
    input_dim=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_matches_tf1_bidirectional_dynamic_rnn(
    tf1_oracle, data, units, stacked, batch, timesteps, input_dim, seed
):
    rng = np.random.default_rng(seed)
    lengths = draw_lengths(data, batch, timesteps)

    num_proj = data.draw(st.one_of(st.none(), st.just(2)))
    spec_fw = lstm_spec(rng, input_dim, units, use_peepholes=True, num_proj=num_proj)
    if stacked:
        second = lstm_spec(rng, num_proj or units, units + 1)
        spec_fw = {"type": "multi", "cells": [spec_fw, second]}
    spec_bw = respec(rng, spec_fw)
    x = rng.normal(size=(batch, timesteps, input_dim))
    want = tf1_oracle(
        "bidirectional_dynamic_rnn",
        cell_fw=spec_fw,
        cell_bw=spec_bw,
        inputs=x,
        sequence_length=lengths,
    )
    encoder = BidirectionalEncoder(
        kit_cell(spec_fw), backward_layer=kit_cell(spec_bw), return_state=True
    )
    outputs, *states = encoder(x.astype("float32"), sequence_length=lengths)
    np.testing.assert_allclose(
        outputs,
        np.concatenate([want["outputs_fw"], want["outputs_bw"]], -1),
        rtol=1e-5,
        atol=1e-5,
    )
    # The tutorial: LSTMStateTuple(c=concat(c_fw, c_bw), h=concat(h_fw, h_bw)).
    states = [keras.ops.convert_to_numpy(s) for s in keras.tree.flatten(states)]
    for index, fw, bw in zip(
        tf1_state_order(spec_fw), want["state_fw"], want["state_bw"], strict=True
    ):
        np.testing.assert_allclose(
            states[index], np.concatenate([fw, bw], -1), rtol=1e-5, atol=1e-5
        )


@given(
    data=st.data(),
    batch=st.integers(1, 4),
    timesteps=st.integers(1, 7),
    seed=st.integers(0, 2**16),
)
def test_padding_never_changes_anything(data, batch, timesteps, seed):
    rng = np.random.default_rng(seed)
    lengths = draw_lengths(data, batch, timesteps)
    encoder = BidirectionalEncoder(keras.layers.LSTMCell(3), return_state=True)
    x = rng.normal(size=(batch, timesteps, 2)).astype("float32")
    valid = np.asarray(lengths_to_mask(lengths, timesteps))
    garbage = np.where(valid[..., None], x, rng.normal(size=x.shape) * 100).astype(
        "float32"
    )
    got = encoder(garbage, sequence_length=lengths)
    want = encoder(
        np.where(valid[..., None], x, 0).astype("float32"), sequence_length=lengths
    )
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    outputs = keras.ops.convert_to_numpy(got[0])
    assert np.all(outputs[~valid] == 0)  # padding stays zero, both halves


@given(
    data=st.data(),
    batch=st.integers(1, 3),
    timesteps=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_reversing_rows_swaps_the_directions(data, batch, timesteps, seed):
    rng = np.random.default_rng(seed)
    lengths = draw_lengths(data, batch, timesteps)
    encoder = BidirectionalEncoder(
        keras.layers.GRUCell(3), merge_mode=None, return_state=True
    )
    x = rng.normal(size=(batch, timesteps, 2)).astype("float32")
    mask = lengths_to_mask(lengths, timesteps)
    (fw, bw), state = encoder(x, mask=mask)
    # Swap the two cells' weights, feed every row reversed within its length.
    swapped = BidirectionalEncoder(
        keras.layers.GRUCell(3), merge_mode=None, return_state=True
    )
    swapped.build(x.shape)
    swapped.forward_layer.set_weights(encoder.backward_layer.get_weights())
    swapped.backward_layer.set_weights(encoder.forward_layer.get_weights())
    (fw2, bw2), state2 = swapped(reverse_valid(x, mask), mask=mask)
    np.testing.assert_allclose(reverse_valid(bw2, mask), fw, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(reverse_valid(fw2, mask), bw, rtol=1e-5, atol=1e-6)
    state, state2 = (
        keras.ops.convert_to_numpy(state),
        keras.ops.convert_to_numpy(state2),
    )
    np.testing.assert_allclose(
        state2, np.concatenate([state[:, 3:], state[:, :3]], -1), rtol=1e-5, atol=1e-6
    )


def test_reverse_valid_is_tf1_reverse_sequence_and_handles_left_padding():
    x = np.arange(1, 6, dtype="float32")[None, :, None].repeat(2, axis=0)
    right = np.array([[True, True, True, False, False], [True] * 5])
    np.testing.assert_array_equal(
        np.asarray(reverse_valid(x, right))[..., 0], [[3, 2, 1, 4, 5], [5, 4, 3, 2, 1]]
    )
    left = np.array([[False, False, True, True, True], [False] * 5])
    np.testing.assert_array_equal(
        np.asarray(reverse_valid(x, left))[..., 0], [[1, 2, 5, 4, 3], [1, 2, 3, 4, 5]]
    )


def test_left_padding_gives_the_right_padded_result():
    # Decided and documented: padding may sit anywhere; the valid steps are
    # what counts. Left- and right-padded copies of a batch agree.
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 3, 2)).astype("float32")
    encoder = BidirectionalEncoder(
        keras.layers.LSTMCell(3), return_sequences=False, return_state=True
    )
    pad = np.zeros((2, 2, 2), "float32")
    right = encoder(
        np.concatenate([x, pad], 1), mask=np.array([[True] * 3 + [False] * 2] * 2)
    )
    left = encoder(
        np.concatenate([pad, x], 1), mask=np.array([[False] * 2 + [True] * 3] * 2)
    )
    for a, b in zip(right, left, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_initial_state_round_trips_and_matters():
    x = np.random.default_rng(5).normal(size=(2, 4, 3)).astype("float32")
    encoder = BidirectionalEncoder(keras.layers.LSTMCell(4), return_state=True)
    _, h, c = encoder(x)
    _, h2, c2 = encoder(x, initial_state=[h, c])
    assert h2.shape == h.shape and not np.allclose(h2, h)
    fw = DynamicRNN(encoder.forward_layer.cell, return_state=True)
    _, h_fw, _ = fw(x, initial_state=[h[:, :4], c[:, :4]])
    np.testing.assert_allclose(h2[:, :4], h_fw, rtol=1e-6, atol=1e-6)


def test_encoder_state_initialises_a_decoder_twice_as_wide(tmp_path):
    # The tutorial's machine-translation shape.
    rng = np.random.default_rng(6)
    source = keras.Input((None,), dtype="int32")
    target = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(20, 8, mask_zero=True)(source)
    _, h, c = BidirectionalEncoder(keras.layers.LSTMCell(16), return_state=True)(
        embedded
    )
    decoder_in = keras.layers.Embedding(20, 8, mask_zero=True)(target)
    decoded = DynamicRNN(keras.layers.LSTMCell(32), return_sequences=True)(
        decoder_in, initial_state=[h, c]
    )
    logits = keras.layers.Dense(20)(decoded)
    model = keras.Model([source, target], logits)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    src = rng.integers(1, 20, size=(32, 7))
    src[:, 5:] = 0
    tgt = np.concatenate([np.ones((32, 1), int), src[:, :-1]], axis=1)
    losses = model.fit([src, tgt], src, epochs=5, batch_size=16, verbose=0).history[
        "loss"
    ]
    assert losses[-1] < losses[0]
    path = tmp_path / "seq2seq.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        reloaded.predict([src, tgt], verbose=0),
        model.predict([src, tgt], verbose=0),
        rtol=1e-5,
        atol=1e-5,
    )


def test_exposes_its_layers():
    encoder = BidirectionalEncoder(keras.layers.RNN(keras.layers.GRUCell(3)))
    assert isinstance(encoder.forward_layer, DynamicRNN)
    assert isinstance(encoder.backward_layer.cell, keras.layers.GRUCell)
    assert encoder.backward_layer.cell is not encoder.forward_layer.cell


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            {"backward_layer": keras.layers.LSTMCell(5)},
            r"`backward_layer` must have the forward cell's state sizes.*backward state_size=\[5, 5\], forward state_size=\[4, 4\]",
        ),
        (
            {"merge_mode": "max"},
            r"`merge_mode` must be one of \['concat', 'sum', 'mul', 'ave', None\]. Received: merge_mode='max'",
        ),
        ({"return_state": "yes"}, r"`return_state` must be True or False"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BidirectionalEncoder(keras.layers.LSTMCell(4), **kwargs)


def test_same_cell_both_ways_and_non_cells_are_refused():
    cell = keras.layers.GRUCell(2)
    with pytest.raises(
        ValueError, match=r"`backward_layer` shares a cell with the forward"
    ):
        BidirectionalEncoder(cell, backward_layer=cell)
    with pytest.raises(
        ValueError, match=r"`backward_layer` shares a cell with the forward"
    ):
        BidirectionalEncoder(DropoutWrapper(cell), backward_layer=DropoutWrapper(cell))
    with pytest.raises(ValueError, match=r"Argument `layer` must be a Keras RNN cell"):
        BidirectionalEncoder(keras.layers.Dense(2))


def test_bad_lengths_are_refused():
    encoder = BidirectionalEncoder(keras.layers.GRUCell(2))
    with pytest.raises(ValueError, match=r"`sequence_length` values in \[0, 3\]"):
        encoder(np.zeros((2, 3, 1), "float32"), sequence_length=np.array([4, 1]))


def test_initial_state_of_the_wrong_width_is_refused():
    encoder = BidirectionalEncoder(keras.layers.LSTMCell(4))
    h = np.zeros((2, 6), "float32")
    with pytest.raises(
        ValueError,
        match=r"expects `initial_state` shaped like the states it returns: widths \[8, 8\].*Received widths \[6, 6\]",
    ):
        encoder(np.zeros((2, 3, 1), "float32"), initial_state=[h, h])


def test_separate_outputs_each_carry_the_mask():
    encoder = BidirectionalEncoder(keras.layers.GRUCell(2), merge_mode=None)
    masks = encoder.compute_mask(None, np.ones((2, 3), bool))
    assert isinstance(masks, list) and len(masks) == 2
