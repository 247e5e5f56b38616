"""Chinese part-of-speech tagging: a bidirectional peephole LSTM, softmax and CRF.

The tutorial's bi-RNN section (双向RNN: every output sees the whole
sentence, past and future) on a token tagging task: the People's Daily
corpus of January 1998 (`keras_rnnkit.recipes.datasets.load_peoples_daily`, 44 PKU
tags). Each word gets an embedding (`Embedding(mask_zero=True)`, so padding
is masked) joined with embeddings of its first and last characters (they
tell much about words never seen in training: 年 ends time words, 省 place
names); a `BidirectionalEncoder` runs a `PeepholeLSTMCell` both ways (the
backward direction reverses each sentence within its valid words only); a
`Dense` layer scores the tags of every word. Two heads read the scores,
trained one after the other with the same schedule and reported side by
side: a softmax per word (masked cross-entropy, argmax decoding) and a
linear-chain CRF (`keras_rnnkit.CRF` with `CRFLoss`: transition scores
between consecutive tags, Viterbi decoding). Padding carries sample weight
0: it counts in neither the loss (the mean over real words; for the CRF,
over sentences) nor the accuracy.

The split is fixed (independent of ``seed``): the corpus's lines
(paragraphs) are shuffled once with NumPy seed 0 and cut 80/10/10 into
training, validation and test lines; the lines are then cut into sentences
(after 。！？；) and into pieces of at most 80 words. The vocabulary is the
training words seen at least twice; the others become one unknown-word id,
so the model learns to tag unknown words from their context. The baseline
is the most frequent tag of each word in the training lines (the most
frequent tag overall for unknown words).

    python -m keras_rnnkit.recipes pos-tagging           # full run
    python -m keras_rnnkit.recipes pos-tagging --quick   # smoke run
"""

import collections

import keras
import numpy as np

import keras_rnnkit
from keras_rnnkit.recipes import _common, datasets

MAX_LEN = 80  # words per training row
BUCKET = 16  # rows are padded to a multiple of this (few shapes to compile)
PAD, UNK = 0, 1
INPUTS = ("words", "first_char", "last_char")
ENDS = frozenset("。！？；")
TOP_TAGS = 12  # the per-tag report shows these, the rest as "other"
TAG_NAMES = {
    "n": "noun", "v": "verb", "w": "punctuation", "u": "auxiliary",
    "d": "adverb", "vn": "verbal noun", "m": "numeral", "p": "preposition",
    "nr": "person name", "a": "adjective", "r": "pronoun", "ns": "place name",
    "c": "conjunction", "q": "classifier", "t": "time word", "f": "locality",
    "j": "abbreviation", "b": "distinguishing word", "l": "idiom (l)",
    "ad": "adverbial adjective", "i": "idiom (i)",
}  # fmt: skip


def split_lines(n_lines):
    """The fixed 80/10/10 split of line indices: ``(train, val, test)``."""
    order = np.random.default_rng(0).permutation(n_lines)
    tenth = n_lines // 10
    return order[2 * tenth :], order[tenth : 2 * tenth], order[:tenth]


def sentences(words, tags, lines):
    """Cuts `lines` into sentences of at most `MAX_LEN` words."""
    rows = []
    for i in lines:
        start = 0
        for end, word in enumerate(words[i], start=1):
            if word in ENDS or end - start == MAX_LEN or end == len(words[i]):
                rows.append((words[i][start:end], tags[i][start:end]))
                start = end
    return rows


def batches(ids, tag_ids, shuffle=False, seed=0, width=None):
    """Padded batches of sentences of similar length (`keras_rnnkit.LengthBatches`).

    `ids` holds one ``(length, 3)`` array per sentence: the ids of each word,
    of its first character and of its last character. Each batch is
    ``(inputs, tag_ids, weights)``, `inputs` a dict of the three id arrays
    padded to a multiple of `BUCKET` words (to `width` words if given: one
    shape, one graph to trace, which is what a short run needs), weights 1
    at words and 0 at padding.
    """
    inputs = {name: [row[:, i] for row in ids] for i, name in enumerate(INPUTS)}
    return keras_rnnkit.LengthBatches(
        inputs,
        tag_ids,
        sample_weight="mask",
        batch_size=128,
        pad_to_multiple_of=width or BUCKET,
        shuffle=shuffle,
        seed=seed,
    )


def build(vocab_size, n_chars, n_tags, units=64, embedding=96, dropout=0.25, crf=False):
    """The tagger: word + first/last character embeddings, a bidirectional
    peephole LSTM and a Dense layer of tag scores for every word; then a
    softmax (the default) or, with ``crf=True``, a `keras_rnnkit.CRF`."""
    inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in INPUTS}
    # Id 0 is padding in all three inputs. Every embedding must mask it:
    # `Concatenate` keeps a step when any input's mask keeps it, so a single
    # unmasked input would unmask every padded step.
    x = keras.layers.Concatenate()(
        [
            keras.layers.Embedding(vocab_size, embedding, mask_zero=True)(
                inputs["words"]
            ),
            keras.layers.Embedding(n_chars, 32, mask_zero=True)(inputs["first_char"]),
            keras.layers.Embedding(n_chars, 32, mask_zero=True)(inputs["last_char"]),
        ]
    )
    x = keras.layers.Dropout(dropout)(x)
    x = keras_rnnkit.BidirectionalEncoder(
        keras_rnnkit.PeepholeLSTMCell(units), name="bi_peephole_lstm"
    )(x)
    x = keras.layers.Dropout(dropout)(x)
    logits = keras.layers.Dense(n_tags, name="tag_logits")(x)
    if crf:
        tags = keras_rnnkit.CRF(n_tags, name="crf")(logits)
        model = keras.Model(inputs, tags, name="pos_tagger_crf")
        model.compile(
            optimizer=keras.optimizers.Adam(3e-3),
            # the mean over the sentences of a batch of -log p(tags)
            loss=keras_rnnkit.CRFLoss(),
            weighted_metrics=[keras.metrics.Accuracy(name="accuracy")],
        )
        return model
    model = keras.Model(inputs, logits, name="pos_tagger")
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        # The mean over the words of a batch: padding has weight 0 and is
        # left out of the divisor too (Keras's default divides by all steps).
        loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight"
        ),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return model


def predict_tags(model, data, crf=False):
    """Predicted tag ids of every sentence of `data` (from `batches`), in
    the sentences' order, one array per sentence, padding cut off."""
    outputs = data.predict(model, per_step=True)
    return outputs if crf else [logits.argmax(-1) for logits in outputs]


def fit_head(model, train_batches, val_batches, epochs, quick):
    """Fits with the recipe's schedule; returns ``(history, seconds)``."""
    with _common.Timer() as fit_time:
        history = model.fit(
            train_batches,
            validation_data=val_batches,
            epochs=epochs,
            callbacks=[
                # halve the learning rate when the validation loss stalls;
                # keep the weights of the best validation accuracy
                keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=1),
                _common.early_stopping(monitor="val_accuracy", patience=2),
            ],
            verbose=_common.fit_verbosity(quick),
        )
    val_accuracy = history.history["val_accuracy"]
    print(
        f"{model.name}: validation accuracy per epoch: "
        f"{', '.join(f'{a:.4f}' for a in val_accuracy)}; "
        f"weights of epoch {int(np.argmax(val_accuracy)) + 1} kept; "
        f"{fit_time.seconds:.0f} s"
    )
    return history, fit_time.seconds


def _recall(predicted, gold, tag):
    """Share of the tokens of gold tag `tag` predicted right (0 if none)."""
    where = gold == tag
    return float(np.mean(predicted[where] == tag)) if where.any() else 0.0


def plot_per_tag(names, series, path):
    """Bars of recall per tag; `series` maps a label to one value per tag."""
    plt = _common.pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.8))
    position = np.arange(len(names))
    width = 0.8 / len(series)
    for k, (label, values) in enumerate(series.items()):
        offset = (k - (len(series) - 1) / 2) * width
        ax.bar(position + offset, values, width, label=label)
    ax.set_xticks(position, names, rotation=45, ha="right")
    low = min(min(values) for values in series.values())
    ax.set_ylim(min(0.5, low - 0.05), 1.0)
    ax.set_ylabel("token accuracy (recall)")
    ax.set_title("test accuracy per gold tag")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=len(series))
    _common.save_figure(fig, path)
    return path


def run(quick=False, out="runs/pos-tagging", epochs=None, seed=0):
    out = _common.setup(out, seed)
    _common.header("pos-tagging: People's Daily 1998-01, bidirectional LSTM tagger")
    with _common.Timer() as total:
        words, tags = datasets.load_peoples_daily()
        train_lines, val_lines, test_lines = split_lines(len(words))
        if quick:
            train_lines, val_lines, test_lines = (
                train_lines[:400], val_lines[:60], test_lines[:100]
            )  # fmt: skip
        train, val, test = (
            sentences(words, tags, lines)
            for lines in (train_lines, val_lines, test_lines)
        )

        counts = collections.Counter(w for row, _ in train for w in row)
        vocab = {w: i + 2 for i, w in enumerate(w for w, c in counts.items() if c > 1)}
        tag_counts = collections.Counter(t for _, row in train for t in row)
        tag_names = [t for t, _ in tag_counts.most_common()]
        tag_names += sorted({t for row in tags for t in row} - set(tag_names))
        tag_index = {t: i for i, t in enumerate(tag_names)}
        char_counts = collections.Counter()  # first and last characters
        for w, n in counts.items():
            for c in {w[0], w[-1]}:
                char_counts[c] += n
        kept = (c for c, n in char_counts.items() if n > 1)
        chars = {c: i + 2 for i, c in enumerate(kept)}

        def encode(rows):
            ids = [
                np.array(
                    [
                        (vocab.get(w, UNK), chars.get(w[0], UNK), chars.get(w[-1], UNK))
                        for w in r
                    ],
                    "int32",
                ).reshape(-1, 3)
                for r, _ in rows
            ]
            labels = [np.array([tag_index[t] for t in r], "int32") for _, r in rows]
            return ids, labels

        print(
            f"{len(words):,} lines, {sum(map(len, words)):,} tokens, "
            f"{len(tag_names)} tags; split by lines 80/10/10 "
            f"({len(train_lines):,} / {len(val_lines):,} / {len(test_lines):,}"
            f" lines = {len(train):,} / {len(val):,} / {len(test):,} sentences)"
            + (" [quick: a slice]" if quick else "")
        )
        print(
            f"vocabulary: {len(vocab):,} training words seen twice or more "
            f"(of {len(counts):,}); the rest -> one unknown-word id; "
            f"{len(chars):,} first/last characters"
        )

        # Baseline: each word's most frequent training tag.
        per_word = collections.defaultdict(collections.Counter)
        for row, row_tags in train:
            for w, t in zip(row, row_tags, strict=True):
                per_word[w][t] += 1
        most_frequent = {w: c.most_common(1)[0][0] for w, c in per_word.items()}
        overall = tag_names[0]

        width = MAX_LEN if quick else None
        train_batches = batches(*encode(train), shuffle=True, seed=seed, width=width)
        val_batches = batches(*encode(val), width=width)
        test_ids, test_tags = encode(test)
        test_batches = batches(test_ids, test_tags, width=width)

        epochs = epochs or (1 if quick else 8)
        sizes = (len(vocab) + 2, len(chars) + 2, len(tag_names))
        histories, seconds, predicted = {}, {}, {}
        for head in ("softmax", "crf"):
            _common.header(f"training the {head} head")
            keras.utils.set_random_seed(seed)
            model = build(*sizes, crf=head == "crf")
            histories[head], seconds[head] = fit_head(
                model, train_batches, val_batches, epochs, quick
            )
            predicted[head] = np.concatenate(
                predict_tags(model, test_batches, crf=head == "crf")
            )

        _common.header("test set")
        gold = np.concatenate(test_tags)
        test_words = [w for row, _ in test for w in row]
        baseline = np.array(
            [tag_index[most_frequent.get(w, overall)] for w in test_words]
        )
        unknown = np.array([w not in per_word for w in test_words])
        guesses = {"softmax": predicted["softmax"], "crf": predicted["crf"]}
        guesses["baseline"] = baseline
        figures = {"unknown_word_rate": float(unknown.mean())}
        # the softmax head's figures keep their names (accuracy, ...);
        # the CRF's and the baseline's are prefixed
        prefixes = {"softmax": "", "crf": "crf_", "baseline": "baseline_"}
        for name, guess in guesses.items():
            p = prefixes[name]
            figures[f"{p}accuracy"] = float(np.mean(guess == gold))
            figures[f"{p}unknown_word_accuracy"] = float(
                np.mean(guess[unknown] == gold[unknown])
            )
            figures[f"{p}known_word_accuracy"] = float(
                np.mean(guess[~unknown] == gold[~unknown])
            )
        for head in ("softmax", "crf"):
            p = prefixes[head]
            val_accuracy = histories[head].history["val_accuracy"]
            figures[f"{p}epochs"] = len(val_accuracy)
            figures[f"{p}best_epoch"] = int(np.argmax(val_accuracy)) + 1
            figures[f"{p}val_accuracy"] = float(max(val_accuracy))
            figures[f"{p}train_seconds"] = seconds[head]
        print(f"{len(gold):,} test tokens (padding excluded)")
        print(f"{'':34s}{'softmax':>8s}{'CRF':>8s}{'baseline':>10s}")
        rows = (
            ("token accuracy", "accuracy"),
            (
                "words unseen in training (%.1f %%)" % (100 * unknown.mean()),
                "unknown_word_accuracy",
            ),
            ("words seen in training", "known_word_accuracy"),
        )
        for label, key in rows:
            print(
                f"{label:34s}{figures[key]:8.4f}{figures['crf_' + key]:8.4f}"
                f"{figures['baseline_' + key]:10.4f}"
            )
        print("(baseline: most frequent training tag of the word; unseen words get")
        print(f" the most frequent tag overall, {overall!r})")

        # Per-tag report: the most frequent tags, the others pooled as "other".
        top = tag_names[:TOP_TAGS]
        names = [f"{t} {TAG_NAMES.get(t, '')}".strip() for t in top] + ["other"]
        pooled = lambda ids: np.minimum(ids, TOP_TAGS)  # noqa: E731
        print(
            f"\nsoftmax head, per tag (the {TOP_TAGS} most frequent tags; the "
            "rest as 'other'):"
        )
        _common.classification_report(pooled(gold), pooled(guesses["softmax"]), names)
        print("(this table's accuracy pools the other tags, so that a confusion")
        print(" among them counts as right: the token accuracy is the one above)")
        recall = {
            name: [_recall(guess, gold, i) for i in range(TOP_TAGS)]
            for name, guess in guesses.items()
        }
        print(f"\nrecall per tag{'softmax':>14s}{'CRF':>8s}{'baseline':>10s}")
        for i, tag in enumerate(top):
            print(
                f"  {tag:18s}{recall['softmax'][i]:8.4f}{recall['crf'][i]:8.4f}"
                f"{recall['baseline'][i]:10.4f}"
            )
            for name in guesses:
                figures[f"{prefixes[name]}recall_{tag}"] = recall[name][i]

        plots = [
            _common.plot_history(
                histories["softmax"],
                out / "pos_tagging_history.png",
                metrics=("loss", "accuracy"),
                title="People's Daily POS tagging, softmax head (padding masked)",
            ),
            _common.plot_history(
                histories["crf"],
                out / "pos_tagging_crf_history.png",
                metrics=("loss", "accuracy"),
                title="People's Daily POS tagging, CRF head",
            ),
            plot_per_tag(
                top,
                {
                    "most frequent tag per word": recall["baseline"],
                    "BiLSTM + softmax": recall["softmax"],
                    "BiLSTM + CRF": recall["crf"],
                },
                out / "pos_tagging_per_tag.png",
            ),
        ]
    figures["plots"] = [str(p) for p in plots]
    figures["seconds"] = total.seconds
    print(f"plots: {', '.join(figures['plots'])}")
    print(
        f"wall time {total.seconds:.0f} s (training: softmax "
        f"{seconds['softmax']:.0f} s, CRF {seconds['crf']:.0f} s)"
    )
    return figures
