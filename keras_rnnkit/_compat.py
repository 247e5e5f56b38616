"""The only module of keras_rnnkit that touches private Keras code.

`keras.layers.RNN` draws dropout masks *before* its time loop, but only for
cells that are instances of Keras's private `DropoutRNNCell` mixin (and for
`StackedRNNCells`). A cell that drew its masks inside the scanned step function
would leak tracers under JAX's `jit` (`UnexpectedTracerError` in `fit`). Every
kit cell and wrapper therefore inherits from `DropoutRNNCell`, imported here
and nowhere else; `tests/test_compat.py` fails loudly if Keras moves it.

Keras caches the drawn masks on the cell object (`_dropout_mask`,
`_recurrent_dropout_mask`), so two threads calling one layer would read each
other's masks. `ThreadLocalMasks` keeps them per thread instead, at no cost to
the loop (the masks are read once per trace, or once per call in eager mode).

The second private piece is the hook `keras.layers.RNN._maybe_config_dropout_masks`
(the call that draws the masks before the loop): `DynamicRNN` overrides it so
that masks are drawn only when training (nothing random and no seed-state write
at inference, which export formats need).

The third is `keras.src.backend.rnn`, the backend's time loop behind
`keras.layers.RNN.inner_loop`: `DynamicRNN` calls it directly when it feeds
per-step random numbers to the cells (`_step_noise.py`) as a second input
sequence, which `inner_loop` (one cell call on one input) cannot do.

Keras makes no promise about `keras.src`: these pieces are why pyproject.toml
caps Keras (``keras>=3.10,<3.16``) at the newest version the tests passed on.
Before raising the cap, run the tests on the new Keras; if the mixin moved,
import it from its new place here (and only here); if the hook changed, adapt
`DynamicRNN._maybe_config_dropout_masks`.
"""

import threading
import weakref

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

try:
    from keras.src.backend import rnn as backend_rnn
except ImportError as e:  # pragma: no cover - only on an incompatible Keras
    raise ImportError(
        "keras_rnnkit needs Keras's backend time loop (keras.src.backend.rnn), "
        f"which this Keras ({keras.__version__}) does not have. Install a "
        "Keras version supported by keras_rnnkit (see pyproject.toml)."
    ) from e

_THREAD = threading.local()


def _masks_of(cell):
    """This thread's mask store of `cell` (a dict; weakly keyed by the cell,
    so nothing outlives it and nothing is added to the cell itself)."""
    stores = getattr(_THREAD, "stores", None)
    if stores is None:
        stores = _THREAD.stores = weakref.WeakKeyDictionary()
    store = stores.get(cell)
    if store is None:
        store = stores[cell] = {}
    return store


def _per_thread(name):
    """A property whose value lives in the cell's per-thread store."""

    def get(self):
        return _masks_of(self).get(name)

    def put(self, value):
        _masks_of(self)[name] = value

    return property(get, put)


class ThreadLocalMasks(DropoutRNNCell):
    """`DropoutRNNCell` whose cached masks (Keras's two, the kit wrappers'
    `_masks`, and the per-step numbers of `_step_noise.py`) are kept per
    thread."""

    _dropout_mask = _per_thread("dropout")
    _recurrent_dropout_mask = _per_thread("recurrent_dropout")
    _masks = _per_thread("masks")
    _step_noise = _per_thread("step_noise")


__all__ = ["DropoutRNNCell", "ThreadLocalMasks", "backend_rnn"]
