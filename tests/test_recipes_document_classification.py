"""The document-classification recipe: its data, its tensors and a quick run."""

import math
import pathlib
import re

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
    # With a sentence-end id, the flat layout marks where each sentence ends.
    _, flat = recipe.encode(documents, index, sentences=3, words=2, separator=9)
    assert flat.shape == (2, 9)
    np.testing.assert_array_equal(flat[0], [2, 3, 9, 4, 9, 0, 0, 0, 0])
    np.testing.assert_array_equal(flat[1], [1, 9, 0, 0, 0, 0, 0, 0, 0])


def test_shuffle_sentences_keeps_the_sentences_and_changes_the_order():
    rng = np.random.default_rng(0)
    documents = [
        [["a"], ["b"]],
        [["a", "b"], ["c"], ["d", "e"], ["f"]],
        [["x"], ["x"]],  # one sentence repeated: no other order
    ]
    assert [recipe.has_order(d) for d in documents] == [True, True, False]
    shuffled = recipe.shuffle_sentences(documents, rng)
    for doc, other in zip(documents[:2], shuffled[:2], strict=True):
        assert other != doc
        assert sorted(other) == sorted(doc)  # the same sentences, the same words
    assert shuffled[2] == documents[2]


def test_sentence_order_set_pairs_each_article():
    documents = [[["a"], ["b"]], [["c"], ["d"]], [["e"], ["f"]]]
    shuffled = [list(reversed(d)) for d in documents]
    docs, labels, article = recipe.sentence_order_set(documents, shuffled, [2, 0])
    assert docs == [documents[2], shuffled[2], documents[0], shuffled[0]]
    np.testing.assert_array_equal(labels, [1, 0, 1, 0])
    np.testing.assert_array_equal(article, [2, 2, 0, 0])


def _check_views(paths, folder):
    # Up to 3 right and 3 wrong test documents, each as an HTML page and a PNG.
    views = {
        p.name for p in paths if p.parent == folder and p.name.startswith("attention-")
    }
    assert views, f"no attention views in {folder}"
    for kind in ("correct", "wrong"):
        pages = sorted(n for n in views if n.endswith(f"-{kind}.html"))
        assert pages == [f"attention-{i}-{kind}.html" for i in range(1, len(pages) + 1)]
        assert len(pages) <= 3
        assert {p.replace(".html", ".png") for p in pages} <= views
    assert len(views) % 2 == 0
    page = (folder / sorted(n for n in views if n.endswith(".html"))[0]).read_text(
        encoding="utf-8"
    )
    assert "hierarchical model" in page and 'class="word' in page
    # The sentence weights of a real document sum to 1 (up to the rounding).
    weights = re.findall(r'class="sentence" data-weight="([^"]+)"', page)
    assert abs(sum(map(float, weights)) - 1) < 1e-3


@pytest.mark.slow
def test_quick_run(tmp_path):
    _articles()
    pytest.importorskip("sklearn")
    figures = recipe.run(quick=True, out=tmp_path)
    # A quick run trains the flat model on the sentence-order task only.
    for key in ("order_hierarchical", "order_flat", "outlet_hierarchical"):
        assert 0 <= figures[f"{key}_accuracy"] <= 1
        assert math.isfinite(figures[f"{key}_loss"])
        assert math.isfinite(figures[f"{key}_val_loss"])
        assert figures[f"{key}_epochs"] == 1
    assert "outlet_flat_accuracy" not in figures
    # Sentence order: each article twice, balanced, no article on two sides.
    labels, article = figures["order_labels"], figures["order_article"]
    split = figures["order_split"]
    assert len(labels) == 2 * figures["order_articles"] > 100
    assert sum(len(rows) for rows in split.values()) == len(labels)
    sides = [set(article[rows]) for rows in split.values()]
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    for rows in split.values():
        assert labels[rows].mean() == 0.5
    # The same words in both versions: the bag of n-grams is near chance.
    assert 0.3 < figures["order_svm_accuracy"] < 0.7
    assert figures["outlet_svm_accuracy"] > 1 / 9  # above chance even on a slice
    paths = [pathlib.Path(p) for p in figures["plots"]]
    names = sorted(
        str(p.relative_to(tmp_path))
        for p in paths
        if not p.name.startswith("attention-")
    )
    assert names == [
        "outlet/confusion_matrix.png",
        "outlet/history_hierarchical.png",
        "sentence-order/history_flat.png",
        "sentence-order/history_hierarchical.png",
    ]
    for path in paths:
        assert path.stat().st_size > 5000
    _check_views(paths, tmp_path / "sentence-order")
    _check_views(paths, tmp_path / "outlet")
