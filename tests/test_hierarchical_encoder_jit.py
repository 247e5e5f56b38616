"""HierarchicalEncoder under JAX's jit: padded sentences in sizes that follow
the data (`keras_rnnkit/_jax_tiers.py`).

Shapes are fixed under `jit`, so the layer traces each level at a few sizes
and runs the smallest that holds the batch's valid sentences. These tests
check which size runs, and that the results, the gradients and the random
state are those of encoding every slot.
"""

import keras
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from keras_rnnkit import (
    BidirectionalEncoder,
    DropoutWrapper,
    DynamicRNN,
    HierarchicalEncoder,
)

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="jit sizes are JAX's: TensorFlow and torch skip padded sentences "
    "with shapes that depend on the data (tests/test_hierarchical_encoder.py)",
)


def test_sizes_halve_from_the_slots_and_the_smallest_fitting_one_is_chosen():
    from keras_rnnkit import _jax_tiers

    assert _jax_tiers.sizes(20) == [20, 10, 5, 3, 2]
    assert _jax_tiers.sizes(3) == [3, 2, 1]
    assert _jax_tiers.sizes(1) == [1]
    assert _jax_tiers.sizes(64, most=2) == [64, 32]
    sizes = [40, 20, 10, 6, 4]
    chosen = [int(_jax_tiers.smallest_fitting(sizes, n)) for n in range(41)]
    want = [sizes.index(min(s for s in sizes if s >= n)) for n in range(41)]
    assert chosen == want


class RunSizes(keras.layers.Layer):
    """Wraps an encoder; records the row count of every run (not trace)."""

    def __init__(self, layer, runs, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer
        self.record = runs.append  # (a list attribute would be a tracked copy)
        self.supports_masking = True

    def build(self, input_shape):
        self.layer.build(input_shape)

    def call(self, x, mask=None, training=False):
        import jax

        rows, steps = x.shape[0], x.shape[1]
        jax.debug.callback(lambda: self.record((rows, steps)))
        return self.layer(x, mask=mask, training=training)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)


def padded(counts, slots, words=4, features=3, seed=0):
    """Documents of `counts[i]` sentences (1 to `words` words) in `slots`
    slots; padding holds NaN."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(len(counts), slots, words, features))
    lengths = rng.integers(1, words + 1, size=x.shape[:2])
    mask = np.arange(words) < lengths[..., None]
    mask &= (np.arange(slots) < np.asarray(counts)[:, None])[..., None]
    return np.where(mask[..., None], x, np.nan).astype("float32"), mask


# (sentences of each document, word-level rows, sentence-level steps) for
# 4 documents in 9 slots: sizes 9, 5, 3, 2 and 1 sentences a document
CASES = [
    ((2, 2, 1, 2), 4 * 2, 2),  # 7 sentences: rows for 2 a document
    ((3, 2, 2, 2), 4 * 3, 3),  # 9 sentences: rows for 3 a document
    ((1, 0, 5, 1), 4 * 2, 5),  # 7 sentences, the last in slot 5
    ((1, 0, 1, 1), 4 * 1, 1),  # 3 sentences: rows for 1 a document
    ((9, 9, 9, 9), 4 * 9, 9),  # full: every slot
    ((0, 0, 0, 0), 4 * 1, 1),  # nothing valid: the smallest size
]


def test_the_smallest_size_that_holds_the_sentences_runs():
    import jax

    word_runs, sentence_runs = [], []
    layer = HierarchicalEncoder(
        RunSizes(BidirectionalEncoder(keras.layers.GRUCell(4)), word_runs),
        RunSizes(
            DynamicRNN(keras.layers.LSTMCell(3), return_sequences=True),
            sentence_runs,
        ),
    )
    encode = jax.jit(lambda x, m: layer(x, mask=m))  # one trace for all cases
    for counts, rows, steps in CASES:
        del word_runs[:], sentence_runs[:]
        x, mask = padded(counts, slots=9)
        documents = encode(x, mask)
        jax.block_until_ready(documents)
        jax.effects_barrier()
        assert word_runs == [(rows, 4)], counts
        assert sentence_runs == [(4, steps)], counts
        assert np.isfinite(np.asarray(documents)).all()


@pytest.mark.parametrize("training", [True, False])
def test_each_size_is_rematerialized_in_training_only(training):
    """In training the sizes' encoders run under `jax.checkpoint` (else
    differentiating the switch keeps every size's intermediates); at
    inference they do not (its optimization barriers slow the forward
    pass)."""
    import jax

    layer = HierarchicalEncoder(
        BidirectionalEncoder(keras.layers.GRUCell(4)),
        DynamicRNN(keras.layers.GRUCell(3), return_sequences=True),
    )
    x, mask = padded([2, 1, 3], slots=6)
    layer(x, mask=mask)
    weights = [v.value for v in layer.trainable_variables]

    def call(weights, x, mask):
        state = [v.value for v in layer.non_trainable_variables]
        documents, _ = layer.stateless_call(
            weights, state, x, mask=mask, training=training
        )
        return documents

    jaxpr = str(jax.make_jaxpr(call)(weights, x, mask))
    assert "switch" in jaxpr or "cond" in jaxpr
    assert ("remat" in jaxpr) is training  # jax.checkpoint's primitive


def every_slot(layer, input_shape):
    """A copy of `layer` (same weights) that encodes every slot."""
    config = {**layer.get_config(), "skip_padded_sentences": False}
    copy = HierarchicalEncoder.from_config(config)
    copy.build(input_shape)
    copy.set_weights(layer.get_weights())
    return copy


@settings(max_examples=4, deadline=None)  # each example compiles
# 8 of 24 rows, 5 of 6 slots:
@example(counts=[2, 0, 5, 1], slots=6, seed=1, training=True)
@given(
    counts=st.lists(st.integers(0, 6), min_size=1, max_size=4),
    slots=st.integers(1, 6),
    seed=st.integers(0, 2**16),
    training=st.booleans(),
)
def test_outputs_weights_and_gradients_are_those_of_every_slot(
    counts, slots, seed, training
):
    """With NaN in the padding: outputs, both levels' attention weights and
    every weight gradient under jit equal those of encoding every slot, in
    training (each size rematerialized) and not."""
    import jax
    import jax.numpy as jnp

    counts = [min(c, slots) for c in counts]
    x, mask = padded(counts, slots, seed=seed)
    layer = HierarchicalEncoder(
        BidirectionalEncoder(keras.layers.GRUCell(4)),
        DynamicRNN(keras.layers.LSTMCell(3), return_sequences=True),
    )
    layer(np.nan_to_num(x), mask=mask)
    reference = every_slot(layer, x.shape)

    def run(layer, weights, x, mask):
        state = [v.value for v in layer.non_trainable_variables]
        (documents, words, sentences), _ = layer.stateless_call(
            weights, state, x, mask=mask, return_weights=True, training=training
        )
        return documents, words, sentences

    def loss(layer, weights, x, mask):
        documents, words, sentences = run(layer, weights, x, mask)
        return jnp.sum(documents**2) + jnp.sum(words * sentences[..., None])

    def value_and_grads(layer):
        def f(w, x, m):
            return loss(layer, w, x, m), run(layer, w, x, m)

        return jax.jit(jax.value_and_grad(f, has_aux=True))

    weights = [v.value for v in layer.trainable_variables]
    (_, got), grads = value_and_grads(layer)(weights, x, mask)
    (_, want), wants = value_and_grads(reference)(weights, x, mask)
    for a, b in zip(got, want, strict=True):
        assert np.isfinite(np.asarray(a)).all()
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    for a, b in zip(grads, wants, strict=True):
        assert np.isfinite(np.asarray(a)).all()
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)


def test_dropout_trains_in_fit_and_its_seed_advances_every_step():
    """The encoders' seed generators advance inside the chosen size's branch;
    their new states come out of it, so every step draws new masks."""
    x, mask = padded((2, 1, 3, 2), slots=6)
    x = np.nan_to_num(x)
    inputs = keras.Input((6, 4, 3))
    masks = keras.Input((6, 4), dtype="bool")
    cell = DropoutWrapper(
        keras.layers.GRUCell(4), input_keep_prob=0.7, variational=True, seed=3
    )
    documents = HierarchicalEncoder(
        DynamicRNN(cell, return_sequences=True),
        DynamicRNN(keras.layers.GRUCell(3), return_sequences=True),
    )(inputs, mask=masks)
    model = keras.Model([inputs, masks], keras.layers.Dense(1)(documents))
    model.compile(keras.optimizers.SGD(0.1), "mse")
    seeds = [v for v in model.non_trainable_variables if "seed" in v.path]
    assert seeds
    states = []
    for _ in range(3):
        states.append([np.asarray(v.value).copy() for v in seeds])
        model.train_on_batch([x, mask], np.ones((4, 1)))
    for before, after in zip(states, states[1:], strict=False):
        assert any((a != b).any() for a, b in zip(before, after, strict=True))
    assert np.isfinite(model.predict([x, mask], verbose=0)).all()


@pytest.mark.parametrize(
    "word_pooling, sentence_pooling, policy",
    [("max", "last", "mixed_bfloat16"), ("mean", "mean", "float32")],
)
def test_other_poolings_and_mixed_precision_give_what_every_slot_gives(
    word_pooling, sentence_pooling, policy
):
    import jax

    x, mask = padded((2, 0, 5, 1), slots=6, seed=2)
    layer = HierarchicalEncoder(
        BidirectionalEncoder(keras.layers.GRUCell(4, dtype=policy), dtype=policy),
        DynamicRNN(
            keras.layers.LSTMCell(3, dtype=policy),
            return_sequences=sentence_pooling != "last",
            dtype=policy,
        ),
        word_pooling=word_pooling,
        sentence_pooling=sentence_pooling,
        dtype=policy,
    )
    layer(np.nan_to_num(x), mask=mask)
    reference = every_slot(layer, x.shape)
    got = jax.jit(lambda x, m: layer(x, mask=m))(x, mask)
    want = jax.jit(lambda x, m: reference(x, mask=m))(x, mask)
    got, want = (np.asarray(t, "float32") for t in (got, want))
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_losses_the_encoders_add_reach_the_model():
    """An activity regularizer's loss, added inside the chosen size's
    branch, comes out of it (here the packed rows hold exactly the valid
    sentences, so it equals the eager path's, which encodes only those)."""
    import jax

    x, mask = padded((2, 2, 2, 2), slots=5)  # 8 sentences: rows for 2 each
    x = np.nan_to_num(x)
    layer = HierarchicalEncoder(
        keras.layers.GRU(4, return_sequences=True, activity_regularizer="l2"),
        keras.layers.GRU(3, activity_regularizer="l2"),
        sentence_pooling="last",
    )
    eager = layer(x, mask=mask)  # JAX without jit: the valid rows only
    eager_losses = [float(v) for v in layer.losses]
    assert len(eager_losses) == 2 and min(eager_losses) > 0
    trainable = [v.value for v in layer.trainable_variables]
    state = [v.value for v in layer.non_trainable_variables]

    def run(x, m):
        out, _, losses = layer.stateless_call(
            trainable, state, x, mask=m, return_losses=True
        )
        return out, losses

    for _ in range(3):  # each trace: no loss counted twice (ids are reused)
        out, losses = jax.jit(run)(x, mask)
        np.testing.assert_allclose(
            np.asarray(out), np.asarray(eager), rtol=1e-5, atol=1e-6
        )
        np.testing.assert_allclose(
            sorted(float(v) for v in losses), sorted(eager_losses), rtol=1e-5
        )
