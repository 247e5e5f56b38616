"""The layer contract that every public class of keras_rnnkit runs.

A test module declares its cases and subclasses `ContractTests`:

    class TestMyLayerContract(ContractTests):
        cases = [Case("default", lambda units, **kw: MyLayer(units, **kw))]

`Case.make(units, **kwargs)` returns a fresh layer mapping float sequences
`(batch, timesteps, *inner, features)` to an output (or a list whose first
element is the output); `kwargs` carries layer arguments such as `dtype`.
`inner` is empty for sequence layers; a hierarchical encoder reads
`(batch, sentences, words, features)`, so its `inner` is `(words,)` and its
masks cover whole sentences. Every test
here can fail: each compares two independent computations.
"""

import dataclasses
import json
from collections.abc import Callable

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import keras_rnnkit

PACKAGE = "keras_rnnkit"


@dataclasses.dataclass
class Case:
    id: str
    make: Callable[..., keras.layers.Layer]
    units: int = 4
    features: int = 3
    timesteps: int = 6
    # True when the output depends on `training` (dropout).
    stochastic: bool = False
    # False for layers that ignore masks on purpose.
    masking: bool = True
    # Axes between timesteps and features (e.g. words per sentence).
    inner: tuple = ()

    def layer(self, **kwargs):
        return self.make(self.units, **kwargs)

    def inputs(self, batch=3, timesteps=None, seed=0):
        rng = np.random.default_rng(seed)
        return rng.normal(size=self.shape(batch, timesteps)).astype("float32")

    def shape(self, batch=None, timesteps=None, features=None):
        timesteps = timesteps or self.timesteps
        return (batch, timesteps, *self.inner, features or self.features)

    def mask(self, valid):
        """Spreads a (batch, timesteps) mask over the inner axes."""
        valid = valid.reshape(valid.shape + (1,) * len(self.inner))
        return np.broadcast_to(valid, valid.shape[:2] + self.inner)


def first(outputs):
    """The primary output of a layer that may return `[output, *states]`."""
    return outputs[0] if isinstance(outputs, (list, tuple)) else outputs


def shapes(nested):
    """Flattens a shape or a nest of shapes into a list of tuples."""
    if all(d is None or isinstance(d, int) for d in nested):
        return [tuple(nested)]
    return [shape for item in nested for shape in shapes(item)]


def as_numpy(outputs):
    return [keras.ops.convert_to_numpy(o) for o in keras.tree.flatten(outputs)]


def kit_objects(layer):
    """The layer and every keras_rnnkit object nested in it (cells...)."""
    found, stack = [], [layer]
    while stack:
        obj = stack.pop()
        if type(obj).__module__.startswith(PACKAGE):
            found.append(obj)
        for attribute in (
            "cell",
            "cells",
            "layer",
            "forward_layer",
            "backward_layer",
            "word_encoder",
            "sentence_encoder",
            "word_attention",
            "sentence_attention",
        ):
            child = getattr(obj, attribute, None)
            stack.extend(child if isinstance(child, list) else [child] * bool(child))
    return found


def trainable_model(case, **layer_kwargs):
    inputs = keras.Input(case.shape()[1:])
    outputs = first(case.layer(**layer_kwargs)(inputs))
    if len(outputs.shape) == 3:
        outputs = keras.layers.GlobalAveragePooling1D()(outputs)
    return keras.Model(inputs, keras.layers.Dense(1)(outputs))


class ContractTests:
    """Subclass and set `cases` to run the contract on each case."""

    cases: list[Case] = []

    def test_registered_and_config_round_trip(self, case):
        layer = case.layer()
        layer(case.inputs())  # configs must survive building too
        objects = kit_objects(layer)
        assert objects, "the case builds no keras_rnnkit object"
        for obj in objects:
            cls = type(obj)
            name = keras.saving.get_registered_name(cls)
            assert name == f"{PACKAGE}>{cls.__name__}"
            assert cls.__name__ in keras_rnnkit.__all__
            config = obj.get_config()
            text = json.dumps(config)  # must be JSON, not just picklable
            clone = cls.from_config(json.loads(text))
            assert json.dumps(clone.get_config()) == text
            revived = keras.saving.deserialize_keras_object(
                json.loads(json.dumps(keras.saving.serialize_keras_object(obj)))
            )
            assert type(revived) is cls

    def test_sequential_and_functional_agree_with_eager(self, case):
        x = case.inputs()
        layer = case.layer()
        eager = as_numpy(layer(x))
        inputs = keras.Input((None, *case.inner, case.features))
        functional = keras.Model(inputs, layer(inputs))
        for got, want in zip(
            as_numpy(functional.predict(x, verbose=0)), eager, strict=True
        ):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        sequential = keras.Sequential(
            [keras.Input((None, *case.inner, case.features)), layer]
        )
        got = as_numpy(sequential.predict(x, verbose=0))
        np.testing.assert_allclose(got[0], eager[0], rtol=1e-5, atol=1e-6)

    def test_keras_file_reloads_in_fresh_process(self, case, tmp_path, fresh_process):
        inputs = keras.Input(case.shape()[1:])
        model = keras.Model(inputs, case.layer()(inputs))
        x = case.inputs(batch=4)
        want = as_numpy(model.predict(x, verbose=0))
        model.save(tmp_path / "model.keras")
        np.savez(tmp_path / "data.npz", x=x, **{f"y{i}": y for i, y in enumerate(want)})
        reply = fresh_process(
            "reload_and_predict",
            model=str(tmp_path / "model.keras"),
            data=str(tmp_path / "data.npz"),
        )
        assert reply["class"] == type(model.layers[1]).__name__
        assert reply["test_modules"] == []

    def test_masks_skip_padded_steps(self, case):
        if not case.masking:
            pytest.skip(f"{case.id} ignores masks by design")
        lengths = np.array([case.timesteps, 1, case.timesteps // 2])
        x = case.inputs(batch=3)
        valid = case.mask(np.arange(case.timesteps)[None, :] < lengths[:, None])
        x = np.where(valid[..., None], x, 0.0).astype("float32")
        layer = case.layer()
        explicit = as_numpy(first(layer(x, mask=valid)))[0]
        # Each row alone, cut to its length, is what the masked batch gives.
        for row, length in enumerate(lengths):
            alone = as_numpy(first(layer(x[row : row + 1, :length])))[0][0]
            got = explicit[row][:length] if explicit.ndim == 3 else explicit[row]
            np.testing.assert_allclose(got, alone, rtol=1e-5, atol=1e-6)
        # A Masking layer, and an Embedding with mask_zero, mask the same steps.
        inputs = keras.Input(case.shape()[1:])
        masked = keras.layers.Masking(0.0)(inputs)
        model = keras.Model(inputs, first(layer(masked)))
        got = model.predict(x, verbose=0)
        np.testing.assert_allclose(got, explicit, rtol=1e-5, atol=1e-6)

        ids = np.where(valid, np.arange(1, valid.size + 1).reshape(valid.shape), 0)
        embedding = keras.layers.Embedding(
            valid.size + 1, case.features, mask_zero=True
        )
        token_inputs = keras.Input(valid.shape[1:], dtype="int32")
        model = keras.Model(token_inputs, first(layer(embedding(token_inputs))))
        got = model.predict(ids, verbose=0)
        vectors = keras.ops.convert_to_numpy(embedding(ids))
        want = as_numpy(first(layer(vectors, mask=valid)))[0]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)

    def test_training_flag(self, case):
        x = case.inputs(batch=8)
        layer = case.layer()
        inference = as_numpy(layer(x, training=False))
        np.testing.assert_array_equal(
            as_numpy(layer(x, training=False))[0], inference[0]
        )
        training = as_numpy(layer(x, training=True))
        if case.stochastic:
            assert not np.allclose(training[0], inference[0])
        else:
            np.testing.assert_allclose(training[0], inference[0], rtol=1e-6, atol=1e-7)

    def test_mixed_precision(self, case):
        layer = case.layer(dtype="mixed_float16")
        outputs = layer(case.inputs())
        assert all(w.dtype == "float32" for w in layer.weights)
        for output in as_numpy(outputs):
            assert output.dtype == np.float16
            assert np.isfinite(output).all()
        reference = case.layer()
        reference.build(case.shape())
        reference.set_weights(layer.get_weights())
        np.testing.assert_allclose(
            as_numpy(outputs)[0].astype("float32"),
            as_numpy(reference(case.inputs()))[0],
            atol=2e-2,
        )

    # Shape inference is the backend's least specific part, and every new
    # shape compiles JAX's loop again (the costliest contract test there):
    # fewer examples on JAX, the profile's elsewhere.
    @settings(max_examples=3) if keras.backend.backend() == "jax" else (lambda f: f)
    @given(
        batch=st.integers(1, 4),
        timesteps=st.integers(1, 5),
        features=st.integers(1, 5),
        units=st.integers(1, 6),
    )
    def test_symbolic_shapes_equal_eager(self, case, batch, timesteps, features, units):
        layer = case.make(units)
        shape = case.shape(batch, timesteps, features)
        symbolic = layer(keras.Input(batch_shape=shape))
        x = np.ones(shape, "float32")
        eager = layer(x)
        got = [tuple(t.shape) for t in keras.tree.flatten(symbolic)]
        want = [tuple(t.shape) for t in keras.tree.flatten(eager)]
        assert got == want
        computed = layer.compute_output_shape(shape)
        assert shapes(computed) == want

    def test_fit_step_reaches_every_weight(self, case):
        model = trainable_model(case)
        jit = keras.backend.backend() == "jax"
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse", jit_compile=jit)
        kit_layer = model.layers[1]
        before = [keras.ops.convert_to_numpy(w) for w in kit_layer.trainable_weights]
        assert before, "the layer has no trainable weights"
        x = case.inputs(batch=8)
        y = np.random.default_rng(1).normal(size=(8, 1)).astype("float32")
        history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
        assert np.isfinite(history.history["loss"]).all()
        for weight, old in zip(kit_layer.trainable_weights, before, strict=True):
            changed = np.abs(keras.ops.convert_to_numpy(weight) - old).max()
            assert changed > 0, f"{weight.path} received no gradient"
