"""Pieces every recipe shares: output folder, seeding, reports and plots."""

import pathlib
import sys
import time

import keras
import numpy as np


def setup(out, seed):
    """Seeds Keras/NumPy and creates the output folder; returns it as a Path."""
    keras.utils.set_random_seed(seed)
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def fit_verbosity(quick=False):
    """The `verbose` argument of the recipes' `fit` calls.

    1 (Keras's progress bar, redrawn with carriage returns) when standard
    output is a terminal; 2 (one line per epoch) when it is redirected to a
    file or a pipe, or for a `quick` run.
    """
    isatty = getattr(sys.stdout, "isatty", None)
    return 1 if not quick and isatty is not None and isatty() else 2


def header(title):
    print(f"\n== {title} " + "=" * max(0, 70 - len(title)), flush=True)


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds``."""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def early_stopping(monitor="val_loss", patience=3):
    return keras.callbacks.EarlyStopping(
        monitor=monitor, patience=patience, restore_best_weights=True
    )


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path):
    """Lays out `fig`, saves it as a PNG at `path` and closes it; returns the Path."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return pathlib.Path(path)


def plot_history(history, path, metrics=("loss",), title=None):
    """Saves train/validation curves of `metrics` from a Keras History."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.5))
    for ax, metric in zip(np.atleast_1d(axes), metrics, strict=True):
        for prefix, label in (("", "train"), ("val_", "validation")):
            values = history.history.get(prefix + metric)
            if values:
                ax.plot(range(1, len(values) + 1), values, marker=".", label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.legend()
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def classification_report(y_true, y_pred, class_names):
    """Prints per-class precision/recall/F1 and the confusion matrix.

    Returns ``(accuracy, confusion_matrix, per_class)`` where `per_class` maps
    each class name to its precision, recall, F1 and support.
    """
    from sklearn import metrics

    labels = list(range(len(class_names)))
    print(
        metrics.classification_report(
            y_true, y_pred, labels=labels, target_names=class_names, digits=3,
            zero_division=0,
        )
    )  # fmt: skip
    matrix = metrics.confusion_matrix(y_true, y_pred, labels=labels)
    width = max(6, max(len(str(n)) for n in class_names) + 1)
    print("confusion matrix (rows: true class, columns: predicted class)")
    print(" " * width + "".join(f"{i:>6d}" for i in labels))
    for name, row in zip(class_names, matrix, strict=True):
        print(f"{name:>{width}}" + "".join(f"{v:>6d}" for v in row))
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    per_class = {
        name: {
            "precision": float(p),
            "recall": float(r),
            "f1": float(f),
            "support": int(s),
        }  # fmt: skip
        for name, p, r, f, s in zip(
            class_names, precision, recall, f1, support, strict=True
        )
    }
    accuracy = float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))
    return accuracy, matrix, per_class


def plot_confusion_matrix(matrix, class_names, path, title="confusion matrix"):
    plt = pyplot()
    size = max(4.0, 0.55 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(class_names)), class_names, rotation=60, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    limit = matrix.max() / 2 if matrix.size else 0
    for (i, j), value in np.ndenumerate(matrix):
        color = "white" if value > limit else "black"
        ax.text(j, i, str(value), ha="center", va="center", color=color, fontsize=8)
    ax.set_title(title)
    return save_figure(fig, path)


def plot_report(history, matrix, class_names, out, history_title, matrix_title):
    """Saves ``history.png`` (loss and accuracy per epoch) and
    ``confusion_matrix.png`` under `out`; returns their paths."""
    return [
        plot_history(
            history,
            out / "history.png",
            metrics=("loss", "accuracy"),
            title=history_title,
        ),
        plot_confusion_matrix(
            matrix, class_names, out / "confusion_matrix.png", title=matrix_title
        ),
    ]
