"""Attention and decoding for sequence-to-sequence models: tensorflow-addons'
`tfa.seq2seq` (and TF1's `tf.contrib.seq2seq`) for Keras 3, on every backend.

The public names are tfa's, so that migrating is a rename of the import;
where the Keras 3 design differs (the memory is given per call, through
`WithMemory` or `AttentionWrapper.bind_memory`, not stored on the
mechanism), the docstrings, `docs/concepts/attention-and-decoding.md` and
`docs/concepts/decoding.md` say so.
"""

from keras_rnnkit.seq2seq.attention_mechanism import (
    AttentionMechanism,
    hardmax,
    monotonic_attention,
    safe_cumprod,
)
from keras_rnnkit.seq2seq.attention_wrapper import (
    AttentionWrapper,
    BoundMechanism,
    compute_attention,
)
from keras_rnnkit.seq2seq.bahdanau_attention import (
    BahdanauAttention,
    BahdanauMonotonicAttention,
)
from keras_rnnkit.seq2seq.basic_decoder import BasicDecoder, BasicDecoderOutput
from keras_rnnkit.seq2seq.beam_search_decoder import (
    BeamSearchDecoder,
    BeamSearchDecoderOutput,
    BeamSearchDecoderState,
    FinalBeamSearchDecoderOutput,
    gather_tree,
    tile_batch,
)
from keras_rnnkit.seq2seq.decoder import BaseDecoder, Decoder, dynamic_decode
from keras_rnnkit.seq2seq.loss import SequenceLoss, sequence_loss
from keras_rnnkit.seq2seq.luong_attention import (
    LuongAttention,
    LuongMonotonicAttention,
)
from keras_rnnkit.seq2seq.samplers import (
    CustomSampler,
    GreedyEmbeddingSampler,
    InferenceSampler,
    SampleEmbeddingSampler,
    Sampler,
    ScheduledEmbeddingTrainingSampler,
    ScheduledOutputTrainingSampler,
    TrainingSampler,
)
from keras_rnnkit.seq2seq.with_memory import WithMemory

__all__ = [
    "AttentionMechanism",
    "AttentionWrapper",
    "BahdanauAttention",
    "BahdanauMonotonicAttention",
    "BaseDecoder",
    "BasicDecoder",
    "BasicDecoderOutput",
    "BeamSearchDecoder",
    "BeamSearchDecoderOutput",
    "BeamSearchDecoderState",
    "BoundMechanism",
    "CustomSampler",
    "Decoder",
    "FinalBeamSearchDecoderOutput",
    "GreedyEmbeddingSampler",
    "InferenceSampler",
    "LuongAttention",
    "LuongMonotonicAttention",
    "SampleEmbeddingSampler",
    "Sampler",
    "ScheduledEmbeddingTrainingSampler",
    "ScheduledOutputTrainingSampler",
    "SequenceLoss",
    "TrainingSampler",
    "WithMemory",
    "compute_attention",
    "dynamic_decode",
    "gather_tree",
    "hardmax",
    "monotonic_attention",
    "safe_cumprod",
    "sequence_loss",
    "tile_batch",
]
