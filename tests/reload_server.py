"""Reloads `.keras` files in a process that imported only keras_rnnkit.

Started once per test session by the `fresh_process` fixture; each request
loads one model with `safe_mode=True` and no `custom_objects` and compares
its predictions with the ones saved beside it.
"""

import sys

import keras
import numpy as np
from child_process import serve

import keras_rnnkit  # noqa: F401 - registers the classes, nothing else


def reload_and_predict(request):
    model = keras.saving.load_model(request["model"], safe_mode=True)
    data = np.load(request["data"])
    got = [
        np.asarray(g) for g in keras.tree.flatten(model.predict(data["x"], verbose=0))
    ]
    want = [data[f"y{i}"] for i in range(len(data.files) - 1)]
    if len(got) != len(want):
        raise AssertionError(f"{len(got)} outputs after reload, {len(want)} before")
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    # Proof that nothing but keras_rnnkit defined the classes: no test
    # module was ever imported here.
    tests = sorted(
        m for m in sys.modules if m.startswith(("test_", "contract", "helpers"))
    )
    return {"class": type(model.layers[1]).__name__, "test_modules": tests}


if __name__ == "__main__":
    serve({"reload_and_predict": reload_and_predict})
