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
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_rnnkit import seq2seq

FIXTURES = np.load(pathlib.Path(__file__).parent / "fixtures" / "tfa_decoding.npz")
BACKEND = keras.backend.backend()
VOCAB, EMBED, UNITS = 7, 4, 5
# JAX compiles each new decoder (seconds each): one example of the
# properties that decode there (CI's time budget), the profile's elsewhere
ONE_ON_JAX = settings(max_examples=1) if BACKEND == "jax" else (lambda test: test)


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
    if BACKEND == "jax" and not jit:
        pytest.skip("eager JAX is slow; its eager loop runs in test_greedy_matches_tfa")
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
    if BACKEND == "jax" and not jit:
        pytest.skip("eager JAX is slow; its eager loop runs in test_greedy_matches_tfa")
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
    # Scores per row up to its own last step (tfa runs every row's finished
    # beams on while other rows decode, and a finished beam's score still
    # changes once there: a row's scores would depend on its batch; the kit
    # repeats each row's final scores after its own last step).
    got_scores = as_numpy(step.scores)
    row_steps = case["final_lengths"].max(axis=1)
    for row, row_step in enumerate(row_steps):
        np.testing.assert_allclose(
            got_scores[row, :row_step], case["scores"][row, :row_step], atol=1e-5
        )
        np.testing.assert_allclose(
            got_scores[row, row_step:],
            np.broadcast_to(
                case["scores"][row, row_step - 1],
                got_scores[row, row_step:].shape,
            ),
            atol=1e-5,
        )
    np.testing.assert_allclose(as_numpy(state.log_probs), case["log_probs"], atol=1e-5)
    np.testing.assert_array_equal(as_numpy(state.finished), case["finished"])
    np.testing.assert_array_equal(as_numpy(state.lengths), case["final_lengths"])
    np.testing.assert_array_equal(as_numpy(lengths), case["lengths"])
    got_cells = keras.tree.flatten(state.cell_state)
    for got, want in zip(got_cells, states(case, "final_cell_state"), strict=True):
        np.testing.assert_allclose(as_numpy(got), want, atol=1e-5)
    # after the last step decoded: end tokens
    padded = as_numpy(outputs.predicted_ids)[:, steps:]
    assert (padded == int(case["end_token"])).all()


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


# -- brute force ---------------------------------------------------------------


def random_model(seed, vocab, units=4, embed=3):
    """A GRU cell, an output layer and an embedding with seeded weights."""
    rng = np.random.default_rng(seed)
    cell = keras.layers.GRUCell(units)
    cell.build((None, embed))
    cell.set_weights([2 * rng.normal(size=w.shape) for w in cell.get_weights()])
    dense = keras.layers.Dense(vocab)
    dense.build((None, units))
    dense.set_weights([2 * rng.normal(size=w.shape) for w in dense.get_weights()])
    embedding = rng.normal(size=(vocab, embed)).astype("float32")
    return cell, dense, embedding


def sequence_log_probs(cell, dense, embedding, state, start, end, vocab, steps):
    """Every output sequence (ending at `end` or after `steps` tokens) with
    its log-probability, from the cell run on all prefixes of each length
    at once."""
    results = {}
    prefixes, totals, last = [()], np.zeros(1), np.array([start])
    h = np.asarray(state, "float32")
    for _ in range(steps):
        out, new = cell(embedding[last], [h])
        logits = as_numpy(dense(out)).astype("float64")
        log_p = logits - logits.max(-1, keepdims=True)
        log_p = log_p - np.log(np.exp(log_p).sum(-1, keepdims=True))
        keep = []
        for i, prefix in enumerate(prefixes):
            for token in range(vocab):
                if token == end:
                    results[(*prefix, token)] = totals[i] + log_p[i, token]
                else:
                    keep.append((i, token))
        prefixes = [(*prefixes[i], t) for i, t in keep]
        totals = np.array([totals[i] + log_p[i, t] for i, t in keep])
        last = np.array([t for _, t in keep])
        h = as_numpy(new[0])[[i for i, _ in keep]]
    for prefix, total in zip(prefixes, totals, strict=True):
        results[prefix] = total
    return results


@ONE_ON_JAX
@given(seed=st.integers(0, 2**16), vocab=st.integers(2, 3), steps=st.integers(1, 3))
def test_a_beam_as_wide_as_all_sequences_finds_the_best(seed, vocab, steps):
    cell, dense, embedding = random_model(seed, vocab)
    state = np.random.default_rng(seed + 1).normal(size=(1, 4)).astype("float32")
    end, start = 0, vocab - 1
    sequences = sequence_log_probs(
        cell, dense, embedding, state, start, end, vocab, steps
    )
    width = len(sequences)
    decoder = seq2seq.BeamSearchDecoder(
        cell, width, output_layer=dense, end_token=end, maximum_iterations=steps
    )
    outputs, final, lengths = run(
        lambda: decoder(
            embedding,
            start_tokens=np.array([start]),
            initial_state=seq2seq.tile_batch(state, width),
        ),
        jit=BACKEND == "jax",  # eager JAX compiles every operation
    )
    ids = as_numpy(outputs.predicted_ids)[0]  # (time, beam)
    log_probs = as_numpy(final.log_probs)[0]
    lengths = as_numpy(lengths)[0]
    ranked = sorted(sequences.values(), reverse=True)
    # every sequence found once, best first, with its own log-probability
    np.testing.assert_allclose(log_probs, ranked, atol=1e-4)
    found = {tuple(ids[: lengths[w], w]) for w in range(width)}
    assert found == set(sequences)
    for w in range(width):
        seq = tuple(ids[: lengths[w], w])
        np.testing.assert_allclose(sequences[seq], log_probs[w], atol=1e-4)


def backtrack(step_ids, parent_ids, lengths, end_token):
    """gather_tree, one beam at a time in Python."""
    time, batch, width = step_ids.shape
    out = np.full_like(step_ids, end_token)
    for b in range(batch):
        length = min(time, int(lengths[b]))
        for w in range(width):
            beam = w
            for t in reversed(range(length)):
                out[t, b, w] = step_ids[t, b, beam]
                beam = parent_ids[t, b, beam]
            seen_end = False
            for t in range(length):
                if seen_end:
                    out[t, b, w] = end_token
                seen_end = seen_end or out[t, b, w] == end_token
    return out


@given(
    seed=st.integers(0, 2**16),
    time=st.integers(0, 5),
    batch=st.integers(1, 3),
    width=st.integers(1, 4),
)
def test_gather_tree_is_a_per_beam_backtrack(seed, time, batch, width):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 4, (time, batch, width)).astype("int32")
    parents = rng.integers(0, width, (time, batch, width)).astype("int32")
    lengths = rng.integers(0, time + 2, batch).astype("int32")
    out = seq2seq.gather_tree(ids, parents, lengths, end_token=3)
    np.testing.assert_array_equal(as_numpy(out), backtrack(ids, parents, lengths, 3))


def greedy_and_beam(cell, dense, embedding, state, start, end, steps, width):
    greedy = seq2seq.BasicDecoder(
        cell, seq2seq.GreedyEmbeddingSampler(), dense, maximum_iterations=steps
    )
    g_out, _, g_lengths = greedy(
        embedding, start_tokens=start, end_token=end, initial_state=state
    )
    beam = seq2seq.BeamSearchDecoder(
        cell, width, output_layer=dense, end_token=end, maximum_iterations=steps
    )
    b_out, b_state, b_lengths = beam(
        embedding, start_tokens=start, initial_state=seq2seq.tile_batch(state, width)
    )
    return g_out, g_lengths, b_out, b_state, b_lengths


@ONE_ON_JAX
@given(seed=st.integers(0, 2**16))
def test_a_beam_of_one_is_greedy(seed):
    cell, dense, embedding = random_model(seed, vocab=5)
    state = np.random.default_rng(seed).normal(size=(4, 4)).astype("float32")
    start = np.array([1, 2, 3, 4])
    g_out, g_lengths, b_out, b_state, b_lengths = run(
        lambda: greedy_and_beam(cell, dense, embedding, state, start, 0, 6, 1),
        jit=BACKEND == "jax",  # eager JAX compiles every operation
    )
    g_ids, g_lengths = as_numpy(g_out.sample_id), as_numpy(g_lengths)
    b_ids = as_numpy(b_out.predicted_ids)[:, :, 0]
    np.testing.assert_array_equal(as_numpy(b_lengths)[:, 0], g_lengths)
    logits = as_numpy(g_out.rnn_output).astype("float64")
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    for row, length in enumerate(g_lengths):
        np.testing.assert_array_equal(b_ids[row, :length], g_ids[row, :length])
        assert (b_ids[row, length:] == 0).all()
        chosen = log_p[row, np.arange(length), g_ids[row, :length]].sum()
        np.testing.assert_allclose(
            as_numpy(b_state.log_probs)[row, 0], chosen, atol=1e-4
        )


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "compiled"])
def test_each_batch_entry_is_decoded_on_its_own(jit):
    # Everything but what a finished entry computes after its end while
    # others go on: greedy with impute_finished (zeros, state kept), and
    # beam search's ids, scores, log-probs and lengths (a finished beam's
    # cell state still runs on, as in tensorflow-addons).
    if BACKEND == "jax" and not jit:
        pytest.skip("eager JAX is slow; its eager loop runs in the tfa tests")
    cell, dense, embedding = random_model(7, vocab=6)
    rng = np.random.default_rng(3)
    state = rng.normal(size=(8, 4)).astype("float32")
    start = rng.integers(1, 6, 8)

    def decode(rows):
        greedy = seq2seq.BasicDecoder(
            cell,
            seq2seq.GreedyEmbeddingSampler(),
            dense,
            maximum_iterations=5,
            impute_finished=True,
        )
        g_out, g_state, g_lengths = greedy(
            embedding, start_tokens=start[rows], end_token=0, initial_state=state[rows]
        )
        beam = seq2seq.BeamSearchDecoder(
            cell, 3, output_layer=dense, end_token=0, maximum_iterations=5
        )
        b_out, b_state, b_lengths = beam(
            embedding,
            start_tokens=start[rows],
            initial_state=seq2seq.tile_batch(state[rows], 3),
        )
        return (
            g_out,
            g_state,
            g_lengths,
            b_out,
            b_state.log_probs,
            b_state.finished,
            b_lengths,
        )

    together = keras.tree.map_structure(as_numpy, run(lambda: decode(slice(None)), jit))
    for row in (5,) if BACKEND == "jax" else (0, 5):
        alone = keras.tree.map_structure(
            as_numpy, run(lambda row=row: decode(slice(row, row + 1)), jit)
        )
        for got, want in zip(
            keras.tree.flatten(alone), keras.tree.flatten(together), strict=True
        ):
            np.testing.assert_allclose(got[0], want[row], atol=1e-5)


def test_teacher_forcing_equals_a_masked_keras_rnn():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5, 2)).astype("float32")
    lengths = np.array([5, 2, 3])
    mask = np.arange(5)[None, :] < lengths[:, None]
    cell = keras.layers.LSTMCell(4)
    rnn = keras.layers.RNN(
        cell, return_sequences=True, return_state=True, zero_output_for_mask=True
    )
    want, h, c = rnn(x, mask=mask)
    decoder = seq2seq.BasicDecoder(
        cell, seq2seq.TrainingSampler(), impute_finished=True
    )
    outputs, state, got_lengths = run(
        lambda: decoder(x, sequence_length=lengths),
        jit=BACKEND == "jax",  # eager JAX compiles every operation
    )
    np.testing.assert_allclose(as_numpy(outputs.rnn_output), as_numpy(want), atol=1e-5)
    np.testing.assert_allclose(as_numpy(state[0]), as_numpy(h), atol=1e-5)
    np.testing.assert_allclose(as_numpy(state[1]), as_numpy(c), atol=1e-5)
    np.testing.assert_array_equal(as_numpy(got_lengths), lengths)


# -- penalties -----------------------------------------------------------------


def test_length_and_coverage_penalties_by_hand():
    # one step of batch 1, beam 2, vocab 3: beam 0 live, beam 1 finished
    decoder = seq2seq.BeamSearchDecoder(
        keras.layers.GRUCell(2),
        2,
        length_penalty_weight=0.5,
        coverage_penalty_weight=0.4,
        end_token=2,
        alignments_fn=lambda state: state[1],
    )
    logits = np.array([[[1.0, 2.0, 0.5], [3.0, 0.0, 0.0]]], "float32")
    step_attention = np.array([[0.6, 0.4, 0.0], [0.1, 0.2, 0.7]], "float32")
    accumulated = np.array([[[0.5, 0.3, 0.0], [0.9, 0.6, 0.2]]], "float32")
    state = seq2seq.BeamSearchDecoderState(
        cell_state=[np.zeros((2, 2), "float32"), step_attention],
        log_probs=np.array([[-1.0, -2.0]], "float32"),
        finished=np.array([[False, True]]),
        lengths=np.array([[3, 2]], "int32"),
        accumulated_attention_probs=accumulated,
    )
    out, new = decoder._beam_step(
        keras.ops.convert_to_tensor(logits),
        [keras.ops.convert_to_tensor(v) for v in state.cell_state],
        keras.tree.map_structure(keras.ops.convert_to_tensor, state),
        end=2,
    )
    log_p = logits[0, 0] - np.log(np.exp(logits[0, 0]).sum())
    # beam 0 (live): lengths 4, 4, 3 (end token not counted); no coverage
    lp = ((5.0 + np.array([4, 4, 3])) / 6.0) ** 0.5
    live = (-1.0 + log_p) / lp
    # beam 1 (finished): only the end token, at no cost, its length 2, and
    # the coverage of its accumulated attention (plus nothing new: finished)
    acc = accumulated[0, 1]
    coverage = np.log(np.minimum(np.where(acc == 0, 1.0, acc), 1.0)).sum()
    done = -2.0 / ((5.0 + 2) / 6.0) ** 0.5 + 0.4 * coverage
    candidates = np.concatenate([live, [-np.inf, -np.inf, done]])
    best = np.argsort(-candidates, kind="stable")[:2]
    np.testing.assert_allclose(as_numpy(out.scores)[0], candidates[best], rtol=1e-5)
    np.testing.assert_array_equal(as_numpy(out.parent_ids)[0], best // 3)
    np.testing.assert_array_equal(as_numpy(out.predicted_ids)[0], best % 3)
    # the live beam's attention accumulates, the finished beam's does not
    want_acc = np.stack([accumulated[0, 0] + step_attention[0], accumulated[0, 1]])
    np.testing.assert_allclose(
        as_numpy(new.accumulated_attention_probs)[0], want_acc[best // 3], atol=1e-6
    )


def test_a_finished_beam_keeps_its_score_and_length():
    case = fixture("beam")
    cell, dense = kit_layers(case, "gru")
    width = 3
    decoder = seq2seq.BeamSearchDecoder(
        cell,
        width,
        output_layer=dense,
        length_penalty_weight=0.6,
        end_token=int(case["end_token"]),
        maximum_iterations=8,
    )
    outputs, state, lengths = run(
        lambda: decoder(
            case["embedding"],
            start_tokens=case["start_tokens"],
            initial_state=seq2seq.tile_batch(case["initial_state_0"], width),
        ),
        jit=BACKEND == "jax",  # eager JAX compiles every operation
    )
    ids = as_numpy(outputs.predicted_ids)
    lengths = as_numpy(lengths)
    end = int(case["end_token"])
    for b in range(ids.shape[0]):
        for w in range(width):
            length = lengths[b, w]
            # the beam ends with the end token (unless cut at the maximum),
            # and has only end tokens after it
            assert (ids[b, length:, w] == end).all()
            assert end not in ids[b, : max(length - 1, 0), w]


# -- samplers ------------------------------------------------------------------


def test_sampling_with_top_k_draws_among_the_k_best_only():
    logits = keras.ops.convert_to_tensor(
        np.tile(np.array([[0.0, 3.0, 1.0, 2.9, -1.0]], "float32"), (400, 1))
    )
    sampler = seq2seq.SampleEmbeddingSampler(
        lambda ids: ids, softmax_temperature=0.5, seed=3, top_k=2
    )
    sampler.initialize(None, start_tokens=np.zeros(400, "int32"), end_token=4)
    ids = as_numpy(sampler.sample(0, logits, None))
    assert set(ids.tolist()) == {1, 3}
    # softmax([3, 2.9] / 0.5): p(1) = 0.55
    assert 0.45 < (ids == 1).mean() < 0.65
    greedy = seq2seq.SampleEmbeddingSampler(lambda ids: ids, seed=3, top_k=1)
    greedy.initialize(None, start_tokens=np.zeros(400, "int32"), end_token=4)
    assert (as_numpy(greedy.sample(0, logits, None)) == 1).all()


def test_sampled_decoding_is_reproducible_and_the_same_compiled():
    cell, dense, embedding = random_model(5, vocab=6)
    state = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")

    def make():
        return seq2seq.BasicDecoder(
            cell,
            seq2seq.SampleEmbeddingSampler(seed=11, top_k=3),
            dense,
            maximum_iterations=5,
        )

    def decode(decoder):
        out, _, lengths = decoder(
            embedding,
            start_tokens=np.array([1, 2, 3]),
            end_token=0,
            initial_state=state,
        )
        return out.sample_id, lengths

    first = keras.tree.map_structure(as_numpy, decode(make()))
    again = keras.tree.map_structure(as_numpy, decode(make()))
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    if BACKEND == "tensorflow":
        # in a graph (XLA's random numbers differ from eager TensorFlow's)
        import tensorflow as tf

        decoder = make()
        jitted = keras.tree.map_structure(
            as_numpy, tf.function(lambda: decode(decoder))()
        )
        for a, b in zip(first, jitted, strict=True):
            np.testing.assert_array_equal(a, b)


def test_scheduled_samplers_feed_back_only_what_they_sampled():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 5, 3)).astype("float32")
    cell, dense, embedding = random_model(2, vocab=6, units=4, embed=3)
    never = seq2seq.BasicDecoder(
        cell, seq2seq.ScheduledEmbeddingTrainingSampler(0.0, seed=1), dense
    )
    forced = seq2seq.BasicDecoder(cell, seq2seq.TrainingSampler(), dense)
    always = seq2seq.BasicDecoder(
        cell, seq2seq.ScheduledEmbeddingTrainingSampler(1.0, seed=1), dense
    )
    gru = keras.layers.GRUCell(3)
    gru.build((None, 3))  # outside the compiled function
    outputs = seq2seq.BasicDecoder(
        gru, seq2seq.ScheduledOutputTrainingSampler(1.0, seed=1)
    )
    a, b, c, d = run(  # eager JAX compiles every operation
        lambda: (
            never(x, embedding=embedding)[0],
            forced(x)[0],
            always(x, embedding=embedding)[0],
            outputs(x)[0],
        ),
        jit=BACKEND == "jax",
    )
    np.testing.assert_allclose(
        as_numpy(a.rnn_output), as_numpy(b.rnn_output), atol=1e-6
    )
    assert (as_numpy(a.sample_id) == -1).all()
    assert (as_numpy(c.sample_id) >= 0).all()
    assert as_numpy(d.sample_id).all()


# -- in a Keras model ------------------------------------------------------------


def test_a_beam_search_model_predicts():
    cell, dense, embedding = random_model(4, vocab=6)
    embed = keras.layers.Embedding(6, 3)
    embed.build((None,))
    embed.set_weights([embedding])
    decoder = seq2seq.BeamSearchDecoder(
        cell,
        2,
        embedding_fn=embed,
        output_layer=dense,
        end_token=0,
        length_penalty_weight=0.6,
        maximum_iterations=5,
    )
    encoder_state = keras.Input((4,))
    start = keras.ops.ones_like(encoder_state[:, 0], dtype="int32")
    # one state row per start token: the decoder tiles it
    outputs, _, lengths = decoder(None, start_tokens=start, initial_state=encoder_state)
    model = keras.Model(encoder_state, [outputs.predicted_ids, lengths])
    states = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    ids, got_lengths = model.predict(states, batch_size=2, verbose=0)
    assert ids.shape == (5, 5, 2) and got_lengths.shape == (5, 2)
    # the same as decoding the first two with a tiled state (tfa's way)
    want = run(
        lambda: decoder(
            None,
            start_tokens=np.ones(2, "int32"),
            initial_state=seq2seq.tile_batch(states[:2], 2),
        ),
        jit=BACKEND == "jax",  # eager JAX compiles every operation
    )
    np.testing.assert_array_equal(ids[:2], as_numpy(want[0].predicted_ids))
    np.testing.assert_array_equal(got_lengths[:2], as_numpy(want[2]))


def test_a_teacher_forced_decoder_trains_with_fit():
    # gradients flow through the compiled loop (TensorFlow's while_loop with
    # TensorArrays, JAX's scan)
    inputs = keras.Input((5, 3))
    decoder = seq2seq.BasicDecoder(
        keras.layers.GRUCell(4), seq2seq.TrainingSampler(), keras.layers.Dense(6)
    )
    outputs, _, _ = decoder(inputs)
    model = keras.Model(inputs, outputs.rnn_output)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 5, 3)).astype("float32")
    y = rng.integers(0, 6, (16, 5))
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert history.history["loss"][1] < history.history["loss"][0]
    assert all(
        not np.allclose(a, b) for a, b in zip(before, model.get_weights(), strict=True)
    )


class AttentionLikeCell(keras.layers.Layer):
    """A GRU cell whose state also carries `alignments` over 3 source
    positions (softmax of a projection of h), as an attention cell's does."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.gru = keras.layers.GRUCell(4)
        self.score = keras.layers.Dense(3)
        self.state_size = [4, 3]
        self.output_size = 4

    def build(self, input_shape):
        self.gru.build(input_shape)
        self.score.build((None, 4))

    def call(self, inputs, states, training=None):
        h, _ = self.gru(inputs, [states[0]])
        return h, [h, keras.ops.softmax(self.score(h))]


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "compiled"])
def test_coverage_penalty_reads_the_alignments_of_the_state(jit):
    if BACKEND == "jax" and not jit:
        pytest.skip("eager JAX is slow; its eager loop runs in test_greedy_matches_tfa")
    _, dense, embedding = random_model(1, vocab=6)
    cell = AttentionLikeCell()
    state = [np.zeros((2, 4), "float32"), np.zeros((2, 3), "float32")]

    def decode(weight):
        decoder = seq2seq.BeamSearchDecoder(
            cell,
            3,
            output_layer=dense,
            end_token=0,
            maximum_iterations=6,
            coverage_penalty_weight=weight,
            alignments_fn=lambda s: s[1],
        )
        return decoder(embedding, start_tokens=np.array([1, 2]), initial_state=state)

    cell.build((None, 3))
    with_penalty = run(lambda: decode(0.5), jit)
    without = run(lambda: decode(0.0), jit)
    if BACKEND != "jax":  # the same eagerly and compiled
        eager = decode(0.5)
        np.testing.assert_allclose(
            as_numpy(with_penalty[1].log_probs), as_numpy(eager[1].log_probs), atol=1e-5
        )
    # the penalty (<= 0) lowers finished beams' scores, never below -inf
    scores = as_numpy(with_penalty[0].beam_search_decoder_output.scores)
    assert np.isfinite(scores).all()
    plain = as_numpy(without[0].beam_search_decoder_output.scores)
    assert scores[:, 0].max() <= plain[:, 0].max() + 1e-6


class CountDown(seq2seq.Decoder):
    """A decoder object (no layer): emits n, n - 1, ... and finishes at 0."""

    def initialize(self, inputs, **kwargs):
        start = keras.ops.convert_to_tensor(inputs)
        return start <= 0, start, start

    def step(self, time, inputs, state, training=None):
        nxt = state - 1
        return nxt, nxt, nxt, nxt <= 0


def test_dynamic_decode_runs_a_plain_decoder_object():
    outputs, state, lengths = seq2seq.dynamic_decode(
        CountDown(), decoder_init_input=np.array([3, 1, 0])
    )
    # without impute_finished, finished rows go on computing
    np.testing.assert_array_equal(
        as_numpy(outputs), [[2, 1, 0], [0, -1, -2], [-1, -2, -3]]
    )
    outputs, state, lengths = seq2seq.dynamic_decode(
        CountDown(), decoder_init_input=np.array([3, 1, 0]), impute_finished=True
    )
    np.testing.assert_array_equal(as_numpy(outputs), [[2, 1, 0], [0, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(as_numpy(state), [0, 0, 0])
    np.testing.assert_array_equal(as_numpy(lengths), [3, 1, 0])
    outputs, _, _ = seq2seq.dynamic_decode(
        CountDown(), decoder_init_input=np.array([3, 1]), maximum_iterations=5
    )
    assert as_numpy(outputs).shape == (2, 5)


def test_beam_search_decoder_config_round_trip():
    decoder = seq2seq.BeamSearchDecoder(
        keras.layers.LSTMCell(4),
        5,
        embedding_fn=keras.layers.Embedding(9, 3),
        output_layer=keras.layers.Dense(9),
        length_penalty_weight=0.6,
        end_token=2,
        maximum_iterations=11,
    )
    config = decoder.get_config()
    again = seq2seq.BeamSearchDecoder.from_config(config)
    assert again.get_config() == config
    assert again.beam_width == 5 and again.maximum_iterations == 11


@keras.saving.register_keras_serializable("test_seq2seq_decoding")
def feed_back(outputs):
    return outputs


@pytest.mark.parametrize(
    "sampler",
    [
        lambda e: seq2seq.TrainingSampler(time_major=True),
        lambda e: seq2seq.ScheduledEmbeddingTrainingSampler(0.3, e, seed=4),
        lambda e: seq2seq.ScheduledOutputTrainingSampler(
            0.2, seed=5, next_inputs_fn=feed_back
        ),
        lambda e: seq2seq.GreedyEmbeddingSampler(e),
        lambda e: seq2seq.SampleEmbeddingSampler(e, 0.5, seed=6, top_k=3),
    ],
)
def test_basic_decoder_and_its_sampler_config_round_trip(sampler):
    decoder = seq2seq.BasicDecoder(
        keras.layers.GRUCell(4),
        sampler(keras.layers.Embedding(9, 3)),
        output_layer=keras.layers.Dense(9),
        maximum_iterations=7,
    )
    config = decoder.get_config()
    again = seq2seq.BasicDecoder.from_config(config)
    assert type(again.sampler) is type(decoder.sampler)
    assert again.get_config() == config
    assert again.maximum_iterations == 7


def test_a_greedy_decoding_model_reloads_from_keras_file(tmp_path):
    keras.utils.set_random_seed(2)
    state = keras.Input((4,))
    decoder = seq2seq.BasicDecoder(
        keras.layers.GRUCell(4),
        seq2seq.GreedyEmbeddingSampler(keras.layers.Embedding(9, 3)),
        output_layer=keras.layers.Dense(9),
        maximum_iterations=5,
    )
    outputs, _, lengths = decoder(
        None,
        initial_state=state,
        start_tokens=keras.ops.ones_like(state[:, 0], dtype="int32"),
        end_token=0,
    )
    model = keras.Model(state, [outputs.sample_id, lengths])
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    ids, id_lengths = model.predict(x, verbose=0)
    model.save(tmp_path / "greedy.keras")
    again = keras.saving.load_model(tmp_path / "greedy.keras")
    reloaded_ids, reloaded_lengths = again.predict(x, verbose=0)
    np.testing.assert_array_equal(reloaded_lengths, id_lengths)
    np.testing.assert_array_equal(reloaded_ids, ids)


# -- bad arguments ---------------------------------------------------------------


def test_bad_arguments_say_what_is_wrong():
    cell = keras.layers.GRUCell(4)
    with pytest.raises(ValueError, match="beam_width.*positive integer.*0"):
        seq2seq.BeamSearchDecoder(cell, 0)
    with pytest.raises(ValueError, match="maximum_iterations.*-1"):
        seq2seq.BeamSearchDecoder(cell, 2, maximum_iterations=-1)
    with pytest.raises(ValueError, match="end_token.*>= 0"):
        seq2seq.BeamSearchDecoder(cell, 2, end_token=-1)
    with pytest.raises(ValueError, match="softmax_temperature"):
        seq2seq.SampleEmbeddingSampler(softmax_temperature=0.0)
    with pytest.raises(ValueError, match="top_k"):
        seq2seq.SampleEmbeddingSampler(top_k=0)
    with pytest.raises(ValueError, match="sampling_probability"):
        seq2seq.ScheduledEmbeddingTrainingSampler(1.5)
    _, dense, embedding = random_model(0, vocab=6)
    state = np.zeros((2, 4), "float32")
    beam = seq2seq.BeamSearchDecoder(cell, 3, output_layer=dense, end_token=6)
    with pytest.raises(ValueError, match=r"end_token.*\[0, 6\).*Received: end_token=6"):
        beam(
            embedding,
            start_tokens=np.array([1, 1]),
            initial_state=seq2seq.tile_batch(state, 3),
        )
    beam = seq2seq.BeamSearchDecoder(cell, 3, output_layer=dense, end_token=0)
    with pytest.raises(ValueError, match="batch = 2 rows.*or.*6 rows.*tile_batch"):
        beam(embedding, start_tokens=np.array([1, 1]), initial_state=state[:1])
    coverage = seq2seq.BeamSearchDecoder(
        cell, 3, output_layer=dense, end_token=0, coverage_penalty_weight=0.2
    )
    with pytest.raises(ValueError, match="coverage_penalty_weight.*alignments"):
        coverage(
            embedding,
            start_tokens=np.array([1, 1]),
            initial_state=seq2seq.tile_batch(state, 3),
        )
    greedy = seq2seq.BasicDecoder(cell, seq2seq.GreedyEmbeddingSampler(), dense)
    with pytest.raises(ValueError, match="start_tokens"):
        greedy(
            embedding, start_tokens=np.array([[1]]), end_token=0, initial_state=state
        )
    with pytest.raises(ValueError, match="needs an embedding"):
        greedy(None, start_tokens=np.array([1, 1]), end_token=0, initial_state=state)
    training = seq2seq.BasicDecoder(cell, seq2seq.TrainingSampler())
    with pytest.raises(ValueError, match=r"sequence_length.*\[0, 3\]"):
        training(np.zeros((2, 3, 2), "float32"), sequence_length=np.array([4, 1]))
    with pytest.raises(ValueError, match="parent_ids.*beam indices"):
        seq2seq.gather_tree(
            np.zeros((2, 1, 2), "int32"),
            np.full((2, 1, 2), 2, "int32"),
            np.array([2]),
            0,
        )


def test_compiled_decoding_without_a_bound_is_refused():
    if BACKEND == "torch":
        pytest.skip("torch runs eagerly")
    cell, dense, embedding = random_model(0, vocab=6)
    decoder = seq2seq.BasicDecoder(cell, seq2seq.GreedyEmbeddingSampler(), dense)
    with pytest.raises(ValueError, match="maximum_iterations.*is required"):
        run(
            lambda: decoder(
                embedding,
                start_tokens=np.array([1]),
                end_token=0,
                initial_state=np.zeros((1, 4), "float32"),
            ),
            jit=True,
        )
