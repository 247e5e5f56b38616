"""The only module of keras_rnnkit that touches private Keras code.

`keras.layers.RNN` draws dropout masks *before* its time loop, but only for
cells that are instances of Keras's private `DropoutRNNCell` mixin (and for
`StackedRNNCells`). A cell that drew its masks inside the scanned step function
would leak tracers under JAX's `jit` (`UnexpectedTracerError` in `fit`). Every
kit cell and wrapper therefore inherits from `DropoutRNNCell`, imported here
and nowhere else; `tests/test_compat.py` fails loudly if Keras moves it.

Keras makes no promise about `keras.src`: this import is why pyproject.toml
caps Keras (``keras>=3.10,<3.16``) at the newest version the tests passed on.
Before raising the cap, run the tests on the new Keras; if the mixin moved,
import it from its new place here (and only here).
"""

import keras

try:
    from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell
except ImportError as e:  # pragma: no cover - only on an incompatible Keras
    raise ImportError(
        "keras_rnnkit needs Keras's `DropoutRNNCell` mixin "
        "(keras.src.layers.rnn.dropout_rnn_cell), which this Keras "
        f"({keras.__version__}) does not have. Install a Keras version "
        "supported by keras_rnnkit (see pyproject.toml)."
    ) from e

__all__ = ["DropoutRNNCell"]
