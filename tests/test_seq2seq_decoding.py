"""keras_rnnkit.seq2seq's decoding: samplers, BasicDecoder, BeamSearchDecoder.

Oracles: tensorflow-addons 0.23 itself (tests/fixtures/tfa_decoding.npz,
made by make_tfa_decoding.py in its own environment, eagerly), every
output sequence enumerated for beam search, a per-beam Python backtrack
for gather_tree, a masked `keras.layers.RNN` for teacher forcing, and a
hand-computed coverage penalty.
"""

import pathlib

import keras
import numpy as np
import pytest
from crf_oracle import compiled

from keras_rnnkit import seq2seq

FIXTURES = np.load(pathlib.Path(__file__).parent / "fixtures" / "tfa_decoding.npz")
BACKEND = keras.backend.backend()
VOCAB, EMBED, UNITS = 7, 4, 5


def as_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def fixture(name):
    prefix = f"{name}/"
    return {
        k[len(prefix) :]: FIXTURES[k] for k in FIXTURES.files if k.startswith(prefix)
    }


def states(case, key):
    return [case[f"{key}_{i}"] for i in range(4) if f"{key}_{i}" in case]


def kit_layers(case, kind):
    cell = (
        keras.layers.GRUCell(UNITS) if kind == "gru" else keras.layers.LSTMCell(UNITS)
    )
    cell.build((None, EMBED))
    cell.set_weights([case["kernel"], case["recurrent_kernel"], case["bias"]])
    dense = keras.layers.Dense(VOCAB)
    dense.build((None, UNITS))
    dense.set_weights([case["dense_kernel"], case["dense_bias"]])
    return cell, dense


def run(function, jit):
    """`function()` eagerly, or compiled the way Keras compiles (skipped on
    torch, whose Keras backend runs eagerly)."""
    if not jit:
        return function()
    fn = compiled(function)
    if fn is None:
        pytest.skip("torch runs eagerly")
    return fn()


# -- tensorflow-addons parity ------------------------------------------------


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "compiled"])
def test_greedy_matches_tfa(jit):
    case = fixture("greedy")
    cell, dense = kit_layers(case, "gru")
    decoder = seq2seq.BasicDecoder(
        cell,
        seq2seq.GreedyEmbeddingSampler(),
        output_layer=dense,
        maximum_iterations=int(case["maximum_iterations"]),
    )
    outputs, state, lengths = run(
        lambda: decoder(
            case["embedding"],
            start_tokens=case["start_tokens"],
            end_token=int(case["end_token"]),
            initial_state=case["initial_state"],
        ),
        jit,
    )
    np.testing.assert_array_equal(as_numpy(outputs.sample_id), case["sample_id"])
    np.testing.assert_allclose(
        as_numpy(outputs.rnn_output), case["rnn_output"], atol=1e-5
    )
    np.testing.assert_array_equal(as_numpy(lengths), case["lengths"])
    np.testing.assert_allclose(
        as_numpy(keras.tree.flatten(state)[0]), case["final_state"], atol=1e-5
    )


@pytest.mark.parametrize("name", ["training", "training_impute"])
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "compiled"])
def test_teacher_forcing_matches_tfa(name, jit):
    case = fixture(name)
    cell, dense = kit_layers(case, "lstm")
    decoder = seq2seq.BasicDecoder(
        cell,
        seq2seq.TrainingSampler(),
        output_layer=dense,
        impute_finished=name == "training_impute",
        maximum_iterations=4 if jit else None,
    )
    outputs, state, lengths = run(
        lambda: decoder(
            case["inputs"],
            initial_state=states(case, "initial_state"),
            sequence_length=case["sequence_length"],
        ),
        jit,
    )
    np.testing.assert_allclose(
        as_numpy(outputs.rnn_output), case["rnn_output"], atol=1e-5
    )
    np.testing.assert_array_equal(as_numpy(outputs.sample_id), case["sample_id"])
    np.testing.assert_array_equal(as_numpy(lengths), case["lengths"])
    for got, want in zip(state, states(case, "final_state"), strict=True):
        np.testing.assert_allclose(as_numpy(got), want, atol=1e-5)


@pytest.mark.parametrize("name", ["beam", "beam_lstm"])
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "compiled"])
def test_beam_search_matches_tfa(name, jit):
    case = fixture(name)
    kind = "gru" if name == "beam" else "lstm"
    cell, dense = kit_layers(case, kind)
    width = int(case["beam_width"])
    given_state = states(case, "initial_state")
    tiled = seq2seq.tile_batch(given_state if kind == "lstm" else given_state[0], width)
    decoder = seq2seq.BeamSearchDecoder(
        cell,
        width,
        output_layer=dense,
        length_penalty_weight=float(case["length_penalty_weight"]),
        end_token=int(case["end_token"]),
        maximum_iterations=int(case["maximum_iterations"]),
    )
    outputs, state, lengths = run(
        lambda: decoder(
            case["embedding"], start_tokens=case["start_tokens"], initial_state=tiled
        ),
        jit,
    )
    steps = case["step_ids"].shape[1]  # tfa stops once every beam is done
    step = outputs.beam_search_decoder_output
    np.testing.assert_array_equal(
        as_numpy(outputs.predicted_ids)[:, :steps], case["predicted_ids"]
    )
    np.testing.assert_array_equal(
        as_numpy(step.predicted_ids)[:, :steps], case["step_ids"]
    )
    np.testing.assert_array_equal(
        as_numpy(step.parent_ids)[:, :steps], case["parent_ids"]
    )
    np.testing.assert_allclose(
        as_numpy(step.scores)[:, :steps], case["scores"], atol=1e-5
    )
    np.testing.assert_allclose(as_numpy(state.log_probs), case["log_probs"], atol=1e-5)
    np.testing.assert_array_equal(as_numpy(state.finished), case["finished"])
    np.testing.assert_array_equal(as_numpy(state.lengths), case["final_lengths"])
    np.testing.assert_array_equal(as_numpy(lengths), case["lengths"])
    got_cells = keras.tree.flatten(state.cell_state)
    for got, want in zip(got_cells, states(case, "final_cell_state"), strict=True):
        np.testing.assert_allclose(as_numpy(got), want, atol=1e-5)
    # after the last step decoded: end tokens, and the final scores kept
    padded = as_numpy(outputs.predicted_ids)[:, steps:]
    assert (padded == int(case["end_token"])).all()
    scores = as_numpy(step.scores)
    np.testing.assert_allclose(scores[:, -1], case["scores"][:, -1], atol=1e-5)


@pytest.mark.parametrize("name", ["gather_tree", "gather_tree_random"])
def test_gather_tree_matches_tfa(name):
    case = fixture(name)
    out = seq2seq.gather_tree(
        case["step_ids"],
        case["parent_ids"],
        case["max_sequence_lengths"],
        int(case["end_token"]),
    )
    np.testing.assert_array_equal(as_numpy(out), case["out"])
