"""`model.export` to every format Keras offers from the current backend.

The models and helpers are those of benchmarks/export_matrix.py (four models
that hold every public layer). Every exported artifact is loaded in its own
runtime and must give `model.predict`'s outputs within 1e-5: at two batch
sizes and two lengths where the format serves variable shapes, at its one
shape where it does not. `EXPECTED` is docs/deploy.md's table; a combination
documented as failing is a strict xfail, so a fix shows up.

CI runs one fast test per format on each backend; the whole matrix is
marked `manual` (`pytest -m manual tests/test_export.py`, on each backend),
run by hand before resolving export work. Formats whose packages are
missing (the `export` extra) skip.
"""

import importlib.util
import pathlib
import warnings

import keras
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "export_matrix", ROOT / "benchmarks" / "export_matrix.py"
)
matrix = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(matrix)

BACKEND = keras.backend.backend()

# What each format needs here, beyond Keras (the `export` extra).
PACKAGES = {
    "tf_saved_model": {"tensorflow": ["tensorflow"]},
    "onnx": {
        "tensorflow": ["tf2onnx", "onnxruntime"],
        "jax": ["jax2onnx", "onnxruntime"],
        "torch": ["onnxscript", "onnxruntime"],
    },
    "litert": {"tensorflow": ["ai_edge_litert"], "torch": ["litert_torch"]},
    "openvino": {
        "tensorflow": ["openvino"],
        "jax": ["openvino"],
        "torch": ["openvino"],
    },
    "torch": {"torch": ["torch"]},
}

# docs/deploy.md's table, as measured: "variable" (any batch and length),
# "fixed" (the shape given at export only), or why it fails.
_V, _F = "variable", "fixed"
_TENSORLIST = "OpenVINO has no conversion for TF's TensorList (unroll=True works)"
_XLA = "OpenVINO has no conversion for XlaCallModule (not even for a Dense model)"
EXPECTED = {
    **{("tensorflow", "tf_saved_model", m): _V for m in matrix.MODELS},
    **{("tensorflow", "onnx", m): _V for m in matrix.MODELS},
    **{("tensorflow", "litert", m): _F for m in matrix.MODELS},
    **{("tensorflow", "openvino", m): _TENSORLIST for m in matrix.MODELS},
    **{("jax", "tf_saved_model", m): _V for m in matrix.MODELS},
    **{("jax", "onnx", m): _V for m in ("peephole", "lengths", "bidirectional")},
    ("jax", "onnx", "hierarchical"): _F,
    **{("jax", "openvino", m): _XLA for m in matrix.MODELS},
    **{("torch", "tf_saved_model", m): "needs torch_xla" for m in matrix.MODELS},
    **{("torch", "onnx", m): _F for m in matrix.MODELS},
    **{("torch", "litert", m): "needs litert-torch" for m in matrix.MODELS},
    **{("torch", "openvino", m): _F for m in matrix.MODELS},
    **{("torch", "torch", m): _F for m in matrix.MODELS},
}


def _needs(fmt):
    if fmt not in matrix.FORMATS[BACKEND]:
        pytest.skip(f"Keras does not export {fmt} from the {BACKEND} backend")
    for package in PACKAGES[fmt].get(BACKEND, []):
        pytest.importorskip(
            package, reason=f"{fmt} export from {BACKEND} needs {package}"
        )


def _model(name, static=False):
    keras.utils.set_random_seed(0)
    model = matrix.MODELS[name](static=static)
    model(matrix.inputs_for(name, *matrix.FIXED))  # ONNX wants a called model
    return model


def _path(tmp_path, name, fmt):
    return str(tmp_path / f"{name}_{fmt}{matrix.SUFFIX[fmt]}")


def _assert_matches(fmt, path, model, name, shapes):
    for batch, steps in shapes:
        inputs = matrix.inputs_for(name, batch, steps, seed=batch)
        expected = model.predict(inputs, verbose=0, batch_size=batch)
        with warnings.catch_warnings():
            # runtimes warn about their own internals (TF's deprecated
            # interpreter, onnxruntime's providers); not this library's
            warnings.simplefilter("ignore")
            got = matrix.run_artifact(fmt, path, model, inputs)
        np.testing.assert_allclose(
            got, expected, rtol=0, atol=matrix.TOLERANCE, err_msg=f"{batch=} {steps=}"
        )


def check(name, fmt, tmp_path):
    """Exports `name` to `fmt` as EXPECTED says the format allows; compares."""
    _needs(fmt)
    expected = EXPECTED[(BACKEND, fmt, name)]
    if expected not in ("variable", "fixed"):
        pytest.xfail(expected)
    model = _model(name, static=expected == "fixed")
    path = _path(tmp_path, name, fmt)
    if expected == "variable":
        matrix.export(model, fmt, path)
        _assert_matches(fmt, path, model, name, matrix.VARIABLE)
    else:
        signature = matrix.fixed_signature(model, name, *matrix.FIXED)
        matrix.export(model, fmt, path, signature)
        _assert_matches(fmt, path, model, name, [matrix.FIXED])


# -- fast: one model per format, on every backend ------------------------------


@pytest.mark.parametrize(
    "name, fmt",
    [
        ("lengths", "tf_saved_model"),
        ("bidirectional", "onnx"),
        # a masked BidirectionalEncoder at 7 steps once lowered to Relu6
        ("bidirectional", "litert"),
        ("peephole", "openvino"),
        ("peephole", "torch"),
    ],
)
def test_export_matches_predict(name, fmt, tmp_path):
    check(name, fmt, tmp_path)


def _state(model):
    """Every variable of the model (seed-generator states included) and the
    global seed generator's state, as numpy."""
    from keras.src.random.seed_generator import global_seed_generator

    variables = [*model.variables, global_seed_generator().state]
    return [keras.ops.convert_to_numpy(v.value) for v in variables]


@pytest.mark.parametrize(
    "name",
    # JAX's eager calls are slow: there the model with random layers only
    ["bidirectional"] if BACKEND == "jax" else list(matrix.MODELS),
)
def test_inference_draws_nothing_and_writes_no_variable(name):
    model = _model(name)
    inputs = matrix.inputs_for(name, 3, 6)
    before = _state(model)
    first = keras.ops.convert_to_numpy(model(inputs, training=False))
    second = keras.ops.convert_to_numpy(model(inputs, training=False))
    model.predict(inputs, verbose=0)
    after = _state(model)
    assert len(before) == len(after)
    for b, a in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(first, second)


# -- slow: the whole matrix -----------------------------------------------------


@pytest.mark.slow
@pytest.mark.manual  # the CI time allows the fast tests above only
@pytest.mark.parametrize("fmt", list(matrix.SUFFIX))
@pytest.mark.parametrize("name", list(matrix.MODELS))
def test_export_matrix(name, fmt, tmp_path):
    check(name, fmt, tmp_path)


@pytest.mark.tf_only
def test_openvino_from_tensorflow_with_an_unrolled_loop(tmp_path):
    # OpenVINO cannot convert TF's while loop (TensorList); unrolled over a
    # known number of steps, the same layer converts.
    _needs("openvino")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((7, 4)),
            matrix.keras_rnnkit.PeepholeLSTM(5, num_proj=3, unroll=True),
            keras.layers.Dense(2),
        ]
    )
    x = matrix.inputs_for("peephole", 2, 7)
    path = str(tmp_path / "unrolled.xml")
    matrix.export(model, "openvino", path)
    got = matrix.run_artifact("openvino", path, model, x)
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=matrix.TOLERANCE)
