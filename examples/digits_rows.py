"""Digits read row by row: PeepholeLSTM next to Keras's LSTM, on real data.

Each 8x8 image of scikit-learn's handwritten digits (1,797 images, shipped
inside the package, no download) is a sequence of 8 steps of 8 pixels, the
tutorial's "images row by row" trick at a small scale. The script trains a
`keras_rnnkit.PeepholeLSTM` classifier (peepholes, cell clipping and an
output projection) and a plain `keras.layers.LSTM` of the same size on one
stratified split, prints a report and saves a plot of their validation
accuracy.

    pip install -e ".[examples]"
    python examples/digits_rows.py            # full run, ~1 minute on 2 cores
    python examples/digits_rows.py --quick    # a smoke run (tests use it)
"""

import argparse
import pathlib
import time

import keras
import numpy as np

import keras_rnnkit


def load_digits_as_rows(seed=0, test_fraction=0.2):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")  # (n, 8 rows, 8 pixels)
    return train_test_split(
        x,
        digits.target,
        test_size=test_fraction,
        stratify=digits.target,
        random_state=seed,
    )


def build(rnn_layer, name):
    inputs = keras.Input((8, 8), name="rows")
    features = rnn_layer(inputs)
    outputs = keras.layers.Dense(10, activation="softmax")(features)
    model = keras.Model(inputs, outputs, name=name)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="2 epochs")
    parser.add_argument("--out", default="runs/digits_rows")
    args = parser.parse_args(argv)
    epochs = 2 if args.quick else args.epochs
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    keras.utils.set_random_seed(0)
    x_train, x_test, y_train, y_test = load_digits_as_rows()
    models = {
        "PeepholeLSTM": build(
            keras_rnnkit.PeepholeLSTM(64, num_proj=32, cell_clip=3.0),
            "peephole_lstm",
        ),
        "keras LSTM": build(keras.layers.LSTM(64), "keras_lstm"),
    }
    report = {}
    for label, model in models.items():
        print(f"\n== {label} ({model.count_params():,} parameters)")
        start = time.perf_counter()
        history = model.fit(
            x_train,
            y_train,
            validation_split=0.1,
            epochs=epochs,
            batch_size=64,
            verbose=2,
        )
        seconds = time.perf_counter() - start
        loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
        report[label] = (loss, accuracy, seconds, history.history)

    print(f"\nDigits row by row: {len(x_train)} train / {len(x_test)} test images")
    print(f"{'model':14} {'test loss':>9} {'test acc':>9} {'fit s':>7}")
    for label, (loss, accuracy, seconds, _) in report.items():
        print(f"{label:14} {loss:9.4f} {accuracy:9.4f} {seconds:7.1f}")
    model = models["PeepholeLSTM"]
    path = out / "peephole_lstm.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    same = np.allclose(
        model.predict(x_test, verbose=0), reloaded.predict(x_test, verbose=0)
    )
    print(f"saved {path}; reloaded model gives the same predictions: {same}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for label, (_, _, _, history) in report.items():
        axis.plot(history["val_accuracy"], label=label)
    axis.set_xlabel("epoch")
    axis.set_ylabel("validation accuracy")
    axis.set_title("sklearn digits, 8 rows of 8 pixels")
    axis.legend()
    figure.tight_layout()
    figure.savefig(out / "validation_accuracy.png", dpi=100)
    print(f"plot: {out / 'validation_accuracy.png'}")
    return report


if __name__ == "__main__":
    main()
