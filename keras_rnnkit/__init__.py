"""keras_rnnkit: TF1 `tf.contrib.rnn` building blocks for Keras 3."""

from keras_rnnkit import tf1
from keras_rnnkit.peephole_lstm import PeepholeLSTM
from keras_rnnkit.peephole_lstm_cell import PeepholeLSTMCell

__version__ = "0.1.0"

__all__ = [
    "PeepholeLSTM",
    "PeepholeLSTMCell",
    "tf1",
]
