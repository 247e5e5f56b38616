"""`BasicDecoder`: a cell, a sampler and an optional output layer."""

import collections
import inspect

import keras
from keras import ops

from keras_rnnkit import _compat
from keras_rnnkit._registration import register
from keras_rnnkit.seq2seq.decoder import BaseDecoder

__all__ = ["BasicDecoder", "BasicDecoderOutput"]

BasicDecoderOutput = collections.namedtuple(
    "BasicDecoderOutput", ("rnn_output", "sample_id")
)


def build_step_layers(cell, output_layer, inputs, state):
    """Builds `cell` (and `output_layer` on its outputs) before a loop: a
    layer must not create its weights inside a compiled loop. The batch size
    is left unknown: the build config keeps the shape, and a traced batch
    size (symbolic under JAX) cannot be saved in a `.keras` file."""
    if not cell.built:
        cell.build((None, *inputs.shape[1:]))
    if output_layer is not None and not output_layer.built:
        size = getattr(cell, "output_size", None)
        if not isinstance(size, int):
            out, _ = cell(inputs, state)
            size = out.shape[-1]
        output_layer.build((None, size))


def initial_cell_state(cell, inputs, initial_state):
    """`initial_state`, or the cell's zero state for `inputs`' batch."""
    if initial_state is not None:
        return initial_state
    batch = ops.shape(inputs)[0]
    if hasattr(cell, "get_initial_state"):
        return cell.get_initial_state(batch)
    sizes = keras.tree.flatten(cell.state_size)
    return [ops.zeros((batch, size), dtype=inputs.dtype) for size in sizes]


@register
class BasicDecoder(BaseDecoder):
    """Runs a cell one step at a time, feeding back what `sampler` picks
    (tfa's `BasicDecoder`; TF1's `tf.contrib.seq2seq.BasicDecoder`).

    Works with any Keras recurrent cell (`cell(inputs, states) -> (output,
    new_states)`): `keras.layers.GRUCell`, `LSTMCell`, `StackedRNNCells`,
    the kit's cells and wrappers.

    Args:
        cell: A recurrent cell.
        sampler: A sampler (`TrainingSampler`, `GreedyEmbeddingSampler`,
            `SampleEmbeddingSampler`, ...).
        output_layer: Applied to the cell's output at each step (a `Dense`
            over the vocabulary), or None.
        **kwargs: `BaseDecoder`'s arguments (`maximum_iterations`,
            `impute_finished`, `output_time_major`) and `name`, `dtype`.

    Call arguments:
        inputs: What the sampler's `initialize` takes first: the decoder
            inputs `(batch, time, depth)` of a training sampler, the
            embedding matrix (or None with an `embedding_fn`) of an
            embedding sampler.
        initial_state: The cell's initial state (default: its zero state).
        training: Passed to the cell and the output layer.
        sequence_length: int `(batch,)`, for a training sampler.
        mask: Boolean `(batch, time)`, right-padded, for a training
            sampler (instead of `sequence_length`; by default, the mask
            Keras attached to `inputs`, e.g. by `Embedding(mask_zero=True)`).
        start_tokens: int `(batch,)`, for an embedding sampler.
        end_token: An int, for an embedding sampler.
        embedding: The embedding matrix of a scheduled embedding sampler.
        auxiliary_inputs: For `ScheduledOutputTrainingSampler`.

    Returns:
        `(BasicDecoderOutput(rnn_output, sample_id), final_state,
        final_sequence_lengths)`, batch-major.

    Examples:
        >>> import numpy as np, keras
        >>> from keras_rnnkit import seq2seq
        >>> cell = keras.layers.GRUCell(8)
        >>> projection = keras.layers.Dense(5)
        >>> greedy = seq2seq.BasicDecoder(
        ...     cell, seq2seq.GreedyEmbeddingSampler(keras.layers.Embedding(5, 3)),
        ...     output_layer=projection, maximum_iterations=6)
        >>> outputs, state, lengths = greedy(
        ...     None, start_tokens=np.array([1, 1, 1]), end_token=0)
        >>> tuple(outputs.sample_id.shape), tuple(outputs.rnn_output.shape)
        ((3, 6), (3, 6, 5))
    """

    def __init__(self, cell, sampler, output_layer=None, **kwargs):
        super().__init__(**kwargs)
        self.cell = cell
        self.sampler = sampler
        self.output_layer = output_layer
        # layers the sampler holds (an embedding) are this layer's weights too
        self._sampler_layers = [
            value
            for value in vars(sampler).values()
            if isinstance(value, keras.layers.Layer)
        ]

    def call(
        self,
        inputs,
        initial_state=None,
        training=None,
        sequence_length=None,
        mask=None,
        start_tokens=None,
        end_token=None,
        embedding=None,
        auxiliary_inputs=None,
    ):
        given = dict(
            sequence_length=sequence_length,
            mask=mask,
            start_tokens=start_tokens,
            end_token=end_token,
            embedding=embedding,
            auxiliary_inputs=auxiliary_inputs,
        )
        kwargs = {k: v for k, v in given.items() if v is not None}
        takes_mask = "mask" in inspect.signature(self.sampler.initialize).parameters
        if not takes_mask:
            kwargs.pop("mask", None)  # one Keras filled in for an embedding sampler
        elif mask is None and sequence_length is None and inputs is not None:
            # Keras fills `mask` only for a call on one tensor; with an
            # initial state too, read the inputs' own mask.
            inputs_mask = _compat.get_keras_mask(inputs)
            if inputs_mask is not None:
                kwargs["mask"] = inputs_mask
        return super().call(
            inputs, initial_state=initial_state, training=training, **kwargs
        )

    @property
    def batch_size(self):
        """The current call's batch size (the sampler's), in this thread."""
        return self.sampler.batch_size

    @property
    def step_bound(self):
        """The most steps the sampler allows (a training sampler's time
        axis), or None: `dynamic_decode`'s bound when compiled without
        `maximum_iterations`."""
        steps = getattr(self.sampler, "steps", None)
        return steps if isinstance(steps, int) else None

    def initialize(self, inputs, initial_state=None, **kwargs):
        finished, first_inputs = self.sampler.initialize(inputs, **kwargs)
        self.sampler.prepare_steps(self.maximum_iterations)
        state = initial_cell_state(self.cell, first_inputs, initial_state)
        build_step_layers(self.cell, self.output_layer, first_inputs, state)
        return finished, first_inputs, state

    def step(self, time, inputs, state, training=None):
        cell_outputs, cell_state = self.cell(inputs, state, training=training)
        cell_state = keras.tree.pack_sequence_as(state, keras.tree.flatten(cell_state))
        if self.output_layer is not None:
            cell_outputs = self.output_layer(cell_outputs, training=training)
        sample_ids = self.sampler.sample(time, cell_outputs, cell_state)
        finished, next_inputs, next_state = self.sampler.next_inputs(
            time, cell_outputs, cell_state, sample_ids
        )
        return (
            BasicDecoderOutput(cell_outputs, sample_ids),
            next_state,
            next_inputs,
            finished,
        )

    def get_config(self):
        serialize = keras.saving.serialize_keras_object
        try:
            sampler = serialize(self.sampler)
        except (AttributeError, NotImplementedError, TypeError, ValueError):
            sampler = None  # a sampler without a config: saves, cannot reload
        return {
            **super().get_config(),
            "cell": serialize(self.cell),
            "sampler": sampler,
            "output_layer": None
            if self.output_layer is None
            else serialize(self.output_layer),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("sampler") is None:
            raise ValueError(
                f"BasicDecoder '{config.get('name')}' was saved with a sampler "
                "that has no config (a Sampler subclass whose constructor "
                "arguments are not attributes of the same name: give it "
                "get_config and register it with "
                "keras.saving.register_keras_serializable). Rebuild the "
                "decoder from its cell and output layer and a new sampler."
            )
        deserialize = keras.saving.deserialize_keras_object
        for key in ("cell", "sampler", "output_layer"):
            if config.get(key) is not None:
                config[key] = deserialize(config[key])
        return cls(**config)
