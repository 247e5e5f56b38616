"""The word-segmentation recipe: sentences, BMES tags, scoring, the
dictionary baseline, batches, and a quick run."""

import math
import pathlib

import numpy as np
import pytest
from helpers import load_or_skip

from keras_rnnkit.recipes import datasets
from keras_rnnkit.recipes import word_segmentation as ws


def test_sentences_cut_after_end_marks_and_between_words():
    long = ["中国"] * (ws.MAX_LEN // 2 + 3)  # MAX_LEN + 6 characters
    rows = ws.sentences([["我", "爱", "北京", "。", "你", "呢", "？"], long])
    assert rows[:2] == [["我", "爱", "北京", "。"], ["你", "呢", "？"]]
    assert [len("".join(r)) for r in rows[2:]] == [ws.MAX_LEN, 6]
    assert all(w == "中国" for r in rows[2:] for w in r)  # no word is cut


def test_split_is_fixed_and_disjoint():
    rows = [[str(i)] for i in range(1000)]
    train, val, test = ws.split(rows)
    assert (len(train), len(val), len(test)) == (800, 100, 100)
    assert ws.split(rows) == (train, val, test)
    assert len({r[0] for r in train + val + test}) == 1000


def test_bmes_tags_and_spans_back():
    words = ["中华人民", "共和国", "成立", "了"]
    tags = ws.bmes(words)
    assert "".join(ws.TAGS[t] for t in tags) == "BMMEBMEBES"
    assert ws.tag_spans(tags) == ws.spans(words) == [(0, 4), (4, 7), (7, 9), (9, 10)]
    # invalid sequences (a softmax's) are read too: a word starts at B or S
    B, M, E, S = ws.B, ws.M, ws.E, ws.S
    assert ws.tag_spans([M, E, B, B, S, M]) == [(0, 2), (2, 3), (3, 4), (4, 6)]


def test_forward_maximum_matching_takes_the_longest_word():
    dictionary = {"研究", "研究生", "生命", "起源"}
    got = ws.forward_maximum_matching("研究生命起源", dictionary, 3)
    assert got == [(0, 3), (3, 4), (4, 6)]  # 研究生 / 命 / 起源: greedy


def test_score_counts_words_by_both_ends():
    gold = [["研究", "生命", "起源"]]
    guess = [[(0, 3), (3, 4), (4, 6)]]
    result = ws.score(gold, guess, known_words={"研究", "生命"})
    assert result["precision"] == pytest.approx(1 / 3)
    assert result["recall"] == pytest.approx(1 / 3)
    assert result["f1"] == pytest.approx(1 / 3)
    assert result["oov_rate"] == pytest.approx(1 / 3)  # 起源 is unseen
    assert result["oov_recall"] == 1.0


def test_vocabulary_encodes_characters_and_both_bigrams():
    vocab = ws.Vocabulary([["我们", "我们"], ["我们", "好"]])
    ids = vocab.encode("我们好")
    assert ids.shape == (3, 3) and ids.dtype == np.int32
    assert ids[0, 0] == vocab.chars["我"] and ids[2, 0] == ws.UNK  # 好: once
    assert ids[0, 2] == ids[1, 1] == vocab.bigram_ids["我们"]  # right = next left
    assert ids[1, 2] == ws.UNK  # 们好: seen once


def test_batches_pad_and_models_build():
    rng = np.random.default_rng(0)
    lengths = [3, 20, 5]
    ids = [rng.integers(1, 30, (n, 3)).astype("int32") for n in lengths]
    tags = [rng.integers(0, 4, n).astype("int32") for n in lengths]
    data = ws.batches(ids, tags)
    inputs, y, weights = data[0]
    assert set(inputs) == set(ws.INPUTS)
    np.testing.assert_array_equal(weights.sum(1), sorted(lengths))
    for crf in (True, False):
        model = ws.build(30, 30, crf=crf, units=4, embedding=4)
        spans = ws.predict_spans(model, data, crf)
        assert [s[-1][1] for s in spans] == lengths  # every character covered


@pytest.mark.slow
def test_quick_run(tmp_path):
    load_or_skip(datasets.load_peoples_daily)
    figures = ws.run(quick=True, out=tmp_path)
    for system in ("crf", "softmax", "fmm"):
        for measure in ("precision", "recall", "f1", "oov_recall"):
            assert 0 <= figures[f"{system}_{measure}"] <= 1, (system, measure)
    # the dictionary baseline beats chance even on the small quick slice
    assert figures["fmm_f1"] > 0.6
    assert figures["crf_epochs"] == figures["softmax_epochs"] == 1
    assert math.isfinite(figures["seconds"])
    assert len(figures["plots"]) == 2
    for path in figures["plots"]:
        assert pathlib.Path(path).stat().st_size > 5000
