"""A hierarchical sentence -> document encoder (Yang et al. 2016)."""

import inspect
from typing import Any

import keras
from keras import ops

from keras_rnnkit import _float64
from keras_rnnkit import _validation as check
from keras_rnnkit._backend import jax_tracing, torch_tracing
from keras_rnnkit._registration import register
from keras_rnnkit._serialization import construct, load_nested
from keras_rnnkit._types import Tensor
from keras_rnnkit.attention_pooling import AttentionPooling

POOLINGS = ("last", "mean", "max", "attention")


def _pooling(name, value):
    if value not in POOLINGS:
        raise ValueError(
            f"Argument `{name}` must be one of {POOLINGS}. Received: {name}={value!r}"
        )
    return value


def _encoder(name, layer):
    if not isinstance(layer, keras.layers.Layer):
        raise TypeError(
            f"Argument `{name}` must be a Keras layer mapping (batch, timesteps, "
            "features) to sequences or vectors, such as keras_rnnkit.DynamicRNN, "
            "keras_rnnkit.BidirectionalEncoder or keras.layers.GRU. "
            f"Received: {name}={layer!r}"
        )
    if "mask" not in inspect.signature(layer.call).parameters:
        raise ValueError(
            f"Argument `{name}` must be a layer whose `call` takes a `mask` "
            "(padded words and sentences are masked steps). Received: "
            f"{name}={layer.name!r} ({type(layer).__name__}), which takes none."
        )
    return layer


def _embedding(value):
    if value is not None and not isinstance(value, keras.layers.Layer):
        raise TypeError(
            "Argument `embedding` must be None or a Keras layer mapping token "
            "ids (n, words) to vectors (n, words, features), such as "
            "keras.layers.Embedding(vocabulary, dim, mask_zero=True). "
            f"Received: embedding={value!r}"
        )
    return value


def _pool(mode, sequences, mask, attention, with_weights=False):
    """Pools encoder outputs over time; rows without valid steps give 0.
    With `with_weights` (attention only), `(pooled, weights)`."""
    if mode == "last":  # the encoder already returned its final output
        return sequences
    if mode == "attention":
        return attention(sequences, mask=mask, return_weights=with_weights)
    if mask is None:
        if mode == "mean":
            return ops.squeeze(_float64.mean(sequences, axis=1), 1)
        return ops.max(sequences, axis=1)
    valid = mask[..., None]
    if mode == "mean":
        zeros = ops.zeros_like(sequences)
        total = ops.sum(ops.where(valid, sequences, zeros), axis=1)
        count = ops.sum(ops.cast(valid, sequences.dtype), axis=1)
        return total / ops.maximum(count, ops.ones_like(count))
    # Masked steps take the minimum over all steps: never above a valid one.
    floor = ops.min(sequences, axis=1, keepdims=True)
    largest = ops.max(ops.where(valid, sequences, floor), axis=1)
    return ops.where(ops.any(valid, axis=1), largest, ops.zeros_like(largest))


def _shapes_may_vary(*tensors):
    """Whether a tensor's size may depend on the data (skipping pads).

    Not under JAX tracing (`jit`, as in `fit` and `predict`): shapes are
    static there, so the layer keeps the fixed `batch * sentences` rows; nor
    while torch traces for an export. TensorFlow graphs (`tf.function`) and
    eager torch allow it.
    """
    return not (jax_tracing(*tensors) or torch_tracing())


def _unrolled(layer):
    """Whether `layer` (or a layer it wraps) unrolls a loop over its steps:
    that needs a number of steps known when tracing."""
    if getattr(layer, "unroll", False):
        return True
    wrapped = ("forward_layer", "backward_layer", "layer")
    return any(
        _unrolled(getattr(layer, name)) for name in wrapped if hasattr(layer, name)
    )


def _drop_trailing_slots(vectors, sentence_mask):
    """Cuts the sentence slots after the last one valid in any document
    (masked steps at the end change no output of a masking encoder)."""
    used = ops.any(sentence_mask, axis=0)
    step = ops.cumsum(ops.ones_like(used, dtype="int32"))  # 1, 2, ...
    keep = ops.maximum(ops.max(ops.where(used, step, 0)), 1)
    slots = ops.nonzero(step <= keep)[0]
    return ops.take(vectors, slots, axis=1), ops.take(sentence_mask, slots, axis=1)


@register
class HierarchicalEncoder(keras.layers.Layer):
    """Encodes documents of sentences of words into one vector per document.

    The hierarchical RNN at the end of the kit's TF1 tutorial (a Chinese RNN
    tutorial written for `tf.contrib.rnn`; the encoder of
    Hierarchical Attention Networks, Yang et al. 2016): a word-level encoder
    reads every sentence, its outputs are pooled into one vector per
    sentence, a sentence-level encoder reads those vectors, and its outputs
    are pooled into the document vector.

    The word encoder runs once on all sentences of the batch at once,
    reshaped to `(batch * sentences, words, features)`, not in a Python loop
    over sentences as `keras.layers.TimeDistributed` does.

    Padded sentences cost nothing: with a mask, only the sentences with a
    valid word are gathered and encoded, and their vectors scattered back
    into place; the sentence encoder reads the slots up to the last one
    valid in any document of the batch (all of them if it unrolls its
    loop). That holds on TensorFlow (eager, and in the `tf.function` graphs
    of `fit` / `predict`), torch, and JAX without `jit`: 2 real sentences
    padded to 20 slots take about the time of 2, with the same results.
    Under JAX `jit` (JAX's `fit` and `predict`) shapes are fixed when
    tracing: there each level is traced at a few sizes (room for all the
    slots, about half, a quarter, ... of them per document, at most five
    sizes) and the smallest that holds the batch's valid sentences runs
    (`jax.lax.switch`), with the same results; the encoders then compile
    once per size.

    Masks, at both levels:

    - a word is valid where the mask (explicit, or from `Masking` /
      `Embedding(mask_zero=True)` before this layer) is True;
    - a sentence is valid when any of its words is; the sentence encoder
      sees padded sentences as masked steps;
    - a document is valid when any of its sentences is;
    - padded words, padded sentences and padded documents are zeroed before
      they reach anything: their values never change a result, and a fully
      padded sentence or document encodes to zeros (never NaN, in outputs or
      gradients).

    Args:
        word_encoder: The Keras layer that encodes one sentence, mapping
            `(batch, words, features)` to `(batch, words, units)` or
            `(batch, units)`: `keras_rnnkit.DynamicRNN`,
            `keras_rnnkit.BidirectionalEncoder`, `keras_rnnkit.PeepholeLSTM`,
            `keras.layers.GRU`, `keras.layers.Bidirectional`, ... (any
            wrapped or stacked cell inside). It must handle masks.
        sentence_encoder: The Keras layer that encodes the sequence of
            sentence vectors, with the same requirements.
        word_pooling: How an encoded sentence becomes one vector: `"last"`
            (the encoder's own final output: it must be built with
            `return_sequences=False`), `"mean"`, `"max"` or `"attention"`
            (an `AttentionPooling`; these three need an encoder that returns
            sequences). Default `"attention"`.
        sentence_pooling: The same choice at the document level. Default
            `"attention"`.
        attention_units: Size of the attention layers' hidden layer
            (positive integer), default: their input's feature size.
        skip_padded_sentences: Boolean (default `True`): encode only the
            sentences that hold a word (under JAX `jit`, at the smallest
            traced size that holds them; see above). `False` encodes every
            slot, with the same results: for graphs that need static shapes,
            such as a LiteRT export (`docs/deploy.md`), or to compile the
            encoders only once on JAX.
        embedding: Optional Keras layer mapping token ids `(n, words)` to
            word vectors `(n, words, features)`, typically
            `keras.layers.Embedding(vocabulary, dim, mask_zero=True)`. The
            layer then takes token ids `(batch, sentences, words)` and looks
            up only the sentences it encodes: the same results as the
            embedding before the layer, but under JAX `jit` the lookup, its
            gradient and the packing follow the real sentences instead of
            every slot (see `docs/performance.md`). The mask comes from the
            embedding's `compute_mask` (`Embedding(mask_zero=True)`: id 0 is
            padding) unless one is passed (needed for a layer that makes no
            mask, such as a `keras.Sequential`: without one every word is
            valid); the ids at padded words are never looked up, whatever
            they hold. Default None: the inputs are word vectors.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: Float tensor `(batch, sentences, words, features)`; with an
            `embedding`, integer token ids `(batch, sentences, words)`
            (without one, put `keras.layers.Embedding(..., mask_zero=True)`
            before this layer).
        mask: Optional boolean tensor `(batch, sentences, words)`.
        training: Python boolean, passed on to the encoders (dropout).
        return_weights: Boolean (default `False`): also return the attention
            weights of both levels (both poolings must be `"attention"`),
            to see which words and sentences decided a document.

    Returns:
        The document vectors, `(batch, units)` of the pooled sentence level.
        With `return_weights=True`, a tuple `(documents, word_weights,
        sentence_weights)`: `word_weights` `(batch, sentences, words)` and
        `sentence_weights` `(batch, sentences)`, exactly 0 on padding and
        summing to 1 over the valid words of each sentence and the valid
        sentences of each document (all 0 for a fully padded one). In a
        functional model they are extra outputs, e.g.
        `document, words, sentences = encoder(x, return_weights=True)`.

    Raises:
        ValueError: At construction, an encoder that does not fit its
            pooling or does not handle masks, or the same layer at both
            levels. At call, inputs not of rank 4 (3 with an
            `embedding`), inputs without a sentence slot or without a word
            slot (`(batch, 0, words, features)` or
            `(batch, sentences, 0, features)`, on every backend: like
            `DynamicRNN` given no time step, the encoders would have nothing
            to return; an empty batch, `(0, sentences, words, features)`,
            gives `(0, units)`),
            a mask not shaped like their first three axes, or
            `return_weights=True` without attention pooling at both levels.
        TypeError: Integer inputs without an `embedding` (embed token ids
            first, or pass one), float inputs with one; an `embedding` that
            is not a Keras layer; a `return_weights` that is not a
            boolean.

    Examples:
        >>> import numpy as np, keras, keras_rnnkit
        >>> encoder = keras_rnnkit.HierarchicalEncoder(
        ...     keras_rnnkit.BidirectionalEncoder(keras.layers.GRUCell(8)),
        ...     keras_rnnkit.BidirectionalEncoder(keras.layers.GRUCell(6)),
        ... )
        >>> ids = np.array([[[4, 2, 0], [7, 0, 0]], [[3, 3, 5], [0, 0, 0]]])
        >>> embedding = keras.layers.Embedding(10, 5, mask_zero=True)
        >>> documents = encoder(embedding(ids))  # (2 docs, 2 sentences, 3 words)
        >>> tuple(documents.shape)
        (2, 12)
        >>> _, words, sentences = encoder(embedding(ids), return_weights=True)
        >>> keras.ops.convert_to_numpy(sentences)[1]  # one valid sentence
        array([1., 0.], dtype=float32)

        The embedding inside the layer, token ids in:

        >>> inside = keras_rnnkit.HierarchicalEncoder(
        ...     keras_rnnkit.BidirectionalEncoder(keras.layers.GRUCell(8)),
        ...     keras_rnnkit.BidirectionalEncoder(keras.layers.GRUCell(6)),
        ...     embedding=keras.layers.Embedding(10, 5, mask_zero=True),
        ... )
        >>> tuple(inside(ids).shape)
        (2, 12)
    """

    def __init__(
        self,
        word_encoder: keras.layers.Layer,
        sentence_encoder: keras.layers.Layer,
        word_pooling: str = "attention",
        sentence_pooling: str = "attention",
        attention_units: int | None = None,
        skip_padded_sentences: bool = True,
        embedding: keras.layers.Layer | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.embedding = _embedding(embedding)
        self.word_encoder = _encoder("word_encoder", word_encoder)
        self.sentence_encoder = _encoder("sentence_encoder", sentence_encoder)
        if word_encoder is sentence_encoder:
            raise ValueError(
                "Arguments `word_encoder` and `sentence_encoder` must be two "
                "different layers (the two levels have weights of their own). "
                f"Received the same layer twice: {word_encoder.name!r}"
            )
        self.word_pooling = _pooling("word_pooling", word_pooling)
        self.sentence_pooling = _pooling("sentence_pooling", sentence_pooling)
        self.attention_units = check.positive_int(
            "attention_units", attention_units, allow_none=True
        )
        self.skip_padded_sentences = check.boolean(
            "skip_padded_sentences", skip_padded_sentences
        )
        self.word_attention = self.sentence_attention = None
        if word_pooling == "attention":
            self.word_attention = AttentionPooling(
                attention_units, dtype=self.dtype_policy, name="word_attention"
            )
        if sentence_pooling == "attention":
            self.sentence_attention = AttentionPooling(
                attention_units, dtype=self.dtype_policy, name="sentence_attention"
            )
        self.supports_masking = True

    def _encoded_shape(self, level, encoder, pooling, input_shape):
        """Builds `encoder` on `input_shape`; checks its output fits `pooling`."""
        encoder.build(input_shape)
        output_shape = encoder.compute_output_shape(input_shape)
        wanted = 2 if pooling == "last" else 3
        is_shape = all(d is None or isinstance(d, int) for d in output_shape)
        if not is_shape or len(output_shape) != wanted:
            need = (
                "return_sequences=False (its final output)"
                if pooling == "last"
                else "return_sequences=True (one output per step)"
            )
            raise ValueError(
                f"Layer '{self.name}': {level}_pooling={pooling!r} needs a "
                f"{level}_encoder that returns one tensor with {need}, without "
                f"return_state. {level}_encoder '{encoder.name}' returns shape(s) "
                f"{output_shape} for inputs of shape {input_shape}."
            )
        return output_shape

    def _check_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if self.embedding is not None and len(input_shape) != 3:
            raise ValueError(
                f"Layer '{self.name}' (HierarchicalEncoder) with an `embedding` "
                "expects token ids of shape (batch, sentences, words). "
                f"Received: input_shape={input_shape}"
            )
        if self.embedding is None and (
            len(input_shape) != 4 or input_shape[-1] is None
        ):
            hint = (
                " Token ids (batch, sentences, words) go through "
                "keras.layers.Embedding(vocabulary, dim, mask_zero=True) first, "
                "or into the layer's `embedding` argument."
                if len(input_shape) == 3
                else ""
            )
            raise ValueError(
                f"Layer '{self.name}' (HierarchicalEncoder) expects inputs of "
                "shape (batch, sentences, words, features) with a known feature "
                f"size. Received: input_shape={input_shape}.{hint}"
            )
        if 0 in input_shape[1:3]:
            raise ValueError(
                f"Layer '{self.name}' (HierarchicalEncoder) needs at least one "
                "time step at each level, one sentence slot and one word slot "
                "(pad every document to at least 1 x 1, masked): with none, the "
                "encoders have nothing to return. Received: "
                f"input_shape={input_shape}"
            )

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        self._check_shape(input_shape)
        _, sentences, words, *features = input_shape
        if self.embedding is not None:
            if not self.embedding.built:
                self.embedding.build((None, words))
            features = self.embedding.compute_output_shape((None, words))[2:]
        features = features[0]
        word_out = self._encoded_shape(
            "word", self.word_encoder, self.word_pooling, (None, words, features)
        )
        if self.word_attention is not None:
            self.word_attention.build(word_out)
        sentence_out = self._encoded_shape(
            "sentence",
            self.sentence_encoder,
            self.sentence_pooling,
            (None, sentences, word_out[-1]),
        )
        if self.sentence_attention is not None:
            self.sentence_attention.build(sentence_out)
        self._units = sentence_out[-1]

    def call(
        self,
        inputs: Tensor,
        mask: Tensor | None = None,
        training: bool = False,
        return_weights: bool = False,
    ):
        if self.embedding is None:
            check.floating_inputs(self, "inputs", inputs)
        else:
            check.integer_inputs(self, "inputs", inputs)
        self._check_shape(inputs.shape)  # build saw only the first call's
        self._check_weights(return_weights)
        if inputs.shape[0] == 0:  # no documents: nothing to encode
            documents = ops.zeros((0, self._units), dtype=self.compute_dtype)
            if not return_weights:
                return documents
            zeros = ops.zeros(inputs.shape[:3], dtype=self.compute_dtype)
            return documents, zeros, zeros[..., 0]
        shape = ops.shape(inputs)
        batch, sentences = shape[0], shape[1]
        words = inputs.shape[2] if inputs.shape[2] is not None else shape[2]
        flat = ops.reshape(inputs, (-1, words, *inputs.shape[3:]))  # ids: 2 axes
        if mask is None and self.embedding is not None:
            # Embedding(mask_zero=True): ids != 0; None from a layer without
            mask = self.embedding.compute_mask(inputs, None)

        word_mask = sentence_mask = None
        if mask is not None:
            self._check_mask(inputs, mask)
            word_mask = ops.reshape(ops.cast(mask, "bool"), (-1, words))
            sentence_mask = ops.any(word_mask, axis=-1)

        skip = (
            self.skip_padded_sentences
            and sentence_mask is not None
            and _shapes_may_vary(inputs, mask)
        )
        tiers = (
            self.skip_padded_sentences
            and sentence_mask is not None
            and not skip
            and jax_tracing(inputs, mask)
            and all(isinstance(d, int) for d in inputs.shape[:2])
        )
        if tiers:  # JAX jit: the smallest of a few fixed sizes that fits
            return self._call_in_tiers(
                flat, word_mask, sentence_mask, inputs.shape, training, return_weights
            )
        if skip:
            vectors, word_weights = self._encode_valid_sentences(
                flat, word_mask, sentence_mask, training, return_weights
            )
            sentence_mask = ops.reshape(sentence_mask, (batch, sentences))
        else:
            flat = self._word_vectors(flat, word_mask)
            encoded = self.word_encoder(flat, mask=word_mask, training=training)
            vectors = _pool(
                self.word_pooling,
                encoded,
                word_mask,
                self.word_attention,
                return_weights,
            )
            if return_weights:
                vectors, word_weights = vectors
            if sentence_mask is not None:
                vectors = ops.where(sentence_mask[:, None], vectors, 0)
                sentence_mask = ops.reshape(sentence_mask, (batch, sentences))
        vectors = ops.reshape(vectors, (batch, sentences, vectors.shape[-1]))
        if skip and not _unrolled(self.sentence_encoder):
            vectors, sentence_mask = _drop_trailing_slots(vectors, sentence_mask)

        encoded = self.sentence_encoder(vectors, mask=sentence_mask, training=training)
        documents = _pool(
            self.sentence_pooling,
            encoded,
            sentence_mask,
            self.sentence_attention,
            return_weights,
        )
        if return_weights:
            documents, sentence_weights = documents
        if sentence_mask is not None:
            valid = ops.any(sentence_mask, axis=-1)[:, None]
            documents = ops.where(valid, documents, 0)
        if not return_weights:
            return documents
        word_weights = ops.reshape(word_weights, (batch, sentences, words))
        # Back to every sentence slot (the trailing ones may have been cut):
        # padded slots weigh 0.
        padding = ops.zeros((batch, sentences), dtype=sentence_weights.dtype)
        sentence_weights = ops.concatenate([sentence_weights, padding], axis=1)
        return documents, word_weights, sentence_weights[:, :sentences]

    def _word_vectors(self, rows, row_mask):
        """The vectors of the words in `rows` (`(n, words)` token ids through
        the `embedding`, or the inputs' `(n, words, features)`), padded words
        zeroed (their ids replaced by 0 before the lookup: whatever padding
        holds reaches no table row)."""
        if self.embedding is not None:
            if row_mask is not None:
                rows = ops.where(row_mask, rows, ops.zeros_like(rows))
            rows = self.embedding(rows)
        if row_mask is not None:
            rows = ops.where(row_mask[..., None], rows, ops.zeros_like(rows))
        return rows

    def _check_weights(self, return_weights):
        """Raises unless both levels pool with attention when weights are
        asked for."""
        if not isinstance(return_weights, bool):
            raise TypeError(
                f"Layer '{self.name}' expects `return_weights` to be True or "
                f"False. Received: return_weights={return_weights!r}"
            )
        if not return_weights:
            return
        other = [
            f"{level}_pooling={pooling!r}"
            for level, pooling in (
                ("word", self.word_pooling),
                ("sentence", self.sentence_pooling),
            )
            if pooling != "attention"
        ]
        if other:
            raise ValueError(
                f"Layer '{self.name}' (HierarchicalEncoder) has attention "
                "weights to return only where it pools with attention "
                "(word_pooling and sentence_pooling 'attention'). Received: "
                f"return_weights=True with {', '.join(other)}"
            )

    def _encode_valid_sentences(
        self, flat, word_mask, sentence_mask, training, return_weights=False
    ):
        """Encodes and pools only the sentences with a valid word.

        Gathers those rows of `flat` (and of `word_mask`), runs the word
        encoder and the pooling on them, and puts the pooled vectors back in
        place with a second gather from `[zeros, pooled...]`: a padded
        sentence picks row 0, the zeros. Both gathers are differentiable on
        every backend. With no valid sentence at all, the first (fully
        masked) sentence is encoded and dropped: encoders need not handle
        an empty batch (`ops.max` of an empty tensor raises, for one).
        Returns `(vectors, word_weights)`, the weights (put back the same
        way) only with `return_weights`, else None.
        """
        first = ops.cumsum(ops.ones_like(sentence_mask, dtype="int32")) == 1
        none_valid = ops.logical_not(ops.any(sentence_mask))
        selected = ops.logical_or(sentence_mask, ops.logical_and(first, none_valid))
        valid = ops.nonzero(selected)[0]
        row_mask = ops.take(word_mask, valid, axis=0)
        rows = self._word_vectors(ops.take(flat, valid, axis=0), row_mask)
        encoded = self.word_encoder(rows, mask=row_mask, training=training)
        pooled = _pool(
            self.word_pooling, encoded, row_mask, self.word_attention, return_weights
        )
        weights = None
        if return_weights:
            pooled, weights = pooled
        # The 1-based position of each valid sentence among the valid ones.
        position = ops.cumsum(ops.cast(sentence_mask, "int32"))
        source = ops.where(sentence_mask, position, 0)

        def put_back(rows):  # row 0 of [zeros, rows...] for padded sentences
            rows = ops.concatenate([ops.zeros_like(rows[:1]), rows], axis=0)
            return ops.take(rows, source, axis=0)

        return put_back(pooled), None if weights is None else put_back(weights)

    def _call_in_tiers(
        self, flat, word_mask, sentence_mask, shape, training, return_weights
    ):
        """`call`'s work under JAX's `jit`, in sizes that follow the data.

        Shapes are fixed there, so each level is traced at a few sizes
        (`_jax_tiers.sizes` of the sentence slots: 20 slots give room for
        20, 10, 5, 3 or 2 sentences per document) and runs, through
        `jax.lax.switch`, at the smallest that holds the batch: the word
        level on the valid sentences packed into `batch * k` rows (k the
        smallest size with room for all of them), the sentence level on the
        slots up to the last one valid in any document. Same results as
        encoding every slot.
        """
        import jax.numpy as jnp

        from keras_rnnkit import _jax_tiers

        batch, slots, words = shape[0], shape[1], shape[2]
        per_document = _jax_tiers.sizes(slots)

        # Word level: the valid sentences first (in order), then padding.
        order = jnp.argsort(jnp.logical_not(sentence_mask), stable=True)
        count = jnp.sum(sentence_mask.astype("int32"))
        # Row 0 of [zeros, pooled...] for a padded sentence, else 1 + its
        # position among the valid ones.
        source = jnp.where(sentence_mask, jnp.cumsum(sentence_mask), 0)

        def put_back(rows):
            rows = jnp.concatenate([jnp.zeros_like(rows[:1]), rows], axis=0)
            return jnp.take(rows, source, axis=0)

        def words_level(capacity, flat, word_mask):
            chosen = order[:capacity]
            row_mask = jnp.take(word_mask, chosen, 0)
            # embedded and padded words zeroed here, on the chosen rows only
            rows = self._word_vectors(jnp.take(flat, chosen, 0), row_mask)
            encoded = self.word_encoder(rows, mask=row_mask, training=training)
            pooled = _pool(
                self.word_pooling,
                encoded,
                row_mask,
                self.word_attention,
                return_weights,
            )
            if return_weights:
                return put_back(pooled[0]), put_back(pooled[1])
            return put_back(pooled), None

        capacities = [batch * k for k in per_document]
        vectors, word_weights = _jax_tiers.switch(
            _jax_tiers.smallest_fitting(capacities, count),
            capacities,
            self,
            [self.embedding, self.word_encoder, self.word_attention],
            words_level,
            flat,
            word_mask,
            remat=bool(training),  # differentiated in training only
        )
        vectors = jnp.reshape(vectors, (batch, slots, vectors.shape[-1]))
        sentence_mask = jnp.reshape(sentence_mask, (batch, slots))

        # Sentence level: the slots up to the last one used in any document.
        used = jnp.any(sentence_mask, axis=0)
        last = jnp.max(jnp.where(used, jnp.arange(1, slots + 1), 1))

        def sentences_level(k, vectors, sentence_mask):
            vectors, mask = vectors[:, :k], sentence_mask[:, :k]
            encoded = self.sentence_encoder(vectors, mask=mask, training=training)
            documents = _pool(
                self.sentence_pooling,
                encoded,
                mask,
                self.sentence_attention,
                return_weights,
            )
            if not return_weights:
                return documents, None
            documents, weights = documents
            return documents, jnp.pad(weights, ((0, 0), (0, slots - k)))

        documents, sentence_weights = _jax_tiers.switch(
            _jax_tiers.smallest_fitting(per_document, last),
            per_document,
            self,
            [self.sentence_encoder, self.sentence_attention],
            sentences_level,
            vectors,
            sentence_mask,
            remat=bool(training),
        )
        valid = jnp.any(sentence_mask, axis=-1)[:, None]
        documents = jnp.where(valid, documents, 0)
        if not return_weights:
            return documents
        word_weights = jnp.reshape(word_weights, (batch, slots, words))
        return documents, word_weights, sentence_weights

    def _check_mask(self, inputs, mask):
        expected = tuple(inputs.shape[:3])
        got = tuple(mask.shape)
        if not check.shapes_agree(got, expected):
            raise ValueError(
                f"Layer '{self.name}' (HierarchicalEncoder) expects `mask` of "
                f"shape (batch, sentences, words) = {expected}, matching the "
                f"inputs of shape {tuple(inputs.shape)}. Received: "
                f"mask.shape={got}"
            )

    def compute_output_shape(self, input_shape):
        if not self.built:
            self.build(input_shape)
        return (input_shape[0], self._units)

    def compute_output_spec(
        self, inputs, mask=None, training=False, return_weights=False
    ):
        documents = keras.KerasTensor(
            self.compute_output_shape(inputs.shape), dtype=self.compute_dtype
        )
        if not return_weights:
            return documents
        self._check_weights(return_weights)
        shape = tuple(inputs.shape[:3])
        return (
            documents,
            keras.KerasTensor(shape, dtype=self.compute_dtype),
            keras.KerasTensor(shape[:2], dtype=self.compute_dtype),
        )

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        config = {
            "word_encoder": keras.saving.serialize_keras_object(self.word_encoder),
            "sentence_encoder": keras.saving.serialize_keras_object(
                self.sentence_encoder
            ),
            "word_pooling": self.word_pooling,
            "sentence_pooling": self.sentence_pooling,
            "attention_units": self.attention_units,
            "skip_padded_sentences": self.skip_padded_sentences,
            "embedding": None
            if self.embedding is None
            else keras.saving.serialize_keras_object(self.embedding),
        }
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("word_encoder", "sentence_encoder", "embedding"):
            if config.get(key) is not None:
                config[key] = load_nested(cls, config, key, config[key])
        return construct(cls, config, **config)
