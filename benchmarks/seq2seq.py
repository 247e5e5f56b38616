"""Attention decoders: a teacher-forced training step, and decoding speed.

Times, per backend, on one fixed random "encoder output" (the memory) and
its final state `[h, c]`:

- training (`model.train_on_batch`, compiled as Keras compiles by default):
  `train, no attention` is an Embedding, `keras.layers.LSTM` started from
  the encoder's state, and a Dense over the vocabulary; `train, DynamicRNN`
  is the same with `DynamicRNN(LSTMCell)` (the kit's loop, no attention);
  `train, luong` and `train, bahdanau` put the same LSTM cell in a
  `seq2seq.AttentionWrapper` (`attention_layer_size=units`) run by
  `WithMemory(DynamicRNN(...))`. Ratio: milliseconds over the
  no-attention model's (lower is faster);
- decoding, with Luong attention, the same cell, embedding and projection
  in every row, as many steps as the shape's target length for every
  sequence (the end token's logit is pushed down, so none stops early):
  `kit greedy` (`BasicDecoder` + `GreedyEmbeddingSampler`) and `kit beam
  5` (`BeamSearchDecoder`, `length_penalty_weight=0`), against keras-hub's
  `GreedySampler` and `BeamSampler(num_beams=5)` driving the same cell one
  step at a time (its `next(prompt, cache, index)` runs the cell on the
  previous token's embedding; the cell's state is the cache). keras-hub's
  beam search has no length penalty and keeps extending finished beams,
  hence the kit's penalty 0. Tokens = batch * steps; ratio: the kit's
  tokens/s over keras-hub's (higher is faster). Both give the same ids
  (checked once per run, after the timings). Without keras-hub its rows
  say "skipped". keras-hub 0.32 requires tensorflow-text, which pins
  TensorFlow; its samplers need neither, so install it without its
  dependencies, plus the two it imports: `pip install --no-deps
  keras-hub==0.32.0 regex tokenizers`.

Decoding is compiled as Keras compiles `predict` by default: `jax.jit` on
JAX, `tf.function` without XLA on TensorFlow (Keras turns XLA off on a
CPU-only machine), eager on torch; the memory and the encoder's state are
arguments of the compiled function. Medians over `--repeats` calls after
two warm-up calls, the functions alternated; only the ratios mean
anything on a shared machine.

    python benchmarks/seq2seq.py                           # every backend
    python benchmarks/seq2seq.py --backends jax --shapes small --repeats 5
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

SHAPES = {  # batch, source length, target length (= decoding steps), vocab, units
    "small": (64, 20, 20, 50, 128),
    "tiny": (2, 3, 3, 5, 4),  # a smoke run for the tests, not a measurement
}
BEAM = 5
END = 0  # the end token, never emitted (its logit is pushed down)
START = 1
TRAIN_ROWS = (
    "train, no attention",
    "train, DynamicRNN",
    "train, luong",
    "train, bahdanau",
)
DECODE_ROWS = {  # kit row -> keras-hub row
    "kit greedy": "keras-hub greedy",
    f"kit beam {BEAM}": f"keras-hub beam {BEAM}",
}


def problem(shape):
    import numpy as np

    batch, source, target, vocab, units = shape
    rng = np.random.default_rng(0)
    memory = rng.normal(size=(batch, source, units)).astype("float32")
    h, c = rng.normal(size=(2, batch, units)).astype("float32")
    tokens = rng.integers(1, vocab, (batch, target + 1)).astype("int32")
    return memory, h, c, tokens[:, :-1], tokens[:, 1:]


def decoder_layers(shape, mechanism="luong"):
    import keras

    from keras_rnnkit import seq2seq

    _, source, _, vocab, units = shape
    if mechanism == "luong":
        attention = seq2seq.LuongAttention(units, scale=True)
    else:
        attention = seq2seq.BahdanauAttention(units, normalize=True)
    cell = seq2seq.AttentionWrapper(
        keras.layers.LSTMCell(units), attention, attention_layer_size=units
    )
    embedding = keras.layers.Embedding(vocab, units)
    projection = keras.layers.Dense(vocab)
    return cell, embedding, projection


def train_functions(shape):
    import keras

    import keras_rnnkit
    from keras_rnnkit import seq2seq

    keras.utils.set_random_seed(0)
    batch, source, target, vocab, units = shape
    memory, h, c, target_in, target_out = problem(shape)
    memory_in = keras.Input((source, units), name="memory")
    h_in, c_in = keras.Input((units,), name="h"), keras.Input((units,), name="c")
    tokens_in = keras.Input((target,), dtype="int32", name="target_in")

    def compiled(inputs, logits):
        model = keras.Model(inputs, logits)
        model.compile(
            "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        )
        return model

    embedded = keras.layers.Embedding(vocab, units)(tokens_in)
    plain = keras.layers.LSTM(units, return_sequences=True)(
        embedded, initial_state=[h_in, c_in]
    )
    models = {
        "train, no attention": (
            compiled([h_in, c_in, tokens_in], keras.layers.Dense(vocab)(plain)),
            [h, c, target_in],
        )
    }
    looped = keras_rnnkit.DynamicRNN(
        keras.layers.LSTMCell(units), return_sequences=True
    )(keras.layers.Embedding(vocab, units)(tokens_in), initial_state=[h_in, c_in])
    models["train, DynamicRNN"] = (
        compiled([h_in, c_in, tokens_in], keras.layers.Dense(vocab)(looped)),
        [h, c, target_in],
    )
    for mechanism in ("luong", "bahdanau"):
        cell, embedding, projection = decoder_layers(shape, mechanism)
        decoder = seq2seq.WithMemory(
            keras_rnnkit.DynamicRNN(cell, return_sequences=True)
        )
        decoded = decoder(
            embedding(tokens_in), memory_in, initial_cell_state=[h_in, c_in]
        )
        models[f"train, {mechanism}"] = (
            compiled([memory_in, h_in, c_in, tokens_in], projection(decoded)),
            [memory, h, c, target_in],
        )
    return {
        label: (lambda m=model, x=inputs: m.train_on_batch(x, target_out))
        for label, (model, inputs) in models.items()
    }


def decode_functions(shape, with_hub):
    """{label: callable}: the kit's decoders and, with `with_hub`,
    keras-hub's samplers, on the same cell, embedding and projection."""
    import keras
    import numpy as np
    from keras import ops

    from keras_rnnkit import seq2seq

    keras.utils.set_random_seed(0)
    batch, source, steps, vocab, units = shape
    memory, h, c, _, _ = problem(shape)
    cell, embedding, projection = decoder_layers(shape)
    cell.attention_mechanisms[0].build((None, units), (None, source, units))
    cell.build((None, units))
    embedding.build((None,))
    projection.build((None, units))
    bias = ops.convert_to_numpy(projection.bias).copy()
    bias[END] = -1e4  # every row runs every step, as keras-hub's do
    projection.bias.assign(bias)
    start = np.full(batch, START, "int32")
    greedy = seq2seq.BasicDecoder(
        cell,
        seq2seq.GreedyEmbeddingSampler(embedding_fn=embedding),
        output_layer=projection,
        maximum_iterations=steps,
    )
    beam = seq2seq.BeamSearchDecoder(
        cell,
        beam_width=BEAM,
        embedding_fn=embedding,
        output_layer=projection,
        length_penalty_weight=0.0,
        end_token=END,
        maximum_iterations=steps,
    )

    def initial_state(h, c):
        state = cell.get_initial_state(batch_size=batch)
        return [h, c] + list(state[2:])  # the encoder's state, zero attention

    def kit_greedy(memory, h, c):
        with cell.bind_memory(memory):
            outputs, _, _ = greedy(
                None,
                start_tokens=start,
                end_token=END,
                initial_state=initial_state(h, c),
            )
        return outputs.sample_id

    def kit_beam(memory, h, c):
        with cell.bind_memory(seq2seq.tile_batch(memory, BEAM)):
            outputs, _, _ = beam(
                None, start_tokens=start, initial_state=initial_state(h, c)
            )
        return outputs.predicted_ids[:, :, 0]

    functions = {"kit greedy": kit_greedy, f"kit beam {BEAM}": kit_beam}
    if with_hub:
        import keras_hub

        def next_token(prompt, cache, index):
            token = ops.take(prompt, index - 1, axis=1)
            output, state = cell(embedding(token), list(cache))
            return projection(output), None, tuple(state)

        prompt = np.zeros((batch, steps + 1), "int32")
        prompt[:, 0] = START

        def hub(sampler, width):
            def run(memory, h, c):
                tiled = seq2seq.tile_batch(memory, width) if width > 1 else memory
                with cell.bind_memory(tiled):
                    cache = tuple(initial_state(h, c))
                    return sampler(next_token, prompt, cache=cache, index=1)

            return run

        functions["keras-hub greedy"] = hub(keras_hub.samplers.GreedySampler(), 1)
        functions[f"keras-hub beam {BEAM}"] = hub(
            keras_hub.samplers.BeamSampler(num_beams=BEAM), BEAM
        )
    return {
        label: _compiled(function, memory, h, c)
        for label, function in functions.items()
    }


def _compiled(function, *arguments):
    """A no-argument callable running `function(*arguments)` compiled."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        jitted = jax.jit(function)
        return lambda: jax.block_until_ready(jitted(*arguments))
    if backend == "tensorflow":
        import tensorflow as tf

        graph = tf.function(function)
        tensors = [tf.constant(x) for x in arguments]
        return lambda: graph(*tensors).numpy()
    import torch

    tensors = [torch.tensor(x) for x in arguments]

    def eager():
        with torch.no_grad():
            return function(*tensors)

    return eager


def _has(module):
    import importlib.util

    return importlib.util.find_spec(module) is not None


def worker(shape_names, repeats, torch_threads):
    """Prints `shape<TAB>name<TAB>milliseconds` lines (and `skipped`)."""
    import keras

    if keras.backend.backend() == "torch" and torch_threads:
        import torch

        torch.set_num_threads(torch_threads)
    with_hub = _has("keras_hub")
    for name in shape_names:
        shape = SHAPES[name]
        functions = train_functions(shape)
        functions.update(decode_functions(shape, with_hub))
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
        if not with_hub:
            for label in DECODE_ROWS.values():
                print(f"{name}\t{label}\tskipped", flush=True)
            continue
        for kit, hub in DECODE_ROWS.items():  # the same ids, or not a comparison
            ours = keras.ops.convert_to_numpy(functions[kit]())
            theirs = keras.ops.convert_to_numpy(functions[hub]())[:, 1:]
            same = "yes" if (ours == theirs).all() else "NO"
            print(f"{name}\t{kit}\tsame ids as keras-hub: {same}", flush=True)


def run_worker(backend, shapes, repeats, torch_threads, notes):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND=backend)
    result = subprocess.run(
        [sys.executable, __file__, "--worker", "--shapes", shapes]
        + ["--repeats", str(repeats), "--torch-threads", str(torch_threads)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{backend} worker failed:\n{result.stderr[-3000:]}")
    rows = {}
    for line in result.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            if parts[2].startswith("same ids"):
                notes.append(f"{parts[0]} {backend} {parts[1]}: {parts[2]}")
            else:
                rows[(parts[0], parts[1])] = (
                    None if parts[2] == "skipped" else float(parts[2])
                )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--shapes", default="small")
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="torch.set_num_threads in the torch process (default 1, as in "
        "benchmarks/crf.py; 0 leaves torch's default)",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.shapes.split(","), args.repeats, args.torch_threads)
        return
    times, notes = {}, []
    for backend in args.backends.split(","):
        for (shape, label), ms in run_worker(
            backend, args.shapes, args.repeats, args.torch_threads, notes
        ).items():
            times[(shape, backend, label)] = ms
    print(
        f"repeats={args.repeats} torch_threads={args.torch_threads} "
        f"beam={BEAM}; medians in ms"
    )
    print("training step; ratio = ms / the no-attention LSTM's ms (lower is faster)")
    print(f"{'shape':6} {'backend':10} {'what':22} {'ms':>9} {'ratio':>6}")
    for (shape, backend, label), ms in times.items():
        if label in TRAIN_ROWS:
            base = times[(shape, backend, TRAIN_ROWS[0])]
            print(f"{shape:6} {backend:10} {label:22} {ms:9.2f} {ms / base:6.2f}")
    print(
        "decoding, Luong attention; tokens = batch * steps; ratio = the kit's "
        "tokens/s / keras-hub's (higher is faster)"
    )
    header = f"{'shape':6} {'backend':10} {'what':22} {'ms':>9}"
    print(f"{header} {'tokens/s':>10} {'ratio':>6}")
    for (shape, backend, label), ms in times.items():
        if label in TRAIN_ROWS:
            continue
        if ms is None:
            print(f"{shape:6} {backend:10} {label:22} skipped: keras-hub not installed")
            continue
        batch, _, steps, _, _ = SHAPES[shape]
        rate = batch * steps / (ms / 1e3)
        hub = times.get((shape, backend, DECODE_ROWS.get(label)))
        ratio = f"{hub / ms:6.2f}" if hub else f"{'':6}"
        print(f"{shape:6} {backend:10} {label:22} {ms:9.2f} {rate:10.0f} {ratio}")
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
