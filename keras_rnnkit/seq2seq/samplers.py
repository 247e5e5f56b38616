"""Samplers: what a `BasicDecoder` feeds back at each step (tfa's names).

A sampler picks each step's ids from the step's outputs (`sample`) and
makes the next step's inputs (`next_inputs`). TF1's `tf.contrib.seq2seq`
called them helpers: `TrainingHelper` is `TrainingSampler`,
`GreedyEmbeddingHelper` is `GreedyEmbeddingSampler`, and so on.

Random samplers (`SampleEmbeddingSampler`, the scheduled samplers) draw
their noise with a `keras.random.SeedGenerator`: once for all steps when
the number of steps is known (the training samplers' time axis, or the
decoder's `maximum_iterations`), so that eager and compiled runs draw the
same samples and JAX's `jit` works; else once per step (eagerly only).
A category is drawn by inverting the cumulative softmax with one uniform
number per row and step.

A sampler keeps nothing of a call on itself: what `initialize` computes
(the inputs, the start tokens, the noise drawn...) goes to a per-call
object of this thread (`decoder.begin_call`; see `decoder.py`), which
`sample` and `next_inputs` read back. The attributes of tfa's samplers
(`batch_size`, `inputs`, `sequence_length`, `start_tokens`, `end_token`,
`start_inputs`...) are read-only properties giving the current call's
values in this thread (None before `initialize`).
"""

import functools
import inspect
import numbers

import keras
from keras import ops

from keras_rnnkit import _compat
from keras_rnnkit import _validation as check
from keras_rnnkit._backend import all_true
from keras_rnnkit._registration import register
from keras_rnnkit.seq2seq.decoder import begin_call, current_call, per_call

__all__ = [
    "CustomSampler",
    "GreedyEmbeddingSampler",
    "InferenceSampler",
    "SampleEmbeddingSampler",
    "Sampler",
    "ScheduledEmbeddingTrainingSampler",
    "ScheduledOutputTrainingSampler",
    "TrainingSampler",
]


def _argmax(outputs):
    return ops.cast(ops.argmax(outputs, axis=-1), "int32")


def _embedder(embedding_fn, embedding, who):
    """The function from ids to inputs: `embedding_fn`, or a lookup in the
    `embedding` matrix given at `initialize`."""
    if embedding is not None and embedding_fn is not None:
        raise ValueError(
            f"{who} was given both `embedding_fn` (in its constructor) and "
            "`embedding` (at initialize). Pass one of them."
        )
    if embedding is not None:
        if callable(embedding) and not hasattr(embedding, "shape"):
            return embedding
        matrix = ops.convert_to_tensor(embedding)
        if len(matrix.shape) != 2:
            raise ValueError(
                f"{who} expects `embedding` of shape (vocab_size, depth), or "
                f"a callable. Received: embedding.shape={tuple(matrix.shape)}"
            )
        return lambda ids: ops.take(matrix, ids, axis=0)
    if embedding_fn is None:
        raise ValueError(
            f"{who} needs an embedding: pass `embedding_fn` (e.g. a "
            "keras.layers.Embedding) to the constructor or an `embedding` "
            "matrix to initialize (the first argument of the decoder's call)."
        )
    if isinstance(embedding_fn, keras.layers.Embedding) and embedding_fn.mask_zero:
        return functools.partial(_unmasked, embedding_fn)
    return embedding_fn


def _unmasked(embedding_fn, ids):
    """`embedding_fn(ids)` without the mask a `mask_zero` embedding attaches
    (the ids fed back are never padding, and the cell takes no mask)."""
    embedded = embedding_fn(ids)
    _compat.set_keras_mask(embedded, None)
    return embedded


def _token(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        value = check.concrete(value)
        if value is None or value.ndim != 0 or value.dtype.kind not in "iu":
            raise ValueError(
                f"Argument `{name}` must be an integer scalar (a token id). "
                f"Received: {name}={value!r}"
            )
    value = int(value)
    if value < 0:
        raise ValueError(
            f"Argument `{name}` must be a token id >= 0. Received: {name}={value}"
        )
    return value


def check_token_in_vocab(name, token, logits):
    """Raises a ValueError unless `token` < the vocabulary (the last axis)."""
    vocab = logits.shape[-1]
    if vocab is not None and not 0 <= token < vocab:
        raise ValueError(
            f"Argument `{name}` must be a token id in [0, {vocab}) (the "
            f"vocabulary: the last axis of the step's outputs). Received: "
            f"{name}={token}"
        )


def _start_tokens(start_tokens):
    start_tokens = ops.convert_to_tensor(start_tokens)
    dtype = keras.backend.standardize_dtype(start_tokens.dtype)
    if "int" not in dtype or len(start_tokens.shape) != 1:
        raise ValueError(
            "Argument `start_tokens` must be a vector of integer token ids, "
            "one per batch entry, shape (batch,). Received: start_tokens of "
            f"shape {tuple(start_tokens.shape)} and dtype {dtype}"
        )
    values = check.concrete(start_tokens)
    if values is not None and (values < 0).any():
        raise ValueError(
            "Argument `start_tokens` must hold token ids >= 0. Received: "
            f"start_tokens={values.tolist()}"
        )
    return ops.cast(start_tokens, "int32")


def _categorical(logits, uniform):
    """One id per row drawn from softmax(logits): the first id whose
    cumulative probability exceeds `uniform` (batch,)."""
    probs = ops.softmax(ops.cast(logits, "float32"), axis=-1)
    cumulative = ops.cumsum(probs, axis=-1)
    below = ops.less(cumulative, uniform[:, None] * cumulative[:, -1:])
    ids = ops.sum(ops.cast(below, "int32"), axis=-1)
    return ops.minimum(ids, ops.shape(logits)[-1] - 1)


def _top_k_logits(logits, k):
    """`logits` with everything below the k-th largest of each row set to
    -inf (ties with the k-th kept)."""
    if k is None or (logits.shape[-1] is not None and k >= logits.shape[-1]):
        return logits
    kth = ops.top_k(logits, k)[0][:, -1:]
    return ops.where(logits < kth, ops.full_like(logits, float("-inf")), logits)


class _Noise:
    """Uniform noise for a random sampler: drawn for all steps at once when
    their number is known, else one step at a time. `prepare` returns the
    noise of one call (kept in the sampler's per-call object)."""

    def __init__(self, seed):
        self.generator = keras.random.SeedGenerator(seed)

    def prepare(self, steps, batch, width):
        drawn = None
        if steps is not None:
            drawn = keras.random.uniform(
                (max(int(steps), 1), batch, width), seed=self.generator
            )
        return _Drawn(self.generator, (batch, width), drawn)


class _Drawn:
    """The noise of one call: all steps' (`drawn`) or one step's at a time."""

    def __init__(self, generator, shape, drawn):
        self.generator = generator
        self.shape = shape
        self.drawn = drawn

    def at(self, time):
        if self.drawn is not None:
            return ops.take(self.drawn, time, axis=0)
        return keras.random.uniform(self.shape, seed=self.generator)


class Sampler:
    """The sampler protocol (tfa's `Sampler`).

    - `initialize(inputs, **kwargs) -> (finished, first_inputs)`
    - `sample(time, outputs, state) -> sample_ids`
    - `next_inputs(time, outputs, state, sample_ids) -> (finished,
      next_inputs, state)`
    - `batch_size`, `sample_ids_shape`, `sample_ids_dtype`
    """

    def initialize(self, inputs, **kwargs):
        raise NotImplementedError

    def sample(self, time, outputs, state):
        raise NotImplementedError

    # Constructor arguments kept under another attribute name.
    _attributes = {
        "sample_shape": "sample_ids_shape",
        "sample_dtype": "sample_ids_dtype",
    }

    def get_config(self):
        """The constructor's arguments; layers and functions (embeddings,
        `next_inputs_fn`, ...) as Keras serializes them (a function must be
        registered with `keras.saving.register_keras_serializable` to
        reload)."""
        config = {}
        parameters = inspect.signature(type(self).__init__).parameters.values()
        for parameter in parameters:
            name = parameter.name
            if name == "self" or parameter.kind in (
                parameter.VAR_POSITIONAL,
                parameter.VAR_KEYWORD,
            ):
                continue
            attribute = self._attributes.get(name, name)
            if not hasattr(self, attribute):
                raise NotImplementedError(
                    f"{type(self).__name__}.get_config: the constructor "
                    f"argument `{name}` is not an attribute of the same name; "
                    "define get_config (and from_config) to save this sampler."
                )
            value = getattr(self, attribute)
            if isinstance(value, tuple):
                value = list(value)
            elif name.endswith("dtype") and value is not None:
                value = keras.backend.standardize_dtype(value)
            elif callable(value) and not isinstance(value, type):  # layers too
                value = keras.saving.serialize_keras_object(value)
            config[name] = value
        return config

    @classmethod
    def from_config(cls, config):
        config = {
            name: keras.saving.deserialize_keras_object(value)
            if isinstance(value, dict)
            else value
            for name, value in config.items()
        }
        return cls(**config)

    def next_inputs(self, time, outputs, state, sample_ids):
        raise NotImplementedError

    def prepare_steps(self, steps):
        """Told the most steps the decoder will run (or None) after
        `initialize`; random samplers draw their noise here."""

    def _begin_call(self, **values):
        """A new per-call object (this thread, this decode): `initialize`'s
        values, for `sample` and `next_inputs`."""
        return begin_call(self, **values)

    def _call(self):
        """The current call's per-call object (after `initialize`)."""
        return current_call(self)

    batch_size = per_call("batch_size", "The current call's batch size.")
    sample_ids_shape = ()
    sample_ids_dtype = "int32"


@register
class TrainingSampler(Sampler):
    """Teacher forcing: step `t + 1` reads `inputs[:, t + 1]` (TF1's
    `TrainingHelper`).

    Args:
        time_major: Whether `inputs` are `(time, batch, depth)`.

    `initialize(inputs, sequence_length=None, mask=None)`: `inputs`
    `(batch, time, depth)`; a row is finished after `sequence_length` steps
    (the time axis when neither is given; `mask` must be right-padded: its
    row sums are the lengths). `sample` is the argmax of the outputs.

    Examples:
        >>> import numpy as np, keras
        >>> from keras_rnnkit import seq2seq
        >>> decoder = seq2seq.BasicDecoder(
        ...     keras.layers.LSTMCell(3), seq2seq.TrainingSampler())
        >>> x = np.ones((2, 4, 5), "float32")
        >>> outputs, _, lengths = decoder(x, sequence_length=np.array([4, 1]))
        >>> np.asarray(lengths).tolist(), tuple(outputs.rnn_output.shape)
        ([4, 1], (2, 4, 3))
    """

    def __init__(self, time_major=False):
        self.time_major = check.boolean("time_major", time_major)

    def initialize(self, inputs, sequence_length=None, mask=None):
        inputs = ops.convert_to_tensor(inputs)
        if len(inputs.shape) < 3:
            raise ValueError(
                f"{type(self).__name__} expects inputs of shape (batch, time, "
                f"depth). Received: inputs.shape={tuple(inputs.shape)}"
            )
        if self.time_major:
            inputs = ops.moveaxis(inputs, 0, 1)
        time = inputs.shape[1]
        if sequence_length is not None and mask is not None:
            raise ValueError(
                f"{type(self).__name__}.initialize takes `sequence_length` or "
                "`mask`, not both."
            )
        if mask is not None:
            sequence_length = ops.sum(ops.cast(mask, "int32"), axis=1)
        if sequence_length is None:
            sequence_length = ops.full(ops.shape(inputs)[:1], ops.shape(inputs)[1])
        else:
            check.integer_lengths("sequence_length", sequence_length)
            sequence_length = ops.convert_to_tensor(sequence_length)
            values = check.concrete(sequence_length)
            if values is not None and time is not None:
                if ((values < 0) | (values > time)).any():
                    raise ValueError(
                        "Argument `sequence_length` must hold lengths in "
                        f"[0, {time}] (the time axis of the inputs). "
                        f"Received: sequence_length={values.tolist()}"
                    )
        call = self._begin_call(
            inputs=inputs,
            batch_size=inputs.shape[0],
            sequence_length=ops.cast(sequence_length, "int32"),
            steps=time,
            zero_inputs=ops.zeros_like(inputs[:, 0]),
        )
        finished = ops.less_equal(call.sequence_length, 0)
        first = ops.where(all_true(finished), call.zero_inputs, inputs[:, 0])
        return finished, first

    inputs = per_call("inputs", "The current call's inputs, batch-major.")
    sequence_length = per_call(
        "sequence_length", "The current call's int32 lengths (batch,)."
    )
    steps = per_call("steps", "The current call's time axis (an int or None).")
    zero_inputs = per_call("zero_inputs", "Zeros shaped as one step's inputs.")

    def prepare_steps(self, steps):
        pass

    def sample(self, time, outputs, state):
        return _argmax(outputs)

    def _read(self, call, time):
        last = ops.shape(call.inputs)[1] - 1
        index = ops.minimum(ops.cast(time, "int32") + 1, ops.maximum(last, 0))
        return ops.take(call.inputs, index, axis=1)

    def next_inputs(self, time, outputs, state, sample_ids):
        call = self._call()
        next_time = ops.cast(time, "int32") + 1
        finished = ops.greater_equal(next_time, call.sequence_length)
        nxt = ops.where(all_true(finished), call.zero_inputs, self._read(call, time))
        return finished, nxt, state


@register
class ScheduledEmbeddingTrainingSampler(TrainingSampler):
    """Teacher forcing where each row, at each step, feeds back the
    embedding of an id sampled from its outputs with probability
    `sampling_probability` (scheduled sampling, Bengio et al. 2015).

    Args:
        sampling_probability: A float in [0, 1].
        embedding_fn: Ids -> inputs (or give `embedding` at initialize).
        time_major: Whether the inputs are time-major.
        seed: Seed of the noise.

    `sample` returns the sampled ids, -1 where the row is teacher-forced.
    """

    def __init__(
        self, sampling_probability, embedding_fn=None, time_major=False, seed=None
    ):
        super().__init__(time_major=time_major)
        self.sampling_probability = check.probability(
            "sampling_probability", sampling_probability
        )
        self.embedding_fn = embedding_fn
        self.seed = seed
        self._noise = _Noise(seed)

    def initialize(self, inputs, sequence_length=None, mask=None, embedding=None):
        embed = _embedder(self.embedding_fn, embedding, type(self).__name__)
        finished, first = super().initialize(inputs, sequence_length, mask)
        call = self._call()
        call.embed = embed
        call.noise = self._noise.prepare(call.steps, ops.shape(call.inputs)[0], 2)
        return finished, first

    def sample(self, time, outputs, state):
        noise = self._call().noise.at(time)
        chosen = ops.less(noise[:, 0], self.sampling_probability)
        ids = _categorical(outputs, noise[:, 1])
        return ops.where(chosen, ids, -ops.ones_like(ids))

    def next_inputs(self, time, outputs, state, sample_ids):
        finished, base, state = super().next_inputs(time, outputs, state, sample_ids)
        sampled = self._call().embed(ops.maximum(sample_ids, 0))
        nxt = ops.where((sample_ids >= 0)[:, None], ops.cast(sampled, base.dtype), base)
        nxt = ops.where(all_true(finished), base, nxt)
        return finished, nxt, state


@register
class ScheduledOutputTrainingSampler(TrainingSampler):
    """Teacher forcing where each row, at each step, feeds back its own
    outputs (or `next_inputs_fn(outputs)`) with probability
    `sampling_probability`; `auxiliary_inputs` (batch, time, depth), given
    at initialize, are concatenated to what is fed back.

    Args:
        sampling_probability: A float in [0, 1].
        time_major: Whether the inputs are time-major.
        seed: Seed of the noise.
        next_inputs_fn: Outputs -> inputs (default: the outputs).

    `sample` returns booleans: True where the outputs were fed back.
    """

    sample_ids_dtype = "bool"

    def __init__(
        self, sampling_probability, time_major=False, seed=None, next_inputs_fn=None
    ):
        super().__init__(time_major=time_major)
        self.sampling_probability = check.probability(
            "sampling_probability", sampling_probability
        )
        self.next_inputs_fn = next_inputs_fn
        self.seed = seed
        self._noise = _Noise(seed)

    def initialize(
        self, inputs, sequence_length=None, mask=None, auxiliary_inputs=None
    ):
        aux = None
        if auxiliary_inputs is not None:
            aux = ops.convert_to_tensor(auxiliary_inputs)
            aux = ops.moveaxis(aux, 0, 1) if self.time_major else aux
            # the decoder's inputs are [inputs, auxiliary inputs]
            inputs = ops.convert_to_tensor(inputs)
            if self.time_major:
                inputs = ops.moveaxis(inputs, 0, 1)
            inputs = ops.concatenate([inputs, aux], axis=-1)
            if self.time_major:
                inputs = ops.moveaxis(inputs, 0, 1)
        finished, first = super().initialize(inputs, sequence_length, mask)
        call = self._call()
        call.auxiliary_inputs = aux
        call.noise = self._noise.prepare(call.steps, ops.shape(call.inputs)[0], 1)
        return finished, first

    auxiliary_inputs = per_call(
        "auxiliary_inputs", "The current call's auxiliary inputs, batch-major."
    )

    def sample(self, time, outputs, state):
        noise = self._call().noise.at(time)
        return ops.less(noise[:, 0], self.sampling_probability)

    def next_inputs(self, time, outputs, state, sample_ids):
        finished, base, state = super().next_inputs(time, outputs, state, sample_ids)
        fed = outputs if self.next_inputs_fn is None else self.next_inputs_fn(outputs)
        aux = self._call().auxiliary_inputs
        if aux is not None:
            last = ops.shape(aux)[1] - 1
            index = ops.minimum(ops.cast(time, "int32") + 1, last)
            fed = ops.concatenate([fed, ops.take(aux, index, axis=1)], axis=-1)
        nxt = ops.where(sample_ids[:, None], ops.cast(fed, base.dtype), base)
        nxt = ops.where(all_true(finished), base, nxt)
        return finished, nxt, state


@register
class GreedyEmbeddingSampler(Sampler):
    """Greedy decoding: each step feeds back the embedding of its argmax
    (TF1's `GreedyEmbeddingHelper`).

    Args:
        embedding_fn: Ids -> inputs, e.g. a `keras.layers.Embedding` (or
            give an `embedding` matrix at initialize).

    `initialize(embedding, start_tokens, end_token)`: `start_tokens`
    `(batch,)` int, `end_token` an int; a row is finished once it emits
    `end_token`.

    Examples:
        >>> import numpy as np, keras
        >>> from keras_rnnkit import seq2seq
        >>> decoder = seq2seq.BasicDecoder(
        ...     keras.layers.GRUCell(8), seq2seq.GreedyEmbeddingSampler(),
        ...     output_layer=keras.layers.Dense(6), maximum_iterations=5)
        >>> embedding = np.random.default_rng(0).normal(size=(6, 4))
        >>> outputs, _, lengths = decoder(
        ...     embedding.astype("float32"), start_tokens=np.array([1, 2]),
        ...     end_token=0)
        >>> tuple(outputs.sample_id.shape)
        (2, 5)
    """

    def __init__(self, embedding_fn=None):
        self.embedding_fn = embedding_fn

    def initialize(self, embedding, start_tokens=None, end_token=None):
        embed = _embedder(self.embedding_fn, embedding, type(self).__name__)
        if start_tokens is None or end_token is None:
            raise ValueError(
                f"{type(self).__name__}.initialize needs `start_tokens` "
                "(batch,) and `end_token` (an int)."
            )
        start_tokens = _start_tokens(start_tokens)
        call = self._begin_call(
            embed=embed,
            start_tokens=start_tokens,
            end_token=_token("end_token", end_token),
            batch_size=start_tokens.shape[0],
            start_inputs=embed(start_tokens),
        )
        return ops.zeros_like(start_tokens, dtype="bool"), call.start_inputs

    start_tokens = per_call("start_tokens", "The current call's start tokens.")
    end_token = per_call("end_token", "The current call's end token (an int).")
    start_inputs = per_call("start_inputs", "The embedded start tokens.")

    def sample(self, time, outputs, state):
        check_token_in_vocab("end_token", self._call().end_token, outputs)
        return _argmax(outputs)

    def next_inputs(self, time, outputs, state, sample_ids):
        call = self._call()
        finished = ops.equal(sample_ids, call.end_token)
        embedded = ops.cast(call.embed(sample_ids), call.start_inputs.dtype)
        nxt = ops.where(all_true(finished), call.start_inputs, embedded)
        return finished, nxt, state


@register
class SampleEmbeddingSampler(GreedyEmbeddingSampler):
    """Random decoding: each step feeds back the embedding of an id drawn
    from softmax(outputs / softmax_temperature), among the `top_k` most
    likely when given (TF1's `SampleEmbeddingHelper`; top-k is new).

    Args:
        embedding_fn: Ids -> inputs (or an `embedding` at initialize).
        softmax_temperature: A float > 0 (default 1).
        seed: Seed of the noise.
        top_k: Sample among the k most likely ids only (None: all).
    """

    def __init__(
        self, embedding_fn=None, softmax_temperature=None, seed=None, top_k=None
    ):
        super().__init__(embedding_fn)
        self.softmax_temperature = check.positive_float(
            "softmax_temperature", softmax_temperature, allow_none=True
        )
        self.top_k = check.positive_int("top_k", top_k, allow_none=True)
        self.seed = seed
        self._noise = _Noise(seed)

    def initialize(self, embedding, start_tokens=None, end_token=None):
        result = super().initialize(embedding, start_tokens, end_token)
        call = self._call()
        call.noise = self._noise.prepare(None, ops.shape(call.start_tokens)[0], 1)
        return result

    def prepare_steps(self, steps):
        if steps is not None:
            call = self._call()
            call.noise = self._noise.prepare(steps, ops.shape(call.start_tokens)[0], 1)

    def sample(self, time, outputs, state):
        call = self._call()
        check_token_in_vocab("end_token", call.end_token, outputs)
        logits = ops.cast(outputs, "float32")
        if self.softmax_temperature is not None:
            logits = logits / self.softmax_temperature
        logits = _top_k_logits(logits, self.top_k)
        return _categorical(logits, call.noise.at(time)[:, 0])


@register
class InferenceSampler(Sampler):
    """Decoding of continuous outputs: `sample_fn(outputs)` gives the
    sample, `end_fn(sample)` the finished flags, `next_inputs_fn(sample)`
    the next inputs (default: the sample). `initialize(start_inputs)`.

    Args:
        sample_fn: Outputs -> sample.
        sample_shape: Shape of one sample (without the batch).
        sample_dtype: Its dtype.
        end_fn: Sample -> finished (batch,) booleans.
        next_inputs_fn: Sample -> next inputs, or None.
    """

    def __init__(
        self, sample_fn, sample_shape, sample_dtype, end_fn, next_inputs_fn=None
    ):
        self.sample_fn = sample_fn
        self.sample_ids_shape = tuple(sample_shape)
        self.sample_ids_dtype = sample_dtype
        self.end_fn = end_fn
        self.next_inputs_fn = next_inputs_fn

    def initialize(self, start_inputs):
        start_inputs = ops.convert_to_tensor(start_inputs)
        self._begin_call(start_inputs=start_inputs, batch_size=start_inputs.shape[0])
        finished = ops.zeros(ops.shape(start_inputs)[:1], dtype="bool")
        return finished, start_inputs

    start_inputs = per_call("start_inputs", "The current call's start inputs.")

    def sample(self, time, outputs, state):
        return self.sample_fn(outputs)

    def next_inputs(self, time, outputs, state, sample_ids):
        finished = ops.cast(self.end_fn(sample_ids), "bool")
        nxt = (
            sample_ids
            if self.next_inputs_fn is None
            else self.next_inputs_fn(sample_ids)
        )
        return finished, nxt, state


@register
class CustomSampler(Sampler):
    """A sampler of three functions: `initialize_fn(inputs, **kwargs) ->
    (finished, first_inputs)`, `sample_fn(time, outputs, state) -> ids` and
    `next_inputs_fn(time, outputs, state, sample_ids) -> (finished,
    next_inputs, state)`.

    Args:
        initialize_fn: See above.
        sample_fn: See above.
        next_inputs_fn: See above.
        sample_ids_shape: Shape of one step's ids (without the batch).
        sample_ids_dtype: Their dtype.
    """

    def __init__(
        self,
        initialize_fn,
        sample_fn,
        next_inputs_fn,
        sample_ids_shape=None,
        sample_ids_dtype=None,
    ):
        self.initialize_fn = initialize_fn
        self.sample_fn = sample_fn
        self.next_inputs_fn = next_inputs_fn
        self.sample_ids_shape = tuple(sample_ids_shape or ())
        self.sample_ids_dtype = sample_ids_dtype or "int32"

    def initialize(self, inputs, **kwargs):
        finished, first = self.initialize_fn(inputs, **kwargs)
        self._begin_call(batch_size=first.shape[0])
        return finished, first

    def sample(self, time, outputs, state):
        return self.sample_fn(time, outputs, state)

    def next_inputs(self, time, outputs, state, sample_ids):
        return self.next_inputs_fn(time, outputs, state, sample_ids)
