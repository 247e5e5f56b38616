"""AttentionPooling: the equations, masked weights, padding, errors."""

import keras
import numpy as np
import pytest
from contract import Case, ContractTests
from hypothesis import given
from hypothesis import strategies as st

from keras_rnnkit import AttentionPooling


class TestAttentionPoolingContract(ContractTests):
    cases = [
        Case(
            "default",
            lambda units, dtype=None, **kw: AttentionPooling(units, dtype=dtype, **kw),
        )
    ]


def numpy_attention(x, mask, kernel, bias, context):
    """The equations, written out per row in NumPy (float64)."""
    pooled = np.zeros((x.shape[0], x.shape[2]))
    weights = np.zeros(x.shape[:2])
    for row in range(x.shape[0]):
        valid = np.flatnonzero(mask[row])
        if valid.size == 0:
            continue
        h = x[row, valid].astype("float64")
        scores = np.tanh(h @ kernel + bias) @ context[:, 0]
        e = np.exp(scores - scores.max())
        weights[row, valid] = e / e.sum()
        pooled[row] = weights[row, valid] @ h
    return pooled, weights


def random_layer(features, units, seed):
    layer = AttentionPooling(units)
    layer.build((None, None, features))
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(size=w.shape) for w in layer.get_weights()])
    return layer


@given(
    data=st.data(),
    batch=st.integers(1, 4),
    timesteps=st.integers(1, 6),
    features=st.integers(1, 4),
    units=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_matches_the_equations_and_weights_are_masked(
    data, batch, timesteps, features, units, seed
):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, timesteps, features)).astype("float32")
    mask = np.array(
        data.draw(
            st.lists(
                st.lists(st.booleans(), min_size=timesteps, max_size=timesteps),
                min_size=batch,
                max_size=batch,
            )
        )
    )
    layer = random_layer(features, units, seed)
    pooled, weights = layer(x, mask=mask, return_weights=True)
    pooled, weights = (
        keras.ops.convert_to_numpy(pooled),
        keras.ops.convert_to_numpy(weights),
    )
    want_pooled, want_weights = numpy_attention(x, mask, *layer.get_weights())
    np.testing.assert_allclose(pooled, want_pooled, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(weights, want_weights, rtol=1e-4, atol=1e-6)
    # Exactly zero on padding; sums to one over valid steps, zero for none.
    assert np.all(weights[~mask] == 0)
    np.testing.assert_allclose(weights.sum(axis=1), mask.any(axis=1), atol=1e-5)


@pytest.mark.skipif(
    keras.backend.backend() == "jax",
    reason="JAX has float64 only with jax_enable_x64, which the tests leave off",
)
def test_float64_is_computed_in_float64():
    """On torch Keras's `ops.matmul` computes float64 in float32; the layer's
    scores must not (a float32 step is 1e-8 to 1e-6 away here)."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 5, 4))
    mask = np.array([[1, 1, 1, 0, 0], [1] * 5, [0, 1, 0, 1, 0]], bool)
    layer = AttentionPooling(6, dtype="float64")
    layer.build((None, None, 4))
    layer.set_weights([rng.normal(size=w.shape) for w in layer.get_weights()])
    pooled, weights = layer(x, mask=mask, return_weights=True)
    assert keras.backend.standardize_dtype(pooled.dtype) == "float64"
    want_pooled, want_weights = numpy_attention(x, mask, *layer.get_weights())
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(weights), want_weights, rtol=1e-12, atol=1e-14
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(pooled), want_pooled, rtol=1e-12, atol=1e-14
    )


def test_padding_values_never_change_the_result():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5, 4)).astype("float32")
    mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], bool)
    layer = random_layer(4, 3, seed=1)
    clean = keras.ops.convert_to_numpy(
        layer(np.where(mask[..., None], x, 0), mask=mask)
    )
    for junk in (1e6, -1e6, np.nan, np.inf):
        noisy = np.where(mask[..., None], x, junk).astype("float32")
        got = keras.ops.convert_to_numpy(layer(noisy, mask=mask))
        np.testing.assert_array_equal(got, clean)
    assert np.all(clean[2] == 0)  # a row without valid steps pools to zeros


def test_without_a_mask_every_step_counts():
    x = np.random.default_rng(2).normal(size=(2, 4, 3)).astype("float32")
    layer = random_layer(3, 5, seed=3)
    got = keras.ops.convert_to_numpy(layer(x))
    want, _ = numpy_attention(x, np.ones((2, 4), bool), *layer.get_weights())
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_gradients_stay_finite_for_fully_padded_rows():
    inputs = keras.Input((4, 3))
    masked = keras.layers.Masking(0.0)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(AttentionPooling(4)(masked)))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x = np.random.default_rng(0).normal(size=(4, 4, 3)).astype("float32")
    x[1] = 0.0  # a fully padded row
    x[2, 2:] = 0.0
    history = model.fit(x, np.ones((4, 1)), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    for weight in model.trainable_weights:
        assert np.isfinite(keras.ops.convert_to_numpy(weight)).all(), weight.path


def test_weights_as_a_second_model_output():
    inputs = keras.Input((None, 3))
    pooled, weights = AttentionPooling(4)(inputs, return_weights=True)
    model = keras.Model(inputs, [pooled, weights])
    got_pooled, got_weights = model.predict(np.ones((2, 5, 3), "float32"), verbose=0)
    assert got_pooled.shape == (2, 3) and got_weights.shape == (2, 5)
    np.testing.assert_allclose(got_weights, 0.2, rtol=1e-5)  # equal inputs


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"units": 0},
            r"`units` must be a positive integer or None. Received: units=0",
        ),
        ({"units": 2.5}, r"Received: units=2.5"),
        ({"use_bias": "yes"}, r"`use_bias` must be True or False"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AttentionPooling(**kwargs)


def test_bad_inputs():
    with pytest.raises(
        ValueError,
        match=r"\(batch, timesteps, features\).*Received: input_shape=\(2, 3\)",
    ):
        AttentionPooling()(np.ones((2, 3), "float32"))
    with pytest.raises(
        ValueError, match=r"expects `mask` of shape .*Received: mask.shape=\(2, 4\)"
    ):
        AttentionPooling()(np.ones((2, 3, 5), "float32"), mask=np.ones((2, 4), bool))


def test_no_time_steps_pool_to_zeros_like_rows_without_a_valid_step():
    pooling = AttentionPooling(4)
    pooling(np.ones((2, 3, 5), "float32"))  # built on real steps
    for lengths in (None, np.array([0, 0])):
        pooled, weights = pooling(
            np.ones((2, 0, 5), "float32"), return_weights=True, sequence_length=lengths
        )
        assert tuple(weights.shape) == (2, 0)
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(pooled), 0)
    # the same as a row whose steps are all padding
    masked = pooling(np.ones((2, 3, 5), "float32"), mask=np.zeros((2, 3), bool))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(masked), 0)
