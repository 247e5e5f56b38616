"""`HierarchicalEncoder(embedding=...)`: token ids in, looked up inside.

The encoder with the embedding inside must give what the same embedding
before it gives (outputs, the loss and every weight's gradient, compiled and
eager, skipping padded sentences or not), whatever ids the padding holds,
and look up only the sentences it encodes.
"""

import keras
import numpy as np
import pytest

from keras_rnnkit import BidirectionalEncoder, HierarchicalEncoder

VOCABULARY, DIM = 40, 5


def as_numpy(x):
    return keras.ops.convert_to_numpy(x)


def encoder(embedding=None, **kwargs):
    return HierarchicalEncoder(
        BidirectionalEncoder(keras.layers.GRUCell(4)),
        BidirectionalEncoder(keras.layers.GRUCell(3)),
        embedding=embedding,
        **kwargs,
    )


def token_ids(seed=0, counts=(2, 0, 3, 1), slots=4, words=5):
    """Documents of `counts` sentences (each of 1 to `words` words) in
    `slots` sentence slots; 0 is padding."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((len(counts), slots, words), "int32")
    for d, count in enumerate(counts):
        for s in range(count):
            length = rng.integers(1, words + 1)
            ids[d, s, :length] = rng.integers(1, VOCABULARY, length)
    return ids


def models(skip, explicit_mask=False):
    """(the embedding inside, the embedding before) with the same weights."""
    ids = keras.Input((None, None), dtype="int32")
    inputs, mask = ids, None
    if explicit_mask:
        mask = keras.Input((None, None), dtype="bool")
        inputs = [ids, mask]
    mask_zero = not explicit_mask
    inside = encoder(
        keras.layers.Embedding(VOCABULARY, DIM, mask_zero=mask_zero),
        skip_padded_sentences=skip,
    )
    head = keras.layers.Dense(2)
    a = keras.Model(inputs, head(inside(ids, mask=mask)))
    embedding = keras.layers.Embedding(VOCABULARY, DIM, mask_zero=mask_zero)
    before = encoder(skip_padded_sentences=skip)
    b = keras.Model(inputs, keras.layers.Dense(2)(before(embedding(ids), mask=mask)))
    b.set_weights(a.get_weights())
    return a, b


def one_step(model, x, y, run_eagerly):
    """Loss and weight change of one SGD step (learning rate 1)."""
    model.compile(
        optimizer=keras.optimizers.SGD(1.0), loss="mse", run_eagerly=run_eagerly
    )
    before = [as_numpy(w) for w in model.trainable_weights]
    loss = model.train_on_batch(x, y)
    after = [as_numpy(w) for w in model.trainable_weights]
    return loss, [a - b for a, b in zip(after, before, strict=True)]


def assert_same_steps(got, want):
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    assert len(got[1]) == len(want[1])
    for a, b in zip(got[1], want[1], strict=True):
        assert np.isfinite(a).all()
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


# eager JAX runs every op on its own (slow): compiled only there
EAGER = [False] if keras.backend.backend() == "jax" else [False, True]


@pytest.mark.parametrize("run_eagerly", EAGER)
@pytest.mark.parametrize("skip", [True, False])
def test_the_embedding_inside_gives_what_it_gives_before(skip, run_eagerly):
    ids = token_ids()
    y = np.random.default_rng(1).normal(size=(len(ids), 2)).astype("float32")
    inside, before = models(skip)
    np.testing.assert_allclose(
        inside.predict(ids, verbose=0),
        before.predict(ids, verbose=0),
        rtol=1e-5,
        atol=1e-6,
    )
    got = one_step(inside, ids, y, run_eagerly)
    want = one_step(before, ids, y, run_eagerly)
    assert np.abs(got[1][0]).max() > 0  # the table learns
    assert_same_steps(got, want)


@pytest.mark.parametrize("run_eagerly", EAGER)
def test_whatever_ids_the_padding_holds_change_nothing(run_eagerly):
    """With an explicit mask, padded words may hold any id, even ids
    outside the table: none is looked up."""
    ids = token_ids(seed=3)
    mask = ids != 0
    garbage = ids.copy()
    rng = np.random.default_rng(2)
    garbage[~mask] = rng.choice([-7, VOCABULARY, 10**6], size=(~mask).sum())
    y = rng.normal(size=(len(ids), 2)).astype("float32")
    model, reference = models(skip=True, explicit_mask=True)
    reference.set_weights(model.get_weights())
    np.testing.assert_allclose(
        model.predict([garbage, mask], verbose=0),
        reference.predict([ids, mask], verbose=0),
        rtol=1e-6,
    )
    assert_same_steps(
        one_step(model, [garbage, mask], y, run_eagerly),
        one_step(reference, [ids, mask], y, run_eagerly),
    )


@pytest.mark.skipif(
    keras.backend.backend() == "jax",
    reason="eager JAX and the other backends skip by gathering; JAX's jit "
    "by sizes (tests/test_hierarchical_encoder_jit.py)",
)
def test_only_the_sentences_encoded_are_looked_up():
    seen = []

    class Recording(keras.layers.Embedding):
        def call(self, inputs):
            seen.append(tuple(inputs.shape))
            return super().call(inputs)

    layer = encoder(Recording(VOCABULARY, DIM, mask_zero=True))
    ids = token_ids(counts=(2, 0, 3, 1), slots=6)
    layer(ids)
    assert seen[-1] == (6, ids.shape[2])  # 2 + 0 + 3 + 1 sentences of 6 * 4


def test_reloads_with_its_embedding(tmp_path):
    ids = token_ids()
    inside, _ = models(skip=True)
    path = tmp_path / "m.keras"
    inside.save(path)
    reloaded = keras.saving.load_model(path)
    layer = [x for x in reloaded.layers if isinstance(x, HierarchicalEncoder)][0]
    assert isinstance(layer.embedding, keras.layers.Embedding)
    assert layer.embedding.mask_zero
    np.testing.assert_allclose(
        reloaded.predict(ids, verbose=0), inside.predict(ids, verbose=0), rtol=1e-6
    )


def test_a_sequential_embedding_takes_the_mask_it_is_given():
    """A layer that makes no mask (a Sequential) sees every word valid
    unless a mask is passed; with the mask, what the Embedding gives."""
    ids = token_ids()
    table = keras.layers.Embedding(VOCABULARY, DIM)
    sequential = keras.Sequential([table])
    plain = encoder(keras.layers.Embedding(VOCABULARY, DIM, mask_zero=True))
    wrapped = encoder(sequential)
    plain(ids)
    wrapped(ids, mask=ids != 0)
    wrapped.set_weights(plain.get_weights())
    np.testing.assert_allclose(
        as_numpy(wrapped(ids, mask=ids != 0)), as_numpy(plain(ids)), rtol=1e-6
    )
    unmasked = as_numpy(wrapped(ids))
    assert not np.allclose(unmasked, as_numpy(plain(ids)), atol=1e-4)


def test_weights_have_the_shape_of_the_ids():
    ids = token_ids()
    layer = encoder(keras.layers.Embedding(VOCABULARY, DIM, mask_zero=True))
    documents, words, sentences = layer(ids, return_weights=True)
    assert tuple(documents.shape) == (4, 6)
    assert tuple(words.shape) == ids.shape
    assert tuple(sentences.shape) == ids.shape[:2]
    np.testing.assert_array_equal(as_numpy(words)[ids == 0], 0)


def test_bad_embedding_and_inputs():
    with pytest.raises(TypeError, match="Argument `embedding` must be None or a"):
        encoder("embedding")
    layer = encoder(keras.layers.Embedding(VOCABULARY, DIM, mask_zero=True))
    with pytest.raises(TypeError, match="integer token ids as `inputs`.*dtype='int32'"):
        layer(np.ones((2, 3, 4), "float32"))
    with pytest.raises(ValueError, match=r"token ids of shape \(batch, sentences"):
        layer(np.ones((2, 3, 4, 5), "int32"))
    with pytest.raises(ValueError, match="or into the layer's `embedding`"):
        encoder()(np.ones((2, 3, 4), "float32"))
