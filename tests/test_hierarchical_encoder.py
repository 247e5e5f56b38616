"""HierarchicalEncoder: masks at both levels, padding, poolings, errors."""

import itertools

import keras
import numpy as np
import pytest
from contract import Case, ContractTests
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_rnnkit import (
    AttentionPooling,
    BidirectionalEncoder,
    DropoutWrapper,
    DynamicRNN,
    HierarchicalEncoder,
    MultiRNNCell,
    PeepholeLSTMCell,
    hierarchical_encoder,
)

POOLINGS = ("last", "mean", "max", "attention")


def encoder(units, pooling, dtype=None, bidirectional=True):
    """A kit encoder whose output suits `pooling`."""
    sequences = pooling != "last"
    if bidirectional:
        return BidirectionalEncoder(
            keras.layers.GRUCell(units, dtype=dtype),
            return_sequences=sequences,
            dtype=dtype,
        )
    return DynamicRNN(
        keras.layers.LSTMCell(units, dtype=dtype),
        return_sequences=sequences,
        dtype=dtype,
    )


def hierarchical(units, word_pooling, sentence_pooling, dtype=None, **kwargs):
    return HierarchicalEncoder(
        encoder(units, word_pooling, dtype),
        encoder(units + 1, sentence_pooling, dtype, bidirectional=False),
        word_pooling=word_pooling,
        sentence_pooling=sentence_pooling,
        dtype=dtype,
        **kwargs,
    )


class TestHierarchicalEncoderContract(ContractTests):
    cases = [
        Case(
            "bigru-attention",
            lambda units, **kw: hierarchical(units, "attention", "attention", **kw),
            timesteps=4,
            inner=(3,),
        ),
        Case(
            "stacked-dropout-last-max",
            lambda units, dtype=None, **kw: HierarchicalEncoder(
                DynamicRNN(
                    MultiRNNCell(
                        [
                            DropoutWrapper(
                                PeepholeLSTMCell(units, dtype=dtype),
                                output_rate=0.3,
                                dtype=dtype,
                            ),
                            keras.layers.GRUCell(3, dtype=dtype),
                        ],
                        dtype=dtype,
                    ),
                    return_sequences=False,
                    dtype=dtype,
                ),
                encoder(units, "max", dtype),
                word_pooling="last",
                sentence_pooling="max",
                dtype=dtype,
                **kw,
            ),
            timesteps=3,
            inner=(4,),
            stochastic=True,
        ),
    ]


def draw_mask(data, batch, sentences, words):
    """Hypothesis: a (batch, sentences, words) mask, with padded sentences
    and documents, and words valid anywhere (not only as a prefix)."""
    flags = st.lists(st.booleans(), min_size=words, max_size=words)
    rows = st.lists(flags, min_size=sentences, max_size=sentences)
    return np.array(data.draw(st.lists(rows, min_size=batch, max_size=batch)), bool)


def as_numpy(x):
    return keras.ops.convert_to_numpy(x)


@given(
    data=st.data(),
    poolings=st.sampled_from(list(itertools.product(POOLINGS, POOLINGS))),
    batch=st.integers(1, 3),
    sentences=st.integers(1, 4),
    words=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_padding_never_changes_the_document_vector(
    data, poolings, batch, sentences, words, seed
):
    rng = np.random.default_rng(seed)
    mask = draw_mask(data, batch, sentences, words)
    x = rng.normal(size=(batch, sentences, words, 3)).astype("float32")
    layer = hierarchical(4, *poolings)
    clean = as_numpy(layer(np.where(mask[..., None], x, 0), mask=mask))
    assert clean.shape == (batch, tuple(layer.compute_output_shape(x.shape))[1])
    noisy = np.where(mask[..., None], x, rng.normal(scale=1e3, size=x.shape))
    np.testing.assert_allclose(
        as_numpy(layer(noisy.astype("float32"), mask=mask)), clean, rtol=1e-5, atol=1e-6
    )
    padded_documents = ~mask.any(axis=(1, 2))
    assert np.all(clean[padded_documents] == 0)
    assert np.isfinite(clean).all()


@pytest.mark.parametrize("poolings", [("attention", "attention"), ("last", "mean")])
def test_one_sentence_document_is_its_sentence_through_the_sentence_level(poolings):
    x = np.random.default_rng(0).normal(size=(3, 1, 5, 2)).astype("float32")
    mask = np.arange(5)[None, None, :] < np.array([5, 2, 1])[:, None, None]
    layer = hierarchical(4, *poolings)
    documents = as_numpy(layer(x, mask=mask))

    word_mask = mask[:, 0]
    encoded = layer.word_encoder(
        np.where(word_mask[..., None], x[:, 0], 0), mask=word_mask
    )
    sentence = (
        encoded
        if poolings[0] == "last"
        else layer.word_attention(encoded, mask=word_mask)
    )
    encoded = layer.sentence_encoder(keras.ops.expand_dims(sentence, 1))
    want = as_numpy(
        keras.ops.mean(encoded, axis=1)
        if poolings[1] == "mean"
        else layer.sentence_attention(encoded)
    )
    np.testing.assert_allclose(documents, want, rtol=1e-5, atol=1e-6)


def test_equals_time_distributed_word_level():
    """The reshape trick computes what a loop over sentences computes."""
    words = keras.Sequential(
        [keras.layers.GRU(5, return_sequences=True), AttentionPooling(name="att")]
    )
    sentences = keras.layers.GRU(4)
    layer = HierarchicalEncoder(
        words.layers[0], sentences, word_pooling="attention", sentence_pooling="last"
    )
    x = np.random.default_rng(1).normal(size=(2, 3, 4, 6)).astype("float32")
    got = as_numpy(layer(x))
    words.build((None, 4, 6))
    words.layers[1].set_weights(layer.word_attention.get_weights())
    inputs = keras.Input((3, 4, 6))
    reference = keras.Model(
        inputs, sentences(keras.layers.TimeDistributed(words)(inputs))
    )
    np.testing.assert_allclose(as_numpy(reference(x)), got, rtol=1e-5, atol=1e-6)


class MaskedIdentity(keras.layers.Identity):
    def call(self, inputs, mask=None):
        return inputs


def test_max_and_mean_pool_only_valid_words():
    x = np.array([[[[1.0], [-5.0], [9.0]], [[-2.0], [-3.0], [0.0]]]], "float32")
    mask = np.array([[[True, True, False], [True, True, False]]])
    for pooling, want in (("max", [1.0, -2.0]), ("mean", [-2.0, -2.5])):
        layer = HierarchicalEncoder(  # no RNN: identities show the pooling itself
            MaskedIdentity(),
            MaskedIdentity(),
            word_pooling=pooling,
            sentence_pooling="mean",
        )
        # Sentence level: the mean over both sentences of the pooled words.
        np.testing.assert_allclose(as_numpy(layer(x, mask=mask)), [[np.mean(want)]])


def test_fully_padded_sentences_and_documents_train_without_nan():
    vocabulary = 9
    ids = np.random.default_rng(0).integers(1, vocabulary, size=(4, 3, 5))
    ids[0, 1:] = 0  # padded sentences
    ids[1] = 0  # a padded document
    ids[2, :, 3:] = 0  # padded words
    inputs = keras.Input((3, 5), dtype="int32")
    embedded = keras.layers.Embedding(vocabulary, 4, mask_zero=True)(inputs)
    documents = hierarchical(3, "attention", "max")(embedded)
    model = keras.Model(inputs, keras.layers.Dense(1)(documents))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    history = model.fit(ids, np.ones((4, 1)), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    for weight in model.trainable_weights:
        assert np.isfinite(as_numpy(weight)).all(), weight.path
    document_vectors = keras.Model(inputs, documents).predict(ids, verbose=0)
    assert np.all(document_vectors[1] == 0)


@pytest.mark.parametrize(
    "make, error, message",
    [
        (
            lambda: hierarchical(2, "mean", "sum"),
            ValueError,
            r"`sentence_pooling` must be one of \('last', 'mean', 'max', 'attention'\). Received: sentence_pooling='sum'",
        ),
        (
            lambda: HierarchicalEncoder("gru", keras.layers.GRU(2)),
            TypeError,
            r"`word_encoder` must be a Keras layer.*Received: word_encoder='gru'",
        ),
        (
            lambda: hierarchical(2, "mean", "mean", attention_units=0),
            ValueError,
            r"Received: attention_units=0",
        ),
    ],
)
def test_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_an_encoder_without_masks_is_refused():
    with pytest.raises(
        ValueError,
        match=r"`sentence_encoder` must be a layer whose `call` takes a `mask`.*Identity",
    ):
        HierarchicalEncoder(
            keras.layers.GRU(2), keras.layers.Identity(), word_pooling="last"
        )


def test_the_same_encoder_twice_is_refused():
    gru = keras.layers.GRU(2, return_sequences=True)
    with pytest.raises(
        ValueError, match="two different layers.*Received the same layer twice"
    ):
        HierarchicalEncoder(gru, gru)


@pytest.mark.parametrize(
    "word, pooling, message",
    [
        (
            keras.layers.GRU(2),
            "attention",
            r"word_pooling='attention' needs a word_encoder that returns one tensor with return_sequences=True",
        ),
        (
            keras.layers.GRU(2, return_sequences=True),
            "last",
            r"word_pooling='last' needs a word_encoder .* return_sequences=False",
        ),
        (
            keras.layers.GRU(2, return_sequences=True, return_state=True),
            "mean",
            r"without return_state",
        ),
    ],
)
def test_encoder_output_must_suit_the_pooling(word, pooling, message):
    layer = HierarchicalEncoder(
        word, keras.layers.GRU(2), word_pooling=pooling, sentence_pooling="last"
    )
    with pytest.raises(ValueError, match=message):
        layer(np.ones((1, 2, 3, 4), "float32"))


def test_bad_inputs():
    layer = hierarchical(2, "mean", "mean")
    with pytest.raises(
        ValueError,
        match=r"\(batch, sentences, words, features\).*Received: input_shape=\(1, 2, 3\).*Embedding\(vocabulary, dim, mask_zero=True\) first",
    ):
        layer(np.ones((1, 2, 3), "float32"))
    with pytest.raises(ValueError, match=r"Received: input_shape=\(1, 2, 3, 4, 5\)"):
        hierarchical(2, "mean", "mean")(np.ones((1, 2, 3, 4, 5), "float32"))
    with pytest.raises(
        ValueError,
        match=r"expects `mask` of shape \(batch, sentences, words\) = \(1, 2, 3\).*Received: mask.shape=\(1, 2\)",
    ):
        layer(np.ones((1, 2, 3, 4), "float32"), mask=np.ones((1, 2), bool))
    with pytest.raises(TypeError, match="Embed token ids first"):
        hierarchical(2, "mean", "mean")(np.ones((1, 2, 3, 4), "int32"))


class RecordingGRU(keras.layers.GRU):
    """A GRU that records (batch size, steps) of every call (None: unknown)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.shapes = []

    def call(self, sequences, initial_state=None, mask=None, training=False):
        self.shapes.append(tuple(sequences.shape[:2]))
        return super().call(
            sequences, initial_state=initial_state, mask=mask, training=training
        )


def recording_encoder(units=3):
    return HierarchicalEncoder(
        RecordingGRU(units, return_sequences=True),
        RecordingGRU(units + 1),
        sentence_pooling="last",
    )


def padded_documents(sentence_counts, slots, words=4, features=2, seed=0):
    """Documents with `sentence_counts[i]` sentences of 1 to `words` words,
    padded to `slots` sentences; padded words and sentences hold NaN."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(len(sentence_counts), slots, words, features))
    lengths = rng.integers(1, words + 1, size=x.shape[:2])
    mask = np.arange(words) < lengths[..., None]
    mask &= (np.arange(slots) < np.array(sentence_counts)[:, None])[..., None]
    return np.where(mask[..., None], x, np.nan).astype("float32"), mask


def every_slot_encoded(monkeypatch):
    """Makes the layer encode every sentence slot, as it does under JAX jit."""
    monkeypatch.setattr(hierarchical_encoder, "_shapes_may_vary", lambda *_: False)


@pytest.mark.parametrize("counts", [(2, 2, 2), (0, 3, 1), (0, 0, 0), (5, 5, 5)])
def test_only_valid_sentences_reach_the_word_encoder(counts, monkeypatch):
    """Eagerly, the word encoder reads the valid sentences only, not all
    batch * slots rows (one fully padded row when no sentence is valid),
    the sentence encoder the slots up to the last valid one, and both give
    what encoding every slot gives."""
    x, mask = padded_documents(counts, slots=5)
    layer = recording_encoder()
    documents = as_numpy(layer(x, mask=mask))
    assert layer.word_encoder.shapes == [(max(sum(counts), 1), 4)]
    assert layer.sentence_encoder.shapes == [(3, max(max(counts), 1))]
    assert np.isfinite(documents).all()
    assert np.all(documents[np.array(counts) == 0] == 0)

    every_slot_encoded(monkeypatch)
    want = as_numpy(layer(x, mask=mask))
    assert layer.word_encoder.shapes[-1] == (15, 4)
    assert layer.sentence_encoder.shapes[-1] == (3, 5)
    np.testing.assert_allclose(documents, want, rtol=1e-5, atol=1e-6)


def documents_model(slots, words=6, features=3):
    inputs = keras.Input((slots, words, features))
    mask = keras.Input((slots, words), dtype="bool")
    documents = HierarchicalEncoder(
        BidirectionalEncoder(keras.layers.GRUCell(4)),
        BidirectionalEncoder(keras.layers.GRUCell(3)),
    )(inputs, mask=mask)
    return keras.Model([inputs, mask], keras.layers.Dense(2)(documents))


def one_step(model, x, mask, y, run_eagerly):
    """Loss and weight change of one SGD step (learning rate 1: the change
    is minus the gradient)."""
    model.compile(
        optimizer=keras.optimizers.SGD(1.0), loss="mse", run_eagerly=run_eagerly
    )
    before = [as_numpy(w) for w in model.trainable_weights]
    loss = model.train_on_batch([x, mask], y)
    after = [as_numpy(w) for w in model.trainable_weights]
    return loss, [a - b for a, b in zip(after, before, strict=True)]


def assert_same_steps(got, want):
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    for a, b in zip(got[1], want[1], strict=True):
        assert np.isfinite(a).all()
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


# Eager JAX runs every op of the loop on its own (the costliest test of the
# JAX run); its eager path, which skips padded sentences, is the NaN test's
# below. Compiled, it runs on every backend.
@pytest.mark.parametrize(
    "run_eagerly", [False] if keras.backend.backend() == "jax" else [False, True]
)
def test_two_sentences_in_2_or_9_slots_give_the_same_outputs_and_gradients(
    run_eagerly,
):
    x2, mask2 = padded_documents([2, 2, 2, 1], slots=2, words=6, features=3)
    x2 = np.nan_to_num(x2)
    x20, mask20 = np.zeros((4, 9, 6, 3), "float32"), np.zeros((4, 9, 6), bool)
    x20[:, :2], mask20[:, :2] = x2, mask2
    y = np.random.default_rng(1).normal(size=(4, 2)).astype("float32")
    short, long = documents_model(2), documents_model(9)
    long.set_weights(short.get_weights())
    np.testing.assert_allclose(
        long.predict([x20, mask20], verbose=0),
        short.predict([x2, mask2], verbose=0),
        rtol=1e-5,
        atol=1e-6,
    )
    assert_same_steps(
        one_step(long, x20, mask20, y, run_eagerly),
        one_step(short, x2, mask2, y, run_eagerly),
    )


@pytest.mark.parametrize("run_eagerly", [False, True])
def test_nan_in_padded_sentence_slots_changes_nothing(run_eagerly):
    x, mask = padded_documents([2, 0, 3, 1], slots=4, words=6, features=3)
    assert np.isnan(x).any()
    clean = np.nan_to_num(x)
    y = np.random.default_rng(1).normal(size=(4, 2)).astype("float32")
    model, reference = documents_model(4), documents_model(4)
    reference.set_weights(model.get_weights())
    got = model.predict([x, mask], verbose=0)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(
        got, reference.predict([clean, mask], verbose=0), rtol=1e-6
    )
    assert_same_steps(
        one_step(model, x, mask, y, run_eagerly),
        one_step(reference, clean, mask, y, run_eagerly),
    )


def test_batches_bucketed_by_sentence_count_give_the_same_vectors():
    """The alternative under JAX jit, where every slot is encoded: batches
    of documents with about as many sentences, each padded to its own
    longest document, give what one batch padded to the longest gives."""
    counts = np.array([1, 6, 2, 1, 5, 2, 6, 1])
    x, mask = padded_documents(counts, slots=6, words=5, features=3)
    x = np.nan_to_num(x)
    inputs = keras.Input((None, 5, 3))
    word = RecordingGRU(4, return_sequences=True)
    layer = HierarchicalEncoder(word, keras.layers.GRU(3), sentence_pooling="last")
    model = keras.Model(inputs, layer(keras.layers.Masking(0.0)(inputs)))
    padded = model.predict(x, verbose=0)

    order = np.argsort(counts, kind="stable")
    bucketed = np.empty_like(padded)
    for bucket in np.array_split(order, 3):
        slots = counts[bucket].max()
        bucketed[bucket] = model.predict_on_batch(x[bucket, :slots])
    np.testing.assert_allclose(bucketed, padded, rtol=1e-5, atol=1e-6)
    if keras.backend.backend() == "jax":  # jit: shapes static, every slot read
        assert (len(counts) * 6, 5) in word.shapes


def test_an_unrolled_sentence_encoder_reads_every_slot():
    """Dropping padded slots at the end would leave it no static step count
    inside a graph."""
    x, mask = padded_documents([1, 2], slots=4)
    x = np.nan_to_num(x)
    layer = HierarchicalEncoder(
        keras.layers.GRU(3, return_sequences=True),
        keras.layers.GRU(2, unroll=True),
        sentence_pooling="last",
    )
    eager = as_numpy(layer(x, mask=mask))
    inputs = keras.Input(x.shape[1:])
    model = keras.Model(inputs, layer(keras.layers.Masking(0.0)(inputs)))
    np.testing.assert_allclose(model.predict(x, verbose=0), eager, rtol=1e-5, atol=1e-6)


# -- attention weights (return_weights=True) ----------------------------------


@settings(
    # eager JAX builds and calls the layer slowly: fewer examples there
    max_examples=3 if keras.backend.backend() == "jax" else settings().max_examples
)
@given(
    data=st.data(),
    batch=st.integers(1, 3),
    sentences=st.integers(1, 4),
    words=st.integers(1, 4),
    skip=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_attention_weights_are_0_on_padding_and_sum_to_1(
    data, batch, sentences, words, skip, seed
):
    rng = np.random.default_rng(seed)
    mask = draw_mask(data, batch, sentences, words)
    x = rng.normal(size=(batch, sentences, words, 3)).astype("float32")
    layer = hierarchical(4, "attention", "attention", skip_padded_sentences=skip)
    document, word_weights, sentence_weights = (
        as_numpy(t) for t in layer(x, mask=mask, return_weights=True)
    )
    np.testing.assert_allclose(document, as_numpy(layer(x, mask=mask)), atol=1e-6)
    assert word_weights.shape == (batch, sentences, words)
    assert sentence_weights.shape == (batch, sentences)
    assert np.all(word_weights[~mask] == 0)
    valid_sentences = mask.any(-1)
    np.testing.assert_allclose(word_weights.sum(-1)[valid_sentences], 1, atol=1e-5)
    assert np.all(sentence_weights[~valid_sentences] == 0)
    valid_documents = valid_sentences.any(-1)
    np.testing.assert_allclose(sentence_weights.sum(-1)[valid_documents], 1, atol=1e-5)
    assert np.all(sentence_weights[~valid_documents] == 0)
    assert (word_weights >= 0).all() and (sentence_weights >= 0).all()


def test_weights_are_the_same_whether_padded_sentences_are_skipped_or_not(
    monkeypatch,
):
    x, mask = padded_documents((2, 0, 3), slots=5)
    layer = hierarchical(4, "attention", "attention")
    skipped = [as_numpy(t) for t in layer(x, mask=mask, return_weights=True)]
    every_slot_encoded(monkeypatch)
    full = [as_numpy(t) for t in layer(x, mask=mask, return_weights=True)]
    for got, want in zip(skipped, full, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_weights_are_the_attention_of_each_level():
    # The word weights of one sentence are its AttentionPooling's weights.
    x, mask = padded_documents((2,), slots=2)
    x = np.nan_to_num(x)
    layer = hierarchical(4, "attention", "attention")
    _, word_weights, _ = layer(x, mask=mask, return_weights=True)
    encoded = layer.word_encoder(x[0], mask=mask[0])
    _, expected = layer.word_attention(encoded, mask=mask[0], return_weights=True)
    np.testing.assert_allclose(
        as_numpy(word_weights)[0], as_numpy(expected), rtol=1e-5, atol=1e-6
    )


def _weights_model():
    ids = keras.Input((None, None), dtype="int32")
    embedded = keras.layers.Embedding(20, 5, mask_zero=True)(ids)
    layer = hierarchical(4, "attention", "attention")
    document, word_weights, sentence_weights = layer(embedded, return_weights=True)
    label = keras.layers.Dense(2, activation="softmax")(document)
    return keras.Model(ids, [label, word_weights, sentence_weights])


def _token_ids():
    ids = np.random.default_rng(0).integers(1, 20, size=(3, 4, 5))
    ids[0, 2:] = 0
    ids[1, 1, 3:] = 0
    ids[2] = 0
    return ids


def test_weights_are_outputs_of_a_functional_model_that_reloads(tmp_path):
    model = _weights_model()
    ids = _token_ids()
    eager = [as_numpy(t) for t in model(ids)]
    predicted = model.predict(ids, verbose=0)
    for got, want in zip(predicted, eager, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert predicted[1].shape == (3, 4, 5) and predicted[2].shape == (3, 4)
    path = tmp_path / "weights.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    for got, want in zip(reloaded.predict(ids, verbose=0), eager, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.tf_only
def test_weights_survive_a_saved_model_export(tmp_path):
    import tensorflow as tf

    model = _weights_model()
    ids = _token_ids()
    expected = model.predict(ids, verbose=0)
    model.export(tmp_path / "served", format="tf_saved_model", verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "served"))  # keep it referenced
    served = loaded.serve(ids.astype("int32"))
    for got, want in zip(served, expected, strict=True):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "poolings, named",
    [
        (("last", "attention"), "word_pooling='last'"),
        (("attention", "max"), "sentence_pooling='max'"),
    ],
)
def test_weights_need_attention_at_both_levels(poolings, named):
    layer = hierarchical(3, *poolings)
    x = np.ones((2, 2, 3, 2), "float32")
    with pytest.raises(ValueError, match=f"return_weights=True with {named}"):
        layer(x, return_weights=True)
    layer(x)  # without weights it works


def test_return_weights_must_be_a_boolean():
    layer = hierarchical(3, "attention", "attention")
    with pytest.raises(TypeError, match="`return_weights` to be True or False"):
        layer(np.ones((2, 2, 3, 2), "float32"), return_weights="yes")


def test_weights_of_an_empty_batch_are_empty():
    layer = hierarchical(3, "attention", "attention")
    layer(np.ones((1, 2, 3, 2), "float32"))
    document, words, sentences = layer(
        np.ones((0, 2, 3, 2), "float32"), return_weights=True
    )
    assert tuple(words.shape) == (0, 2, 3) and tuple(sentences.shape) == (0, 2)
    assert tuple(document.shape)[0] == 0
