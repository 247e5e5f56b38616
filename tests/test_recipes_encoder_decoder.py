"""The encoder-decoder recipe: the pinyin loader, the split, the encoding,
greedy decoding (consistent with teacher forcing, and after a .keras
reload), and a quick run."""

import collections
import math
import pathlib

import keras
import numpy as np
import pytest
from helpers import load_or_skip

from keras_rnnkit.recipes import datasets
from keras_rnnkit.recipes import encoder_decoder as recipe


def _pinyin():
    return load_or_skip(datasets.load_pinyin)


def test_load_pinyin():
    entries = _pinyin()
    assert len(entries) == 55_833
    assert len(set(entries)) == len(entries)
    assert all(len(word) == len(syllables) for word, syllables in entries)
    readings = collections.defaultdict(set)
    for word, syllables in entries:
        readings[word].add(syllables)
    assert sum(len(w) == 1 for w in readings) == 2_927
    assert sum(len(w) > 1 for w in readings) == 52_818
    assert readings["银行"] == {("yin", "hang")}
    assert readings["行"] >= {("xing",), ("hang",)}
    syllables = {s for _, word in entries for s in word}
    assert len(syllables) == 407
    assert all(set(s) <= set(recipe.LETTERS) - {" "} for s in syllables)


def test_split_words_keeps_words_whole():
    entries = _pinyin()
    train, val, test = recipe.split_words(entries)
    assert len(train) + len(val) + len(test) == len(entries)
    words = [{w for w, _ in part} for part in (train, val, test)]
    assert not (words[0] & words[1] or words[0] & words[2] or words[1] & words[2])
    assert all(len(w) > 1 for w in words[1] | words[2])  # characters train
    assert len(words[2]) == len(words[1]) == 52_818 // 10


def test_encode_and_spell():
    pairs = [("银行", ("yin", "hang")), ("行", ("xing",))]
    chars = {"银": 2, "行": 3}
    source, decoder_in, target = recipe.encode(pairs, chars)
    np.testing.assert_array_equal(source, [[2, 3], [3, 0]])
    assert recipe.spell(target[0]) == "yin hang"
    assert recipe.spell(target[1]) == "xing"
    assert target[0, 8] == recipe.END and target[1, 4] == recipe.END
    assert np.all(target[1, 5:] == recipe.PAD)
    # teacher forcing: the target shifted right behind the start symbol
    np.testing.assert_array_equal(decoder_in[:, 0], [recipe.START] * 2)
    np.testing.assert_array_equal(decoder_in[0, 1:], target[0, :-1])
    fixed = recipe.encode(pairs, chars, fixed=True)
    assert fixed[0].shape == (2, recipe.MAX_CHARS)
    assert fixed[2].shape == (2, recipe.MAX_LETTERS)


def test_scores():
    exact, syllables = recipe.scores(["yin hang", "xing zou"], ["yin hang", "xing"])
    assert exact == 0.5 and syllables == 1.0
    assert recipe.scores(["a b c"], ["a x c"]) == (0.0, 2 / 3)
    assert all(math.isnan(v) for v in recipe.scores([], []))


def test_greedy_decoding_matches_teacher_forcing_and_survives_reload(tmp_path):
    """Feeding the greedy output back with teacher forcing gives the same
    letters, and a reloaded .keras model decodes identically."""
    keras.utils.set_random_seed(1)
    model = recipe.build(n_chars=12, units=8)
    rng = np.random.default_rng(0)
    source = rng.integers(2, 12, (5, 3)).astype("int32")
    source[1, 2:] = 0
    written = recipe.greedy_decode(model, source, max_letters=6)
    assert written.shape == (5, 6) and np.all(written >= recipe.END)
    decoder_in = np.concatenate(
        [np.full((5, 1), recipe.START), written[:, :-1]], axis=1
    ).astype("int32")
    logits = np.asarray(model.predict_on_batch([source, decoder_in]))
    forced = logits[:, :, recipe.END :].argmax(-1) + recipe.END
    for row, forced_row in zip(written, forced, strict=True):
        ends = np.flatnonzero(row == recipe.END)
        steps = ends[0] + 1 if len(ends) else len(row)
        np.testing.assert_array_equal(forced_row[:steps], row[:steps])
    model.train_on_batch([source, decoder_in], written)  # builds the optimizer
    written = recipe.greedy_decode(model, source, max_letters=6)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(
        recipe.greedy_decode(reloaded, source, max_letters=6), written
    )


@pytest.mark.slow
def test_quick_run(tmp_path):
    _pinyin()
    figures = recipe.run(quick=True, out=tmp_path)
    for key, value in figures.items():
        if key != "plots":
            assert math.isfinite(value), key
    for key in ("exact_match", "syllable_accuracy", "baseline_exact_match"):
        assert 0 <= figures[key] <= 1, key
    assert figures["baseline_exact_match"] > 0.5  # a lookup table
    assert figures["reloaded_identical"] is True
    assert (tmp_path / "encoder_decoder.keras").stat().st_size > 10_000
    for path in figures["plots"]:
        assert pathlib.Path(path).stat().st_size > 5000
