"""The variable-length recipe: its data loader, DTW baseline and quick run."""

import math
import pathlib

import numpy as np
import pytest
from helpers import load_or_skip

from keras_rnnkit.recipes import datasets, variable_length


def _vowels(split):
    return load_or_skip(datasets.load_japanese_vowels, split)


def test_load_japanese_vowels():
    train, train_y = _vowels("train")
    test, test_y = _vowels("test")
    assert len(train) == len(train_y) == 270
    assert len(test) == len(test_y) == 370
    np.testing.assert_array_equal(np.bincount(train_y), [30] * 9)
    np.testing.assert_array_equal(
        np.bincount(test_y), [31, 35, 88, 44, 29, 24, 40, 50, 29]
    )
    lengths = [len(s) for s in train + test]
    assert min(lengths) == 7 and max(lengths) == 29
    assert all(s.shape[1:] == (12,) and s.dtype == np.float32 for s in train + test)
    assert all(np.isfinite(s).all() for s in train + test)
    with pytest.raises(ValueError, match="split"):
        datasets.load_japanese_vowels("validation")


def _dtw(a, b):
    """Textbook O(n m) DTW with squared Euclidean frame cost."""
    d = np.full((len(a) + 1, len(b) + 1), np.inf)
    d[0, 0] = 0
    for i in range(len(a)):
        for j in range(len(b)):
            cost = ((a[i] - b[j]) ** 2).sum()
            d[i + 1, j + 1] = cost + min(d[i, j], d[i, j + 1], d[i + 1, j])
    return d[-1, -1]


def test_dtw_distances_match_the_textbook_recursion():
    rng = np.random.default_rng(0)
    queries = [rng.normal(size=(n, 12)) for n in (3, 7, 5, 7)]
    references = [rng.normal(size=(n, 12)) for n in (4, 2, 9)]
    distances = variable_length.dtw_distances(queries, references)
    expected = [[_dtw(q, r) for r in references] for q in queries]
    np.testing.assert_allclose(distances, expected, rtol=1e-5)


def test_pad():
    x, lengths = variable_length.pad(
        [np.ones((2, 12)), 3 * np.ones((4, 12))], 5, mean=1.0, std=2.0
    )
    assert x.shape == (2, 5, 12) and x.dtype == np.float32
    np.testing.assert_array_equal(lengths, [2, 4])
    assert np.all(x[0] == 0) and np.all(x[1, :4] == 1) and np.all(x[1, 4] == 0)


@pytest.mark.slow
def test_quick_run(tmp_path):
    _vowels("train")
    figures = variable_length.run(quick=True, out=tmp_path)
    for key, value in figures.items():
        if key != "plots":
            assert math.isfinite(value), key
    assert 0 <= figures["test_accuracy"] <= 1
    # DTW 1-NN on 90 references is a strong baseline even in quick mode
    assert figures["dtw_1nn_accuracy"] > 0.8
    # padding is never read: same predictions without it, or with noise in it
    assert figures["max_diff_unpadded"] < 1e-5
    assert figures["max_diff_noise_padding"] < 1e-5
    for path in figures["plots"]:
        assert pathlib.Path(path).stat().st_size > 5000
