"""Which export formats work from which backend, measured.

For four models that together hold every public layer of the kit, this
script exports each model with `model.export` to every format that Keras
offers from the current backend, loads the artifact in its own runtime, and
compares its outputs with `model.predict`:

- first with the model's own input signature (batch and time `None`): if the
  artifact gives `predict`'s outputs within 1e-5 at two batch sizes and two
  lengths, the format serves variable shapes ("variable");
- else with a fixed signature (batch 2, 7 steps) checked at that shape
  ("fixed"), with the cause of the variable-shape failure;
- else the cause of the failure ("fails").

Run it once per backend, each in its own process:

    for b in tensorflow jax torch; do
        KERAS_BACKEND=$b python benchmarks/export_matrix.py
    done

Options: `--models`, `--formats` (subsets), `--markdown` (a table row per
result, as docs/deploy.md shows). tests/test_export.py imports the models
and helpers from here.
"""

import argparse
import os
import re
import sys
import tempfile
import time
import traceback
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_rnnkit  # noqa: E402

TOLERANCE = 1e-5
FIXED = (2, 7)  # batch, steps of a fixed-shape export
VARIABLE = ((3, 5), (5, 11))  # two (batch, steps) checks of a variable export
VOCABULARY = 20

# The formats Keras 3.15 offers from each backend (`model.export`):
# LiteRT needs TensorFlow or torch (on torch with the `litert-torch` package),
# `torch` (a torch.export program) the torch backend.
FORMATS = {
    "tensorflow": ("tf_saved_model", "onnx", "litert", "openvino"),
    "jax": ("tf_saved_model", "onnx", "openvino"),
    "torch": ("tf_saved_model", "onnx", "litert", "openvino", "torch"),
}
SUFFIX = {
    "tf_saved_model": "",
    "onnx": ".onnx",
    "litert": ".tflite",
    "openvino": ".xml",
    "torch": ".pt2",
}


# -- the models ---------------------------------------------------------------


def peephole_classifier(static=False):
    """PeepholeLSTM (PeepholeLSTMCell inside) over float sequences."""
    inputs = keras.Input((None, 4), name="x")
    hidden = keras_rnnkit.PeepholeLSTM(8, seed=1)(inputs)
    outputs = keras.layers.Dense(3, kernel_initializer=_init(2))(hidden)
    return keras.Model(inputs, outputs, name="peephole")


def lengths_tagger(static=False):
    """DynamicRNN with a `lengths` input; every cell wrapper; AttentionPooling.

    Cells: OutputProjectionWrapper(MultiRNNCell([PeepholeLSTMCell,
    ResidualWrapper(PeepholeLSTMCell)])). The lengths mask the RNN
    (`sequence_length=`) and the pooling (`sequence_length=` too).
    """
    x = keras.Input((None, 4), name="x")
    lengths = keras.Input((), dtype="int32", name="lengths")
    cell = keras_rnnkit.OutputProjectionWrapper(
        keras_rnnkit.MultiRNNCell(
            [
                keras_rnnkit.PeepholeLSTMCell(6, seed=3),
                keras_rnnkit.ResidualWrapper(keras_rnnkit.PeepholeLSTMCell(6, seed=4)),
            ]
        ),
        5,
        kernel_initializer=_init(5),
    )
    steps = keras_rnnkit.DynamicRNN(cell, return_sequences=True)(
        x, sequence_length=lengths
    )
    pooled = keras_rnnkit.AttentionPooling(4)(steps, sequence_length=lengths)
    outputs = keras.layers.Dense(2, kernel_initializer=_init(6))(pooled)
    return keras.Model([x, lengths], outputs, name="lengths")


def masked_bidirectional(static=False):
    """Embedding(mask_zero) + BidirectionalEncoder(MultiRNNCell(DropoutWrapper))."""
    ids = keras.Input((None,), dtype="int32", name="ids")
    embedded = keras.layers.Embedding(
        VOCABULARY, 4, mask_zero=True, embeddings_initializer=_init(7)
    )(ids)
    cells = [
        keras_rnnkit.DropoutWrapper(
            keras_rnnkit.PeepholeLSTMCell(6, seed=8 + i),
            input_keep_prob=0.8,
            output_keep_prob=0.8,
            seed=10 + i,
        )
        for i in range(2)
    ]
    encoded = keras_rnnkit.BidirectionalEncoder(
        keras_rnnkit.MultiRNNCell(cells), return_sequences=False
    )(embedded)
    outputs = keras.layers.Dense(3, kernel_initializer=_init(12))(encoded)
    return keras.Model(ids, outputs, name="bidirectional")


def hierarchical(static=False):
    """Embedding(mask_zero) + HierarchicalEncoder, attention at both levels
    (with `static`, every sentence slot is encoded: static shapes)."""
    ids = keras.Input((None, None), dtype="int32", name="ids")
    embedded = keras.layers.Embedding(
        VOCABULARY, 4, mask_zero=True, embeddings_initializer=_init(13)
    )(ids)
    documents = keras_rnnkit.HierarchicalEncoder(
        keras_rnnkit.BidirectionalEncoder(keras_rnnkit.PeepholeLSTMCell(4, seed=14)),
        keras_rnnkit.DynamicRNN(
            keras_rnnkit.PeepholeLSTMCell(5, seed=15), return_sequences=True
        ),
        # static shapes: the fixed-shape exports (LiteRT) need them
        skip_padded_sentences=not static,
    )(embedded)
    outputs = keras.layers.Dense(2, kernel_initializer=_init(16))(documents)
    return keras.Model(ids, outputs, name="hierarchical")


MODELS = {
    "peephole": peephole_classifier,
    "lengths": lengths_tagger,
    "bidirectional": masked_bidirectional,
    "hierarchical": hierarchical,
}


def _init(seed):
    return keras.initializers.GlorotUniform(seed=seed)


def inputs_for(name, batch, steps, seed=0):
    """Numpy inputs of model `name`: `batch` rows, `steps` steps (or words).

    Rows have random valid lengths (one row with none where the model
    allows it); padding is zero.
    """
    rng = np.random.default_rng(seed)
    if name == "peephole":
        return rng.normal(size=(batch, steps, 4)).astype("float32")
    lengths = rng.integers(1, steps + 1, size=batch).astype("int32")
    lengths[0] = steps
    if name == "lengths":
        lengths[-1] = 0
        x = rng.normal(size=(batch, steps, 4)).astype("float32")
        return [x, lengths]
    if name == "bidirectional":
        ids = rng.integers(1, VOCABULARY, size=(batch, steps))
        ids[np.arange(steps) >= lengths[:, None]] = 0
        return ids.astype("int32")
    # hierarchical: `steps` words, 3 sentences, the last one padded in row 0
    ids = rng.integers(1, VOCABULARY, size=(batch, 3, steps))
    words = rng.integers(1, steps + 1, size=(batch, 3))
    ids[np.arange(steps) >= words[..., None]] = 0
    ids[0, 2] = 0
    return ids.astype("int32")


def fixed_signature(model, name, batch, steps):
    """The input signature of model `name` with every axis fixed to the
    shapes of `inputs_for(name, batch, steps)`."""
    arrays = _flat(inputs_for(name, batch, steps))
    specs = [
        keras.InputSpec(shape=array.shape, dtype=tensor.dtype, name=tensor.name)
        for array, tensor in zip(arrays, model.inputs, strict=True)
    ]
    return [specs] if len(specs) > 1 else specs


# -- exporting and running ----------------------------------------------------


def export(model, fmt, path, input_signature=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.export(path, format=fmt, verbose=False, input_signature=input_signature)


def _flat(inputs):
    return list(inputs) if isinstance(inputs, list) else [inputs]


def _names(model):
    return [t.name for t in model.inputs]


def run_artifact(fmt, path, model, inputs):
    """The exported artifact's output for `inputs` (numpy)."""
    flat = _flat(inputs)
    if fmt == "tf_saved_model":
        import tensorflow as tf

        loaded = tf.saved_model.load(path)  # keep it: serve uses its variables
        return np.asarray(loaded.serve(flat if len(flat) > 1 else flat[0]))
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        feed = {i.name: a for i, a in zip(session.get_inputs(), flat, strict=True)}
        return session.run(None, feed)[0]
    if fmt == "litert":
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=path)
        details = interpreter.get_input_details()
        by_name = dict(zip(_names(model), flat, strict=True))
        ordered = []
        for detail in details:
            match = [n for n in by_name if n in detail["name"]]
            ordered.append(by_name[match[0]] if len(match) == 1 else None)
        if any(a is None for a in ordered):  # names not found: input order
            ordered = flat
        for detail, array in zip(details, ordered, strict=True):
            if tuple(detail["shape"]) != array.shape:
                interpreter.resize_tensor_input(detail["index"], array.shape)
        interpreter.allocate_tensors()
        for detail, array in zip(details, ordered, strict=True):
            interpreter.set_tensor(detail["index"], array)
        interpreter.invoke()
        output = interpreter.get_output_details()[0]
        return interpreter.get_tensor(output["index"])
    if fmt == "openvino":
        import openvino

        # float32 arithmetic: on CPUs with bf16 units (AMX, AVX512-BF16)
        # OpenVINO computes in bfloat16 unless asked not to (1e-3 errors).
        compiled = openvino.Core().compile_model(
            path, "CPU", {"INFERENCE_PRECISION_HINT": "f32"}
        )
        return np.asarray(compiled(flat)[0])
    if fmt == "torch":
        import torch

        program = torch.export.load(path).module()
        with torch.no_grad():
            tensors = [torch.from_numpy(a) for a in flat]
            # a model of several inputs takes them as one list, as Keras does
            out = program(tensors if len(tensors) > 1 else tensors[0])
        return out.detach().cpu().numpy()
    raise ValueError(fmt)


def difference(fmt, path, model, inputs):
    """Max abs difference between the artifact and `model.predict`."""
    expected = model.predict(inputs, verbose=0, batch_size=len(_flat(inputs)[0]))
    got = run_artifact(fmt, path, model, inputs)
    if got.shape != expected.shape:
        raise ValueError(f"output shape {got.shape}, predict {expected.shape}")
    return float(np.max(np.abs(got - expected)))


def _cause(error):
    """One line: the exception's type and its most telling line."""
    flex = re.search(r"\((Flex\w+)\) failed to prepare", str(error))
    if flex:  # converted to a Select TF op, which the LiteRT runtime lacks
        return f"needs the Select TF op {flex.group(1)} (not in the LiteRT runtime)"
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    keys = ("no conversion rule", "not supported", "unsupported", "error", "failed")
    telling = [line for k in keys for line in lines if k in line.lower()]
    line = (telling or lines or [""])[0]
    return f"{type(error).__name__}: {line[:160]}"


def measure(name, fmt, directory):
    """One cell of the matrix: a dict with shapes, diff, seconds, cause."""
    keras.utils.set_random_seed(0)
    model = MODELS[name]()
    # ONNX export without an input signature needs a model called once.
    model(inputs_for(name, *FIXED))
    path = os.path.join(directory, f"{name}_{fmt}{SUFFIX[fmt]}")
    start = time.perf_counter()
    cause = None
    try:
        export(model, fmt, path)
        diffs = [difference(fmt, path, model, inputs_for(name, *s)) for s in VARIABLE]
        diff = max(diffs)
        if diff > TOLERANCE:
            raise AssertionError(f"differs from predict by {diff:.1e}")
        shapes = "variable"
    except Exception as e:  # the fixed-shape export is the fallback
        cause = _cause(e)
        fixed = os.path.join(directory, f"{name}_{fmt}_fixed{SUFFIX[fmt]}")
        keras.utils.set_random_seed(0)
        model = MODELS[name](static=True)
        model(inputs_for(name, *FIXED))
        try:
            export(model, fmt, fixed, fixed_signature(model, name, *FIXED))
            diff = difference(fmt, fixed, model, inputs_for(name, *FIXED))
            shapes = "fixed" if diff <= TOLERANCE else "wrong"
        except Exception as e2:
            shapes, diff = "fails", None
            cause = _cause(e2)
            if os.environ.get("EXPORT_MATRIX_TRACEBACK"):
                traceback.print_exc()
    return dict(
        model=name,
        format=fmt,
        shapes=shapes,
        diff=diff,
        seconds=time.perf_counter() - start,
        cause=cause,
    )


def main(argv=None):
    backend = keras.backend.backend()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--formats", nargs="+", default=list(FORMATS[backend]))
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        for fmt in args.formats:
            for name in args.models:
                r = measure(name, fmt, directory)
                diff = "-" if r["diff"] is None else f"{r['diff']:.1e}"
                cause = r["cause"] or ""
                if args.markdown:
                    cells = [backend, fmt, name, r["shapes"], diff, cause]
                    print("| " + " | ".join(cells) + " |", flush=True)
                else:
                    print(
                        f"{backend:10} {fmt:14} {name:13} {r['shapes']:8} "
                        f"{diff:8} {r['seconds']:5.1f}s {cause}",
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
