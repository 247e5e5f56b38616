"""Recipes: the tutorial's concepts, each run end to end on real data.

Run one with ``python -m keras_rnnkit.recipes NAME`` (or the console script
``keras-rnnkit-recipes NAME``); ``--quick`` makes a smoke run on a small slice
(the tests use it), ``--out`` chooses where the report and the PNG plots go.
``python -m keras_rnnkit.recipes --list`` lists the recipes.

Each recipe is one module of this package with a ``run(quick=False,
out=..., epochs=None, seed=0)`` function that prints a report, saves its plots
under ``out`` and returns its figures as a dict.
"""

import argparse
import contextlib
import importlib
import importlib.util
import logging
import os
import pathlib
import re
import sys
import tempfile

# recipe name -> module in this package
RECIPES = {
    "worked-example": "worked_example",
    "news-classification": "news_classification",
    "price-prediction": "price_prediction",
    "mnist-rows": "mnist_rows",
    "pos-tagging": "pos_tagging",
    "document-classification": "document_classification",
    "variable-length": "variable_length",
    "encoder-decoder": "encoder_decoder",
    "tf1-migration": "tf1_migration",
    "word-segmentation": "word_segmentation",
}

# recipe name -> the first line of its module's docstring (a test checks they
# match): `--list` prints them without importing the recipes, hence Keras.
DESCRIPTIONS = {
    "worked-example": "The tutorial's two-step RNN by hand: NumPy next to Keras, "
    "to the 6th decimal.",
    "news-classification": "Chinese news titles in 10 classes: the tutorial's "
    "2-layer RNN text classifier.",
    "price-prediction": "Next-value prediction with OutputProjectionWrapper: "
    "S&P 500 and sunspots.",
    "mnist-rows": "MNIST read row by row: 28 steps of 28 pixels, a bidirectional "
    "peephole LSTM.",
    "pos-tagging": "Chinese part-of-speech tagging: a bidirectional peephole "
    "LSTM, softmax and CRF.",
    "document-classification": "Documents as sentences of words: the "
    "hierarchical encoder where order matters.",
    "variable-length": "Variable-length sequences: DynamicRNN with "
    "sequence_length on JapaneseVowels.",
    "encoder-decoder": "Encoder-decoder: spelling to phonemes for unseen "
    "words; attention, beam search.",
    "tf1-migration": "A TF1 checkpoint moved to Keras: the tutorial's "
    "classifier, trained by TF1.",
    "word-segmentation": "Chinese word segmentation: BMES tags, a BiLSTM and a "
    "constrained CRF.",
}


# What the backend's C++ code writes before its logging starts, which
# TF_CPP_MIN_LOG_LEVEL does not reach: absl's notice and info lines such as
# "I0000 00:00:1795912713.621350   18627 cudart_stub.cc:31] Could not find
# cuda drivers on your machine, GPU will not be used."
_STARTUP_INFO = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|I\d{4} [\d:.]+ +\d+ \S+:\d+\] "
)


def quiet_backend_logs():
    """Silences the backend's start-up logs; call before the backend is imported.

    Sets ``TF_CPP_MIN_LOG_LEVEL=3`` unless the environment already sets it (so
    ``TF_CPP_MIN_LOG_LEVEL=0`` brings the logs back) and raises the Python
    loggers of TensorFlow and absl to ERROR.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for name in ("tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)


@contextlib.contextmanager
def startup_logs_filtered():
    """Filters the backend's start-up info lines out of standard error.

    Runs the block with the process's standard error (file descriptor 2,
    where C++ code writes) captured; afterwards every captured line is
    written back except the info lines the backend logs before its logging
    starts (``_STARTUP_INFO``): warnings, errors and tracebacks come
    through. With ``TF_CPP_MIN_LOG_LEVEL`` unset or set to 0, 1 or 2 nothing
    is filtered.
    """
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") != "3":
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
            for line in text.splitlines(keepends=True):
                if not _STARTUP_INFO.match(line):
                    sys.stderr.write(line)
            sys.stderr.flush()


def import_layers_quietly():
    """Imports every keras_rnnkit layer (hence Keras and its backend) quietly.

    Calls `quiet_backend_logs`, then imports inside `startup_logs_filtered`.
    TensorFlow, when installed, is imported there too on every backend:
    `keras.utils.set_random_seed`, which every recipe calls, imports it
    whatever the backend, and its start-up lines would otherwise print in
    the middle of a JAX or PyTorch run.
    """
    quiet_backend_logs()
    import keras_rnnkit

    with startup_logs_filtered():
        keras_rnnkit._import_all()
        if importlib.util.find_spec("tensorflow") is not None:
            importlib.import_module("tensorflow")


def load(name):
    """Returns the module of the recipe called `name`."""
    if name not in RECIPES:
        raise ValueError(
            f"Unknown recipe {name!r}. Available recipes: {', '.join(RECIPES)}."
        )
    return importlib.import_module(f"{__name__}.{RECIPES[name]}")


def quick_note(name, done=False):
    """What a `--quick` run is, printed before it starts and after it ends:
    its figures are a smoke test's, not the recipe's result."""
    if not done:
        title = "QUICK RUN (--quick): a smoke test, not the recipe's result"
        print(f"\n== {title} " + "=" * max(0, 70 - len(title)))
        print(
            "A small slice of the data and one or two epochs, to check that "
            "everything runs.\nExpect figures far below a full run's: a "
            "network trained this briefly may sit near\nchance and below its "
            "baseline. Full-run figures: docs/recipes/"
            f"{name}.md;\nrun without --quick to reproduce them.",
            flush=True,
        )
        return
    print(
        f"\nquick run of {name} done: the figures above show that it runs, "
        "not how well its\nmodel does (a full run: the same command without "
        f"--quick; docs/recipes/{name}.md).",
        flush=True,
    )


def run(name, **kwargs):
    """Runs the recipe called `name`; returns its figures as a dict.

    A `quick=True` run says so before it starts and after it ends
    (`quick_note`)."""
    epochs = kwargs.get("epochs")
    if epochs is not None and not (isinstance(epochs, int) and epochs >= 1):
        raise ValueError(f"`epochs` must be an integer >= 1. Received: {epochs!r}")
    module = load(name)
    quick = kwargs.get("quick", False)
    if quick:
        quick_note(name)
    figures = module.run(**kwargs)
    if quick:
        quick_note(name, done=True)
    return figures


def positive_int(text):
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m keras_rnnkit.recipes",
        description="Run a keras_rnnkit recipe on real data.",
        epilog="recipes: " + ", ".join(RECIPES) + " (--list describes them)",
    )
    parser.add_argument("name", nargs="?", choices=list(RECIPES), metavar="NAME")
    parser.add_argument("--list", action="store_true", help="list the recipes")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run on a small slice"
    )
    parser.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        metavar="N",
        help="override the epoch count (1 or more)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", default=None, help="folder for plots (default runs/NAME)"
    )
    args = parser.parse_args(argv)
    if args.list:
        for name in RECIPES:
            print(f"{name:24s} {DESCRIPTIONS[name]}")
        return 0
    if args.name is None:
        parser.error("name a recipe to run (NAME), or --list to see them")
    import_layers_quietly()  # registers every class, as `import keras_rnnkit`
    out = pathlib.Path(args.out or pathlib.Path("runs") / args.name)
    run(args.name, quick=args.quick, out=out, epochs=args.epochs, seed=args.seed)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
