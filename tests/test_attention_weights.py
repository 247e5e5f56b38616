"""keras_rnnkit.attention_weights: a trained model's attention in one call."""

import keras
import numpy as np
import pytest

import keras_rnnkit
from keras_rnnkit import AttentionPooling, BidirectionalEncoder, HierarchicalEncoder


def han_classifier(**encoder_kwargs):
    """Embedding (ids 0 pad) -> HierarchicalEncoder -> softmax, as the
    document-classification recipe builds it (smaller)."""
    ids = keras.Input((None, None), dtype="int32")
    vectors = keras.layers.Embedding(30, 6, mask_zero=True)(ids)
    vectors = keras.layers.Dropout(0.3, seed=1)(vectors)
    encoder = HierarchicalEncoder(
        BidirectionalEncoder(keras.layers.GRUCell(3)),
        BidirectionalEncoder(keras.layers.GRUCell(3)),
        **encoder_kwargs,
    )
    outputs = keras.layers.Dense(4, activation="softmax")(encoder(vectors))
    return keras.Model(ids, outputs)


def documents():
    ids = np.random.default_rng(0).integers(1, 30, (3, 4, 5)).astype("int32")
    ids[0, 2:] = 0  # two padded sentences
    ids[1, 1, 2:] = 0  # a short sentence
    ids[2, :, 4:] = 0
    return ids


def by_hand(model, ids):
    """What a user had to write: the layers called one by one, eagerly."""
    embedding, dropout, encoder = model.layers[1:4]
    vectors = dropout(embedding(ids), training=False)
    _, words, sentences = encoder(
        vectors, mask=embedding.compute_mask(ids), return_weights=True
    )
    return keras.ops.convert_to_numpy(words), keras.ops.convert_to_numpy(sentences)


def test_hierarchical_weights_equal_the_layers_called_by_hand():
    model = han_classifier()
    ids = documents()
    words, sentences = keras_rnnkit.attention_weights(model, ids)
    want_words, want_sentences = by_hand(model, ids)
    np.testing.assert_allclose(words, want_words, atol=1e-6)
    np.testing.assert_allclose(sentences, want_sentences, atol=1e-6)
    assert words.shape == (3, 4, 5) and sentences.shape == (3, 4)
    valid = ids > 0
    assert np.all(words[~valid] == 0.0) and np.all(sentences[~valid.any(-1)] == 0.0)
    np.testing.assert_allclose(sentences.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(words.sum(-1)[valid.any(-1)], 1.0, atol=1e-5)


def test_a_reloaded_model_gives_the_same_weights_and_is_left_unchanged(tmp_path):
    model = han_classifier()
    ids = documents()
    before = model.predict(ids, verbose=0)
    layers = list(model.layers)
    path = tmp_path / "han.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    want = keras_rnnkit.attention_weights(model, ids, batch_size=2)
    got = keras_rnnkit.attention_weights(reloaded, ids)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert model.layers == layers and len(model.outputs) == 1
    np.testing.assert_allclose(model.predict(ids, verbose=0), before, atol=1e-6)


def test_sequential_attention_pooling():
    pooling = AttentionPooling(4, name="pool")
    model = keras.Sequential(
        [keras.Input((None, 3)), keras.layers.Masking(0.0), pooling]
        + [keras.layers.Dense(2)]
    )
    x = np.random.default_rng(1).normal(size=(3, 6, 3)).astype("float32")
    x[0, 4:] = 0.0
    x[2, 1:] = 0.0
    weights = keras_rnnkit.attention_weights(model, x, layer="pool")
    _, want = pooling(x, mask=np.any(x != 0, -1), return_weights=True)
    np.testing.assert_allclose(weights, keras.ops.convert_to_numpy(want), atol=1e-6)
    assert weights.shape == (3, 6)
    assert np.all(weights[0, 4:] == 0.0) and np.all(weights[2, 1:] == 0.0)
    assert weights[2, 0] == pytest.approx(1.0)


def two_poolings():
    x = keras.Input((None, 3))
    masked = keras.layers.Masking(0.0)(x)
    a = AttentionPooling(4, name="first")(masked)
    b = AttentionPooling(4, name="second")(masked)
    return keras.Model(x, keras.layers.Concatenate()([a, b]))


def test_the_layer_is_chosen_by_name_or_object():
    model = two_poolings()
    x = np.random.default_rng(2).normal(size=(2, 5, 3)).astype("float32")
    first = keras_rnnkit.attention_weights(model, x, layer="first")
    second = keras_rnnkit.attention_weights(model, x, layer=model.get_layer("second"))
    assert first.shape == second.shape == (2, 5)
    assert not np.allclose(first, second)  # two layers, two sets of weights


@pytest.mark.parametrize(
    "make, kwargs, match",
    [
        (two_poolings, {}, r"2 attention layers \['first', 'second'\]: pass layer="),
        (two_poolings, {"layer": "third"}, r"layer='third' is not an attention"),
        (
            lambda: keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]),
            {},
            "has no HierarchicalEncoder or AttentionPooling",
        ),
        (
            lambda: han_classifier(sentence_pooling="mean"),
            {},
            "pools with attention",
        ),
        (lambda: keras.layers.Dense(2), {}, "`model` must be a Keras model"),
    ],
)
def test_errors_name_what_is_wrong(make, kwargs, match):
    with pytest.raises(ValueError, match=match):
        keras_rnnkit.attention_weights(make(), np.zeros((1, 2, 2)), **kwargs)
