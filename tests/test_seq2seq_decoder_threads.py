"""One decoder, several threads at once: nothing of a call lives on it.

The decoders and samplers keep what `initialize` computes (the inputs, the
start tokens, the end token, the noise...) in a per-thread, per-decode
object, not on themselves. Oracles: each input decoded alone, in one
thread, by the same decoder; and a walk of the decoder's and sampler's
attributes after calls, which must hold no tensor.
"""

import threading
import time

import keras
import numpy as np
import pytest

from keras_rnnkit import seq2seq

VOCAB, EMBED, UNITS, STEPS, WIDTH, THREADS = 6, 3, 4, 3, 2, 4


def as_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


class SlowCell(keras.layers.Layer):
    """A GRU cell that sleeps at each step, so that threads interleave
    between one decode's `initialize` and its steps."""

    def __init__(self, cell, **kwargs):
        super().__init__(**kwargs)
        self.cell = cell
        self.state_size = cell.state_size
        self.output_size = cell.output_size

    def build(self, input_shape):
        self.built = True

    def call(self, inputs, states, training=None):
        time.sleep(0.01)
        return self.cell(inputs, states, training=training)


def layers(seed=0):
    rng = np.random.default_rng(seed)
    cell = keras.layers.GRUCell(UNITS)
    cell.build((None, EMBED))
    cell.set_weights([2 * rng.normal(size=w.shape) for w in cell.get_weights()])
    dense = keras.layers.Dense(VOCAB)
    dense.build((None, UNITS))
    dense.set_weights([2 * rng.normal(size=w.shape) for w in dense.get_weights()])
    embedding = rng.normal(size=(VOCAB, EMBED)).astype("float32")
    return SlowCell(cell), dense, embedding


def cases():
    """One input per thread: batch sizes 1..THREADS, their own start tokens,
    states, teacher-forcing inputs and lengths."""
    rng = np.random.default_rng(1)
    out = []
    for i in range(THREADS):
        batch = i + 1
        out.append(
            dict(
                start_tokens=((np.arange(batch) + i + 1) % VOCAB).astype("int32"),
                state=rng.normal(size=(batch, UNITS)).astype("float32"),
                inputs=rng.normal(size=(batch, STEPS - i % 2, EMBED)).astype("float32"),
                lengths=rng.integers(1, STEPS - i % 2 + 1, size=batch).astype("int32"),
            )
        )
    return out


def decoders():
    cell, dense, embedding = layers()
    beam = seq2seq.BeamSearchDecoder(
        cell, WIDTH, output_layer=dense, end_token=0, maximum_iterations=STEPS
    )
    greedy = seq2seq.BasicDecoder(
        cell, seq2seq.GreedyEmbeddingSampler(), dense, maximum_iterations=STEPS
    )
    training = seq2seq.BasicDecoder(cell, seq2seq.TrainingSampler(), dense)

    def run_beam(case):
        outputs, state, lengths = beam(
            embedding,
            start_tokens=case["start_tokens"],
            initial_state=case["state"],
        )
        return [
            outputs.predicted_ids,
            outputs.beam_search_decoder_output.scores,
            state.log_probs,
            lengths,
        ]

    def run_greedy(case):
        outputs, state, lengths = greedy(
            embedding,
            start_tokens=case["start_tokens"],
            end_token=0,
            initial_state=case["state"],
        )
        return [outputs.rnn_output, outputs.sample_id, state, lengths]

    def run_training(case):
        outputs, state, lengths = training(
            case["inputs"],
            sequence_length=case["lengths"],
            initial_state=case["state"],
        )
        return [outputs.rnn_output, outputs.sample_id, state, lengths]

    return {"beam": run_beam, "greedy": run_greedy, "training": run_training}


def numpy_tree(results):
    return [as_numpy(x) for x in keras.tree.flatten(results)]


def test_one_decoder_decodes_in_several_threads_at_once():
    runs = decoders()
    inputs = cases()
    # each input alone, in this thread (this also builds the layers)
    alone = {
        (kind, i): numpy_tree(run(case))
        for kind, run in runs.items()
        for i, case in enumerate(inputs)
    }
    barrier = threading.Barrier(THREADS)
    got, errors = {}, []

    def work(i):
        try:
            # all threads on the same decoder at the same time
            for kind, run in runs.items():
                barrier.wait(timeout=120)
                got[kind, i] = numpy_tree(run(inputs[i]))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append((i, error))
            barrier.abort()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    real = [e for e in errors if not isinstance(e[1], threading.BrokenBarrierError)]
    if real:
        raise real[0][1]
    assert not errors, errors
    for key, want in alone.items():
        assert len(got[key]) == len(want), key
        for g, w in zip(got[key], want, strict=True):
            assert g.shape == w.shape, key
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, err_msg=str(key))


def _tensors_held(obj, path, seen):
    """The paths of the tensors among `obj`'s attributes (and inside the
    containers and the kit's plain helper objects it holds)."""
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    if keras.ops.is_tensor(obj) or isinstance(obj, keras.KerasTensor):
        return [path]
    found = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            found += _tensors_held(value, f"{path}[{key!r}]", seen)
    elif isinstance(obj, (list, tuple, set)):
        for k, value in enumerate(obj):
            found += _tensors_held(value, f"{path}[{k}]", seen)
    elif hasattr(obj, "__dict__") and (
        not seen - {id(obj)}  # the decoder or sampler itself
        or (
            type(obj).__module__.startswith("keras_rnnkit.seq2seq")
            and not isinstance(obj, keras.layers.Layer)
        )
    ):
        for name, value in vars(obj).items():
            found += _tensors_held(value, f"{path}.{name}", seen)
    return found


def tensors_held(obj):
    return _tensors_held(obj, type(obj).__name__, set())


def test_no_decoder_or_sampler_attribute_holds_a_tensor_after_a_call():
    runs = decoders()
    case = cases()[1]
    for run in runs.values():
        run(case)
    cell, dense, embedding = layers()
    sampled = seq2seq.BasicDecoder(
        cell,
        seq2seq.SampleEmbeddingSampler(seed=2, top_k=3),
        dense,
        maximum_iterations=STEPS,
    )
    sampled(embedding, start_tokens=case["start_tokens"], end_token=0)
    scheduled = seq2seq.BasicDecoder(
        cell, seq2seq.ScheduledEmbeddingTrainingSampler(0.5, seed=1), dense
    )
    scheduled(case["inputs"], sequence_length=case["lengths"], embedding=embedding)
    fed_back = seq2seq.BasicDecoder(
        cell,
        seq2seq.ScheduledOutputTrainingSampler(
            0.5, seed=1, next_inputs_fn=lambda outputs: outputs[:, : EMBED - 1]
        ),
    )
    x = case["inputs"]
    fed_back(x[..., : EMBED - 1], auxiliary_inputs=x[..., :1])
    beam, greedy, training = (_decoder_of(run) for run in runs.values())
    assert tensors_held(beam) == []
    for decoder in (greedy, training, sampled, scheduled, fed_back):
        assert tensors_held(decoder) == []
        assert tensors_held(decoder.sampler) == []


def _decoder_of(run):
    """The decoder a `decoders()` runner calls (from its closure)."""
    for cell in run.__closure__:
        if isinstance(cell.cell_contents, seq2seq.BaseDecoder):
            return cell.cell_contents
    raise AssertionError(run)


def test_initialize_and_step_by_hand_still_work():
    cell, dense, embedding = layers()
    case = cases()[2]
    greedy = seq2seq.BasicDecoder(
        cell, seq2seq.GreedyEmbeddingSampler(), dense, maximum_iterations=STEPS
    )
    outputs, _, _ = greedy(embedding, start_tokens=case["start_tokens"], end_token=0)
    # tfa-style: initialize, then steps, outside dynamic_decode
    finished, inputs, state = greedy.initialize(
        embedding, start_tokens=case["start_tokens"], end_token=0
    )
    assert greedy.batch_size == greedy.sampler.batch_size == 3
    assert greedy.sampler.end_token == 0
    ids = []
    for t in range(STEPS):
        out, state, inputs, finished = greedy.step(t, inputs, state)
        ids.append(as_numpy(out.sample_id))
    ids = np.stack(ids, axis=1)
    want = as_numpy(outputs.sample_id)
    # the same ids until each row's end token (the loop pads after it)
    for row in range(ids.shape[0]):
        stop = list(want[row]).index(0) + 1 if 0 in want[row] else STEPS
        np.testing.assert_array_equal(ids[row, :stop], want[row, :stop])

    beam = seq2seq.BeamSearchDecoder(
        cell, WIDTH, output_layer=dense, end_token=0, maximum_iterations=STEPS
    )
    finished, inputs, state = beam.initialize(
        embedding, start_tokens=case["start_tokens"], initial_state=case["state"]
    )
    assert beam.batch_size == 3
    out, state, inputs, finished = beam.step(0, inputs, state)
    assert tuple(out.predicted_ids.shape) == (3, WIDTH)


def test_step_before_initialize_says_so():
    cell, dense, _ = layers()
    sampler = seq2seq.GreedyEmbeddingSampler()
    with pytest.raises(ValueError, match=r"initialize\(\) must run first"):
        sampler.next_inputs(0, None, None, np.zeros(2, "int32"))
    assert sampler.batch_size is None
