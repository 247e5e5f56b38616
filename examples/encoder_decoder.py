"""Encoder-decoder: a bidirectional encoder's concatenated state starts a decoder.

The tutorial's machine-translation shape. The encoder reads a source sequence
in both directions (`BidirectionalEncoder`); its final states, concatenated
component-wise (h with h, c with c, as the tutorial's `LSTMStateTuple`),
initialise an LSTM decoder twice as wide, trained with teacher forcing. The
task is small and self-contained: "translate" a variable-length sequence of
digits into the same digits reversed. Rows are padded with 0 and the lengths
come from `Embedding(mask_zero=True)`; padded target steps are left out of
the loss and of the accuracy.

    python examples/encoder_decoder.py           # ~1 minute on 2 cores
    python examples/encoder_decoder.py --quick   # a smoke run (tests use it)
"""

import argparse
import pathlib

import keras
import numpy as np

import keras_rnnkit

VOCAB = 12  # 0 = padding, 1 = start, 2..11 = the digits 0..9
START = 1


def make_data(n, max_len=8, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, max_len + 1, size=n)
    source = np.zeros((n, max_len), "int32")
    target = np.zeros((n, max_len), "int32")
    for row, length in enumerate(lengths):
        digits = rng.integers(2, VOCAB, size=length)
        source[row, :length] = digits
        target[row, :length] = digits[::-1]
    decoder_in = np.concatenate([np.full((n, 1), START), target[:, :-1]], axis=1)
    decoder_in[target == 0] = 0  # padding stays padding
    return source, decoder_in.astype("int32"), target


def build(units=64):
    source = keras.Input((None,), dtype="int32", name="source")
    decoder_in = keras.Input((None,), dtype="int32", name="decoder_in")
    embedded = keras.layers.Embedding(VOCAB, 32, mask_zero=True)(source)
    _, h, c = keras_rnnkit.BidirectionalEncoder(
        keras.layers.LSTMCell(units), return_state=True
    )(embedded)
    decoded = keras_rnnkit.DynamicRNN(
        keras.layers.LSTMCell(2 * units), return_sequences=True
    )(
        keras.layers.Embedding(VOCAB, 32, mask_zero=True)(decoder_in),
        initial_state=[h, c],
    )
    logits = keras.layers.Dense(VOCAB)(decoded)
    model = keras.Model([source, decoder_in], logits)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def token_accuracy(model, source, decoder_in, target):
    predicted = model.predict([source, decoder_in], verbose=0).argmax(-1)
    valid = target != 0
    return float((predicted[valid] == target[valid]).mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--quick", action="store_true", help="2 epochs, less data")
    parser.add_argument("--out", default="runs/encoder_decoder")
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    n_train = 512 if args.quick else 6000
    epochs = 2 if args.quick else args.epochs
    train = make_data(n_train, seed=0)
    test = make_data(500, seed=1)
    model = build()
    # Padded target steps carry weight 0: the masked loss of the tutorial.
    weights = (train[2] != 0).astype("float32")
    model.fit(
        list(train[:2]),
        train[2],
        sample_weight=weights,
        epochs=epochs,
        batch_size=64,
        verbose=2,
    )
    accuracy = token_accuracy(model, *test)
    print(f"teacher-forced token accuracy on {len(test[0])} test rows: {accuracy:.4f}")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "encoder_decoder.keras")
    reloaded = keras.saving.load_model(out / "encoder_decoder.keras")
    same = np.allclose(
        reloaded.predict(list(test[:2]), verbose=0),
        model.predict(list(test[:2]), verbose=0),
        atol=1e-5,
    )
    print(f"saved and reloaded {out / 'encoder_decoder.keras'}; same outputs: {same}")
    return accuracy


if __name__ == "__main__":
    main()
