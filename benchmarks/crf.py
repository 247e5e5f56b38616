"""CRF speed: log-likelihood with its gradient, and Viterbi decoding.

Times, per backend, on the same random potentials and tags:

- `kit ll+grad`: `keras_rnnkit.crf.crf_log_likelihood` (a transition
  matrix, no start/end scores) and its gradient with respect to the
  potentials and the transitions;
- `kit layer ll+grad`: what a training step of `keras_rnnkit.CRF` computes
  beyond the network under it: the layer's call (which decodes, for the
  output tags) and `CRFLoss`, with start/end scores, and the gradient;
- `kit decode`: `keras_rnnkit.crf.crf_decode`;
- on torch, pytorch-crf's `CRF` (start/end scores, `forward` = summed
  log-likelihood, `decode`), the baseline of the torch rows;
- with `--tfa-python PATH` (an interpreter that has tensorflow-addons, e.g.
  the oracle environment of tests/fixtures/make_tfa_crf.py), tfa's
  `crf_log_likelihood` + gradient and `crf_decode` in a `tf.function`, the
  baseline of the TensorFlow rows. That interpreter runs in its own
  processes, alternated with the kit's TensorFlow process.

The kit runs as Keras runs it: compiled (`tf.function`; `jax.jit`) on
TensorFlow and JAX, eagerly on torch. Medians over `--repeats` calls
after two warm-up calls; only the ratios mean anything on a shared
machine.

    python benchmarks/crf.py                               # every backend
    python benchmarks/crf.py --backends torch --shapes ner
    python benchmarks/crf.py --tfa-python /tmp/tfa/bin/python --backends tensorflow
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

SHAPES = {  # batch, time, num_tags
    "ner": (64, 50, 9),  # CoNLL-like: BIO over 4 entity types
    "pos": (64, 40, 44),  # the pos-tagging recipe's 44 PKU tags
    "long": (32, 200, 9),
    "tiny": (2, 3, 4),  # a smoke run for the tests, not a measurement
}


def problem(shape):
    import numpy as np

    batch, time_, num_tags = shape
    rng = np.random.default_rng(0)
    potentials = rng.normal(size=shape).astype("float32")
    tags = rng.integers(0, num_tags, (batch, time_)).astype("int32")
    lengths = rng.integers(time_ // 2, time_ + 1, batch).astype("int32")
    lengths[0] = time_
    transitions = (0.1 * rng.normal(size=(num_tags, num_tags))).astype("float32")
    mask = np.arange(time_)[None, :] < lengths[:, None]
    return potentials, tags, lengths, transitions, mask


def kit_functions(shape):
    """{name: callable} timing the kit on the current Keras backend."""
    import keras

    import keras_rnnkit
    from keras_rnnkit import crf

    backend = keras.backend.backend()
    potentials, tags, lengths, transitions, mask = problem(shape)
    layer = keras_rnnkit.CRF(shape[2])
    layer.build((None, None, shape[2]))
    loss = keras_rnnkit.CRFLoss(reduction="sum")

    def log_likelihood(x, t):
        return keras.ops.sum(crf.crf_log_likelihood(x, tags, lengths, t)[0])

    def layer_loss(x):
        return loss(tags, layer(x, mask=mask))

    def decode(x, t):
        return crf.crf_decode(x, t, lengths)

    if backend == "jax":
        import jax

        grad = jax.jit(jax.grad(log_likelihood, argnums=(0, 1)))
        layer_grad = jax.jit(jax.grad(layer_loss))
        decoded = jax.jit(decode)
        return {
            "kit ll+grad": lambda: jax.block_until_ready(grad(potentials, transitions)),
            "kit layer ll+grad": lambda: jax.block_until_ready(layer_grad(potentials)),
            "kit decode": lambda: jax.block_until_ready(
                decoded(potentials, transitions)
            ),
        }
    if backend == "tensorflow":
        import tensorflow as tf

        x, t = tf.constant(potentials), tf.Variable(transitions)

        @tf.function
        def grad():
            with tf.GradientTape() as tape:
                tape.watch(x)
                value = log_likelihood(x, t)
            return tape.gradient(value, [x, t])

        @tf.function
        def layer_grad():
            with tf.GradientTape() as tape:
                tape.watch(x)
                value = layer_loss(x)
            return tape.gradient(value, x)

        decoded = tf.function(decode)
        return {
            "kit ll+grad": lambda: [g.numpy() for g in grad()],
            "kit layer ll+grad": lambda: layer_grad().numpy(),
            "kit decode": lambda: [d.numpy() for d in decoded(x, t)],
        }
    import torch

    x = torch.tensor(potentials, requires_grad=True)
    t = torch.tensor(transitions, requires_grad=True)

    def grad():
        x.grad = t.grad = None
        log_likelihood(x, t).backward()

    def layer_grad():
        x.grad = None
        layer_loss(x).backward()

    def decoded():
        with torch.no_grad():
            return decode(x, t)

    return {
        "kit ll+grad": grad,
        "kit layer ll+grad": layer_grad,
        "kit decode": decoded,
    }


def pytorch_crf_functions(shape):
    import torch
    import torchcrf

    potentials, tags, lengths, transitions, mask = problem(shape)
    model = torchcrf.CRF(shape[2], batch_first=True)
    x = torch.tensor(potentials, requires_grad=True)
    y, m = torch.tensor(tags, dtype=torch.long), torch.tensor(mask)

    def grad():
        x.grad = None
        model.zero_grad()
        model(x, y, m, reduction="sum").backward()

    def decode():
        with torch.no_grad():
            return model.decode(x, m)

    return {"pytorch-crf ll+grad": grad, "pytorch-crf decode": decode}


def tfa_functions(shape):
    import tensorflow as tf
    import tensorflow_addons as tfa

    potentials, tags, lengths, transitions, _ = problem(shape)
    x, t = tf.constant(potentials), tf.Variable(transitions)

    @tf.function
    def grad():
        with tf.GradientTape() as tape:
            tape.watch(x)
            ll, _ = tfa.text.crf_log_likelihood(x, tags, lengths, t)
            value = tf.reduce_sum(ll)
        return tape.gradient(value, [x, t])

    @tf.function
    def decode():
        return tfa.text.crf_decode(x, t, lengths)

    return {
        "tfa ll+grad": lambda: [g.numpy() for g in grad()],
        "tfa decode": lambda: [d.numpy() for d in decode()],
    }


def worker(kind, shape_names, repeats, torch_threads):
    """Prints `shape<TAB>name<TAB>milliseconds` lines."""
    if kind == "torch" and torch_threads:
        import torch

        torch.set_num_threads(torch_threads)
    for name in shape_names:
        shape = SHAPES[name]
        if kind == "tfa":
            functions = tfa_functions(shape)
        else:
            functions = kit_functions(shape)
            if kind == "torch" and _has("torchcrf"):
                functions.update(pytorch_crf_functions(shape))
        # alternate the functions, `repeats` rounds of one call each
        measured = {label: [] for label in functions}
        for function in functions.values():  # warm up (and compile)
            function()
            function()
        for _ in range(repeats):
            for label, function in functions.items():
                start = time.perf_counter()
                function()
                measured[label].append(time.perf_counter() - start)
        for label, values in measured.items():
            print(f"{name}\t{label}\t{1e3 * statistics.median(values):.3f}", flush=True)


def _has(module):
    import importlib.util

    return importlib.util.find_spec(module) is not None


def run_worker(python, kind, shapes, repeats, torch_threads):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if kind != "tfa":
        env["KERAS_BACKEND"] = kind
    command = [python, __file__, "--worker", kind, "--shapes", shapes]
    result = subprocess.run(
        command + ["--repeats", str(repeats), "--torch-threads", str(torch_threads)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{kind} worker failed:\n{result.stderr[-3000:]}")
    rows = {}
    for line in result.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            rows[(parts[0], parts[1])] = float(parts[2])
    return rows


BASELINES = {  # row label -> the label it is compared with
    "kit ll+grad": {"torch": "pytorch-crf ll+grad", "tensorflow": "tfa ll+grad"},
    "kit layer ll+grad": {"torch": "pytorch-crf ll+grad", "tensorflow": "tfa ll+grad"},
    "kit decode": {"torch": "pytorch-crf decode", "tensorflow": "tfa decode"},
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--shapes", default="ner,pos,long")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="worker processes per backend, alternated (medians of medians)",
    )
    parser.add_argument("--tfa-python", default=None, metavar="PATH")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="torch.set_num_threads in the torch process, for the kit and "
        "pytorch-crf alike (default 1: these small per-step operations run "
        "no faster on more threads, and threads that wait on a shared "
        "machine make the times erratic; 0 leaves torch's default)",
    )
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.shapes.split(","), args.repeats, args.torch_threads)
        return
    kinds = args.backends.split(",")
    if args.tfa_python and "tensorflow" in kinds:
        kinds.append("tfa")
    measured = {kind: [] for kind in kinds}
    for _ in range(args.rounds):
        for kind in kinds:
            python = args.tfa_python if kind == "tfa" else sys.executable
            measured[kind].append(
                run_worker(python, kind, args.shapes, args.repeats, args.torch_threads)
            )
    times = {}
    for kind, runs in measured.items():
        for key in runs[0]:
            times[(kind, *key)] = statistics.median(run[key] for run in runs)
    print(
        f"repeats={args.repeats} rounds={args.rounds} "
        f"torch_threads={args.torch_threads}; medians in ms; ratio = "
        "this row / the baseline named in the last column (lower is faster)"
    )
    print(f"{'shape':6} {'backend':10} {'what':22} {'ms':>9} {'ratio':>6}  baseline")
    for (kind, shape, label), ms in times.items():
        backend = "tensorflow" if kind == "tfa" else kind
        baseline = BASELINES.get(label, {}).get(kind)
        source = "tfa" if backend == "tensorflow" else kind
        base = times.get((source, shape, baseline))
        ratio = f"{ms / base:6.2f}" if base else f"{'':6}"
        print(
            f"{shape:6} {backend:10} {label:22} {ms:9.2f} {ratio}  "
            f"{baseline if base else ''}"
        )


if __name__ == "__main__":
    main()
