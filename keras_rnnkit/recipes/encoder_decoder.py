"""Encoder-decoder: spelling to phonemes for unseen words; attention, beam search.

The tutorial's delayed seq-to-seq (Encoder-Decoder, 机器翻译): an encoder
reads the whole input, and its final state starts a decoder that writes the
output, one symbol at a time. The task is grapheme-to-phoneme conversion
(G2P) on the CMU Pronouncing Dictionary: write the pronunciation of an
English word from its spelling (``phoneme`` -> ``F OW N IY M``), tested on
words that are in no training example, where a dictionary lookup has
nothing to look up.

As in the tutorial's `bidirectional_dynamic_rnn` code, a
`BidirectionalEncoder` reads the letters of the word both ways and returns
its outputs (one per letter) and its final states concatenated
component-wise (h with h, c with c: the tutorial's
`LSTMStateTuple(c=concat(...), h=concat(...))`); they initialise an LSTM
decoder twice as wide that writes the phonemes. Two models are trained the
same way: one whose decoder reads only the previous phonemes (everything
about the word passes through the encoder's final state), and one whose
decoder also attends over the letters' outputs at every step
(`keras_rnnkit.seq2seq.AttentionWrapper` with Luong's scaled attention,
the memory given through `WithMemory`). Training uses teacher forcing (the
decoder reads the true previous phoneme), with a masked loss: padding
counts neither in the loss nor in the accuracy. The number of epochs is
chosen on the validation words (early stopping on the validation loss,
best weights restored; the learning rate drops when the validation loss
stops falling). At test time the decoder reads its own previous phoneme,
from a start symbol until it writes the end symbol: greedily for both
models (`seq2seq.BasicDecoder`), and with beam search for the attention
model (`seq2seq.BeamSearchDecoder`, 5 beams), both inside Keras models
built from the trained layers.

Data (`keras_rnnkit.recipes.datasets.load_cmudict`): the words spelt with
the letters a-z and the apostrophe; one pronunciation per word, the
dictionary's first (main) one, for training and for the error rates (a
second word error rate also accepts any listed variant); stress digits
stripped, leaving the 39 phonemes of ARPAbet (stress is a separate,
word-level problem, and the 39-phoneme setting is the usual one for G2P on
this dictionary). The words are split once (NumPy seed 0, independent of
``seed``) 80/10/10 into training, validation and test words; the full run
trains on a random half of the training words (seed 0) for at most 8
epochs, to stay within about 10 minutes on 2 CPU cores.

Metrics on the test words: word error rate (WER, a word is wrong if any
phoneme differs) and phoneme error rate (PER, the edit distance between
the written and the true phonemes, summed, over the true phonemes' total
length). The baseline is not neural: the pronunciation of the nearest
training spelling (the smallest letter edit distance, found exactly with
lower bounds that prune most of the dictionary; ties go to the longest
shared ending, then the alphabetical order).

Where the attention looked while it wrote a few test words is drawn as
letter-by-phoneme grids (``encoder_decoder_alignments.png`` and ``.html``,
from `keras_rnnkit.attention_weights`). The attention model is saved as
``.keras``, reloaded, and the reloaded model decodes the test words again
with beam search: the decoded phonemes must be identical.

    python -m keras_rnnkit.recipes encoder-decoder           # full run
    python -m keras_rnnkit.recipes encoder-decoder --quick   # smoke run
"""

import re

import keras
import numpy as np

import keras_rnnkit
from keras_rnnkit import seq2seq
from keras_rnnkit.recipes import _common, alignment_view, datasets

# ARPAbet without stress digits: 15 vowels and 24 consonants.
PHONEMES = (
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R "
    "S SH T TH UH UW V W Y Z ZH"
).split()
PAD, START, END = 0, 1, 2  # phoneme ids 0-2; the phonemes follow
PHONEME_IDS = {p: i + 3 for i, p in enumerate(PHONEMES)}
N_PHONEMES = len(PHONEMES) + 3
LETTERS = "'abcdefghijklmnopqrstuvwxyz"
UNKNOWN = 1  # letter ids: 0 padding, 1 unknown, then the letters
LETTER_IDS = {letter: i + 2 for i, letter in enumerate(LETTERS)}
N_LETTERS = len(LETTERS) + 2
MAX_LETTERS, MAX_PHONEMES = 20, 24  # quick runs pad to these (one shape)
MAX_STEPS = MAX_PHONEMES + 8  # the most phonemes a decoder writes
SPELLING = re.compile(f"[{LETTERS}]+")


def lexicon(words):
    """`load_cmudict`'s dict cut to the recipe's words, stress stripped.

    Returns a dict (sorted by word) of each word spelt with `LETTERS` to the
    list of its distinct pronunciations without stress digits (tuples of
    `PHONEMES`), the dictionary's main one first.
    """
    kept = {}
    for word in sorted(words):
        if SPELLING.fullmatch(word):
            variants = (tuple(p.rstrip("012") for p in v) for v in words[word])
            kept[word] = list(dict.fromkeys(variants))
    return kept


def split_words(words):
    """The fixed split of the sorted `words`: ``(train, val, test)`` lists.

    NumPy seed 0, 10 % test, 10 % validation, the rest training; each list
    keeps the sorted order.
    """
    words = sorted(words)
    order = np.random.default_rng(0).permutation(len(words))
    tenth = len(words) // 10
    part = np.zeros(len(words), "int64")
    part[order[:tenth]], part[order[tenth : 2 * tenth]] = 2, 1
    pairs = list(zip(words, part, strict=True))
    return tuple([w for w, p in pairs if p == k] for k in range(3))


def spell(ids):
    """The phonemes (tuple of str) of phoneme ids, up to the end symbol."""
    out = []
    for i in ids:
        if i == END:
            break
        if i >= 3:
            out.append(PHONEMES[i - 3])
    return tuple(out)


def encode(words, pronunciations, fixed=False):
    """Padded ``(source, decoder_in, target)`` int32 arrays.

    `source` holds the letter ids of `words`, `target` the phoneme ids of
    `pronunciations` (one tuple of `PHONEMES` per word) then the end symbol;
    `decoder_in` is the target shifted right behind the start symbol
    (teacher forcing). With `fixed`, the arrays have `MAX_LETTERS` and
    `MAX_PHONEMES` columns (longer words are cut), else as many as needed.
    """
    sources = [[LETTER_IDS.get(c, UNKNOWN) for c in word] for word in words]
    targets = [[PHONEME_IDS[p] for p in ph] + [END] for ph in pronunciations]
    width = MAX_LETTERS if fixed else max(map(len, sources))
    steps = MAX_PHONEMES if fixed else max(map(len, targets))
    source = np.zeros((len(words), width), "int32")
    decoder_in = np.zeros((len(words), steps), "int32")
    target = np.zeros((len(words), steps), "int32")
    for row, (s, t) in enumerate(zip(sources, targets, strict=True)):
        s, t = s[:width], t[:steps]
        source[row, : len(s)] = s
        target[row, : len(t)] = t
        decoder_in[row, : len(t)] = [START, *t[:-1]]
    return source, decoder_in, target


def batches(source, decoder_in, target, shuffle=False, seed=0, fixed=False):
    """Batches of words of similar pronunciation length
    (`keras_rnnkit.LengthBatches`), cut to their longest row; with `fixed`,
    the arrays' full width (one shape).

    Each batch is ``(inputs, target, weights)``, `inputs` a dict of the
    `source` and `decoder_in` arrays, weights 1 at phonemes and 0 at padding.
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


@keras.saving.register_keras_serializable(package="keras_rnnkit.recipes")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy from logits against integer targets with label
    smoothing: the target puts ``1 - smoothing`` on the true class and
    spreads ``smoothing`` evenly over all classes (Keras's
    `CategoricalCrossentropy(label_smoothing=...)`, which needs one-hot
    targets; its sparse sibling has no smoothing). Padding is left out by
    a zero sample weight, and the mean divides by the weighted steps.

    >>> import numpy as np
    >>> loss = SmoothedSparseCrossentropy(0.1)
    >>> logits = np.log(np.array([[[0.7, 0.2, 0.1]]], "float32"))
    >>> round(float(loss(np.array([[0]]), logits)), 4)  # .9 * -log .7 + .1 * mean
    0.4633
    """

    def __init__(self, smoothing=0.1, name="smoothed_sparse_crossentropy", **kwargs):
        kwargs.setdefault("reduction", "mean_with_sample_weight")
        super().__init__(name=name, **kwargs)
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(
                f"`smoothing` must be in [0, 1), got smoothing={smoothing!r}."
            )
        self.smoothing = float(smoothing)

    def call(self, y_true, y_pred):
        log_p = keras.ops.log_softmax(y_pred, axis=-1)
        index = keras.ops.expand_dims(keras.ops.cast(y_true, "int32"), -1)
        nll = -keras.ops.squeeze(keras.ops.take_along_axis(log_p, index, -1), -1)
        uniform = -keras.ops.mean(log_p, axis=-1)
        return (1.0 - self.smoothing) * nll + self.smoothing * uniform

    def get_config(self):
        return {**super().get_config(), "smoothing": self.smoothing}


def build(
    units=128, dropout=0.1, attention=False, decoder_dropout=0.0, label_smoothing=0.0
):
    """The training model: ``[source, decoder_in] -> phoneme logits``.

    Without `attention`, the decoder starts from the encoder's final state
    and reads only the previous phonemes. With it, its LSTM cell is wrapped
    in a `keras_rnnkit.seq2seq.AttentionWrapper` with Luong's (scaled)
    attention over the encoder's outputs, one per letter (the memory, padded
    letters masked), given to it through `WithMemory`; the state still
    starts from the encoder's final state.

    `decoder_dropout`: the rate of a `Dropout` on the decoder's outputs
    before the phoneme logits (training only; decoding reads the layers
    around it). `label_smoothing`: trains with `SmoothedSparseCrossentropy`
    instead of the plain cross-entropy.
    """
    source = keras.Input((None,), dtype="int32", name="source")
    decoder_in = keras.Input((None,), dtype="int32", name="decoder_in")
    embedded = keras.layers.Embedding(
        N_LETTERS, 32, mask_zero=True, name="letter_embedding"
    )(source)
    embedded = keras.layers.Dropout(dropout)(embedded)
    # Every letter's output (the memory) and the final states of both
    # directions, concatenated: h (2 * units), c.
    letters, h, c = keras_rnnkit.BidirectionalEncoder(
        keras.layers.LSTMCell(units), return_state=True, name="encoder"
    )(embedded)
    phonemes_in = keras.layers.Embedding(
        N_PHONEMES, 32, mask_zero=True, name="phoneme_embedding"
    )(decoder_in)
    if attention:
        cell = seq2seq.AttentionWrapper(
            keras.layers.LSTMCell(2 * units),
            seq2seq.LuongAttention(2 * units, scale=True),
            attention_layer_size=2 * units,
            name="attention_cell",
        )
        decoded = seq2seq.WithMemory(
            keras_rnnkit.DynamicRNN(cell, return_sequences=True), name="decoder"
        )(phonemes_in, letters, initial_cell_state=[h, c])
    else:
        decoded = keras_rnnkit.DynamicRNN(
            keras.layers.LSTMCell(2 * units), return_sequences=True, name="decoder"
        )(phonemes_in, initial_state=[h, c])
    if decoder_dropout:
        decoded = keras.layers.Dropout(decoder_dropout, name="decoder_dropout")(decoded)
    logits = keras.layers.Dense(N_PHONEMES, name="phoneme_logits")(decoded)
    name = "spelling_to_phonemes" + ("_attention" if attention else "")
    model = keras.Model([source, decoder_in], logits, name=name)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3, clipnorm=1.0),
        # The mean over the phonemes of a batch: padding has weight 0 and is
        # left out of the divisor too (Keras's default divides by all steps).
        loss=SmoothedSparseCrossentropy(label_smoothing)
        if label_smoothing
        else keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight"
        ),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return model


def decoding_model(model, beam_width=1, max_steps=MAX_STEPS, length_penalty_weight=0.0):
    """A model ``source -> [ids, lengths]`` that decodes with `model`'s own
    layers (shared, not copied): greedy (`seq2seq.BasicDecoder` with a
    `GreedyEmbeddingSampler`) or, with `beam_width` > 1, beam search
    (`seq2seq.BeamSearchDecoder`, the best beam kept; no length penalty
    unless `length_penalty_weight`, GNMT's, is given).

    `ids` is int32 ``(rows, max_steps)``, the phonemes written up to and
    including the end symbol (then anything: see `lengths`, the number of
    steps up to and including the end symbol, or `max_steps`).
    """
    source = model.get_layer("source").output
    letters, h, c = model.get_layer("encoder").output
    decoder = model.get_layer("decoder")
    with_memory = isinstance(decoder, seq2seq.WithMemory)
    cell = decoder.layer.cell if with_memory else decoder.cell
    embedding = model.get_layer("phoneme_embedding")
    projection = model.get_layer("phoneme_logits")
    start = keras.ops.full_like(source[:, 0], START)
    if beam_width > 1:
        decode = seq2seq.BeamSearchDecoder(
            cell,
            beam_width=beam_width,
            embedding_fn=embedding,
            output_layer=projection,
            end_token=END,
            length_penalty_weight=length_penalty_weight,
            maximum_iterations=max_steps,
        )
        kwargs = {"start_tokens": start}
    else:
        decode = seq2seq.BasicDecoder(
            cell,
            seq2seq.GreedyEmbeddingSampler(embedding_fn=embedding),
            output_layer=projection,
            maximum_iterations=max_steps,
        )
        kwargs = {"start_tokens": start, "end_token": END}
    if with_memory:
        outputs, _, lengths = seq2seq.WithMemory(decode)(
            None, letters, initial_cell_state=[h, c], **kwargs
        )
    else:
        outputs, _, lengths = decode(None, initial_state=[h, c], **kwargs)
    if beam_width > 1:
        ids, lengths = outputs.predicted_ids[:, :, 0], lengths[:, 0]
    else:
        ids = outputs.sample_id
    return keras.Model(source, [ids, lengths])


def decode(
    model,
    source,
    beam_width=1,
    max_steps=MAX_STEPS,
    batch_size=256,
    length_penalty_weight=0.0,
):
    """The phoneme ids `model` writes for every row of `source`, greedily or
    with beam search (`decoding_model`), as an int32 array ``(rows,
    max_steps)`` with the end symbol repeated after the end (`spell` turns
    a row into phonemes)."""
    decoder = decoding_model(model, beam_width, max_steps, length_penalty_weight)
    ids, lengths = decoder.predict(source, batch_size=batch_size, verbose=0)
    ids = np.asarray(ids, "int32")
    steps = np.arange(ids.shape[1])[None]
    return np.where(steps < np.asarray(lengths)[:, None], ids, END).astype("int32")


def greedy_decode(model, source, max_steps=MAX_STEPS, batch_size=256):
    """`decode` greedily."""
    return decode(model, source, 1, max_steps, batch_size)


def alignments(model, source, written):
    """Where the attention `model` looked while it wrote `written` (the ids
    `decode` returned for `source`): ``(rows, steps, letters)`` weights,
    from `keras_rnnkit.attention_weights` with the written phonemes as the
    decoder inputs (teacher forcing on the model's own output takes the
    same steps)."""
    decoder_in = np.concatenate(
        [np.full((len(written), 1), START, "int32"), written[:, :-1]], axis=1
    )
    ended = written == END
    ends = np.where(ended.any(1), ended.argmax(1) + 1, written.shape[1])
    decoder_in[np.arange(decoder_in.shape[1])[None] >= ends[:, None]] = PAD
    return keras_rnnkit.attention_weights(model, [source, decoder_in])


def evaluate(
    model, part="validation", beam_width=5, length_penalty_weight=0.0, limit=None
):
    """WER, PER and the WER accepting any listed pronunciation of a trained
    (or saved: a path) model on the recipe's validation or test words,
    decoded greedily (`beam_width=1`) or with beam search; for choosing the
    decoding on the validation words, then measuring it once on the test
    words. `limit`: only the first words of the part (a smoke test).
    Returns a dict and prints one line.

        from keras_rnnkit.recipes import encoder_decoder as r
        r.evaluate("runs/encoder-decoder/encoder_decoder.keras", beam_width=10)
    """
    if part not in ("validation", "test"):
        raise ValueError(f"`part` must be 'validation' or 'test', got part={part!r}.")
    if not isinstance(model, keras.Model):
        model = keras.saving.load_model(model)
    words = lexicon(datasets.load_cmudict())
    _, val, test = split_words(words)
    chosen = (val if part == "validation" else test)[:limit]
    source = encode(chosen, [words[w][0] for w in chosen])[0]
    ids = decode(model, source, beam_width, length_penalty_weight=length_penalty_weight)
    written = [spell(row) for row in ids]
    wer, per = error_rates(written, [words[w][0] for w in chosen])
    any_variant = any_variant_rate(written, chosen, words)
    print(
        f"{part} words ({len(chosen):,}), beam {beam_width}, length penalty "
        f"{length_penalty_weight}: WER {wer:.4f}, PER {per:.4f}, "
        f"WER any listed variant {any_variant:.4f}"
    )
    return {"wer": wer, "per": per, "wer_any_variant": any_variant}


def edit_distance(a, b):
    """Levenshtein distance between the sequences `a` and `b` (unit costs)."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y))
            )
        previous = current
    return previous[-1]


def error_rates(written, references):
    """``(WER, PER)`` of the `written` pronunciations against `references`.

    WER: the share of words whose pronunciation differs from the reference
    in any phoneme. PER: the summed phoneme edit distances over the summed
    reference lengths. Pronunciations are sequences of phonemes; NaN for no
    words.
    """
    if not references:
        return float("nan"), float("nan")
    pairs = list(zip(written, references, strict=True))
    wer = np.mean([tuple(w) != tuple(r) for w, r in pairs])
    errors = sum(edit_distance(w, r) for w, r in pairs)
    return float(wer), errors / sum(len(r) for _, r in pairs)


def any_variant_rate(written, queried, words):
    """The word error rate when a word is right if its `written`
    pronunciation is any of those `words` lists for it (`queried`: the
    words, in the order of `written`)."""
    pairs = zip(written, queried, strict=True)
    return float(np.mean([tuple(p) not in words[w] for p, w in pairs]))


def nearest_spellings(train_words, queries):
    """Index in `train_words` of the nearest spelling to each of `queries`.

    Nearest: the smallest Levenshtein distance between the letters; among
    equals, the longest shared ending, then the first in `train_words`. The
    search is exact but prunes with a lower bound of the distance, the bag
    distance (letters of the query missing from the candidate, plus the
    candidate's extra length): the dynamic programme runs, vectorised over
    the candidates, only on those whose bound does not exceed the best
    distance. About 2.4 ms a query against 50,000 words (2 busy CPU cores).
    """
    letters = sorted({c for w in [*train_words, *queries] for c in w})
    code = {c: i + 1 for i, c in enumerate(letters)}  # 0: padding
    lengths = np.array([len(w) for w in train_words])
    width = lengths.max()
    codes = np.zeros((len(train_words), width), "int8")
    counts = np.zeros((len(letters) + 1, len(train_words)), "int16")
    for row, word in enumerate(train_words):
        ids = [code[c] for c in word]
        codes[row, : len(ids)] = ids
        np.add.at(counts[:, row], ids, 1)
    nearest = np.zeros(len(queries), "int64")
    for q, query in enumerate(queries):
        ids = [code[c] for c in query]
        bound = np.maximum(lengths - len(ids), 0)
        for c in set(ids):
            bound += np.maximum(ids.count(c) - counts[c], 0)
        # Candidates by increasing bound, until the bound exceeds the best
        # distance found: no candidate left can come closer.
        best, level = np.inf, bound.min()
        found, distances = [], []
        while level <= best:
            chunk = np.flatnonzero(bound == level)
            level += 1
            if len(chunk):
                found.append(chunk)
                distances.append(_edit_distances(ids, codes[chunk], lengths[chunk]))
                best = min(best, distances[-1].min())
        candidates, distances = np.concatenate(found), np.concatenate(distances)
        tied = np.sort(candidates[distances == best])
        shared = [_shared_ending(query, train_words[i]) for i in tied]
        nearest[q] = tied[int(np.argmax(shared))]
    return nearest


def _edit_distances(query, codes, lengths):
    """Levenshtein distances from `query` (letter codes) to every row of
    `codes` (padded with 0) of the given `lengths`, in one vectorised pass."""
    codes = codes[:, : lengths.max()]
    steps = np.arange(codes.shape[1] + 1, dtype="int8")
    row = np.broadcast_to(steps, (len(codes), len(steps)))
    for i, letter in enumerate(query, 1):
        diagonal = row[:, :-1] + (codes != letter)
        current = np.empty_like(row)
        current[:, 0] = i
        current[:, 1:] = np.minimum(diagonal, row[:, 1:] + 1)
        # insertions: current[j] = min over k <= j of current[k] + (j - k)
        row = np.minimum.accumulate(current - steps, axis=1) + steps
    return row[np.arange(len(codes)), lengths]


def _shared_ending(a, b):
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n


SYSTEMS = ("nearest spelling", "greedy", "attention, greedy", "attention, beam 5")


def plot_results(histories, table, path):
    """Loss per epoch of each model, and the error rates of each system
    (`table`: metric -> one value per `SYSTEMS`)."""
    plt = _common.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for name, history in histories.items():
        for prefix, style in (("", "--"), ("val_", "-")):
            values = history.history.get(prefix + "loss")
            if values:
                label = f"{name}, {'validation' if prefix else 'train'}"
                x = range(1, len(values) + 1)
                axes[0].plot(x, values, style, marker=".", label=label)
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("loss per phoneme (teacher forcing)")
    axes[0].legend(fontsize=8)
    groups = list(table)
    position = np.arange(len(groups))
    width = 0.8 / len(SYSTEMS)
    for k, name in enumerate(SYSTEMS):
        values = [table[g][k] for g in groups]
        offset = (k - (len(SYSTEMS) - 1) / 2) * width
        axes[1].bar(position + offset, values, width, label=name)
    axes[1].set_xticks(position, groups)
    axes[1].set_ylim(0, 1.15)
    axes[1].set_yticks(np.linspace(0, 1, 6))
    axes[1].set_ylabel("error rate on unseen words (lower is better)")
    axes[1].legend(loc="upper center", ncol=2, fontsize=8)
    fig.suptitle(
        "English spelling to phonemes: encoder-decoder, with and without attention"
    )
    _common.save_figure(fig, path)
    return path


def train_model(model, data, epochs, seed=0, quick=False):
    """Trains `model` (from `build`) as the recipe does: batches of similar
    length from `data["train"]` (`encode`'s arrays), early stopping on
    `data["val"]` (patience 2, the best weights restored), the learning
    rate divided by 3.3 after an epoch without progress. Returns the
    `History` and the seconds it took."""
    with _common.Timer() as fit_time:
        history = model.fit(
            batches(*data["train"], shuffle=True, seed=seed, fixed=quick),
            validation_data=batches(*data["val"], fixed=quick),
            epochs=epochs,
            callbacks=[
                _common.early_stopping(patience=2),
                # a third of the rate after an epoch without progress
                keras.callbacks.ReduceLROnPlateau(factor=0.3, patience=0),
            ],
            verbose=_common.fit_verbosity(quick),
        )
    return history, fit_time.seconds


def run(
    quick=False,
    out="runs/encoder-decoder",
    epochs=None,
    seed=0,
    train_words=50_000,
    decoder_dropout=0.0,
    label_smoothing=0.0,
    units=128,
):
    """The recipe (see the module docstring); returns its figures.

    `train_words`: how many of the 99,942 training words to train on (a
    random choice, seed 0; None: all of them); `epochs`: the most epochs
    (default 8; 1 with `quick`); `decoder_dropout`, `label_smoothing` and
    `units` (a direction of the encoder; the decoder has twice as many): as
    in `build`, for both models.
    """
    out = _common.setup(out, seed)
    _common.header("encoder-decoder: English spelling -> phonemes, unseen words")
    with _common.Timer() as total:
        words = lexicon(datasets.load_cmudict())
        train, val, test = split_words(words)
        all_train = len(train)
        rng = np.random.default_rng(0)
        if quick:
            train = sorted(train[i] for i in rng.permutation(len(train))[:3000])
            val, test = val[:200], test[:300]
        elif train_words is not None and train_words < len(train):  # a half
            train = sorted(train[i] for i in rng.permutation(len(train))[:train_words])
        variants = sum(len(words[w]) > 1 for w in words)
        print(
            f"{len(words):,} words spelt with a-z and ' ({variants:,} with two or "
            f"more pronunciations without stress; the first one is the target); "
            f"split by word: {all_train:,} training words, of which {len(train):,} "
            f"are used, {len(val):,} validation and {len(test):,} test words"
            + (" [quick: a slice]" if quick else "")
        )
        data = {
            name: encode(part, [words[w][0] for w in part], fixed=quick)
            for name, part in (("train", train), ("val", val), ("test", test))
        }
        epochs = epochs or (1 if quick else 8)

        models, histories, seconds = {}, {}, {}
        for name, attention in (("no attention", False), ("attention", True)):
            _common.header(f"training the encoder-decoder, {name}")
            keras.utils.set_random_seed(seed)
            models[name] = build(
                units=units,
                attention=attention,
                decoder_dropout=decoder_dropout,
                label_smoothing=label_smoothing,
            )
            histories[name], seconds[name] = train_model(
                models[name], data, epochs, seed, quick
            )

        _common.header("unseen test words: decoding")
        source = data["test"][0]
        gold = [words[w][0] for w in test]
        test_batches = batches(*data["test"], fixed=quick)
        forced = {
            name: model.evaluate(test_batches, verbose=0, return_dict=True)["accuracy"]
            for name, model in models.items()
        }
        decoded, decode_seconds = {}, {}
        for system, name, width in (
            ("greedy", "no attention", 1),
            ("attention, greedy", "attention", 1),
            ("attention, beam 5", "attention", 5),
        ):
            with _common.Timer() as timer:
                ids = decode(models[name], source, beam_width=width)
            decoded[system] = ids
            decode_seconds[system] = timer.seconds
        with _common.Timer() as baseline_time:
            nearest = nearest_spellings(train, test)
        written = {"nearest spelling": [words[train[i]][0] for i in nearest]}
        written.update({k: [spell(row) for row in v] for k, v in decoded.items()})
        rates = {k: error_rates(written[k], gold) for k in SYSTEMS}
        any_variant = {k: any_variant_rate(written[k], test, words) for k in SYSTEMS}
        print(f"{len(test):,} test words, none of them in training")
        print(f"{'':34s}" + "".join(f"{k:>19s}" for k in SYSTEMS))
        for label, values in (
            ("word error rate (WER)", [rates[k][0] for k in SYSTEMS]),
            ("phoneme error rate (PER)", [rates[k][1] for k in SYSTEMS]),
            ("WER, any listed variant", [any_variant[k] for k in SYSTEMS]),
        ):
            print(f"{label:34s}" + "".join(f"{v:19.4f}" for v in values))
        print(
            "phoneme accuracy, teacher forcing: "
            + ", ".join(f"{k} {v:.4f}" for k, v in forced.items())
        )
        print(
            "(nearest spelling: the pronunciation of the nearest training spelling; "
            "beam 5: no length penalty, the best beam)"
        )
        print(
            "decoding took "
            + ", ".join(f"{k} {v:.1f} s" for k, v in decode_seconds.items())
            + f"; the nearest spellings {baseline_time.seconds:.1f} s"
        )

        best = "attention, beam 5"
        print(f"\nexamples (word: true | {best} | greedy without attention):")
        right = [i for i, g in enumerate(gold) if written[best][i] == g]
        wrong = [i for i, g in enumerate(gold) if written[best][i] != g]
        for i in sorted(right[:5] + wrong[:5]):
            print(
                f"  {test[i]}: {' '.join(gold[i])} | {' '.join(written[best][i])} | "
                f"{' '.join(written['greedy'][i])}"
            )

        shown = sorted(right[:3] + wrong[:3])
        weights = alignments(models["attention"], source[shown], decoded[best][shown])
        pictures = alignment_view.save(
            out / "encoder_decoder_alignments",
            [test[i] for i in shown],
            [written[best][i] for i in shown],
            weights,
        )
        print(
            "alignments (where the attention looked): " + ", ".join(map(str, pictures))
        )

        path = out / "encoder_decoder.keras"
        models["attention"].save(path)
        reloaded = keras.saving.load_model(path)
        same = np.array_equal(decode(reloaded, source, beam_width=5), decoded[best])
        print(f"\nsaved {path}; the reloaded model decodes identically: {same}")

        plots = [
            plot_results(
                histories,
                {
                    "WER": [rates[k][0] for k in SYSTEMS],
                    "PER": [rates[k][1] for k in SYSTEMS],
                },
                out / "encoder_decoder.png",
            ),
            *pictures,
        ]
    figures = {"train_words": len(train)}
    for key, system in zip(
        ("baseline", "greedy", "attention_greedy", "attention_beam"),
        SYSTEMS,
        strict=True,
    ):
        figures[f"{key}_wer"], figures[f"{key}_per"] = rates[system]
        figures[f"{key}_wer_any_variant"] = any_variant[system]
        if system in decode_seconds:
            figures[f"{key}_decode_seconds"] = decode_seconds[system]
    for key, name in (("", "no attention"), ("attention_", "attention")):
        losses = histories[name].history["val_loss"]
        figures[f"{key}epochs"] = len(losses)
        figures[f"{key}best_epoch"] = int(np.argmin(losses)) + 1
        figures[f"{key}train_seconds"] = seconds[name]
        figures[f"{key}teacher_forced_phoneme_accuracy"] = float(forced[name])
    figures.update(
        reloaded_identical=bool(same),
        baseline_seconds=baseline_time.seconds,
        plots=[str(p) for p in plots],
        seconds=total.seconds,
    )
    print(f"plots: {', '.join(figures['plots'])}")
    print(
        f"wall time {total.seconds:.0f} s (training {seconds['no attention']:.0f} s "
        f"without attention, {seconds['attention']:.0f} s with)"
    )
    return figures
