"""The mnist-rows recipe: its data loader and quick run."""

import math
import pathlib

import numpy as np
import pytest
from helpers import load_or_skip

from keras_rnnkit.recipes import datasets


def _mnist():
    return load_or_skip(datasets.load_mnist_subset)


def test_load_mnist_subset():
    images, labels = _mnist()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (5000,)
    np.testing.assert_array_equal(np.bincount(labels), [500] * 10)
    assert images.max() == 255 and images.min() == 0
    # digits are centred: the border rows are (nearly) blank
    assert images[:, 0].mean() < 1 and images[:, 14].mean() > 30


def test_split_is_stratified():
    pytest.importorskip("sklearn")
    from keras_rnnkit.recipes import mnist_rows

    images = np.zeros((200, 28, 28), "uint8")
    labels = np.repeat(np.arange(10), 20)
    train, fit_part, validation, test = mnist_rows.split(images, labels, 0, False)
    assert len(train[0]) == 160 and len(test[0]) == 40
    assert len(fit_part[0]) + len(validation[0]) == 160
    np.testing.assert_array_equal(np.bincount(test[1]), [4] * 10)
    assert train[0].dtype == np.float32


@pytest.mark.slow
def test_quick_run(tmp_path):
    _mnist()
    pytest.importorskip("sklearn")
    from keras_rnnkit.recipes import mnist_rows

    figures = mnist_rows.run(quick=True, out=tmp_path)
    for key, value in figures.items():
        if key != "plots":
            assert math.isfinite(value), key
    assert 0 <= figures["test_accuracy"] <= 1
    assert 0 <= figures["lowest_class_recall"] <= figures["test_accuracy"]
    # logistic regression on 800 images is far above chance
    assert figures["logistic_regression_accuracy"] > 0.7
    assert [pathlib.Path(p).name for p in figures["plots"]] == [
        "history.png",
        "confusion_matrix.png",
    ]
    for path in figures["plots"]:
        assert pathlib.Path(path).stat().st_size > 5000
