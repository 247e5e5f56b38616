"""keras_rnnkit: TF1 `tf.contrib.rnn` building blocks for Keras 3.

`import keras_rnnkit` is cheap: it imports neither Keras nor a backend. Each
public name loads on first use, and every class registers with Keras
serialization as soon as Keras is imported: at once if it already is, else
right after `import keras` finishes or, when a module of the kit imports
Keras (`import keras_rnnkit.dynamic_rnn` first), right after that module's
import finishes. So `.keras` files that use the kit's classes reload
without `custom_objects` after `import keras_rnnkit` or the import of any
of its modules.
"""

import importlib
import importlib.abc
import importlib.util
import sys
from typing import TYPE_CHECKING

__version__ = "0.2.0.dev0"

# The public names: name -> the module of this package that defines it (None
# for a submodule). Type checkers and the docs read the same names from the
# imports under TYPE_CHECKING below (tests/test_recipes_cli.py checks that
# the two agree).
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
    "ZoneoutWrapper": "zoneout_wrapper",
    "attention_weights": "model_attention",
    "lengths_to_mask": "sequence",
    "reverse_valid": "sequence",
    "runtime_checks_enabled": "runtime_checks",
    "set_runtime_checks": "runtime_checks",
    "cell_protocol": None,
    "crf": None,
    "seq2seq": None,
    "tf1": None,
}
__all__ = list(_EXPORTS)

if TYPE_CHECKING:  # re-exports, spelled `X as X`
    from keras_rnnkit import cell_protocol as cell_protocol
    from keras_rnnkit import crf as crf
    from keras_rnnkit import seq2seq as seq2seq
    from keras_rnnkit import tf1 as tf1
    from keras_rnnkit.attention_pooling import AttentionPooling as AttentionPooling
    from keras_rnnkit.bidirectional_encoder import (
        BidirectionalEncoder as BidirectionalEncoder,
    )
    from keras_rnnkit.crf_layer import CRF as CRF
    from keras_rnnkit.crf_layer import CRFLoss as CRFLoss
    from keras_rnnkit.dropout_wrapper import DropoutWrapper as DropoutWrapper
    from keras_rnnkit.dynamic_rnn import DynamicRNN as DynamicRNN
    from keras_rnnkit.hierarchical_encoder import (
        HierarchicalEncoder as HierarchicalEncoder,
    )
    from keras_rnnkit.layer_norm_lstm_cell import LayerNormLSTMCell as LayerNormLSTMCell
    from keras_rnnkit.length_batches import LengthBatches as LengthBatches
    from keras_rnnkit.model_attention import attention_weights as attention_weights
    from keras_rnnkit.multi_rnn_cell import MultiRNNCell as MultiRNNCell
    from keras_rnnkit.output_projection_wrapper import (
        OutputProjectionWrapper as OutputProjectionWrapper,
    )
    from keras_rnnkit.peephole_lstm import PeepholeLSTM as PeepholeLSTM
    from keras_rnnkit.peephole_lstm_cell import PeepholeLSTMCell as PeepholeLSTMCell
    from keras_rnnkit.residual_wrapper import ResidualWrapper as ResidualWrapper
    from keras_rnnkit.runtime_checks import (
        runtime_checks_enabled as runtime_checks_enabled,
    )
    from keras_rnnkit.runtime_checks import (
        set_runtime_checks as set_runtime_checks,
    )
    from keras_rnnkit.sequence import (
        lengths_to_mask as lengths_to_mask,
    )
    from keras_rnnkit.sequence import (
        reverse_valid as reverse_valid,
    )
    from keras_rnnkit.zoneout_wrapper import ZoneoutWrapper as ZoneoutWrapper

# backend module -> the extra of keras-rnnkit that installs it
_BACKEND_EXTRAS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def _missing_backend(error):
    """The error to raise for `error` (from importing Keras): one that names
    the extra installing the backend when the backend is what is missing."""
    backend = (error.name or "").split(".")[0]
    if backend not in _BACKEND_EXTRAS:
        return error
    return ModuleNotFoundError(
        f"keras_rnnkit runs on Keras, whose backend here is {backend!r} "
        "(set by KERAS_BACKEND or ~/.keras/keras.json; TensorFlow when "
        f"neither sets one), but {backend} is not installed. Install it "
        f'with `pip install "keras-rnnkit[{_BACKEND_EXTRAS[backend]}]"`, '
        "or set KERAS_BACKEND to a backend that is installed (the extras "
        "[tensorflow], [jax] and [torch] install one each).",
        name=backend,
    )


def _import_keras():
    """Imports Keras; a missing backend raises an error that names its extra.

    keras-rnnkit depends on no backend: TensorFlow, Keras's default, comes
    with ``keras-rnnkit[tensorflow]``, JAX and PyTorch with ``[jax]`` and
    ``[torch]``. Without this, a kit layer under the default backend and
    without TensorFlow would fail with a bare "No module named 'tensorflow'"
    from inside Keras.
    """
    try:
        import keras  # noqa: F401
    except ModuleNotFoundError as e:
        error = _missing_backend(e)
        if error is e:
            raise
        raise error from e


# Whether every public name has been imported (the classes are registered),
# and whether `_import_all` is running (the imports it makes do not start it
# again).
_registered = False
_registering = False


def _import_all():
    """Imports Keras and every public name (the classes register with Keras
    serialization)."""
    global _registered, _registering
    _import_keras()
    _registering = True
    try:
        for name in _EXPORTS:
            __getattr__(name)
    finally:
        _registering = False
    _registered = True
    for finder in [f for f in sys.meta_path if isinstance(f, _RegisterWhenImported)]:
        sys.meta_path.remove(finder)  # the kit's imports cost nothing more


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = _EXPORTS[name]
    if module is None:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        _import_keras()
        value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


def _importing_a_submodule(besides=None):
    """Whether a module of this package other than `besides` is being
    imported right now (a module imported directly,
    `import keras_rnnkit.dynamic_rnn`, that imports Keras first): the
    others cannot be imported before it ends, so the classes register when
    it does (`_RegisterWhenImported`)."""
    return any(
        name.startswith(__name__ + ".")
        and module is not besides
        and getattr(getattr(module, "__spec__", None), "_initializing", False)
        for name, module in list(sys.modules.items())
    )


def _register_when_ready(besides=None):
    """Imports every public name (registers the classes) unless that is done
    or under way, Keras is not imported yet, or a module of this package
    other than `besides` is still being imported (it could not import the
    others while it runs)."""
    if not (
        _registered
        or _registering
        or "keras" not in sys.modules
        or _importing_a_submodule(besides=besides)
    ):
        _import_all()


class _RegisterWhenImported(importlib.abc.MetaPathFinder):
    """Finds `keras` and the modules of this package as the finders after it
    do, and registers the classes as soon as an import of them that makes
    it possible has finished: Keras's own, or the outermost import of a
    module of this package that imported Keras. A failed import registers
    nothing; a missing Keras backend raises an error naming its extra.

    Removed from `sys.meta_path` once every public name is imported."""

    def find_spec(self, name, path=None, target=None):
        if name != "keras" and not name.startswith(__name__ + "."):
            return None
        finders = list(sys.meta_path)
        after = finders[finders.index(self) + 1 :] if self in finders else finders
        for finder in after:
            find_spec = getattr(finder, "find_spec", None)
            spec = None if find_spec is None else find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        exec_module = getattr(spec.loader, "exec_module", None)
        if exec_module is None or hasattr(exec_module, "registers_the_kit"):
            return spec  # no module code, or a loader shared and wrapped already

        def exec_then_register(module):
            try:
                exec_module(module)
            except ModuleNotFoundError as e:
                error = _missing_backend(e) if name == "keras" else e
                if error is e:
                    raise
                raise error from e
            _register_when_ready(besides=module)

        exec_then_register.registers_the_kit = True
        spec.loader.exec_module = exec_then_register
        return spec


if "keras" in sys.modules:
    _import_all()
else:
    sys.meta_path.insert(0, _RegisterWhenImported())
