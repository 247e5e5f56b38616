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
    paths = [pathlib.Path(p) for p in figures["plots"]]
    names = sorted(p.name for p in paths if not p.name.startswith("attention-"))
    assert names == [
        "confusion_matrix.png",
        "history_flat.png",
        "history_hierarchical.png",
    ]
    for path in paths:
        assert path.stat().st_size > 5000
    # The attention views: up to 3 right and 3 wrong test articles, each as
    # an HTML page and a PNG.
    views = {p.name for p in paths if p.name.startswith("attention-")}
    assert views, "no attention views"
    for kind in ("correct", "wrong"):
        pages = sorted(n for n in views if n.endswith(f"-{kind}.html"))
        assert pages == [f"attention-{i}-{kind}.html" for i in range(1, len(pages) + 1)]
        assert len(pages) <= 3
        assert {p.replace(".html", ".png") for p in pages} <= views
    assert len(views) % 2 == 0
    page = (tmp_path / sorted(n for n in views if n.endswith(".html"))[0]).read_text(
        encoding="utf-8"
    )
    assert "hierarchical model" in page and 'class="word' in page
    # The sentence weights of a real article sum to 1 (up to the rounding).
    weights = re.findall(r'class="sentence" data-weight="([^"]+)"', page)
    assert abs(sum(map(float, weights)) - 1) < 1e-3
