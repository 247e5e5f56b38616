"""Attention and sequence-to-sequence pieces: tensorflow-addons' `tfa.seq2seq`
(and TF1's `tf.contrib.seq2seq`) for Keras 3, on every backend.

The public names are tfa's, so that migrating is a rename of the import;
where the Keras 3 design differs (the memory is given per call, through
`WithMemory` or `AttentionWrapper.bind_memory`, not stored on the
mechanism), the docstrings and `docs/concepts/attention-and-decoding.md`
say so.
"""

from keras_rnnkit.seq2seq.attention_mechanism import (
    AttentionMechanism,
    hardmax,
    monotonic_attention,
    safe_cumprod,
)
from keras_rnnkit.seq2seq.attention_wrapper import AttentionWrapper
from keras_rnnkit.seq2seq.bahdanau_attention import (
    BahdanauAttention,
    BahdanauMonotonicAttention,
)
from keras_rnnkit.seq2seq.loss import SequenceLoss, sequence_loss
from keras_rnnkit.seq2seq.luong_attention import (
    LuongAttention,
    LuongMonotonicAttention,
)
from keras_rnnkit.seq2seq.with_memory import WithMemory

# -- decoding (BasicDecoder, BeamSearchDecoder, dynamic_decode, tile_batch,
# gather_tree, samplers): exported here by the `seq2seq-decode` branch when
# it is merged. ------------------------------------------------------------

__all__ = [
    "AttentionMechanism",
    "AttentionWrapper",
    "BahdanauAttention",
    "BahdanauMonotonicAttention",
    "LuongAttention",
    "LuongMonotonicAttention",
    "SequenceLoss",
    "WithMemory",
    "hardmax",
    "monotonic_attention",
    "safe_cumprod",
    "sequence_loss",
    # -- decoding names: added by the merge of the decoding branch --
]
