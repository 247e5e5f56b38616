"""Training-step and predict time of kit layers against Keras's built-ins.

Builds every model of a suite in one process, warms them up, then alternates
them for several repeats and prints medians and the ratio of each model to
its baseline (named in the last column). Only ratios mean anything: shared
machines drift by tens of percent between runs.

    python benchmarks/bench.py                  # every suite but cudnn, TF and JAX
    python benchmarks/bench.py --suite peephole --backends jax --shapes small
    python benchmarks/bench.py --suite wrappers --backends tensorflow
    python benchmarks/bench.py --suite hierarchical --shapes han
    python benchmarks/bench.py --suite torch --backends torch
    python benchmarks/bench.py --suite padding --backends tensorflow,jax,torch
    python benchmarks/bench.py --suite cudnn --backends tensorflow,jax,torch

Suites:
  peephole  PeepholeLSTM (and with num_proj) against keras.layers.LSTM (A);
            RNN(LSTMCell) (B) for reference, PeepholeLSTM without
            peepholes (E: the layer's own cost, without the peepholes'),
            and the peephole cell in Keras's loop (G: what the kit's own
            loops on torch and JAX replace).
  wrappers  each cell wrapper around an LSTMCell against the bare cell in
            keras.layers.RNN; MultiRNNCell against keras's StackedRNNCells.
            Inputs have as many features as units (ResidualWrapper needs it).
  hierarchical  HierarchicalEncoder against the straightforward model (A):
            TimeDistributed(word Bidirectional(GRU) + attention), then a
            sentence Bidirectional(GRU) + attention; the same layers in a
            HierarchicalEncoder (B), and with the kit's BidirectionalEncoder
            (C). Shapes: batch, sentences, words, features, units.
  torch     on the torch backend, against plain PyTorch: a torch.nn.LSTM
            model (A; forward + backward + Adam in PyTorch alone, no Keras)
            next to PeepholeLSTM, the LSTM cells that compute exactly what
            PyTorch's LSTM computes (DynamicRNN(LSTMCell),
            PeepholeLSTM(use_peepholes=False)), keras.layers.LSTM (K) and
            the layer-normalised LSTM (E), at 100, 200 and 400 steps
            (shapes t100, t200, t400).
  padding   HierarchicalEncoder on documents of 2 real sentences (of 3/4 to
            all of the words) padded to 2, 4, 8 and 20 sentence slots
            (Masking gives the mask): the kit's BidirectionalEncoder(GRUCell)
            at both levels (A-D), and Keras's Bidirectional(GRU) (E, F);
            the same documents as token ids (G, H: an Embedding of 64
            with mask_zero=True gives the vectors and the mask; the usual
            text model), and the same Embedding inside the encoder (I, J:
            `HierarchicalEncoder(embedding=...)`, which looks up only the
            sentences it encodes); ratios to the same encoders on 2 slots.
            Shapes:
            batch, real sentences, words, features, units.
  cudnn     on a GPU: each backend's training step against cuDNN, i.e.
            keras.layers.LSTM (A) and, on torch, torch.nn.LSTM (T): the
            LSTM cells that compute exactly cuDNN's LSTM (B, C: they run
            cuDNN's kernels on JAX and torch), the peephole LSTM (D), with
            a projection (E) and the layer-normalised LSTM (F), which run
            the kit's own loops. Shapes small, large and gpu.

Each backend runs in a subprocess of its own (KERAS_BACKEND is read once).
"""

import argparse
import functools
import os
import statistics
import subprocess
import sys
import time

SHAPES = {  # batch, timesteps, features, units (notes/performance.md)
    "small": (64, 100, 32, 128),
    "large": (128, 200, 32, 256),
    "tiny": (4, 5, 3, 8),  # a smoke run for the tests, not a measurement
    "t100": (64, 100, 32, 128),
    "t200": (64, 200, 32, 128),
    "t400": (64, 400, 32, 128),
    "gpu": (256, 200, 128, 512),  # cudnn: a size where a GPU pays
}
HIERARCHICAL_SHAPES = {  # batch, sentences, words, features, units
    "han": (32, 15, 40, 64, 50),
    "tiny": (2, 3, 4, 3, 4),
}
PADDING_SHAPES = {  # batch, real sentences, words, features, units
    "han": (32, 2, 20, 64, 50),
    "tiny": (2, 2, 4, 3, 4),
}


def _layer(make):
    """A model builder applying the layer `make()` to the inputs."""
    return lambda inputs: make()(inputs)


def peephole_suite(units):
    import keras

    import keras_rnnkit

    lstm = "A keras LSTM"
    return {
        lstm: (_layer(lambda: keras.layers.LSTM(units)), lstm),
        "B RNN(LSTMCell)": (
            _layer(lambda: keras.layers.RNN(keras.layers.LSTMCell(units))),
            lstm,
        ),
        "C PeepholeLSTM": (_layer(lambda: keras_rnnkit.PeepholeLSTM(units)), lstm),
        "D PeepholeLSTM num_proj=units/2": (
            _layer(lambda: keras_rnnkit.PeepholeLSTM(units, num_proj=units // 2)),
            lstm,
        ),
        "E PeepholeLSTM(use_peepholes=F)": (
            _layer(lambda: keras_rnnkit.PeepholeLSTM(units, use_peepholes=False)),
            lstm,
        ),
        "G PeepholeLSTMCell, Keras's loop": (
            _layer(lambda: keras_rnnkit.DynamicRNN(_step_by_step(units))),
            lstm,
        ),
    }


def _step_by_step(units):
    """A `PeepholeLSTMCell` that overrides `call` (same math): the cell
    protocol gives it no fused form, so it runs in Keras's loop."""
    import keras_rnnkit

    class StepByStep(keras_rnnkit.PeepholeLSTMCell):
        def call(self, *args, **kwargs):
            return super().call(*args, **kwargs)

    return StepByStep(units)


def wrappers_suite(units):
    import keras

    import keras_rnnkit as kit

    def rnn(make_cell):
        return _layer(lambda: keras.layers.RNN(make_cell()))

    def lstm():
        return keras.layers.LSTMCell(units)

    bare, stacked = "RNN(LSTMCell)", "RNN([LSTMCell, LSTMCell])"
    return {
        bare: (rnn(lstm), bare),
        "OutputProjectionWrapper(1)": (
            rnn(lambda: kit.OutputProjectionWrapper(lstm(), 1)),
            bare,
        ),
        "DropoutWrapper(.1,.1,.1)": (
            rnn(lambda: kit.DropoutWrapper(lstm(), 0.1, 0.1, 0.1)),
            bare,
        ),
        "ResidualWrapper": (rnn(lambda: kit.ResidualWrapper(lstm())), bare),
        stacked: (_layer(lambda: keras.layers.RNN([lstm(), lstm()])), stacked),
        "MultiRNNCell x2": (
            rnn(lambda: kit.MultiRNNCell([lstm(), lstm()])),
            stacked,
        ),
        "MultiRNNCell x2 concatenated": (
            rnn(lambda: kit.MultiRNNCell([lstm(), lstm()], state_is_tuple=False)),
            stacked,
        ),
    }


def hierarchical_suite(units):
    import keras

    import keras_rnnkit as kit

    def bigru():
        return keras.layers.Bidirectional(
            keras.layers.GRU(units, return_sequences=True)
        )

    def straightforward(inputs):
        words = keras.Sequential([bigru(), kit.AttentionPooling()])
        sentences = keras.layers.TimeDistributed(words)(inputs)
        return kit.AttentionPooling()(bigru()(sentences))

    def hierarchical(encoder):
        return _layer(lambda: kit.HierarchicalEncoder(encoder(), encoder()))

    def kit_bigru():
        return kit.BidirectionalEncoder(keras.layers.GRUCell(units))

    baseline = "A TimeDistributed(BiGRU+att)"
    return {
        baseline: (straightforward, baseline),
        "B HierarchicalEncoder(BiGRU)": (hierarchical(bigru), baseline),
        "C HierarchicalEncoder(kit BiGRU)": (hierarchical(kit_bigru), baseline),
    }


def padding_suite(units):
    """Entries carry a third item, the number of sentence slots, and rows
    on token ids a fourth, "ids" (else the documents are feature vectors)."""
    import keras

    import keras_rnnkit as kit

    def padded(encoder):
        def make(inputs):
            masked = keras.layers.Masking(0.0)(inputs)
            return kit.HierarchicalEncoder(encoder(), encoder())(masked)

        return make

    def embedded(encoder):
        def make(inputs):  # token ids, 0 for padding
            vectors = keras.layers.Embedding(VOCABULARY, 64, mask_zero=True)(inputs)
            return kit.HierarchicalEncoder(encoder(), encoder())(vectors)

        return make

    def embedded_inside(encoder):
        def make(inputs):  # token ids, looked up by the encoder
            embedding = keras.layers.Embedding(VOCABULARY, 64, mask_zero=True)
            return kit.HierarchicalEncoder(encoder(), encoder(), embedding=embedding)(
                inputs
            )

        return make

    def kit_bigru():
        return kit.BidirectionalEncoder(keras.layers.GRUCell(units))

    def bigru():
        return keras.layers.Bidirectional(
            keras.layers.GRU(units, return_sequences=True)
        )

    kit_base, keras_base = "A kit BiGRU, 2 slots", "E keras BiGRU, 2 slots"
    ids_base = "G kit BiGRU, token ids, 2 slots"
    inside_base = "I embedding= inside, 2 slots"
    return {
        kit_base: (padded(kit_bigru), kit_base, 2),
        "B kit BiGRU, 4 slots": (padded(kit_bigru), kit_base, 4),
        "C kit BiGRU, 8 slots": (padded(kit_bigru), kit_base, 8),
        "D kit BiGRU, 20 slots": (padded(kit_bigru), kit_base, 20),
        keras_base: (padded(bigru), keras_base, 2),
        "F keras BiGRU, 20 slots": (padded(bigru), keras_base, 20),
        ids_base: (embedded(kit_bigru), ids_base, 2, "ids"),
        "H kit BiGRU, token ids, 20 slots": (embedded(kit_bigru), ids_base, 20, "ids"),
        inside_base: (embedded_inside(kit_bigru), inside_base, 2, "ids"),
        "J embedding= inside, 20 slots": (
            embedded_inside(kit_bigru),
            inside_base,
            20,
            "ids",
        ),
    }


VOCABULARY = 1000  # token ids of the padding suite's G to J rows


def padded_documents(rng, batch, real, words, features, slots):
    """`real` sentences of 3/4 to all of `words` words, zero-padded to
    `slots` sentences (a Masking layer turns the zeros into the mask), and
    the same documents as token ids (0 for padding, an Embedding with
    `mask_zero=True` makes the mask): `(vectors, ids)`."""
    import numpy as np

    x = np.zeros((batch, slots, words, features), "float32")
    ids = np.zeros((batch, slots, words), "int32")
    lengths = rng.integers(words - words // 4, words + 1, size=(batch, real))
    for document, sentence in np.ndindex(batch, real):
        length = lengths[document, sentence]
        x[document, sentence, :length] = rng.normal(size=(length, features))
    for document, sentence in np.ndindex(batch, real):
        length = lengths[document, sentence]
        ids[document, sentence, :length] = rng.integers(1, VOCABULARY, length)
    return x, ids


TORCH_LSTM = "A torch.nn.LSTM (plain PyTorch)"
KERNELS_ROW = "F PeepholeLSTM, compiled kernels"


def with_torch_kernels(function):
    """`function` run with the kit's compiled torch LSTM kernels switched
    on (`KERAS_RNNKIT_TORCH_KERNELS=1`), and off again after it."""
    from keras_rnnkit import _torch_kernels

    def run(*args):
        os.environ[_torch_kernels.VARIABLE] = "1"
        try:
            return function(*args)
        finally:
            os.environ[_torch_kernels.VARIABLE] = "0"

    return run


def torch_suite(units):
    import keras

    import keras_rnnkit as kit

    keras_lstm = "K keras LSTM"
    return {
        TORCH_LSTM: (None, TORCH_LSTM),
        "B PeepholeLSTM": (
            _layer(lambda: kit.PeepholeLSTM(units)),
            (TORCH_LSTM, keras_lstm),
        ),
        "C DynamicRNN(LSTMCell)": (
            _layer(lambda: kit.DynamicRNN(keras.layers.LSTMCell(units))),
            TORCH_LSTM,
        ),
        "D PeepholeLSTM(use_peepholes=F)": (
            _layer(lambda: kit.PeepholeLSTM(units, use_peepholes=False)),
            TORCH_LSTM,
        ),
        keras_lstm: (_layer(lambda: keras.layers.LSTM(units)), TORCH_LSTM),
        # B again, with KERAS_RNNKIT_TORCH_KERNELS=1 around its calls only
        KERNELS_ROW: (_layer(lambda: kit.PeepholeLSTM(units)), TORCH_LSTM),
        "E DynamicRNN(LayerNormLSTMCell)": (
            _layer(lambda: kit.DynamicRNN(kit.LayerNormLSTMCell(units))),
            TORCH_LSTM,
        ),
    }


def cudnn_suite(units):
    import keras

    import keras_rnnkit as kit

    lstm = "A keras LSTM"
    baselines = (lstm, TORCH_LSTM) if keras.backend.backend() == "torch" else lstm
    models = {
        lstm: (_layer(lambda: keras.layers.LSTM(units)), lstm),
        "B PeepholeLSTM(use_peepholes=F)": (
            _layer(lambda: kit.PeepholeLSTM(units, use_peepholes=False)),
            baselines,
        ),
        "C DynamicRNN(LSTMCell)": (
            _layer(lambda: kit.DynamicRNN(keras.layers.LSTMCell(units))),
            baselines,
        ),
        "D PeepholeLSTM": (_layer(lambda: kit.PeepholeLSTM(units)), baselines),
        "E PeepholeLSTM num_proj=units/2": (
            _layer(lambda: kit.PeepholeLSTM(units, num_proj=units // 2)),
            baselines,
        ),
        "F DynamicRNN(LayerNormLSTMCell)": (
            _layer(lambda: kit.DynamicRNN(kit.LayerNormLSTMCell(units))),
            baselines,
        ),
    }
    if keras.backend.backend() == "torch":
        models[TORCH_LSTM] = (None, TORCH_LSTM)
    return models


def torch_lstm_model(x, y, units):
    """Train and predict steps of the same model in plain PyTorch (on the
    GPU when there is one, as Keras's torch backend)."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    lstm = torch.nn.LSTM(x.shape[-1], units, batch_first=True).to(device)
    head = torch.nn.Linear(units, y.shape[-1]).to(device)
    optimizer = torch.optim.Adam([*lstm.parameters(), *head.parameters()])
    x, y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)

    def train():
        optimizer.zero_grad()
        _, (h, _) = lstm(x)
        loss = torch.mean((head(h[0]) - y) ** 2)
        loss.backward()
        optimizer.step()
        return loss.item()  # waits for the GPU, as Keras's train_on_batch

    def predict():
        with torch.no_grad():
            return head(lstm(x)[1][0][0]).cpu().numpy()

    return train, predict


SUITES = {
    "peephole": peephole_suite,
    "wrappers": wrappers_suite,
    "hierarchical": hierarchical_suite,
    "torch": torch_suite,
    "padding": padding_suite,
    "cudnn": cudnn_suite,
}


def run_backend(suite, shape_names, repeats, jit_compile):
    import keras
    import numpy as np

    rows = []
    for shape_name in shape_names:
        rng = np.random.default_rng(0)
        if suite == "padding":
            batch, real, words, features, units = PADDING_SHAPES[shape_name]
            documents, token_ids = padded_documents(
                rng, batch, real, words, features, 20
            )
        elif suite == "hierarchical":
            batch, *shape, units = HIERARCHICAL_SHAPES[shape_name]
        else:
            batch, *shape, units = SHAPES[shape_name]
        if suite == "wrappers":
            shape[-1] = units
        if suite != "padding":
            x = rng.normal(size=(batch, *shape)).astype("float32")
        models = SUITES[suite](units)
        compiled = {}
        for name, (make, _, *slots) in models.items():
            if slots:  # padding: the same documents in fewer sentence slots
                source = token_ids if slots[1:] == ["ids"] else documents
                x = np.ascontiguousarray(source[:, : slots[0]])
            y = rng.normal(size=(batch, 1)).astype("float32")
            if name == TORCH_LSTM:
                compiled[name] = torch_lstm_model(x, y, units)
            else:
                inputs = keras.Input(x.shape[1:], dtype=str(x.dtype))
                model = keras.Model(inputs, make(inputs))
                model.compile(optimizer="adam", loss="mse", jit_compile=jit_compile)
                y = rng.normal(size=(batch, model.output_shape[-1]))
                data = x, y.astype("float32")
                if suite == "cudnn":  # on the device already, as torch.nn.LSTM's
                    data = tuple(map(keras.ops.convert_to_tensor, data))
                compiled[name] = (
                    functools.partial(model.train_on_batch, *data),
                    functools.partial(model.predict_on_batch, data[0]),
                )
                if name == KERNELS_ROW:
                    from keras_rnnkit import _torch_kernels

                    with_torch_kernels(_torch_kernels.load)()  # build once
                    if _torch_kernels.failure() is not None:
                        print(f"(row F skipped: {_torch_kernels.failure()})")
                        del compiled[name]
                        continue
                    compiled[name] = tuple(map(with_torch_kernels, compiled[name]))
            for train, predict in [compiled[name]] * 2:  # compile, then warm
                train()
                predict()
        times = {name: {"train": [], "predict": []} for name in compiled}
        for _ in range(repeats):
            for name, (train, predict) in compiled.items():
                start = time.perf_counter()
                train()
                times[name]["train"].append(time.perf_counter() - start)
                start = time.perf_counter()
                np.asarray(predict())
                times[name]["predict"].append(time.perf_counter() - start)
        medians = {
            name: {k: statistics.median(v) for k, v in measured.items()}
            for name, measured in times.items()
        }
        for name, (_, baselines, *_) in models.items():
            if name not in medians:
                continue
            train, predict = medians[name]["train"], medians[name]["predict"]
            if isinstance(baselines, str):
                baselines = (baselines,)
            for baseline in baselines:  # one row per baseline
                base = medians[baseline]
                rows.append(
                    f"{shape_name:6} {keras.backend.backend():10} {name:32} "
                    f"{train * 1e3:9.1f} {train / base['train']:6.2f} "
                    f"{predict * 1e3:9.1f} {predict / base['predict']:6.2f}  "
                    f"{baseline}"
                )
        print("\n".join(rows), flush=True)  # each shape's rows when measured
        rows = []


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suite", default="all", choices=["all", *SUITES])
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument(
        "--shapes",
        default=None,
        help="default: small,large (hierarchical, padding: han; torch: t100,t200,t400)",
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--jit-compile",
        default="auto",
        choices=["auto", "true", "false"],
        help="passed to Model.compile (Keras's default: auto)",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    every = [name for name in SUITES if name != "cudnn"]  # cudnn: on a GPU
    suites = every if args.suite == "all" else [args.suite]
    if args.worker:
        jit = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
        run_backend(suites[0], args.shapes.split(","), args.repeats, jit)
        return
    default_shapes = {
        "hierarchical": "han",
        "padding": "han",
        "torch": "t100,t200,t400",
        "cudnn": "small,large,gpu",
    }
    print(
        f"repeats={args.repeats} jit_compile={args.jit_compile}; medians in ms, "
        "ratios to the baseline named in the last column"
    )
    print(
        f"{'shape':6} {'backend':10} {'model':32} {'train ms':>9} {'ratio':>6} "
        f"{'pred ms':>9} {'ratio':>6}  baseline",
        flush=True,
    )
    failed = []
    for suite in suites:
        for backend in args.backends.split(","):
            if suite == "torch" and backend != "torch":
                print(f"(suite torch runs on the torch backend only, not {backend})")
                continue
            env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
            command = [
                sys.executable,
                __file__,
                "--worker",
                "--suite",
                suite,
                "--shapes",
                args.shapes or default_shapes.get(suite, "small,large"),
                "--repeats",
                str(args.repeats),
                "--jit-compile",
                args.jit_compile,
            ]
            done = subprocess.run(command, env=env)
            if done.returncode:  # the other backends still run
                failed.append(f"{suite} on {backend} (exit {done.returncode})")
    if failed:
        sys.exit("failed: " + ", ".join(failed))


if __name__ == "__main__":
    main()
