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
import importlib
import pathlib
import sys

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
}


def load(name):
    """Returns the module of the recipe called `name`."""
    if name not in RECIPES:
        raise ValueError(
            f"Unknown recipe {name!r}. Available recipes: {', '.join(RECIPES)}."
        )
    return importlib.import_module(f"{__name__}.{RECIPES[name]}")


def run(name, **kwargs):
    """Runs the recipe called `name`; returns its figures as a dict."""
    return load(name).run(**kwargs)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m keras_rnnkit.recipes",
        description="Run a keras_rnnkit recipe on real data.",
    )
    parser.add_argument("name", nargs="?", choices=list(RECIPES), metavar="NAME")
    parser.add_argument("--list", action="store_true", help="list the recipes")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run on a small slice"
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="override the epoch count"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", default=None, help="folder for plots (default runs/NAME)"
    )
    args = parser.parse_args(argv)
    if args.list or args.name is None:
        for name in RECIPES:
            doc = (load(name).__doc__ or "").strip().split("\n")[0]
            print(f"{name:24s} {doc}")
        return 0 if args.list else 2
    out = pathlib.Path(args.out or pathlib.Path("runs") / args.name)
    run(args.name, quick=args.quick, out=out, epochs=args.epochs, seed=args.seed)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
