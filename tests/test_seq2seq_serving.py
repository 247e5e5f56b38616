"""A decoding model served from a TensorFlow SavedModel, and from ONNX
exported on torch (docs/deploy.md, "Serving a decoder")."""

import importlib.util
import warnings

import keras
import numpy as np
import pytest

from keras_rnnkit import seq2seq


def translator(beam_width):
    vocab, units = 12, 16
    source = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(vocab, 8, mask_zero=True)(source)
    _, h, c = keras.layers.LSTM(units, return_state=True)(x)
    cell = keras.layers.LSTMCell(units)
    embedding = keras.layers.Embedding(vocab, 8)
    projection = keras.layers.Dense(vocab)
    start = keras.ops.ones_like(source[:, 0])
    if beam_width:
        decoder = seq2seq.BeamSearchDecoder(
            cell,
            beam_width=beam_width,
            embedding_fn=embedding,
            output_layer=projection,
            length_penalty_weight=0.6,
            end_token=0,
            maximum_iterations=8,
        )
        outputs, _, lengths = decoder(None, start_tokens=start, initial_state=[h, c])
        return keras.Model(source, [outputs.predicted_ids[:, :, 0], lengths[:, 0]])
    decoder = seq2seq.BasicDecoder(
        cell,
        seq2seq.GreedyEmbeddingSampler(embedding_fn=embedding),
        output_layer=projection,
        maximum_iterations=8,
    )
    outputs, _, lengths = decoder(
        None, start_tokens=start, end_token=0, initial_state=[h, c]
    )
    return keras.Model(source, [outputs.sample_id, lengths])


@pytest.mark.tf_only
@pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is None, reason="needs TensorFlow"
)
@pytest.mark.parametrize("beam_width", [0, 3], ids=["greedy", "beam3"])
def test_saved_model_serves_every_batch_size_and_length(tmp_path, beam_width):
    import tensorflow as tf

    model = translator(beam_width)
    model.export(str(tmp_path / "served"), format="tf_saved_model", verbose=False)
    served = tf.saved_model.load(str(tmp_path / "served"))
    rng = np.random.default_rng(0)
    for shape in [(4, 6), (2, 11), (1, 3)]:
        words = rng.integers(1, 12, shape).astype("int32")
        got = served.serve(words)
        want = model.predict(words, verbose=0)
        assert len(got) == len(want) == 2
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(np.asarray(g), w)
        assert want[0].shape == (shape[0], 8)


@pytest.mark.skipif(
    keras.backend.backend() != "torch",
    reason=f"ONNX export of a decoder from torch, running {keras.backend.backend()}",
)
@pytest.mark.parametrize("beam_width", [0, 3], ids=["greedy", "beam3"])
def test_onnx_from_torch_serves_every_batch_size(tmp_path, beam_width):
    # what Keras's torch ONNX export needs (the `export` extra)
    pytest.importorskip("onnxscript", reason="onnx export from torch needs onnxscript")
    onnxruntime = pytest.importorskip(
        "onnxruntime", reason="onnx export from torch needs onnxruntime"
    )
    model = translator(beam_width)
    # The traced LSTM encoder serves the source length it was traced with
    # (docs/deploy.md, note 6): fix it, leave the batch free.
    path = str(tmp_path / "translator.onnx")
    signature = [keras.InputSpec(shape=(None, 6), dtype="int32")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's TracerWarnings
        model.export(path, format="onnx", verbose=False, input_signature=signature)
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    (source,) = session.get_inputs()
    assert isinstance(source.shape[0], str) and source.shape[1] == 6
    rng = np.random.default_rng(0)
    for batch in (1, 3, 8):
        words = rng.integers(1, 12, (batch, 6)).astype("int32")
        words[: batch // 2, 4:] = 0  # padding in half the rows
        got = session.run(None, {source.name: words})
        want = model.predict(words, verbose=0, batch_size=batch)
        assert len(got) == len(want) == 2
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w, err_msg=f"{batch=}")
        assert want[0].shape == (batch, 8)
