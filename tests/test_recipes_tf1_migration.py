"""The tf1-migration recipe: TF1 trains and saves, the Keras model loads it.

The quick run trains the tutorial's classifier with `tf.compat.v1` in a
child process (legacy Keras, tests need tf-keras), loads the checkpoint into
the Keras model and checks that both predict the same.
"""

import importlib.util
import pathlib

import pytest
from helpers import load_or_skip

from keras_rnnkit.recipes import datasets, tf1_migration

_CELL = {"type": "GRUCell", "num_units": tf1_migration.HIDDEN_DIM}


@pytest.mark.slow
def test_quick_run(tmp_path):
    pytest.importorskip("tensorflow")
    pytest.importorskip("tf_keras")
    pytest.importorskip("sklearn")
    load_or_skip(datasets.load_thucnews_titles)
    figures = tf1_migration.run(quick=True, out=tmp_path)

    assert figures["steps"] == tf1_migration.QUICK_STEPS
    assert figures["structure"] == [
        {
            "scope": "rnn",
            "type": "dynamic_rnn",
            "cell": {
                "type": "MultiRNNCell",
                "cells": [
                    {**_CELL, "input_size": tf1_migration.EMBEDDING_DIM},
                    {**_CELL, "input_size": tf1_migration.HIDDEN_DIM},
                ],
            },
        }
    ]
    # every model variable of the checkpoint was written somewhere
    gru = [
        f"rnn/multi_rnn_cell/cell_{k}/gru_cell/{name}"
        for k in range(2)
        for name in ("gates/kernel", "gates/bias", "candidate/kernel", "candidate/bias")
    ]
    assert set(figures["mapping"]) == {*gru, *tf1_migration._PLAIN}
    # the loaded Keras model predicts what TF1 predicted
    assert figures["max_diff"] <= 1e-5
    assert figures["keras_accuracy"] == figures["tf1_accuracy"]
    assert figures["same_class"] == 1.0
    assert 0.3 < figures["tf1_accuracy"] <= 1  # 10 classes: above chance
    # the .keras file reloads (safe mode) and predicts the same again
    assert pathlib.Path(figures["keras_path"]).stat().st_size > 100_000
    assert figures["reloaded_diff"] <= 1e-6
    assert pathlib.Path(figures["checkpoint"] + ".index").is_file()


def test_without_tf_keras_the_error_says_what_to_install(monkeypatch, tmp_path):
    find_spec = importlib.util.find_spec

    def without_tf_keras(name, *args):
        return None if name == "tf_keras" else find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_tf_keras)
    with pytest.raises(ImportError, match=r"missing: tf-keras.*pip install"):
        tf1_migration.run(quick=True, out=tmp_path)
    with pytest.raises(ImportError, match="tf-keras"):
        tf1_migration.train_tf1({}, tmp_path)


def test_the_keras_model_mirrors_the_tf1_graph():
    model = tf1_migration.build_model(vocab_size=30, n_classes=10)
    rnn = model.get_layer("rnn")
    assert rnn.output[1].shape == (None, 2 * tf1_migration.HIDDEN_DIM)
    cells = [wrapper.cell for wrapper in rnn.cell.cells]
    assert all(not cell.reset_after for cell in cells)  # TF1's GRU
    assert model.get_layer("embedding").mask_zero  # the lengths, as a mask
    assert model.get_layer("fc1").units == 2 * tf1_migration.HIDDEN_DIM
