"""Packaging: the sdist and wheel, an install without TensorFlow, a missing backend.

keras-rnnkit depends on keras and numpy only; the backend comes from an extra
(``[tensorflow]``, ``[jax]``, ``[torch]``). The slow tests build the sdist and
wheel with ``python -m build`` and install the wheel with ``[jax]`` only into
a fresh virtual environment, where TensorFlow cannot be imported: the kit
imports, trains, saves and reloads there (about 60 s on 2 cores, with pip's
cache warm). The same with ``[torch]`` takes about 70 s more, torch's install
being heavy, so CI leaves it out; run it by hand with the torch requirement
to install, e.g. ``KERAS_RNNKIT_TORCH_INSTALL="torch==2.13.0" python -m
pytest tests/test_install.py``.
"""

import os
import pathlib
import subprocess
import sys
import tarfile
import textwrap
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _run(command, timeout, **kwargs):
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, **kwargs
    )
    assert result.returncode == 0, (
        f"{command} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result


def _clean_env(**extra):
    """The environment of a fresh shell: nothing points at this checkout."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    }
    return {**env, "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """`python -m build`: the sdist, then the wheel built from it."""
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], 300)
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return sdist, wheel


# -- a missing backend ------------------------------------------------------


@pytest.mark.parametrize("use", ["keras_rnnkit.DynamicRNN", "import keras"])
@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_a_missing_backend_names_the_extra_that_installs_it(backend, use):
    # The first use of a layer, or Keras's own import after the package's,
    # says which extra installs the missing backend.
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules[{backend!r}] = None  # as if it were not installed
        import keras_rnnkit  # imports no backend: it cannot fail yet
        try:
            {use}
        except ModuleNotFoundError as e:
            print(e.name, e)
        else:
            print("imported")
        """
    )
    result = _run(
        [sys.executable, "-c", script],
        120,
        cwd=ROOT,
        env=_clean_env(KERAS_BACKEND=backend, PYTHONPATH=str(ROOT)),
    )
    assert result.stdout.startswith(f"{backend} keras_rnnkit runs on Keras")
    assert f'pip install "keras-rnnkit[{backend}]"' in result.stdout


# -- the sdist and the wheel ------------------------------------------------


@pytest.mark.slow
def test_sdist_holds_the_tracked_tree_and_the_wheel_the_package(built):
    sdist, wheel = built
    with tarfile.open(sdist) as archive:
        top = sdist.name.removesuffix(".tar.gz")
        in_sdist = {
            name.removeprefix(top + "/") for name in archive.getnames() if "/" in name
        }
    # The sdist is the source tree: its tests run from it (they read
    # examples/, docs/, benchmarks/, .ci/run). Compared with git's files when
    # this is a git checkout.
    for name in ("keras_rnnkit/py.typed", "tests/conftest.py", ".ci/run"):
        assert name in in_sdist, name
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True
    )
    if listed.returncode == 0 and listed.stdout:
        tracked = set(listed.stdout.split()) - {".gitignore"}
        assert tracked <= in_sdist, sorted(tracked - in_sdist)
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = archive.namelist()
    packaged = [n for n in in_wheel if ".dist-info/" not in n]
    assert all(n.startswith("keras_rnnkit/") for n in packaged), packaged
    assert "keras_rnnkit/py.typed" in packaged
    assert "keras_rnnkit/recipes/datasets.py" in packaged
    assert "keras_rnnkit/datasets.py" not in packaged


# -- an install without TensorFlow ------------------------------------------

_ONE_BACKEND_CHECK = """
import importlib.util, pathlib, sys, tempfile

assert importlib.util.find_spec("tensorflow") is None, "TensorFlow is installed"
import keras
import numpy as np

import keras_rnnkit
from keras_rnnkit import tf1

assert keras.backend.backend() == sys.argv[1], keras.backend.backend()
assert "site-packages" in keras_rnnkit.__file__, keras_rnnkit.__file__
assert (pathlib.Path(keras_rnnkit.__file__).parent / "py.typed").is_file()

rng = np.random.default_rng(0)
x = rng.normal(size=(16, 5, 3)).astype("float32")
y = rng.integers(0, 2, size=(16,))
inputs = keras.Input((5, 3))
h = keras_rnnkit.BidirectionalEncoder(
    keras_rnnkit.PeepholeLSTM(4, cell_clip=3.0), return_sequences=False
)(inputs)
model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(h))
model.compile("adam", "sparse_categorical_crossentropy")
model.fit(x, y, epochs=1, batch_size=8, verbose=0)
path = pathlib.Path(tempfile.mkdtemp()) / "model.keras"
model.save(path)
reloaded = keras.saving.load_model(path)
np.testing.assert_allclose(
    reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6
)

# tf1 converts weights with numpy: it needs no TensorFlow
cell = keras_rnnkit.PeepholeLSTMCell(4)
variables = {
    "kernel": rng.normal(size=(3 + 4, 16)),
    "bias": rng.normal(size=(16,)),
    "w_i_diag": rng.normal(size=(4,)),
    "w_f_diag": rng.normal(size=(4,)),
    "w_o_diag": rng.normal(size=(4,)),
}
tf1.set_lstm_weights(cell, variables)
np.testing.assert_allclose(tf1.get_lstm_weights(cell)["kernel"], variables["kernel"])
assert "tensorflow" not in sys.modules
print("ok")
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_a_one_backend_install_trains_saves_and_reloads_without_tensorflow(
    backend, built, tmp_path
):
    extra = [f"{built[1]}[{backend}]"]
    if backend == "torch":
        torch = os.environ.get("KERAS_RNNKIT_TORCH_INSTALL")
        if not torch:
            pytest.skip(
                "torch's install takes 70 s: set KERAS_RNNKIT_TORCH_INSTALL to "
                'the torch requirement to install (e.g. "torch==2.13.0")'
            )
        extra.append(torch)
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], 120)
    python = venv / "bin" / "python"
    env = _clean_env(PIP_DISABLE_PIP_VERSION_CHECK="1")
    _run([python, "-m", "pip", "install", "-q", *extra], 900, cwd=tmp_path, env=env)
    result = _run(
        [python, "-c", _ONE_BACKEND_CHECK, backend],
        300,
        cwd=tmp_path,
        env={**env, "KERAS_BACKEND": backend, "KERAS_HOME": str(tmp_path / "kh")},
    )
    assert result.stdout.strip().endswith("ok")
    # the default backend, TensorFlow, is missing: the error names its extra
    result = subprocess.run(
        [python, "-c", "import keras_rnnkit; keras_rnnkit.DynamicRNN"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**env, "KERAS_BACKEND": "tensorflow"},
    )
    assert result.returncode != 0
    assert 'pip install "keras-rnnkit[tensorflow]"' in result.stderr, result.stderr
