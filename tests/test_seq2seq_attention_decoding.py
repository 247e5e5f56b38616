"""Attention and decoding together: beam search over an AttentionWrapper.

The memory (encoder outputs) and its lengths are bound to the cell with
`bind_memory`, tiled with `tile_batch` for beam search
(docs/concepts/decoding.md).
"""

import keras
import numpy as np
import pytest
from crf_oracle import compiled

from keras_rnnkit import seq2seq

BACKEND = keras.backend.backend()
BATCH, TIME, DEPTH, VOCAB, UNITS, STEPS = 3, 5, 6, 9, 8, 6


def layers(mechanism):
    keras.utils.set_random_seed(3)
    cell = seq2seq.AttentionWrapper(
        keras.layers.LSTMCell(UNITS), mechanism, attention_layer_size=UNITS
    )
    mechanism.build((None, UNITS), (None, TIME, DEPTH))
    cell.build((None, 4))
    embedding = keras.layers.Embedding(VOCAB, 4)
    embedding.build((None,))
    projection = keras.layers.Dense(VOCAB)
    projection.build((None, UNITS))
    return cell, embedding, projection


def data():
    rng = np.random.default_rng(0)
    memory = rng.normal(size=(BATCH, TIME, DEPTH)).astype("float32")
    memory[1, 3:] = np.nan  # padding: never read
    memory[2, 1:] = np.nan
    return memory, np.array([5, 3, 1], "int32")


def beam_search(cell, embedding, projection, width, memory, lengths, penalty=0.6):
    decoder = seq2seq.BeamSearchDecoder(
        cell,
        beam_width=width,
        embedding_fn=embedding,
        output_layer=projection,
        length_penalty_weight=penalty,
        end_token=0,
        maximum_iterations=STEPS,
    )

    def decode():
        with cell.bind_memory(
            seq2seq.tile_batch(memory, width), seq2seq.tile_batch(lengths, width)
        ):
            state = cell.get_initial_state(batch_size=memory.shape[0])
            outputs, _, ids_lengths = decoder(
                None,
                start_tokens=np.ones(memory.shape[0], "int32"),
                initial_state=state,
            )
        return (
            outputs.predicted_ids,
            outputs.beam_search_decoder_output.scores[:, -1],
            ids_lengths,
        )

    run = compiled(decode) if BACKEND == "jax" else decode  # eager JAX is slow
    return [np.asarray(keras.ops.convert_to_numpy(x)) for x in run()]


def greedy(cell, embedding, projection, memory, lengths):
    decoder = seq2seq.BasicDecoder(
        cell,
        seq2seq.GreedyEmbeddingSampler(embedding_fn=embedding),
        output_layer=projection,
        maximum_iterations=STEPS,
    )

    def decode():
        with cell.bind_memory(memory, lengths):
            state = cell.get_initial_state(batch_size=memory.shape[0])
            outputs, _, ids_lengths = decoder(
                None,
                start_tokens=np.ones(memory.shape[0], "int32"),
                end_token=0,
                initial_state=state,
            )
        return outputs.sample_id, ids_lengths

    run = compiled(decode) if BACKEND == "jax" else decode
    return [np.asarray(keras.ops.convert_to_numpy(x)) for x in run()]


MECHANISMS = {
    "bahdanau": lambda: seq2seq.BahdanauAttention(7, normalize=True),
    "luong": lambda: seq2seq.LuongAttention(UNITS, scale=True),
}


@pytest.mark.parametrize("name", list(MECHANISMS))
def test_each_row_is_decoded_as_alone_and_padding_is_never_read(name):
    cell, embedding, projection = layers(MECHANISMS[name]())
    memory, lengths = data()
    ids, scores, ids_lengths = beam_search(
        cell, embedding, projection, 3, memory, lengths
    )
    assert ids.shape == (BATCH, STEPS, 3) and np.all(np.isfinite(scores))
    rows = (2,) if BACKEND == "jax" else range(BATCH)  # a compile per shape
    for row in rows:
        alone = beam_search(
            cell,
            embedding,
            projection,
            3,
            memory[row : row + 1, : lengths[row]],  # no padding at all
            lengths[row : row + 1],
        )
        np.testing.assert_array_equal(alone[0][0], ids[row])
        np.testing.assert_allclose(
            alone[1][0], scores[row], atol=1e-5, err_msg=f"row {row}"
        )
        np.testing.assert_array_equal(alone[2][0], ids_lengths[row])


def test_a_beam_of_one_is_greedy_with_attention():
    cell, embedding, projection = layers(MECHANISMS["bahdanau"]())
    memory, lengths = data()
    ids, _, ids_lengths = beam_search(
        cell, embedding, projection, 1, memory, lengths, penalty=0.0
    )  # a length penalty may prefer another first token than greedy's
    greedy_ids, greedy_lengths = greedy(cell, embedding, projection, memory, lengths)
    np.testing.assert_array_equal(ids_lengths[:, 0], greedy_lengths)
    for row, length in enumerate(greedy_lengths):  # greedy runs on after the end
        np.testing.assert_array_equal(ids[row, :length, 0], greedy_ids[row, :length])
