"""docs/extending.md on the JAX and torch backends (tests/test_docs.py runs
every page on TensorFlow): a user's own cell in every wrapper and layer, a
compiled fit (JAX jit), a .keras reload, the fast path and a TF1
checkpoint loaded into it."""

import pathlib

import keras
import pytest
from test_docs import BLOCK

PAGE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "extending.md"


@pytest.fixture(scope="module")
def page():
    if keras.backend.backend() == "tensorflow":
        pytest.skip("tests/test_docs.py runs the page on TensorFlow")
    namespace = {"__name__": "docs_extending"}
    for number, code in enumerate(BLOCK.findall(PAGE.read_text()), 1):
        exec(compile(code, f"extending.md block {number}", "exec"), namespace)
    return namespace


def test_the_page_runs(page):
    assert page["cell_protocol"].carry_states(page["CoupledLSTMCell"](2)) == (
        False,
        True,
    )


def test_the_fused_path_skips_call(page):
    import numpy as np

    counting, fast = page["CountingLSTMCell"], page["FastCountingLSTMCell"]
    x = np.ones((2, 5, 3), "float32")
    for cls in (counting, fast):
        cls.steps = 0
        page["keras_rnnkit"].DynamicRNN(cls(4))(x)
    # the kit's own loops (torch, JAX) run the fused form, not `call`
    assert counting.steps > 0 and fast.steps == 0
