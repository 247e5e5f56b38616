"""`WithMemory` in the two places a trained encoder-decoder needs it beyond
teacher forcing: around a decoder (greedy and beam search inside a Keras
model, for `predict` and export) and for the alignments (`return_alignments`,
and `keras_rnnkit.attention_weights` on a whole model)."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_rnnkit
from keras_rnnkit import seq2seq

BACKEND = keras.backend.backend()
VOCAB, UNITS, DEPTH, STEPS, START, END = 9, 8, 6, 5, 1, 2


def numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


def data():
    rng = np.random.default_rng(0)
    memory = rng.normal(size=(3, 4, DEPTH)).astype("float32")
    lengths = np.array([4, 2, 1], "int32")
    memory[1, 2:] = np.nan  # padding: never read
    memory[2, 1:] = np.nan
    h = rng.normal(size=(3, UNITS)).astype("float32")
    c = rng.normal(size=(3, UNITS)).astype("float32")
    return memory, lengths, h, c


def layers():
    keras.utils.set_random_seed(4)
    cell = seq2seq.AttentionWrapper(
        keras.layers.LSTMCell(UNITS),
        seq2seq.BahdanauAttention(7, normalize=True),
        attention_layer_size=UNITS,
    )
    embedding = keras.layers.Embedding(VOCAB, 4, mask_zero=True)
    projection = keras.layers.Dense(VOCAB)
    return cell, embedding, projection


def make_decoder(cell, embedding, projection, width):
    if width == 1:
        return seq2seq.BasicDecoder(
            cell,
            seq2seq.GreedyEmbeddingSampler(embedding_fn=embedding),
            output_layer=projection,
            maximum_iterations=STEPS,
        )
    return seq2seq.BeamSearchDecoder(
        cell,
        beam_width=width,
        embedding_fn=embedding,
        output_layer=projection,
        length_penalty_weight=0.5,
        end_token=END,
        maximum_iterations=STEPS,
    )


def results(outputs, lengths, width):
    if width == 1:
        return numpy(outputs.sample_id), numpy(lengths)
    return numpy(outputs.predicted_ids), numpy(lengths)


def by_hand(cell, embedding, projection, width, memory, lengths, h, c):
    """The documented way outside a model: bind the (tiled) memory."""
    decoder = make_decoder(cell, embedding, projection, width)
    tile = (lambda x: seq2seq.tile_batch(x, width)) if width > 1 else (lambda x: x)
    with cell.bind_memory(tile(memory), tile(lengths), initial_cell_state=[h, c]):
        state = cell.get_initial_state(batch_size=len(memory))
        kwargs = {"start_tokens": np.full(len(memory), START, "int32")}
        if width == 1:
            kwargs["end_token"] = END
        outputs, _, out_lengths = decoder(None, initial_state=state, **kwargs)
    return results(outputs, out_lengths, width)


def in_a_model(cell, embedding, projection, width):
    memory = keras.Input((None, DEPTH))
    lengths = keras.Input((), dtype="int32")
    h, c = keras.Input((UNITS,)), keras.Input((UNITS,))
    decoder = make_decoder(cell, embedding, projection, width)
    start = ops.full_like(lengths, START)
    outputs, _, out_lengths = seq2seq.WithMemory(decoder)(
        None,
        memory,
        memory_sequence_length=lengths,
        initial_cell_state=[h, c],
        start_tokens=start,
        end_token=END if width == 1 else None,
    )
    ids = outputs.sample_id if width == 1 else outputs.predicted_ids
    return keras.Model([memory, lengths, h, c], [ids, out_lengths])


@pytest.mark.parametrize("width", [1, 3])
def test_a_decoder_in_a_model_decodes_as_the_memory_bound_by_hand(width):
    cell, embedding, projection = layers()
    memory, lengths, h, c = data()
    model = in_a_model(cell, embedding, projection, width)
    ids, out_lengths = model.predict([memory, lengths, h, c], verbose=0)
    expected_ids, expected_lengths = by_hand(
        cell, embedding, projection, width, memory, lengths, h, c
    )
    assert ids.shape == expected_ids.shape  # (batch, STEPS[, width])
    np.testing.assert_array_equal(out_lengths, expected_lengths)
    steps = np.arange(STEPS)[None, :, None] if width > 1 else np.arange(STEPS)[None]
    valid = steps < (
        out_lengths[:, None, :] if width > 1 else out_lengths[:, None]
    )  # past its end a row holds anything
    np.testing.assert_array_equal(
        np.where(valid, ids, -1), np.where(valid, expected_ids, -1)
    )
    # Each row is its own: decoded alone, without its padding, it is the same.
    alone = model.predict([memory[1:2, :2], lengths[1:2], h[1:2], c[1:2]], verbose=0)
    np.testing.assert_array_equal(alone[1], out_lengths[1:2])
    np.testing.assert_array_equal(
        np.where(valid[1:2], alone[0], -1), np.where(valid[1:2], ids[1:2], -1)
    )


def teacher_forced(cell, what="logits", rnn=keras_rnnkit.DynamicRNN):
    """A teacher-forced model `[memory, lengths, tokens] -> `: the logits,
    the RNN's outputs (`"outputs"`), or `[outputs, alignments]`
    (`"alignments"`, with `return_alignments=True`)."""
    memory = keras.Input((None, DEPTH))
    lengths = keras.Input((), dtype="int32")
    tokens = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(VOCAB, 4, mask_zero=True, name="tokens")(tokens)
    outputs = seq2seq.WithMemory(rnn(cell, return_sequences=True))(
        embedded,
        memory,
        memory_sequence_length=lengths,
        return_alignments=what == "alignments",
    )
    if what == "logits":
        outputs = keras.layers.Dense(VOCAB)(outputs)
    return keras.Model([memory, lengths, tokens], outputs)


def test_return_alignments_gives_the_alignment_history_of_a_cell_built_without():
    memory, lengths, _, _ = data()
    tokens = np.array([[1, 3, 4], [1, 5, 0], [1, 0, 0]], "int32")

    def build(history):
        keras.utils.set_random_seed(5)
        cell = seq2seq.AttentionWrapper(
            keras.layers.GRUCell(UNITS),
            seq2seq.LuongAttention(UNITS, scale=True),
            attention_layer_size=UNITS,
            alignment_history=history,
        )
        return cell

    asked = teacher_forced(build(False), "alignments")
    outputs, alignments = asked.predict([memory, lengths, tokens], verbose=0)
    built_with = build(True)
    model = teacher_forced(built_with, "outputs")
    model.set_weights(asked.get_weights())
    history = model.predict([memory, lengths, tokens], verbose=0)
    expected_outputs, [expected] = built_with.split_alignment_history(history)
    np.testing.assert_allclose(outputs, numpy(expected_outputs), atol=1e-6)
    np.testing.assert_allclose(alignments, numpy(expected), atol=1e-6)
    assert alignments.shape == (3, 3, 4)
    for row, n in enumerate(lengths):
        np.testing.assert_array_equal(alignments[row, :, n:], 0.0)  # padding
        np.testing.assert_allclose(alignments[row, 0].sum(), 1.0, atol=1e-5)


@pytest.mark.parametrize("rnn", [keras_rnnkit.DynamicRNN, keras.layers.RNN])
def test_attention_weights_of_a_trained_seq2seq_model_and_after_reload(tmp_path, rnn):
    keras.utils.set_random_seed(6)
    cell = seq2seq.AttentionWrapper(
        keras.layers.LSTMCell(UNITS),
        seq2seq.LuongAttention(UNITS),
        attention_layer_size=UNITS,
    )
    model = teacher_forced(cell, rnn=rnn)  # keras.layers.RNN: masked steps not zeroed
    if BACKEND == "jax" and rnn is keras.layers.RNN:
        x = [np.ones((1, 3, DEPTH), "float32"), np.array([3]), np.array([[1, 2, 0]])]
        with pytest.raises(ValueError, match="needs keras_rnnkit.DynamicRNN on JAX"):
            keras_rnnkit.attention_weights(model, x)
        return
    memory, lengths, _, _ = data()
    memory = np.nan_to_num(memory, nan=7.0)
    tokens = np.array([[1, 3, 4], [1, 5, 0], [1, 0, 0]], "int32")
    model.compile("adam", seq2seq.SequenceLoss())
    model.fit([memory, lengths, tokens], tokens, epochs=2, verbose=0)
    weights = keras_rnnkit.attention_weights(model, [memory, lengths, tokens])
    assert weights.shape == (3, 3, 4)
    for row, n in enumerate(lengths):
        np.testing.assert_array_equal(weights[row, :, n:], 0.0)  # memory padding
    # decoder steps past the input's end (masked tokens) are zero too
    np.testing.assert_array_equal(weights[1, 2:], 0.0)
    np.testing.assert_array_equal(weights[2, 1:], 0.0)
    np.testing.assert_allclose(weights[0].sum(-1), 1.0, atol=1e-5)
    # the model's own alignments: the same as return_alignments on its layers
    with_memory = [x for x in model.layers if isinstance(x, seq2seq.WithMemory)][0]
    embedded = model.get_layer("tokens")(ops.convert_to_tensor(tokens))
    _, direct = with_memory(
        embedded,
        ops.convert_to_tensor(memory),
        memory_sequence_length=ops.convert_to_tensor(lengths),
        return_alignments=True,
    )
    np.testing.assert_allclose(weights[0], numpy(direct)[0], atol=1e-6)
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(
        keras_rnnkit.attention_weights(again, [memory, lengths, tokens]),
        weights,
        atol=1e-6,
    )


def test_a_decoding_model_reloads_from_keras_file(tmp_path):
    cell, embedding, projection = layers()
    memory, lengths, h, c = data()
    for width in (1, 3):
        model = in_a_model(cell, embedding, projection, width)
        ids, out_lengths = model.predict([memory, lengths, h, c], verbose=0)
        model.save(tmp_path / f"decoder{width}.keras")
        again = keras.saving.load_model(tmp_path / f"decoder{width}.keras")
        reloaded_ids, reloaded_lengths = again.predict(
            [memory, lengths, h, c], verbose=0
        )
        np.testing.assert_array_equal(reloaded_lengths, out_lengths)
        np.testing.assert_array_equal(reloaded_ids, ids)


def test_a_training_sampler_reads_the_mask_of_its_inputs():
    cell, embedding, projection = layers()
    memory, lengths, _, _ = data()
    tokens = keras.Input((None,), dtype="int32")
    memory_in = keras.Input((None, DEPTH))
    decoder = seq2seq.BasicDecoder(
        cell, seq2seq.TrainingSampler(), output_layer=projection, maximum_iterations=3
    )
    _, _, out_lengths = seq2seq.WithMemory(decoder)(embedding(tokens), memory_in)
    model = keras.Model([tokens, memory_in], out_lengths)
    ids = np.array([[1, 2, 3], [1, 0, 0], [1, 4, 0]], "int32")
    np.testing.assert_array_equal(
        model.predict([ids, np.nan_to_num(memory)], verbose=0), [3, 1, 2]
    )


class _OwnSampler(seq2seq.GreedyEmbeddingSampler):
    def __init__(self, table, bonus=1.0):  # arguments kept under other names
        super().__init__(table)
        self._bonus = bonus


def test_a_sampler_without_a_config_saves_and_says_why_it_cannot_reload(tmp_path):
    cell, embedding, projection = layers()
    decoder = seq2seq.BasicDecoder(cell, _OwnSampler(embedding), projection)
    with pytest.raises(NotImplementedError, match="`table` is not an attribute"):
        decoder.sampler.get_config()
    config = decoder.get_config()
    assert config["sampler"] is None
    with pytest.raises(ValueError, match="sampler that has no config"):
        seq2seq.BasicDecoder.from_config(config)


def test_errors_name_what_is_wrong():
    cell, embedding, projection = layers()
    plain = seq2seq.BasicDecoder(
        keras.layers.LSTMCell(UNITS),
        seq2seq.GreedyEmbeddingSampler(embedding_fn=embedding),
        maximum_iterations=3,
    )
    with pytest.raises(ValueError, match="RNN layer .* or a keras_rnnkit.seq2seq"):
        seq2seq.WithMemory(plain)
    stacked = seq2seq.BasicDecoder(
        keras_rnnkit.MultiRNNCell([cell, keras.layers.LSTMCell(UNITS)]),
        seq2seq.GreedyEmbeddingSampler(embedding_fn=embedding),
        maximum_iterations=3,
    )
    with pytest.raises(ValueError, match="must be the AttentionWrapper itself"):
        seq2seq.WithMemory(stacked)
    memory, lengths, h, c = data()
    decoder = seq2seq.WithMemory(make_decoder(cell, embedding, projection, 2))
    with pytest.raises(ValueError, match="return_alignments is for RNN layers"):
        decoder(None, memory, start_tokens=np.ones(3, "int32"), return_alignments=True)
    rnn = seq2seq.WithMemory(keras.layers.RNN(cell, return_sequences=True))
    inputs = np.ones((3, 2, 4), "float32")
    with pytest.raises(ValueError, match=r"\['start_tokens'\] are for decoders"):
        rnn(inputs, memory, start_tokens=np.ones(3, "int32"))
    with pytest.raises(ValueError, match="return_alignments"):
        rnn(inputs, memory, return_alignments="yes")
    with pytest.raises(ValueError, match="alignment_history"):
        with cell.bind_memory(memory, alignment_history=1):
            pass
    model = keras.Model(*_a_decoding_model(cell, embedding, projection))
    with pytest.raises(ValueError, match="alignments come from the teacher-forced"):
        keras_rnnkit.attention_weights(model, [memory, lengths])


def _a_decoding_model(cell, embedding, projection):
    memory = keras.Input((None, DEPTH))
    lengths = keras.Input((), dtype="int32")
    outputs, _, _ = seq2seq.WithMemory(make_decoder(cell, embedding, projection, 2))(
        None,
        memory,
        memory_sequence_length=lengths,
        start_tokens=ops.ones_like(lengths),
    )
    return [memory, lengths], outputs.predicted_ids


def test_mixed_precision_trains_gives_alignments_and_decodes():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(7)
        source = keras.Input((None,), dtype="int32")
        target_in = keras.Input((None,), dtype="int32")
        letters = keras.layers.Embedding(10, 4, mask_zero=True)(source)
        memory, h, c = keras_rnnkit.BidirectionalEncoder(
            keras.layers.LSTMCell(4), return_state=True
        )(letters)
        cell = seq2seq.AttentionWrapper(
            keras.layers.LSTMCell(UNITS),
            seq2seq.BahdanauAttention(UNITS, normalize=True),
            attention_layer_size=UNITS,
        )
        embedding = keras.layers.Embedding(10, 4, mask_zero=True)
        projection = keras.layers.Dense(10, dtype="float32")
        decoded = seq2seq.WithMemory(
            keras_rnnkit.DynamicRNN(cell, return_sequences=True)
        )(embedding(target_in), memory, initial_cell_state=[h, c])
        model = keras.Model([source, target_in], projection(decoded))
        model.compile("adam", seq2seq.SequenceLoss())
        words = np.array([[3, 4, 5, 0], [6, 7, 0, 0]])
        tokens = np.array([[1, 3, 4], [1, 2, 0]])
        losses = model.fit([words, tokens], tokens, epochs=2, verbose=0).history["loss"]
        assert np.all(np.isfinite(losses))
        weights = keras_rnnkit.attention_weights(model, [words, tokens])
        np.testing.assert_allclose(weights[0, :3].sum(-1), 1.0, atol=2e-3)
        np.testing.assert_array_equal(weights[1, :, 2:], 0.0)
        decoder = seq2seq.BeamSearchDecoder(
            cell,
            beam_width=3,
            embedding_fn=embedding,
            output_layer=projection,
            end_token=2,
            maximum_iterations=5,
        )
        outputs, _, lengths = seq2seq.WithMemory(decoder)(
            None,
            memory,
            initial_cell_state=[h, c],
            start_tokens=ops.ones_like(source[:, 0]),
        )
        ids = keras.Model(source, outputs.predicted_ids).predict(words, verbose=0)
        assert ids.shape == (2, 5, 3) and ids.min() >= 0 and ids.max() < 10
    finally:
        keras.config.set_dtype_policy(previous)
