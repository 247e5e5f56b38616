"""Chinese word segmentation: BMES tags, a BiLSTM and a constrained CRF.

Chinese is written without spaces; segmenting a sentence into words is
tagging each character B (begins a word), M (inside one), E (ends one) or
S (a word of its own) - the BMES scheme. The data is the hand-segmented
People's Daily corpus of January 1998 (`datasets.load_peoples_daily`, the
file of the pos-tagging recipe), cut into sentences after 。！？； (pieces
of at most `MAX_LEN` characters, cut between words) and split 80/10/10 by
sentence, once (NumPy seed 0), into training, validation and test.

Each character is read with its two character bigrams (itself with the
character before it, and with the one after it), three embeddings
(`mask_zero=True`: padding is masked); a `BidirectionalEncoder` runs an
LSTM both ways over the sentence, a `Dense` layer scores the four tags at
every character, and `keras_rnnkit.CRF` with the BMES constraints
(`crf.allowed_transitions("BMES", ...)`: M and E only after B or M, a
word never left open) learns the transitions and decodes the best valid
tag sequence, trained by `CRFLoss`. The same network with a softmax over
the tags of each character (masked cross-entropy, argmax decoding) is the
first baseline; forward maximum matching with the dictionary of training
words (at each character, the longest dictionary word that starts there)
is the second.

Scores are word precision, recall and F1 (a word is right when both its
ends are: the SIGHAN bakeoff's measure) and the recall of the test words
never seen in training (OOV recall). Characters and bigrams seen once in
training become one unknown id, so that the networks learn what to do
with unseen ones. Every choice was made on the validation set; the test
set is read once per model, by the weights of its best validation F1.

    python -m keras_rnnkit.recipes word-segmentation           # full run
    python -m keras_rnnkit.recipes word-segmentation --quick   # smoke run
"""

import collections

import keras
import numpy as np

import keras_rnnkit
from keras_rnnkit.recipes import _common, datasets

MAX_LEN = 120  # characters per row
QUICK_LEN = 48  # the quick run's sentences, all padded to this
BUCKET = 16  # rows are padded to a multiple of this (few shapes to compile)
TAGS = ("B", "M", "E", "S")
B, M, E, S = range(4)
INPUTS = ("chars", "left_bigrams", "right_bigrams")
ENDS = frozenset("。！？；")
PAD, UNK = 0, 1
BOUNDARY = "\x02"  # stands for the character before the first, after the last


def sentences(lines):
    """Cuts lines of words into sentences after 。！？；, and sentences
    longer than `MAX_LEN` characters into pieces (between words)."""
    rows = []
    for words in lines:
        row, size = [], 0
        for word in words:
            if row and size + len(word) > MAX_LEN:
                rows.append(row)
                row, size = [], 0
            row.append(word)
            size += len(word)
            if word in ENDS:
                rows.append(row)
                row, size = [], 0
        if row:
            rows.append(row)
    return rows


def split(rows):
    """The fixed 80/10/10 split of sentences: ``(train, val, test)``."""
    order = np.random.default_rng(0).permutation(len(rows))
    tenth = len(rows) // 10
    pick = lambda ids: [rows[i] for i in ids]  # noqa: E731
    return pick(order[2 * tenth :]), pick(order[tenth : 2 * tenth]), pick(order[:tenth])


def bmes(words):
    """The BMES tag ids of the characters of `words`."""
    tags = []
    for word in words:
        if len(word) == 1:
            tags.append(S)
        else:
            tags += [B] + [M] * (len(word) - 2) + [E]
    return tags


def spans(words):
    """The words of a sentence as ``(start, end)`` character offsets."""
    out, start = [], 0
    for word in words:
        out.append((start, start + len(word)))
        start += len(word)
    return out


def tag_spans(tags):
    """Words from tag ids, whatever their sequence: a word starts at the
    first character and at every B or S (what a softmax tagger's invalid
    sequences, e.g. B B or M after S, are read as)."""
    starts = [0] + [i for i in range(1, len(tags)) if tags[i] in (B, S)]
    return list(zip(starts, [*starts[1:], len(tags)], strict=True))


def forward_maximum_matching(text, dictionary, longest):
    """Segments `text` greedily: at each character, the longest word of
    `dictionary` (up to `longest` characters) that starts there, else the
    character alone. Returns the words' ``(start, end)`` spans."""
    out, i = [], 0
    while i < len(text):
        for size in range(min(longest, len(text) - i), 0, -1):
            if size == 1 or text[i : i + size] in dictionary:
                out.append((i, i + size))
                i += size
                break
    return out


def score(gold_rows, predicted_spans, known_words):
    """Word precision, recall, F1 and the recall of out-of-vocabulary words.

    Args:
        gold_rows: the gold sentences, lists of words.
        predicted_spans: one list of ``(start, end)`` per sentence.
        known_words: the training words (a set).

    Returns:
        A dict with ``precision``, ``recall``, ``f1``, ``oov_recall``,
        ``oov_rate`` (share of gold words never seen in training).
    """
    right = predicted = gold = oov = oov_right = 0
    for words, guess in zip(gold_rows, predicted_spans, strict=True):
        truth = spans(words)
        hits = set(truth) & set(guess)
        right += len(hits)
        predicted += len(guess)
        gold += len(truth)
        for word, span in zip(words, truth, strict=True):
            if word not in known_words:
                oov += 1
                oov_right += span in hits
    precision = right / max(predicted, 1)
    recall = right / max(gold, 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "oov_recall": oov_right / max(oov, 1),
        "oov_rate": oov / max(gold, 1),
    }


class Vocabulary:
    """Ids of the characters and bigrams seen at least twice in training
    (0 is padding, 1 stands for all the others)."""

    def __init__(self, train_rows):
        chars, bigrams = collections.Counter(), collections.Counter()
        for words in train_rows:
            text = "".join(words)
            chars.update(text)
            bigrams.update(self.bigrams(text))
        self.chars = {
            c: i + 2 for i, c in enumerate(c for c, n in chars.items() if n > 1)
        }
        kept = (b for b, n in bigrams.items() if n > 1)
        self.bigram_ids = {b: i + 2 for i, b in enumerate(kept)}

    @staticmethod
    def bigrams(text):
        padded = BOUNDARY + text + BOUNDARY
        return [padded[i : i + 2] for i in range(len(padded) - 1)]

    def encode(self, text):
        """``(length, 3)`` int32 ids: character, left and right bigram."""
        pairs = [self.bigram_ids.get(b, UNK) for b in self.bigrams(text)]
        chars = [self.chars.get(c, UNK) for c in text]
        return np.array([chars, pairs[:-1], pairs[1:]], "int32").T.reshape(-1, 3)


def batches(ids, tag_ids, shuffle=False, seed=0, width=None, batch_size=64):
    """Padded batches of sentences of similar length (`LengthBatches`):
    ``(inputs, tags, weights)``, weights 1 at characters, 0 at padding."""
    inputs = {name: [row[:, i] for row in ids] for i, name in enumerate(INPUTS)}
    return keras_rnnkit.LengthBatches(
        inputs,
        tag_ids,
        sample_weight="mask",
        batch_size=batch_size,
        pad_to_multiple_of=width or BUCKET,
        shuffle=shuffle,
        seed=seed,
    )


def build(n_chars, n_bigrams, crf=True, units=100, embedding=64, dropout=0.2):
    """The tagger: character and bigram embeddings, a bidirectional LSTM,
    tag scores, and a constrained CRF (or, with ``crf=False``, a softmax)."""
    inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in INPUTS}
    bigram = keras.layers.Embedding(n_bigrams, embedding, mask_zero=True)
    x = keras.layers.Concatenate()(
        [
            keras.layers.Embedding(n_chars, embedding, mask_zero=True)(inputs["chars"]),
            bigram(inputs["left_bigrams"]),
            bigram(inputs["right_bigrams"]),
        ]
    )
    x = keras.layers.Dropout(dropout)(x)
    x = keras_rnnkit.BidirectionalEncoder(keras.layers.LSTMCell(units), name="bi_lstm")(
        x
    )
    x = keras.layers.Dropout(dropout)(x)
    scores = keras.layers.Dense(len(TAGS), name="tag_scores")(x)
    optimizer = keras.optimizers.Adam(2e-3, clipnorm=5.0)
    if crf:
        constraints = keras_rnnkit.crf.allowed_transitions("BMES", TAGS)
        tags = keras_rnnkit.CRF(len(TAGS), constraints=constraints, name="crf")(scores)
        model = keras.Model(inputs, tags, name="bilstm_crf")
        model.compile(
            optimizer,
            loss=keras_rnnkit.CRFLoss(),
            weighted_metrics=[keras.metrics.Accuracy(name="accuracy")],
        )
        return model
    model = keras.Model(inputs, scores, name="bilstm_softmax")
    model.compile(
        optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight"
        ),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return model


def predict_spans(model, data, crf=True):
    """The predicted words of every sentence of `data`, in input order."""
    outputs = data.predict(model, per_step=True)
    tags = outputs if crf else [scores.argmax(-1) for scores in outputs]
    return [tag_spans(list(row)) for row in tags]


class ValidationF1(keras.callbacks.Callback):
    """Adds ``val_word_f1``, the word F1 on the validation set, to the logs
    of every epoch (for early stopping and the report)."""

    def __init__(self, data, rows, known_words, crf):
        super().__init__()
        self.data, self.rows, self.known, self.crf = data, rows, known_words, crf

    def on_epoch_end(self, epoch, logs=None):
        spans_ = predict_spans(self.model, self.data, self.crf)
        logs["val_word_f1"] = score(self.rows, spans_, self.known)["f1"]


def train(name, crf, sizes, train_data, val_data, val_rows, known, epochs, quick, seed):
    keras.utils.set_random_seed(seed)
    model = build(*sizes, crf=crf)
    with _common.Timer() as timer:
        history = model.fit(
            train_data,
            epochs=epochs,
            callbacks=[
                ValidationF1(val_data, val_rows, known, crf),
                # the networks overfit after 2 or 3 epochs: stop at the
                # first epoch that does not raise the validation F1, and
                # keep the weights of the best one
                keras.callbacks.EarlyStopping(
                    monitor="val_word_f1",
                    mode="max",
                    patience=1,
                    restore_best_weights=True,
                ),
            ],
            verbose=_common.fit_verbosity(quick),
        )
    f1s = history.history["val_word_f1"]
    print(
        f"{name}: validation word F1 per epoch "
        f"{', '.join(f'{f:.4f}' for f in f1s)}; weights of epoch "
        f"{int(np.argmax(f1s)) + 1} kept; {timer.seconds:.0f} s"
    )
    return model, history, timer.seconds


def plot_scores(results, path):
    plt = _common.pyplot()
    names = list(results)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    position = np.arange(3)
    for k, name in enumerate(names):
        values = [results[name][key] for key in ("precision", "recall", "f1")]
        ax.bar(position + (k - 1) * 0.27, values, 0.27, label=name)
    ax.set_xticks(position, ["word precision", "word recall", "word F1"])
    low = min(results[n][key] for n in names for key in ("precision", "recall", "f1"))
    ax.set_ylim(max(0.0, low - 0.05), 1.0)
    ax.set_title("test set")
    ax.legend(loc="lower right")
    return _common.save_figure(fig, path)


def _short(rows, count):
    """The first `count` sentences of at most `QUICK_LEN` characters."""
    return [r for r in rows if len("".join(r)) <= QUICK_LEN][:count]


def run(quick=False, out="runs/word-segmentation", epochs=None, seed=0):
    out = _common.setup(out, seed)
    _common.header("word-segmentation: People's Daily 1998-01, BMES tagging")
    with _common.Timer() as total:
        lines, _ = datasets.load_peoples_daily()
        rows = sentences(lines)
        train_rows, val_rows, test_rows = split(rows)
        if quick:  # a slice of the sentences of at most QUICK_LEN characters
            train_rows, val_rows, test_rows = (
                _short(train_rows, 400), _short(val_rows, 60), _short(test_rows, 100)
            )  # fmt: skip
        vocab = Vocabulary(train_rows)
        known = {w for words in train_rows for w in words}
        n_chars = sum(len("".join(w)) for w in train_rows)
        print(
            f"{len(lines):,} lines -> {len(rows):,} sentences (pieces of at most "
            f"{MAX_LEN} characters); split by sentence 80/10/10: "
            f"{len(train_rows):,} / {len(val_rows):,} / {len(test_rows):,}"
            f" ({n_chars:,} training characters)"
            + (" [quick: a slice]" if quick else "")
        )
        print(
            f"{len(vocab.chars):,} characters and {len(vocab.bigram_ids):,} bigrams "
            f"seen twice or more in training (the rest: one unknown id each); "
            f"{len(known):,} training words"
        )

        def encode(rows_):
            ids = [vocab.encode("".join(words)) for words in rows_]
            tags = [np.array(bmes(words), "int32") for words in rows_]
            return ids, tags

        width = QUICK_LEN if quick else None  # quick: one shape, one trace
        train_data = batches(*encode(train_rows), shuffle=True, seed=seed, width=width)
        val_data = batches(*encode(val_rows), width=width)
        test_data = batches(*encode(test_rows), width=width)
        sizes = (len(vocab.chars) + 2, len(vocab.bigram_ids) + 2)
        epochs = epochs or (1 if quick else 4)

        results, histories, seconds = {}, {}, {}
        for name, crf in (("BiLSTM-CRF", True), ("BiLSTM-softmax", False)):
            _common.header(f"{name}: training")
            model, histories[name], seconds[name] = train(
                name,
                crf,
                sizes,
                train_data,
                val_data,
                val_rows,
                known,
                epochs,
                quick,
                seed,
            )
            results[name] = score(
                test_rows, predict_spans(model, test_data, crf), known
            )

        dictionary = {w for w in known if len(w) > 1}
        longest = max(map(len, known))
        fmm = [
            forward_maximum_matching("".join(w), dictionary, longest) for w in test_rows
        ]
        results["forward maximum matching"] = score(test_rows, fmm, known)

        _common.header("test set")
        oov_rate = results["BiLSTM-CRF"]["oov_rate"]
        print(
            f"{sum(len(w) for w in test_rows):,} test words, "
            f"{100 * oov_rate:.2f} % of them never seen in training"
        )
        print(f"{'':28s}{'precision':>10s}{'recall':>8s}{'F1':>8s}{'OOV recall':>12s}")
        for name, r in results.items():
            print(
                f"{name:28s}{r['precision']:10.4f}{r['recall']:8.4f}{r['f1']:8.4f}"
                f"{r['oov_recall']:12.4f}"
            )
        print("(forward maximum matching: the training words as its dictionary)")
        figures = {"oov_rate": oov_rate}
        for name, key in (
            ("BiLSTM-CRF", "crf"),
            ("BiLSTM-softmax", "softmax"),
            ("forward maximum matching", "fmm"),
        ):
            for measure in ("precision", "recall", "f1", "oov_recall"):
                figures[f"{key}_{measure}"] = results[name][measure]
        for name, key in (("BiLSTM-CRF", "crf"), ("BiLSTM-softmax", "softmax")):
            f1s = histories[name].history["val_word_f1"]
            figures[f"{key}_epochs"] = len(f1s)
            figures[f"{key}_val_f1"] = float(max(f1s))
            figures[f"{key}_train_seconds"] = seconds[name]
        plots = [
            _common.plot_history(
                histories["BiLSTM-CRF"],
                out / "word_segmentation_history.png",
                metrics=("loss", "word_f1"),
                title="BiLSTM-CRF on People's Daily (validation word F1)",
            ),
            plot_scores(results, out / "word_segmentation_scores.png"),
        ]
    figures["plots"] = [str(p) for p in plots]
    figures["seconds"] = total.seconds
    print(f"plots: {', '.join(figures['plots'])}")
    print(f"wall time {total.seconds:.0f} s")
    return figures
