"""Variable-length sequences: DynamicRNN with sequence_length on JapaneseVowels.

The tutorial's `tf.nn.dynamic_rnn(cell, X, sequence_length=seq_length)`:
rows of different lengths are padded to one length and the true length of
each row is passed along, so that the padding is never read (TF1 copies the
state through the padded steps and outputs zeros there; the final state is
the one after the last valid step).

Data: UCI Japanese Vowels (`load_japanese_vowels`), the official split of
270 training and 370 test utterances by 9 speakers, each a series of 7 to
29 frames of 12 LPC cepstrum coefficients; the task is to name the speaker.
Frames are standardised with the training frames' mean and deviation;
utterances of similar length are batched together (`keras_rnnkit.LengthBatches`)
and zero padded to the longest of their batch, and the lengths go to
`keras_rnnkit.DynamicRNN(PeepholeLSTMCell(128))` as ``sequence_length``; its
output is the output of each row's last valid frame, followed by dropout and
a softmax layer.

Model choice uses the training utterances only (30 per speaker is too few to
set a validation split aside for good): they are cut into `FOLDS`
stratified folds; one network is trained on all the folds but one for
`EPOCHS` epochs, once per fold. The held-out predictions give the
validation accuracy (every training utterance predicted by the network that
did not train on it; the epoch count was chosen where it levels off); the
final model averages the `FOLDS` networks' probabilities, and the test set
is used once, on that average.

The report compares with two 1-nearest-neighbour baselines computed here
(dynamic time warping on the raw frames, the classical reference for this
set; Euclidean distance between per-utterance means and deviations), and
shows that padding does not matter: predictions for the padded batch equal
the predictions for every row run at its own length, and equal them again
when the padding is replaced by random noise and extended; reading the
zeros as frames (lengths ignored) changes the predictions.
"""

import numpy as np

import keras_rnnkit
from keras_rnnkit.recipes import _common

UNITS = 128
FEATURES = 12
FOLDS = 5  # networks in the ensemble, one per held-out fold
EPOCHS = 40  # per network: the plateau of the held-out accuracy (docs)
CLASS_NAMES = [f"speaker {i}" for i in range(1, 10)]


def pad(sequences, timesteps, mean=0.0, std=1.0):
    """Zero-padded ``(rows, timesteps, 12)`` float32 array and int32 lengths."""
    x = np.zeros((len(sequences), timesteps, FEATURES), "float32")
    lengths = np.array([len(s) for s in sequences], "int32")
    for i, sequence in enumerate(sequences):
        x[i, : len(sequence)] = (sequence - mean) / std
    return x, lengths


def batches(sequences, labels, mean=0.0, std=1.0, shuffle=False, seed=0):
    """`keras_rnnkit.LengthBatches` of 32 standardised utterances of similar
    length, inputs ``{"frames", "lengths"}``, frames padded with zeros to the
    longest of the batch rounded up to a multiple of 4."""
    frames = [((s - mean) / std).astype("float32") for s in sequences]
    lengths = np.array([len(s) for s in sequences], "int32")
    return keras_rnnkit.LengthBatches(
        {"frames": frames, "lengths": lengths},
        labels,
        batch_size=32,
        pad_to_multiple_of=4,
        shuffle=shuffle,
        seed=seed,
    )


def dtw_distances(queries, references):
    """Dynamic time warping distances (squared Euclidean frame cost, no
    window) from every query to every reference sequence, vectorised over
    all pairs: returns ``(len(queries), len(references))``."""
    q, q_lengths = pad(queries, max(map(len, queries)))
    r, r_lengths = pad(references, max(map(len, references)))
    q, r = q.astype("float64").transpose(1, 0, 2), r.astype("float64")
    r = r.transpose(1, 0, 2)  # time first: (T, rows, features)
    r_norms = (r**2).sum(-1)
    distances = np.empty((len(queries), len(references)))
    previous = np.full((len(r) + 1, len(queries), len(references)), np.inf)
    previous[0] = 0.0
    columns = np.arange(len(references))
    for i, frame in enumerate(q):  # rows of the DTW grid, all pairs at once
        cost = (
            (frame**2).sum(-1)[None, :, None]
            + r_norms[:, None, :]
            - 2 * np.einsum("qf,trf->tqr", frame, r)
        )
        row = np.full_like(previous, np.inf)
        for j in range(len(r)):
            row[j + 1] = cost[j] + np.minimum(
                np.minimum(previous[j], previous[j + 1]), row[j]
            )
        done = np.flatnonzero(q_lengths == i + 1)
        distances[done] = row[r_lengths[None, :], done[:, None], columns[None, :]]
        previous = row
    return distances


def nearest_neighbour_baselines(train, test):
    (train_x, train_y), (test_x, test_y) = train, test
    with _common.Timer() as timer:
        dtw = dtw_distances(test_x, train_x)
    dtw_accuracy = float(np.mean(train_y[dtw.argmin(1)] == test_y))

    def summary(sequences):
        return np.array([np.r_[s.mean(0), s.std(0)] for s in sequences])

    train_f, test_f = summary(train_x), summary(test_x)
    mean, std = train_f.mean(0), train_f.std(0)
    train_f, test_f = (train_f - mean) / std, (test_f - mean) / std
    euclidean = ((test_f[:, None] - train_f[None]) ** 2).sum(-1)
    summary_accuracy = float(np.mean(train_y[euclidean.argmin(1)] == test_y))
    return dtw_accuracy, summary_accuracy, timer.seconds


def build_model(seed, name="speaker_id"):
    import keras

    import keras_rnnkit

    frames = keras.Input((None, FEATURES), name="frames")
    lengths = keras.Input((), dtype="int32", name="lengths")
    # tf.nn.dynamic_rnn(cell, X, sequence_length=lengths): the output of the
    # last valid frame of each row
    last = keras_rnnkit.DynamicRNN(keras_rnnkit.PeepholeLSTMCell(UNITS), name="rnn")(
        frames, sequence_length=lengths
    )
    last = keras.layers.Dropout(0.3, seed=seed)(last)
    outputs = keras.layers.Dense(9, activation="softmax", name="speaker")(last)
    model = keras.Model([frames, lengths], outputs, name=name)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def folds(labels, n_folds, seed):
    """The fold (0 to `n_folds` - 1) of every row: stratified by label."""
    from sklearn.model_selection import StratifiedKFold

    fold = np.empty(len(labels), "int64")
    splitter = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    for k, (_, held_out) in enumerate(splitter.split(labels, labels)):
        fold[held_out] = k
    return fold


def ensemble(members):
    """One Keras model averaging the probabilities of `members`."""
    import keras

    frames = keras.Input((None, FEATURES), name="frames")
    lengths = keras.Input((), dtype="int32", name="lengths")
    outputs = [member([frames, lengths]) for member in members]
    average = keras.layers.Average()(outputs) if len(outputs) > 1 else outputs[0]
    return keras.Model([frames, lengths], average, name="speaker_id_ensemble")


def padding_checks(model, x, lengths, seed):
    """Max |difference| of the predicted probabilities between the padded
    batch and (a) every row at its own length, no padding, (b) the padding
    replaced by noise and extended to 40 frames; and (c) the predictions
    with the lengths ignored (every row read to the padded length)."""
    import keras

    padded = model.predict([x, lengths], verbose=0)
    unpadded = np.empty_like(padded)
    for length in np.unique(lengths):  # one batch per length: no padding
        rows = np.flatnonzero(lengths == length)
        unpadded[rows] = keras.ops.convert_to_numpy(  # torch: no autograd
            model([x[rows, :length], lengths[rows]], training=False)
        )
    timesteps = x.shape[1]
    rng = np.random.default_rng(seed)
    noisy = 3 * rng.normal(size=(len(x), 40, FEATURES)).astype("float32")
    valid = np.arange(timesteps)[None, :] < lengths[:, None]
    noisy[:, :timesteps][valid] = x[valid]
    with_noise = model.predict([noisy, lengths], verbose=0)
    ignored = model.predict([x, np.full_like(lengths, timesteps)], verbose=0)
    return (
        float(np.abs(padded - unpadded).max()),
        float(np.abs(padded - with_noise).max()),
        ignored,
    )


def run(quick=False, out="runs/variable-length", epochs=None, seed=0):
    """Trains the speaker classifier; returns its test figures."""
    import keras

    from keras_rnnkit.recipes.datasets import load_japanese_vowels

    out = _common.setup(out, seed)
    with _common.Timer() as total:
        _common.header("Japanese Vowels: 9 speakers, 7-29 frames of 12 features")
        train_seq, train_y = load_japanese_vowels("train")
        test_seq, test_y = load_japanese_vowels("test")
        if quick:  # 10 utterances per speaker, 90 test utterances
            keep = np.flatnonzero(np.arange(len(train_y)) % 30 < 10)
            train_seq, train_y = [train_seq[i] for i in keep], train_y[keep]
            test_seq, test_y = test_seq[::4][:90], test_y[::4][:90]
        frames = np.concatenate(train_seq)
        mean, std = frames.mean(0), frames.std(0)
        timesteps = max(map(len, train_seq + test_seq))
        x_train, len_train = pad(train_seq, timesteps, mean, std)
        x_test, len_test = pad(test_seq, timesteps, mean, std)
        print(
            f"official split: train {len(train_y)}, test {len(test_y)} utterances; "
            f"lengths {len_train.min()}-{len_train.max()} (train), "
            f"{len_test.min()}-{len_test.max()} (test); batches of similar "
            "lengths padded to their longest, lengths passed as sequence_length"
        )
        n_folds = 2 if quick else FOLDS
        fold = folds(train_y, n_folds, seed)
        print(
            f"{n_folds} networks, each trained on {n_folds - 1} of {n_folds} "
            f"stratified folds of the training set for {epochs or EPOCHS} epochs; "
            "the test set is predicted by their average"
        )
        # Training and prediction: batches of utterances of similar length,
        # each padded to its longest (rounded up to 4 frames), not to 29.
        members, histories = [], []
        held_out = np.zeros((len(train_y), 9), "float32")
        with _common.Timer() as timer:
            for k in range(n_folds):
                keras.utils.set_random_seed(seed * n_folds + k)
                fit_rows = np.flatnonzero(fold != k)
                val_rows = np.flatnonzero(fold == k)
                member = build_model(seed * n_folds + k, f"speaker_id_{k + 1}")
                history = member.fit(
                    batches(
                        [train_seq[i] for i in fit_rows],
                        train_y[fit_rows],
                        mean,
                        std,
                        shuffle=True,
                        seed=seed * n_folds + k,
                    ),
                    validation_data=batches(
                        [train_seq[i] for i in val_rows], train_y[val_rows], mean, std
                    ),
                    epochs=epochs or (2 if quick else EPOCHS),
                    verbose=0,
                )
                held_out[val_rows] = batches(
                    [train_seq[i] for i in val_rows], None, mean, std
                ).predict(member)
                print(
                    f"  network {k + 1}: held-out fold accuracy "
                    f"{np.mean(held_out[val_rows].argmax(-1) == train_y[val_rows]):.3f}"
                )
                members.append(member)
                histories.append(history)
        val_accuracy = float(np.mean(held_out.argmax(-1) == train_y))
        print(
            f"validation accuracy (every training utterance predicted by the "
            f"network that did not see it): {val_accuracy:.3f}"
        )
        model = ensemble(members)
        print(
            f"model: {n_folds} x {members[0].count_params():,} parameters, "
            "probabilities averaged"
        )
        probabilities = batches(test_seq, None, mean, std).predict(model)
        predicted = probabilities.argmax(-1)
        history = histories[0]

        _common.header("Test set (official split)")
        accuracy, matrix, _ = _common.classification_report(
            test_y, predicted, CLASS_NAMES
        )
        dtw, summary, dtw_seconds = nearest_neighbour_baselines(
            (train_seq, train_y), (test_seq, test_y)
        )
        print(f"test accuracy, {len(test_y)} utterances:")
        print(
            f"  DynamicRNN(PeepholeLSTMCell), sequence_length, {n_folds} networks "
            f"averaged  {accuracy:.3f}"
        )
        print(f"  1-NN, dynamic time warping on the raw frames    {dtw:.3f}")
        print(f"  1-NN, Euclidean on per-utterance mean and std   {summary:.3f}")
        print(
            f"  ({sum(len(h.history['loss']) for h in histories)} epochs in all, "
            f"{timer.seconds:.1f} s of training; DTW for {len(test_y)} x "
            f"{len(train_y)} pairs took {dtw_seconds:.1f} s)"
        )

        _common.header("Padding does not matter")
        unpadded, noise, ignored = padding_checks(model, x_test, len_test, seed)
        ignored_accuracy = float(np.mean(ignored.argmax(-1) == test_y))
        changed = float(np.mean(ignored.argmax(-1) != predicted))
        print(
            f"max |p(padded batch) - p(each row at its own length, no padding)| "
            f"= {unpadded:.2e}"
        )
        print(
            "max |p(padded batch) - p(padding replaced by noise, 40 frames)| "
            f"= {noise:.2e}"
        )
        print(
            f"lengths ignored (the {timesteps - len_test.mean():.1f} padding "
            f"frames of a row, on average, read as data): {changed:.1%} of the "
            f"predictions change, test accuracy {ignored_accuracy:.3f}"
        )
        plots = _common.plot_report(
            history,
            matrix,
            CLASS_NAMES,
            out,
            history_title="JapaneseVowels: DynamicRNN(PeepholeLSTMCell), "
            "network 1 (its held-out fold as validation)",
            matrix_title=f"JapaneseVowels, test accuracy {accuracy:.3f}",
        )
    print(f"plots: {', '.join(map(str, plots))}; {total.seconds:.1f} s in all")
    return {
        "test_accuracy": accuracy,
        "val_accuracy": val_accuracy,
        "dtw_1nn_accuracy": dtw,
        "summary_1nn_accuracy": summary,
        "max_diff_unpadded": unpadded,
        "max_diff_noise_padding": noise,
        "lengths_ignored_accuracy": ignored_accuracy,
        "epochs": sum(len(h.history["loss"]) for h in histories),
        "fit_seconds": timer.seconds,
        "plots": [str(path) for path in plots],
        "seconds": total.seconds,
    }
