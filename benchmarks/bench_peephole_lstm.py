"""Training-step and predict time of PeepholeLSTM against Keras's LSTM.

Builds every model in one process, warms them up, then alternates them for
several repeats and prints medians and ratios to `keras.layers.LSTM` (A).
Only the ratios mean anything: shared machines drift by tens of percent.

    python benchmarks/bench_peephole_lstm.py                  # TF and JAX
    python benchmarks/bench_peephole_lstm.py --backends jax --shapes small

Each backend runs in a subprocess of its own (KERAS_BACKEND is read once).
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

SHAPES = {  # batch, timesteps, features, units (notes/performance.md)
    "small": (64, 100, 32, 128),
    "large": (128, 200, 32, 256),
}


def models(units):
    import keras

    import keras_rnnkit

    return {
        "A keras LSTM": lambda: keras.layers.LSTM(units),
        "B RNN(LSTMCell)": lambda: keras.layers.RNN(keras.layers.LSTMCell(units)),
        "C PeepholeLSTM": lambda: keras_rnnkit.PeepholeLSTM(units),
        "D PeepholeLSTM num_proj": lambda: keras_rnnkit.PeepholeLSTM(
            units, num_proj=units // 2
        ),
    }


def run_backend(shape_names, repeats, jit_compile):
    import keras
    import numpy as np

    rows = []
    for shape_name in shape_names:
        batch, steps, features, units = SHAPES[shape_name]
        rng = np.random.default_rng(0)
        x = rng.normal(size=(batch, steps, features)).astype("float32")
        compiled = {}
        for name, make in models(units).items():
            layer = make()
            inputs = keras.Input((steps, features))
            model = keras.Model(inputs, layer(inputs))
            model.compile(optimizer="adam", loss="mse", jit_compile=jit_compile)
            y = rng.normal(size=(batch, model.output_shape[-1])).astype("float32")
            for _ in range(2):  # trace / compile, then one warm call
                model.train_on_batch(x, y)
                model.predict_on_batch(x)
            compiled[name] = (model, y)
        times = {name: {"train": [], "predict": []} for name in compiled}
        for _ in range(repeats):
            for name, (model, y) in compiled.items():
                start = time.perf_counter()
                model.train_on_batch(x, y)
                times[name]["train"].append(time.perf_counter() - start)
                start = time.perf_counter()
                np.asarray(model.predict_on_batch(x))
                times[name]["predict"].append(time.perf_counter() - start)
        base = {k: statistics.median(v) for k, v in times["A keras LSTM"].items()}
        for name, measured in times.items():
            train = statistics.median(measured["train"])
            predict = statistics.median(measured["predict"])
            rows.append(
                f"{shape_name:6} {keras.backend.backend():10} {name:26} "
                f"{train * 1e3:9.1f} {train / base['train']:6.2f} "
                f"{predict * 1e3:9.1f} {predict / base['predict']:6.2f}"
            )
    print("\n".join(rows), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--shapes", default="small,large")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--jit-compile",
        default="auto",
        help="'auto' (Keras's default), 'true' or 'false'",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    jit = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
    if args.worker:
        run_backend(args.shapes.split(","), args.repeats, jit)
        return
    print(
        f"repeats={args.repeats} jit_compile={args.jit_compile}; "
        "ratios are to 'A keras LSTM' on the same shape and backend"
    )
    print(
        f"{'shape':6} {'backend':10} {'model':26} {'train ms':>9} {'ratio':>6} "
        f"{'pred ms':>9} {'ratio':>6}",
        flush=True,
    )
    for backend in args.backends.split(","):
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        command = [
            sys.executable,
            __file__,
            "--worker",
            "--shapes",
            args.shapes,
            "--repeats",
            str(args.repeats),
            "--jit-compile",
            args.jit_compile,
        ]
        subprocess.run(command, env=env, check=True)


if __name__ == "__main__":
    main()
