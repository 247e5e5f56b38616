"""keras_rnnkit: TF1 `tf.contrib.rnn` building blocks for Keras 3."""

from keras_rnnkit import tf1
from keras_rnnkit.attention_pooling import AttentionPooling
from keras_rnnkit.bidirectional_encoder import BidirectionalEncoder
from keras_rnnkit.dropout_wrapper import DropoutWrapper
from keras_rnnkit.dynamic_rnn import DynamicRNN
from keras_rnnkit.hierarchical_encoder import HierarchicalEncoder
from keras_rnnkit.length_batches import LengthBatches
from keras_rnnkit.multi_rnn_cell import MultiRNNCell
from keras_rnnkit.output_projection_wrapper import OutputProjectionWrapper
from keras_rnnkit.peephole_lstm import PeepholeLSTM
from keras_rnnkit.peephole_lstm_cell import PeepholeLSTMCell
from keras_rnnkit.residual_wrapper import ResidualWrapper
from keras_rnnkit.sequence import lengths_to_mask, reverse_valid

__version__ = "0.2.0.dev0"

__all__ = [
    "AttentionPooling",
    "BidirectionalEncoder",
    "DropoutWrapper",
    "DynamicRNN",
    "HierarchicalEncoder",
    "LengthBatches",
    "MultiRNNCell",
    "OutputProjectionWrapper",
    "PeepholeLSTM",
    "PeepholeLSTMCell",
    "ResidualWrapper",
    "lengths_to_mask",
    "reverse_valid",
    "tf1",
]
