"""The only module of keras_rnnkit that touches private Keras and torch code.

Each piece below has a test in `tests/test_compat.py` that fails loudly when
Keras or torch changes it (names and attributes included):

1. `DropoutRNNCell`, Keras's private mixin
   (`keras.src.layers.rnn.dropout_rnn_cell`). `keras.layers.RNN` draws
   dropout masks *before* its time loop, but only for cells that are
   instances of it (and for `StackedRNNCells`); a cell that drew its masks
   inside the scanned step would leak tracers under JAX's `jit`
   (`UnexpectedTracerError` in `fit`). Every kit cell and wrapper therefore
   inherits from it, so that kit cells also work in `keras.layers.RNN`.
2. The names under which the mixin caches the drawn masks on the cell,
   `_dropout_mask` and `_recurrent_dropout_mask`: two threads calling one
   layer would read each other's masks, so `ThreadLocalMasks` keeps them
   (and the kit's own cached masks) per thread instead, at no cost to the
   loop (the masks are read once per trace, or once per call in eager mode).
3. `keras.src.backend.rnn`, the backend's time loop behind
   `keras.layers.RNN`: `DynamicRNN` runs it itself, with explicit arguments
   (it never changes its own attributes during a call), over
   `(sequences, per-step random numbers)` when cells need new numbers at
   every step (`_step_noise.py`).
4. `torch._VF.lstm`, the function behind `torch.nn.LSTM`, which the torch
   loop calls for cells that compute exactly what it computes
   (`torch_lstm`), without building an `nn.LSTM` module per call.
5. `keras.src.backend.get_keras_mask`, where Keras keeps the mask it
   attached to a tensor (an attribute on TensorFlow and torch tensors, a
   table on JAX, whose arrays take no attributes): `SequenceLoss` reads the
   decoder's mask there, as Keras's own `Loss.__call__` does; and its
   `set_keras_mask` (`keras.src.backend.common.masking`), with which the
   decoders' samplers drop the mask an `Embedding(mask_zero=True)` attaches
   to the ids they feed back (a cell that takes no mask would warn at every
   step).

6. `layer._inbound_nodes[0].arguments`, the arguments (`args`,
   `kwargs`, symbolic tensors in their places) of a layer's first call in a
   functional model: `attention_weights` calls a `WithMemory` layer again
   on what the model gave it (`layer.input` flattens them, losing which
   tensor was the memory and which its lengths).

7. `AutocastScope` (`keras.src.backend.common.variables`): `AutocastScope(None)`
   reads a variable's current value (the `StatelessScope`'s, inside one)
   without the mixed-precision cast of the layer being called, so that
   `variable_values` can hand exact float32 weights to a scope of the kit's
   own (`_jax_tiers.py`, which runs an encoder inside `jax.lax.switch`).
8. `layer._loss_ids` and `layer._flatten_layers()`: a layer that adds a
   loss inside a `StatelessScope` records the loss's `id` in its
   `_loss_ids`, and `layer.losses` later picks the scope's losses by those
   ids. `_jax_tiers.py` collects the losses of a `switch` branch in a scope
   of its own and adds their sum to the calling layer; `forget_losses`
   removes the branch's ids from the sublayers, which would otherwise
   claim whatever new tensor reuses such an id once the branch's tensors
   are freed (a loss counted twice, seen in CI).
9. `torch.ops.mkldnn._reorder_linear_weight` and
   `torch.ops.mkldnn._linear_pointwise` (with its `.binary` overload),
   the oneDNN linear operations that `torch.compile`'s CPU backend calls:
   `_torch_gemm.py` packs the torch LSTM loop's fixed matrices once per
   call and multiplies by them (`onednn_linear`; the compiled loop,
   `_torch_lstm_kernels.cpp`, calls `mkldnn::_linear_pointwise` by name).
   Where they are missing or fail their check, `torch.mm` runs.
10. `torch.native_layer_norm` and `torch.ops.aten.native_layer_norm_backward`,
   the kernels behind `torch.nn.functional.layer_norm` and its gradient,
   which return and take the mean and the inverse standard deviation:
   `_torch_layer_norm_lstm.py` calls them once per normalisation and step
   (`layer_norm_ops`).

Keras makes no promise about `keras.src`: these pieces are why pyproject.toml
caps Keras (``keras>=3.10,<3.16``) at the newest version the tests passed on.
Before raising the cap, run the tests on the new Keras; if a piece moved,
import it from its new place here (and only here).
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

try:
    from keras.src.backend import get_keras_mask
    from keras.src.backend.common.masking import set_keras_mask
except ImportError as e:  # pragma: no cover - only on an incompatible Keras
    raise ImportError(
        "keras_rnnkit needs Keras's `get_keras_mask` (keras.src.backend), "
        f"which this Keras ({keras.__version__}) does not have. Install a "
        "Keras version supported by keras_rnnkit (see pyproject.toml)."
    ) from e

try:
    from keras.src.backend.common.variables import AutocastScope
except ImportError as e:  # pragma: no cover - only on an incompatible Keras
    raise ImportError(
        "keras_rnnkit needs Keras's `AutocastScope` "
        "(keras.src.backend.common.variables), which this Keras "
        f"({keras.__version__}) does not have. Install a Keras version "
        "supported by keras_rnnkit (see pyproject.toml)."
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


def torch_lstm():
    """`torch._VF.lstm` (torch backend only): PyTorch's LSTM over a whole
    sequence, `(input, hx, weights, has_biases, num_layers, dropout, train,
    bidirectional, batch_first)` or, packed, `(data, batch_sizes, hx,
    weights, has_biases, num_layers, dropout, train, bidirectional)`."""
    import torch

    return torch._VF.lstm


def onednn_linear():
    """`(reorder, linear)` (torch backend only): `reorder(weight, rows)`
    packs a `(out, in)` weight for oneDNN, `linear(a, packed, bias, "none",
    [], "")` is `a @ weight.T (+ bias)` and `linear.binary(a, c, packed,
    None, "add")` is `c + a @ weight.T`. Raises AttributeError (or
    RuntimeError) where this torch lacks them."""
    import torch

    return torch.ops.mkldnn._reorder_linear_weight, torch.ops.mkldnn._linear_pointwise


def layer_norm_ops():
    """`(forward, backward)` (torch backend only): `forward(x, shape, weight,
    bias, epsilon)` is `(out, mean, rstd)`, `x` normalised over its trailing
    `shape`; `backward(d_out, x, shape, mean, rstd, weight, bias, [True,
    False, False])` is `(d_x, None, None)`."""
    import torch

    return torch.native_layer_norm, torch.ops.aten.native_layer_norm_backward


def first_call_arguments(layer):
    """`(args, kwargs)` of `layer`'s first call in a functional model (the
    symbolic tensors it was called on, in their places), or None if the
    layer was never called on symbolic tensors."""
    nodes = getattr(layer, "_inbound_nodes", None)
    if not nodes:
        return None
    arguments = nodes[0].arguments
    return tuple(arguments.args), dict(arguments.kwargs)


def variable_values(variables):
    """The current values of `variables` (inside a `keras.StatelessScope`,
    the scope's), in their own dtype: never cast to a mixed-precision
    layer's compute dtype."""
    with AutocastScope(None):
        return [v.value for v in variables]


def forget_losses(layers, losses):
    """Removes `losses` from the loss records of `layers` and every layer
    inside them (see piece 8)."""
    ids = {id(loss) for loss in losses}
    for layer in layers:
        for inner in layer._flatten_layers(include_self=True):
            inner._loss_ids.difference_update(ids)


__all__ = [
    "DropoutRNNCell",
    "ThreadLocalMasks",
    "backend_rnn",
    "first_call_arguments",
    "forget_losses",
    "get_keras_mask",
    "set_keras_mask",
    "torch_lstm",
    "variable_values",
]
