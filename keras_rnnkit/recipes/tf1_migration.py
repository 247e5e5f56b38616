"""A TF1 checkpoint moved to Keras: the tutorial's classifier, trained by TF1.

Issue 12's whole-model migration, end to end on real data:

1. **TF1 trains.** The tutorial's text classifier, written with
   `tf.compat.v1` exactly as the tutorial builds it (`_tf1_classifier.py`: an
   embedding, `MultiRNNCell` of two `DropoutWrapper(GRUCell(128))`,
   `dynamic_rnn` with the titles' lengths, the final states concatenated,
   `dense` + dropout + ReLU, `dense`, softmax cross-entropy, Adam), trains a
   few hundred steps on the THUCNews titles in graph mode and saves a
   checkpoint with `tf.compat.v1.train.Saver`. It runs in a child process:
   TF1's cells need the legacy Keras 2 (`tf-keras`, `TF_USE_LEGACY_KERAS=1`),
   which cannot share a process with Keras 3.
2. **The checkpoint is inspected**: `keras_rnnkit.tf1.checkpoint_structure`
   says which recurrent structure it holds (scope, cells, sizes).
3. **The Keras model is built like it** from keras_rnnkit pieces
   (`build_model`: `Embedding(mask_zero=True)`, `DynamicRNN(MultiRNNCell(
   [DropoutWrapper(GRUCell(128, reset_after=False))] * 2,
   state_is_tuple=False), return_state=True)`, `Dense`, `Dropout`, `ReLU`,
   `Dense(softmax)`), on any Keras backend.
4. **It is loaded**: `keras_rnnkit.tf1.load_checkpoint` maps the RNN's
   variables; the embedding and the two dense layers (plain variables
   `embedding`, `fc1/kernel`, ...) are copied by name.
5. **Both predict the same**: the test titles' probabilities of the Keras
   model and of TF1 (computed by TF1 in its process before it exits) differ
   by at most about 1e-6, and the accuracies are equal.
6. **It is saved** as a `.keras` file, reloaded (safe mode) and checked to
   predict the same again.

Characters are the tokens (the tutorial's `vocab_size` of characters; index
0 is padding, 1 unknown), the split is news-classification's (80/10/10,
stratified). Needs TensorFlow and tf-keras, both in the ``recipes`` extra:
``pip install "keras-rnnkit[recipes]"``. TF1 trains on the CPU.
"""

import importlib.util
import os
import pathlib
import subprocess
import sys

import numpy as np

from keras_rnnkit.recipes import _STARTUP_INFO, _common

HIDDEN_DIM = 128  # per GRU layer, as the tutorial's config
NUM_LAYERS = 2
EMBEDDING_DIM = 64
KEEP_PROB = 0.8  # DropoutWrapper's output_keep_prob and the dense dropout
LEARNING_RATE = 1e-3
BATCH_SIZE = 64
STEPS = 500  # about 4 epochs of 8,000 titles
QUICK_STEPS = 60
_CHILD = pathlib.Path(__file__).with_name("_tf1_classifier.py")
_INSTALL = 'pip install "keras-rnnkit[recipes]"'


def _require_tf1():
    """A clear error when TF1 cannot run here."""
    missing = [
        package
        for module, package in (("tensorflow", "tensorflow"), ("tf_keras", "tf-keras"))
        if importlib.util.find_spec(module) is None
    ]
    if missing:
        raise ImportError(
            "The tf1-migration recipe trains the TF1 model with "
            "tf.compat.v1 (TF1's cells need TensorFlow and the legacy Keras 2, "
            f"tf-keras) and reads its checkpoint with TensorFlow; missing: "
            f"{', '.join(missing)}. Install them: {_INSTALL}"
        )


def train_tf1(request, directory, timeout=1800):
    """Runs `_tf1_classifier.py` in a child process with legacy Keras.

    Args:
        request: dict of the TF1 config and data (see that file).
        directory: folder for the request, the result and the checkpoint.
        timeout: seconds before the child is stopped.

    Returns:
        The child's result: `path` (the checkpoint prefix),
        `probabilities` and `test_accuracy` on `x_test`, `log` (rows of
        step, batch loss, batch accuracy, validation loss, validation
        accuracy) and `seconds` of training.
    """
    _require_tf1()
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    request_path, result_path = directory / "request.npz", directory / "result.npz"
    np.savez(request_path, **request)
    env = dict(
        os.environ,
        TF_USE_LEGACY_KERAS="1",
        CUDA_VISIBLE_DEVICES="",
        TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"),
    )
    sys.stdout.flush()
    done = subprocess.run(  # its progress lines go straight to our stdout
        [sys.executable, str(_CHILD), str(request_path), str(result_path)],
        env=env,
        timeout=timeout,
        check=False,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    )
    # its standard error, less the backend's start-up info lines (as
    # `import_layers_quietly` does for this process)
    for line in done.stderr.splitlines(keepends=True):
        if env["TF_CPP_MIN_LOG_LEVEL"] != "3" or not _STARTUP_INFO.match(line):
            sys.stderr.write(line)
    sys.stderr.flush()
    if done.returncode != 0:
        raise RuntimeError(
            f"The TF1 training process ({_CHILD.name}) failed with exit code "
            f"{done.returncode}; its error is printed above."
        )
    with np.load(result_path) as result:
        return {k: (v.item() if v.ndim == 0 else v) for k, v in result.items()}


def build_model(vocab_size, n_classes, seed=0):
    """The Keras model built like the TF1 graph (names as TF1's scopes),
    uncompiled."""
    import keras

    import keras_rnnkit

    tokens = keras.Input((None,), dtype="int32", name="input_x")
    # index 0 is padding: the mask carries the lengths (TF1's seq_length)
    x = keras.layers.Embedding(
        vocab_size, EMBEDDING_DIM, mask_zero=True, name="embedding"
    )(tokens)
    cell = keras_rnnkit.MultiRNNCell(
        [
            keras_rnnkit.DropoutWrapper(
                keras.layers.GRUCell(HIDDEN_DIM, reset_after=False),  # TF1's GRU
                output_rate=1 - KEEP_PROB,
                seed=seed + layer,
            )
            for layer in range(NUM_LAYERS)
        ],
        state_is_tuple=False,  # tf.concat(states, -1)
    )
    _, last = keras_rnnkit.DynamicRNN(cell, return_state=True, name="rnn")(x)
    fc = keras.layers.Dense(HIDDEN_DIM * NUM_LAYERS, name="fc1")(last)
    fc = keras.layers.Dropout(1 - KEEP_PROB, seed=seed)(fc)
    fc = keras.layers.ReLU()(fc)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="fc2")(fc)
    # Not compiled: it is loaded, not trained here. To fine-tune, compile it
    # (Adam(1e-3), SparseCategoricalCrossentropy(), as TF1 trained it).
    return keras.Model(tokens, outputs, name="tf1_text_rnn")


# The variables outside the RNN: {TF1 name: (layer, weight index)}.
_PLAIN = {
    "embedding": ("embedding", 0),
    "fc1/kernel": ("fc1", 0),
    "fc1/bias": ("fc1", 1),
    "fc2/kernel": ("fc2", 0),
    "fc2/bias": ("fc2", 1),
}


def load_tf1_checkpoint(model, checkpoint):
    """Loads the TF1 checkpoint into `build_model`'s model.

    The RNN through `keras_rnnkit.tf1.load_checkpoint` (scope `rnn`); the
    embedding and dense layers by name. Returns `{TF1 name: [Keras weight
    paths]}` for every variable written.
    """
    import tensorflow as tf

    from keras_rnnkit import tf1

    mapping = tf1.load_checkpoint(model.get_layer("rnn"), checkpoint, scope="rnn")
    reader = tf.train.load_checkpoint(str(checkpoint))
    for name, (layer_name, index) in _PLAIN.items():
        layer = model.get_layer(layer_name)
        weights = layer.get_weights()
        value = reader.get_tensor(name)
        if value.shape != weights[index].shape:
            raise ValueError(
                f"Checkpoint variable {name!r} has shape {value.shape}; layer "
                f"'{layer_name}' needs {weights[index].shape}. Build the model "
                "with the TF1 model's sizes."
            )
        weights[index] = value
        layer.set_weights(weights)
        mapping[name] = [layer.weights[index].path]
    return mapping


def _describe(cell, indent="  "):
    """Lines describing a cell of `checkpoint_structure`'s answer."""
    sizes = ", ".join(f"{k}={v}" for k, v in cell.items() if k not in ("type", "cells"))
    lines = [f"{indent}{cell['type']}({sizes})"]
    for inner in cell.get("cells", ()):
        lines += _describe(inner, indent + "  ")
    return lines


def run(quick=False, out="runs/tf1-migration", epochs=None, seed=0):
    """Trains the TF1 classifier, moves it to Keras; returns the figures.

    `epochs` scales the TF1 training steps (about 125 steps an epoch on the
    full data); default `STEPS` (`QUICK_STEPS` with `quick`).
    """
    _require_tf1()
    import keras

    from keras_rnnkit import tf1
    from keras_rnnkit.recipes import news_classification as news
    from keras_rnnkit.recipes.datasets import load_thucnews_titles

    out = _common.setup(out, seed)
    with _common.Timer() as total:
        _common.header("THUCNews titles, characters as tokens")
        texts, labels, class_names = load_thucnews_titles()
        train, validation, test = news.split(labels, seed, quick)
        parts = [[texts[i] for i in part] for part in (train, validation, test)]
        characters = news.vocabulary(parts[0])[0]
        vocab = (characters, {}, {})
        x_train, x_validation, x_test = (news.encode(p, vocab)[0] for p in parts)
        y_train, y_validation, y_test = labels[train], labels[validation], labels[test]
        vocab_size = len(characters) + 2  # + padding and unknown
        steps = QUICK_STEPS if quick else STEPS
        if epochs is not None:
            steps = max(1, epochs * len(train) // BATCH_SIZE)
        print(
            f"train {len(train):,}, validation {len(validation):,}, test "
            f"{len(test):,} titles; {vocab_size:,} characters (with padding "
            f"and unknown), padded to {news.MAX_LENGTH}"
        )

        _common.header(f"1. TF1 (tf.compat.v1, graph mode) trains {steps} steps")
        request = {
            "seq_length": news.MAX_LENGTH,
            "vocab_size": vocab_size,
            "embedding_dim": EMBEDDING_DIM,
            "hidden_dim": HIDDEN_DIM,
            "num_layers": NUM_LAYERS,
            "num_classes": len(class_names),
            "keep_prob": KEEP_PROB,
            "learning_rate": LEARNING_RATE,
            "batch_size": BATCH_SIZE,
            "steps": steps,
            "eval_every": max(1, steps // 5),
            "seed": seed,
            "path": str(out / "tf1" / "model.ckpt"),
            "x_train": x_train,
            "y_train": y_train,
            "x_validation": x_validation,
            "y_validation": y_validation,
            "x_test": x_test,
            "y_test": y_test,
        }
        with _common.Timer() as tf1_timer:
            result = train_tf1(request, out / "tf1")
        checkpoint = result["path"]
        print(
            f"saved {checkpoint} ({result['seconds']:.1f} s of training, "
            f"{tf1_timer.seconds:.1f} s with the process start)"
        )

        _common.header("2. What the checkpoint holds")
        structure = tf1.checkpoint_structure(checkpoint)
        for entry in structure:
            print(f"scope {entry['scope']!r}: {entry['type']}")
            for line in _describe(entry["cell"]):
                print(line)

        _common.header("3-4. The Keras model, built like it and loaded")
        model = build_model(vocab_size, len(class_names), seed=seed)
        mapping = load_tf1_checkpoint(model, checkpoint)
        width = max(map(len, mapping))
        for name, paths in mapping.items():
            print(f"{name:<{width}}  ->  {', '.join(paths)}")

        _common.header("5. The same predictions")
        with _common.Timer() as predict_timer:
            probabilities = model.predict(x_test, batch_size=256, verbose=0)
        tf1_probabilities = result["probabilities"]
        max_diff = float(np.max(np.abs(probabilities - tf1_probabilities)))
        keras_accuracy = float(np.mean(probabilities.argmax(-1) == y_test))
        tf1_accuracy = float(result["test_accuracy"])
        same_class = float(
            np.mean(probabilities.argmax(-1) == tf1_probabilities.argmax(-1))
        )
        print(f"test titles: {len(y_test):,}")
        print(f"max |Keras - TF1| over the probabilities: {max_diff:.2e}")
        print(f"same predicted class: {same_class:.1%}")
        print(f"test accuracy: TF1 {tf1_accuracy:.4f}, Keras {keras_accuracy:.4f}")

        _common.header("6. Saved as .keras and reloaded")
        path = out / "tf1_text_rnn.keras"
        model.save(path)
        reloaded = keras.saving.load_model(path)  # safe_mode=True
        reloaded_diff = float(
            np.max(
                np.abs(
                    reloaded.predict(x_test, batch_size=256, verbose=0) - probabilities
                )
            )
        )
        print(f"{path} ({path.stat().st_size / 1e6:.1f} MB)")
        print(f"max |reloaded - loaded| over the probabilities: {reloaded_diff:.2e}")

    _common.header("tf1-migration: summary")
    log = result["log"]
    rows = [
        ("TF1 training", f"{steps} steps, batch {BATCH_SIZE}, "
         f"{result['seconds']:.1f} s"),
        ("TF1 last validation accuracy", f"{log[-1][4]:.3f}"),
        ("test accuracy, TF1", f"{tf1_accuracy:.4f}"),
        ("test accuracy, Keras (loaded)", f"{keras_accuracy:.4f}"),
        ("max probability difference", f"{max_diff:.2e}"),
        ("max difference after .keras reload", f"{reloaded_diff:.2e}"),
        ("variables loaded", f"{len(mapping)} (RNN {len(mapping) - len(_PLAIN)}, "
         f"embedding and dense {len(_PLAIN)})"),
        (".keras file", str(path)),
    ]  # fmt: skip
    for label, value in rows:
        print(f"{label:<38}{value}")
    print(f"Keras backend {keras.backend.backend()}; {total.seconds:.1f} s in all")
    return {
        "structure": structure,
        "mapping": mapping,
        "steps": steps,
        "tf1_accuracy": tf1_accuracy,
        "keras_accuracy": keras_accuracy,
        "max_diff": max_diff,
        "reloaded_diff": reloaded_diff,
        "same_class": same_class,
        "tf1_validation_accuracy": float(log[-1][4]),
        "tf1_seconds": float(result["seconds"]),
        "predict_seconds": predict_timer.seconds,
        "keras_path": str(path),
        "checkpoint": checkpoint,
        "seconds": total.seconds,
    }
