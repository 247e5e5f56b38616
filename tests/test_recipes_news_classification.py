"""The news-classification recipe: its data loader, tokens, split and quick run."""

import math
import pathlib

import numpy as np
import pytest
from helpers import load_or_skip

from keras_rnnkit.recipes import datasets

CLASSES = [
    "education", "entertainment", "finance", "game", "politics",
    "realty", "science", "society", "sports", "stocks",
]  # fmt: skip


def _titles():
    return load_or_skip(datasets.load_thucnews_titles)


def test_load_thucnews_titles():
    texts, labels, class_names = _titles()
    assert class_names == CLASSES
    assert len(texts) == 10_000 and labels.shape == (10_000,)
    assert labels.dtype == np.int64
    counts = np.bincount(labels, minlength=10)
    assert counts.sum() == 10_000 and 950 <= counts.min() and counts.max() <= 1060
    lengths = np.array([len(t) for t in texts])
    assert lengths.min() >= 4 and lengths.max() == 34 and np.median(lengths) == 19
    assert len(set(texts)) == 10_000  # no duplicated titles
    assert all("\t" not in t and t == t.strip() for t in texts)
    # the first line of the file: a stocks title
    assert class_names[labels[0]] == "stocks" and texts[0].startswith("恒生AH溢指")


def test_tokens_vocabulary_and_encode():
    from keras_rnnkit.recipes import news_classification as news

    chars, bigrams, trigrams = news.tokens("新闻联播")
    assert chars == ["新", "闻", "联", "播"]
    assert bigrams == ["新闻", "闻联", "联播", "播" + news.END]
    assert trigrams == ["新闻联", "闻联播", "联播" + news.END, "播" + news.END * 2]
    vocabularies = news.vocabulary(["新闻", "新闻", "新年"], min_count=2)
    char_vocab, bigram_vocab, trigram_vocab = vocabularies
    assert sorted(char_vocab.values()) == [2, 3, 4]  # 新 闻 年; 0, 1 are reserved
    assert set(bigram_vocab) == {"新闻", "闻" + news.END}  # seen twice
    assert set(trigram_vocab) == {"新闻" + news.END, "闻" + news.END * 2}
    x_chars, x_bigrams, x_trigrams = news.encode(["新年好", ""], vocabularies, 5)
    assert x_chars.shape == x_bigrams.shape == x_trigrams.shape == (2, 5)
    assert x_chars.dtype == np.int32
    assert x_chars[0, :2].tolist() == [char_vocab["新"], char_vocab["年"]]
    assert x_chars[0, 2] == news.UNKNOWN and x_bigrams[0, :3].tolist() == [1, 1, 1]
    assert x_chars[0, 3:].tolist() == [0, 0] and not x_chars[1].any()
    assert x_trigrams[0].tolist() == [1, 1, 1, 0, 0]
    # titles longer than the length are cut
    assert news.encode(["新闻新闻新闻"], vocabularies, 4)[0].all()


def test_split_is_stratified_and_disjoint():
    pytest.importorskip("sklearn")
    from keras_rnnkit.recipes import news_classification as news

    labels = np.repeat(np.arange(10), 100)
    train, validation, test = news.split(labels, seed=0, quick=False)
    assert (len(train), len(validation), len(test)) == (800, 100, 100)
    assert len(set(train) | set(validation) | set(test)) == 1000
    np.testing.assert_array_equal(np.bincount(labels[test]), [10] * 10)
    np.testing.assert_array_equal(np.bincount(labels[validation]), [10] * 10)
    again = news.split(labels, seed=0, quick=False)
    assert all(
        np.array_equal(a, b)
        for a, b in zip(again, (train, validation, test), strict=True)
    )


def test_model_reads_final_states_of_both_layers():
    from keras_rnnkit.recipes import news_classification as news

    model = news.build_model(50, 60, 10)
    x = np.zeros((3, news.MAX_LENGTH), "int32")
    x[:, :4] = 5
    probabilities = np.asarray(model.predict([x, x], verbose=0))
    assert probabilities.shape == (3, 10)
    np.testing.assert_allclose(probabilities.sum(-1), 1, rtol=1e-5)
    # the same prediction twice: token dropout is off outside training
    np.testing.assert_allclose(model.predict([x, x], verbose=0), probabilities)
    # the dense layer reads both GRU layers' states, concatenated
    assert model.get_layer("rnn").output[1].shape == (None, 2 * news.UNITS)
    assert model.get_layer("fc1").kernel.shape == (2 * news.UNITS, 2 * news.UNITS)


def test_bag_of_ngrams_and_its_embeddings_start_the_rnn():
    from keras_rnnkit.recipes import news_classification as news

    bag = news.build_bag(50, 60, 70, 10)
    x = np.zeros((3, news.MAX_LENGTH), "int32")
    x[0, :3] = [7, 8, 9]
    x[1, :3] = [9, 7, 8]  # the same tokens in another order
    x[2, :6] = [7, 8, 9, 7, 8, 9]  # twice: the same mean, if padding is left out
    probabilities = np.asarray(bag.predict([x, x, x], verbose=0))
    np.testing.assert_allclose(probabilities.sum(-1), 1, rtol=1e-5)
    np.testing.assert_allclose(probabilities[1], probabilities[0], rtol=1e-5)
    np.testing.assert_allclose(probabilities[2], probabilities[0], rtol=1e-5)
    other = x.copy()
    other[0, :3] = [7, 8, 10]
    assert not np.allclose(bag.predict([other] * 3, verbose=0)[0], probabilities[0])
    assert bag.get_layer("bag").output.shape == (None, 3 * news.EMBEDDING_DIM)
    tables = [
        np.random.default_rng(k).normal(size=(n, news.EMBEDDING_DIM)).astype("float32")
        for k, n in enumerate((50, 60))
    ]
    model = news.build_model(50, 60, 10, embeddings=tables)
    for name, table in zip(("chars", "bigrams"), tables, strict=True):
        layer = model.get_layer(f"{name}_embedding")
        np.testing.assert_array_equal(layer.get_weights()[0], table)
        assert layer.trainable  # fine-tuned in stage 2


@pytest.mark.slow
def test_quick_run(tmp_path, monkeypatch):
    _titles()
    pytest.importorskip("sklearn")
    from keras_rnnkit.recipes import news_classification as news

    built = {}  # the models run() builds, and the tables the GRU gets

    def build_bag(*args, **kwargs):
        built["bag"] = original_bag(*args, **kwargs)
        return built["bag"]

    def build_model(*args, embeddings=None, **kwargs):
        built["embeddings"] = embeddings
        return original_model(*args, embeddings=embeddings, **kwargs)

    original_bag, original_model = news.build_bag, news.build_model
    monkeypatch.setattr(news, "build_bag", build_bag)
    monkeypatch.setattr(news, "build_model", build_model)
    figures = news.run(quick=True, out=tmp_path)
    # stage 2 starts from the *trained* bag's character and bigram tables
    for name, table in zip(("chars", "bigrams"), built["embeddings"], strict=True):
        np.testing.assert_array_equal(
            built["bag"].get_layer(f"{name}_embedding").get_weights()[0], table
        )
    for key, value in figures.items():
        if key != "plots":
            assert math.isfinite(value), key
    assert 0 <= figures["test_accuracy"] <= 1
    assert 0 <= figures["macro_f1"] <= 1 and figures["test_loss"] > 0
    assert figures["epochs"] == figures["bag_epochs"] == 1
    assert figures["models"] == 1
    for key in ("rnn_accuracy", "bag_accuracy"):
        assert 0 <= figures[key] <= 1, key
    # the SVM on 1,200 training titles is far above chance
    assert figures["svm_accuracy"] > 0.6
    assert [pathlib.Path(p).name for p in figures["plots"]] == [
        "history.png",
        "confusion_matrix.png",
    ]
    for path in figures["plots"]:
        assert pathlib.Path(path).stat().st_size > 5000
