"""keras_rnnkit: TF1 `tf.contrib.rnn` building blocks for Keras 3."""

import importlib
import os
import sys

__version__ = "0.2.0.dev0"

# public name -> module of this package that defines it
_EXPORTS = {
    "AttentionPooling": "attention_pooling",
    "BidirectionalEncoder": "bidirectional_encoder",
    "CRF": "crf_layer",
    "CRFLoss": "crf_layer",
    "DropoutWrapper": "dropout_wrapper",
    "DynamicRNN": "dynamic_rnn",
    "HierarchicalEncoder": "hierarchical_encoder",
    "LayerNormLSTMCell": "layer_norm_lstm_cell",
    "LengthBatches": "length_batches",
    "MultiRNNCell": "multi_rnn_cell",
    "OutputProjectionWrapper": "output_projection_wrapper",
    "PeepholeLSTM": "peephole_lstm",
    "PeepholeLSTMCell": "peephole_lstm_cell",
    "ResidualWrapper": "residual_wrapper",
    "lengths_to_mask": "sequence",
    "reverse_valid": "sequence",
    "runtime_checks_enabled": "runtime_checks",
    "set_runtime_checks": "runtime_checks",
    "ZoneoutWrapper": "zoneout_wrapper",
    "tf1": None,  # the submodule itself
    "crf": None,
}

__all__ = [  # the names of _EXPORTS (tests/test_recipes_cli.py checks it)
    "AttentionPooling",
    "BidirectionalEncoder",
    "CRF",
    "CRFLoss",
    "DropoutWrapper",
    "DynamicRNN",
    "HierarchicalEncoder",
    "LayerNormLSTMCell",
    "LengthBatches",
    "MultiRNNCell",
    "OutputProjectionWrapper",
    "PeepholeLSTM",
    "PeepholeLSTMCell",
    "ResidualWrapper",
    "lengths_to_mask",
    "reverse_valid",
    "runtime_checks_enabled",
    "set_runtime_checks",
    "ZoneoutWrapper",
    "tf1",
    "crf",
]


# backend module -> the extra of keras-rnnkit that installs it
_BACKEND_EXTRAS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def _import_keras():
    """Imports Keras; a missing backend raises an error that names its extra.

    keras-rnnkit depends on no backend: TensorFlow, Keras's default, comes
    with ``keras-rnnkit[tensorflow]``, JAX and PyTorch with ``[jax]`` and
    ``[torch]``. Without this, `import keras_rnnkit` under the default
    backend and without TensorFlow would fail with a bare "No module named
    'tensorflow'" from inside Keras.
    """
    try:
        import keras  # noqa: F401
    except ModuleNotFoundError as e:
        backend = (e.name or "").split(".")[0]
        if backend not in _BACKEND_EXTRAS:
            raise
        raise ModuleNotFoundError(
            f"keras_rnnkit runs on Keras, whose backend here is {backend!r} "
            "(set by KERAS_BACKEND or ~/.keras/keras.json; TensorFlow when "
            f"neither sets one), but {backend} is not installed. Install it "
            f'with `pip install "keras-rnnkit[{_BACKEND_EXTRAS[backend]}]"`, '
            "or set KERAS_BACKEND to a backend that is installed (the extras "
            "[tensorflow], [jax] and [torch] install one each).",
            name=backend,
        ) from e


def _load(name):
    _import_keras()
    module = importlib.import_module(f"{__name__}.{_EXPORTS[name] or name}")
    value = module if _EXPORTS[name] is None else getattr(module, name)
    globals()[name] = value
    return value


def _import_all():
    """Imports every public name: the classes register with Keras serialization."""
    for name in _EXPORTS:
        _load(name)


def __getattr__(name):
    if name in _EXPORTS:
        return _load(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


def _started_by_the_recipes_command():
    """True while Python starts ``python -m keras_rnnkit.recipes`` or the
    ``keras-rnnkit-recipes`` console script.

    Both import this package before any code of the command runs; the command
    then imports the layers itself (`_import_all`) when it runs a recipe, so
    ``--help`` and ``--list`` load no backend.
    """
    argv = getattr(sys, "orig_argv", [])  # the interpreter's own arguments
    command = ("keras_rnnkit.recipes", "keras_rnnkit.recipes.__main__")
    i = 1
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "-c":
        if argv[i] == "-m":
            return i + 1 < len(argv) and argv[i + 1] in command
        if argv[i].startswith("-m"):
            return argv[i][2:] in command
        # options whose value is the next argument
        i += 2 if argv[i] in ("-X", "-W", "--check-hash-based-pycs") else 1
    script = os.path.basename(sys.argv[0]) if sys.argv else ""
    return script in ("keras-rnnkit-recipes", "keras-rnnkit-recipes.exe")


# Importing the package imports every layer: `import keras_rnnkit` alone
# registers all the classes, so `.keras` files that use them reload without
# `custom_objects`. Only the recipes' command line defers it.
# (Spelled out, not `_import_all()`: the docs' API pages read these names
# from the source without running it.)
if not _started_by_the_recipes_command():
    _import_keras()
    from keras_rnnkit import crf, tf1
    from keras_rnnkit.attention_pooling import AttentionPooling
    from keras_rnnkit.bidirectional_encoder import BidirectionalEncoder
    from keras_rnnkit.crf_layer import CRF, CRFLoss
    from keras_rnnkit.dropout_wrapper import DropoutWrapper
    from keras_rnnkit.dynamic_rnn import DynamicRNN
    from keras_rnnkit.hierarchical_encoder import HierarchicalEncoder
    from keras_rnnkit.layer_norm_lstm_cell import LayerNormLSTMCell
    from keras_rnnkit.length_batches import LengthBatches
    from keras_rnnkit.multi_rnn_cell import MultiRNNCell
    from keras_rnnkit.output_projection_wrapper import OutputProjectionWrapper
    from keras_rnnkit.peephole_lstm import PeepholeLSTM
    from keras_rnnkit.peephole_lstm_cell import PeepholeLSTMCell
    from keras_rnnkit.residual_wrapper import ResidualWrapper
    from keras_rnnkit.runtime_checks import runtime_checks_enabled, set_runtime_checks
    from keras_rnnkit.sequence import lengths_to_mask, reverse_valid
    from keras_rnnkit.zoneout_wrapper import ZoneoutWrapper
