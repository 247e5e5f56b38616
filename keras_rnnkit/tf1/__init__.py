"""Moving trained TF1 models over: checkpoints and weights of RNN cells.

- `checkpoint_structure(path)` says what a `tf.compat.v1.train.Saver`
  checkpoint holds (scopes, TF1 cell types, sizes), so you know what to
  build.
- `load_checkpoint(target, path)` loads the `dynamic_rnn` /
  `bidirectional_dynamic_rnn` variables of one structure (or a
  `tf.contrib.seq2seq` attention decoder, a CRF's `transitions`) into a
  built layer or cell, checking everything before writing anything.
- `set_lstm_weights(cell, variables)` / `get_lstm_weights(cell)` move one
  TF1 `LSTMCell`'s variables (a dict of arrays) in and out of a
  `PeepholeLSTMCell`.
- `register_planner(cls)` teaches `load_checkpoint` a cell class of yours
  (see `docs/extending.md`); `plan_cell`, `Plan` and `join` are what a
  planner uses.

Reading a checkpoint needs TensorFlow (imported only then); the weights can
then be used on any Keras backend.

Examples:
    >>> import numpy as np, keras_rnnkit
    >>> from keras_rnnkit import tf1
    >>> rng = np.random.default_rng(0)
    >>> variables = {  # what a TF1 checkpoint holds for input 3, units 4
    ...     "kernel": rng.normal(size=(3 + 4, 16)),
    ...     "bias": rng.normal(size=(16,)),
    ...     "w_i_diag": rng.normal(size=(4,)),
    ...     "w_f_diag": rng.normal(size=(4,)),
    ...     "w_o_diag": rng.normal(size=(4,)),
    ... }
    >>> cell = keras_rnnkit.PeepholeLSTMCell(4)
    >>> tf1.set_lstm_weights(cell, variables, forget_bias=1.0)
    >>> back = tf1.get_lstm_weights(cell, forget_bias=1.0)
    >>> bool(np.allclose(back["kernel"], variables["kernel"]))
    True
"""

# Each planner module registers its planner when imported (one direction:
# this package imports the layers, never the other way round).
from keras_rnnkit.tf1 import (
    _attention,
    _containers,
    _crf,
    _gru,
    _layer_norm_lstm,
    _simple_rnn,
)
from keras_rnnkit.tf1._load import load_checkpoint
from keras_rnnkit.tf1._lstm import get_lstm_weights, set_lstm_weights
from keras_rnnkit.tf1._names import checkpoint_structure
from keras_rnnkit.tf1._plan import Plan, join, plan_cell, register_planner

del _attention, _containers, _crf, _gru, _layer_norm_lstm, _simple_rnn

__all__ = [
    "Plan",
    "checkpoint_structure",
    "get_lstm_weights",
    "join",
    "load_checkpoint",
    "plan_cell",
    "register_planner",
    "set_lstm_weights",
]
