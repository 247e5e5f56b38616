"""The document-classification recipe: its data, its tensors and a quick run."""

import math
import pathlib

import numpy as np
import pytest
from helpers import load_or_skip

from keras_rnnkit.recipes import datasets
from keras_rnnkit.recipes import document_classification as recipe


def _articles(**kwargs):
    return load_or_skip(datasets.load_news_articles, **kwargs)


def test_load_news_articles():
    texts, labels, names = _articles()
    assert len(texts) == len(labels) == 3776
    assert names == sorted(names) and len(names) == 9 and "cnn.com" in names
    counts = np.bincount(labels)
    assert counts.min() == 274 and counts.max() == 539
    assert min(len(t) for t in texts) >= 50
    # Outlet names give the label away: none is left in the masked texts.
    for name in ("CNN", "Al Jazeera", "TASS", "BBC", "Deutsche Welle"):
        assert not any(f" {name} " in t for t in texts), name
    raw, _, _ = _articles(mask_outlets=False)
    assert sum("CNN" in t for t in raw) > 100


def test_tokenize_cuts_sentences_and_words():
    text = "The first one. A second, longer sentence here! Third? Fourth."
    assert recipe.tokenize(text, sentences=3, words=3) == [
        ["the", "first", "one"],
        ["a", "second", "longer"],
        ["third"],
    ]


def test_encode_keeps_the_same_words_in_both_layouts():
    documents = [[["a", "b"], ["c"]], [["zzz"]]]
    index = recipe.vocabulary(documents, size=5)  # a, b, c get ids; zzz is OOV
    ids, flat = recipe.encode(documents, index, sentences=3, words=2)
    assert ids.shape == (2, 3, 2) and flat.shape == (2, 6)
    assert ids[0, 1, 1] == 0 and (ids[0, 2] == 0).all()  # padding
    np.testing.assert_array_equal(flat[0, :3], ids[0][ids[0] > 0])
    assert (flat[0, 3:] == 0).all()
    assert ids[1, 0, 0] == 1  # out of vocabulary


@pytest.mark.slow
def test_quick_run(tmp_path):
    _articles()
    pytest.importorskip("sklearn")
    figures = recipe.run(quick=True, out=tmp_path)
    for name in ("hierarchical", "flat"):
        assert 0 <= figures[f"{name}_accuracy"] <= 1
        assert math.isfinite(figures[f"{name}_loss"])
        assert figures[f"{name}_epochs"] == 1
    assert figures["svm_accuracy"] > 1 / 9  # above chance even on a slice
    names = sorted(pathlib.Path(p).name for p in figures["plots"])
    assert names == [
        "confusion_matrix.png",
        "history_flat.png",
        "history_hierarchical.png",
    ]
    for path in figures["plots"]:
        assert pathlib.Path(path).stat().st_size > 5000
