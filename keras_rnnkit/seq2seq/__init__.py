"""Decoding and attention for sequence-to-sequence models: TF1's
`tf.contrib.seq2seq` and tensorflow-addons' `tfa.seq2seq` for Keras 3, under
tfa's names (migrating is a rename of the import)."""

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

__all__ = [
    "BaseDecoder",
    "BasicDecoder",
    "BasicDecoderOutput",
    "BeamSearchDecoder",
    "BeamSearchDecoderOutput",
    "BeamSearchDecoderState",
    "CustomSampler",
    "Decoder",
    "FinalBeamSearchDecoderOutput",
    "GreedyEmbeddingSampler",
    "InferenceSampler",
    "SampleEmbeddingSampler",
    "Sampler",
    "ScheduledEmbeddingTrainingSampler",
    "ScheduledOutputTrainingSampler",
    "TrainingSampler",
    "dynamic_decode",
    "gather_tree",
    "tile_batch",
]
