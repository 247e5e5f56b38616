"""Shared test set-up: hypothesis profiles, seeds, backend markers, oracle."""

import contextlib
import importlib.util
import os
import pathlib
import re
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# The scripts that write the oracle fixtures run in the oracle environment
# (tensorflow-addons, TF < 2.16), never under pytest: --doctest-modules
# would import them.
collect_ignore_glob = ["fixtures/make_*.py"]

# TensorFlow's C++ code logs a few info lines when it loads, before its
# logging starts, so TF_CPP_MIN_LOG_LEVEL does not reach them ("WARNING: All
# log messages before absl::InitializeLog() ...", "I0000 ... cudart_stub.cc:31]
# Could not find cuda drivers ..."). Keras imports TensorFlow on its
# TensorFlow backend, and `keras.utils.set_random_seed` (every test, below)
# on every backend when it is installed: pytest-xdist's controller printed
# the lines at the end of the run, and its workers at the start of a JAX or
# torch run. Every process loads this file first (the controller and each
# worker), so both are imported here with those lines filtered out of file
# descriptor 2; anything else written there comes through. The pattern is
# keras_rnnkit.recipes._STARTUP_INFO (importing keras_rnnkit here would
# import Keras first; tests/test_readme_and_ci.py checks they agree).
STARTUP_INFO = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|I\d{4} [\d:.]+ +\d+ \S+:\d+\] "
)


@contextlib.contextmanager
def _startup_info_filtered():
    if os.environ["TF_CPP_MIN_LOG_LEVEL"] != "3":  # asked for the logs
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", errors="replace")
            sys.stderr.writelines(
                line
                for line in text.splitlines(keepends=True)
                if not STARTUP_INFO.match(line)
            )
            sys.stderr.flush()


with _startup_info_filtered():
    if importlib.util.find_spec("tensorflow") is not None:
        import tensorflow  # noqa: F401
    import keras

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

# "ci" is derandomized so that a red CI run can be replayed exactly ("ci-jax",
# for the JAX and torch runs, draws 3: every new shape compiles JAX's loop
# again, and the same properties get 12 examples on TensorFlow); "dev"
# explores new examples on every run. Select with HYPOTHESIS_PROFILE.
# differing_executors: pytest makes one instance of a contract class per
# parametrized case; the tests keep no state on it.
_COMMON = dict(
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.differing_executors,
    ],
)
settings.register_profile("ci", max_examples=12, derandomize=True, **_COMMON)
settings.register_profile("ci-jax", max_examples=3, derandomize=True, **_COMMON)
settings.register_profile("dev", max_examples=25, **_COMMON)
settings.register_profile("thorough", max_examples=200, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tf1_oracle" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.oracle)
        module = pathlib.Path(str(item.fspath)).name
        if module.startswith(("test_recipes", "test_datasets")):
            item.add_marker(pytest.mark.recipes)
    if keras.backend.backend() == "tensorflow":
        return
    skip = pytest.mark.skip(
        reason=f"needs the TensorFlow backend, running {keras.backend.backend()}"
    )
    for item in items:
        if "tf_only" in item.keywords:
            item.add_marker(skip)


def pytest_generate_tests(metafunc):
    # Contract test classes list their layer cases in `cases`.
    if "case" in metafunc.fixturenames and metafunc.cls is not None:
        cases = metafunc.cls.cases
        metafunc.parametrize("case", cases, ids=[c.id for c in cases])


@pytest.fixture(autouse=True)
def _torch_outputs_as_arrays(request, monkeypatch):
    """On torch, eager layer outputs carry autograd history, and numpy
    refuses them (`np.testing.assert_allclose(layer(x), ...)`); the tests
    compare values, so they read them detached. Doctests are left alone:
    the docs' examples must work as written on every backend."""
    if keras.backend.backend() != "torch" or isinstance(
        request.node, pytest.DoctestItem
    ):
        return
    import torch

    to_array = torch.Tensor.__array__

    def detached(self, *args, **kwargs):
        return to_array(self.detach(), *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "__array__", detached)


@pytest.fixture(autouse=True)
def _seed_and_clear():
    keras.utils.set_random_seed(1234)
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture(scope="session")
def kernels():
    """keras_rnnkit's compiled torch LSTM loop (built once; torch backend),
    or a skip that says why not."""
    from unittest import mock

    from keras_rnnkit import _torch_kernels

    with mock.patch.dict(os.environ, {_torch_kernels.VARIABLE: "1"}):
        module = _torch_kernels.load()
    if module is None:
        pytest.skip(f"the torch kernels did not build: {_torch_kernels.failure()}")
    return module


@pytest.fixture(scope="session")
def tf1_oracle():
    """The TF1 reference implementations (tests/tf1_oracle.py)."""
    if importlib.util.find_spec("tf_keras") is None:
        pytest.skip("TF1 oracle needs tf-keras: pip install -e '.[test]'")
    from tf1_oracle import Oracle

    oracle = Oracle()
    yield oracle
    oracle.close()


@pytest.fixture(scope="session")
def fresh_process():
    """A process that imported only keras and keras_rnnkit, for reloading
    `.keras` files (tests/reload_server.py); one for the whole session."""
    from child_process import ChildProcess

    child = ChildProcess(str(pathlib.Path(__file__).with_name("reload_server.py")))
    yield child
    child.close()
