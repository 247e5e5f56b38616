"""Documents as sentences of words: the hierarchical encoder where order matters.

The tutorial's last exercise: the hierarchical model whose first level reads
the words of each sentence and whose second level reads the sentences of
each document, built with RNNs. The data are 3,776 English news articles of
early 2017 from 9 outlets (`load_news_articles`, the outlets' own names
masked in the texts), each cut to its first sentences. Two tasks on them:

1. Sentence order, the lead: every article with enough sentences appears
   twice, once as written (label 1) and once with the same sentences in a
   random other order (label 0); the model tells which is which. Both
   versions hold the same words, so a bag of n-grams cannot tell them apart:
   the label is the document's structure. The split is by article (70 %
   training, 10 % of it held out for validation, 30 % test): no article has
   a version on both sides.
2. Outlet: which of the 9 outlets ran an article (stratified split, the
   same proportions). A lexical label on ~2,400 training articles, where a
   linear model on n-grams is the right tool.

Two RNNs on each task, the same embedding, GRU cells and training:

- hierarchical: `Embedding(mask_zero=True)` -> `keras_rnnkit.
  HierarchicalEncoder` (a bidirectional GRU with attention pooling over
  the words of each sentence, then a bidirectional GRU with attention over
  the sentences) -> softmax;
- flat: the same words as one sequence -> bidirectional GRU -> attention
  (`keras_rnnkit.AttentionPooling`) -> softmax;

next to TF-IDF (word 1-2-grams) + a linear SVM on the same words. On the
sentence-order task both RNNs get the same small grid (GRU sizes `UNITS`),
each trained with early stopping on the validation loss; the setting with
the lower validation loss is the one reported on the test set.

Then what each hierarchical model attends to: up to 3 correctly and 3
wrongly classified test documents, their words and sentences shaded by its
attention weights (`attention_view`), as `attention-<i>-correct.html` /
`.png` and `attention-<i>-wrong.html` / `.png` under `sentence-order/` and
`outlet/`.
"""

import re

import numpy as np

from keras_rnnkit.recipes import _common

# The flat models' sentence-end token (not a word: `WORD` never matches it).
SEPARATOR = "</s>"
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokenize(text, sentences, words):
    """The first `sentences` sentences of `text`, each cut to `words` words."""
    split = (WORD.findall(s.lower()) for s in SENTENCE_END.split(text))
    return [s[:words] for s in split if s][:sentences]


def vocabulary(documents, size):
    """Word -> id for the `size - 2` most frequent words (0 pads, 1 is OOV)."""
    from collections import Counter

    counts = Counter(w for doc in documents for sentence in doc for w in sentence)
    return {w: i + 2 for i, (w, _) in enumerate(counts.most_common(size - 2))}


def encode(documents, index, sentences, words, separator=None):
    """(documents, sentences, words) ids and the flat ids of the same words.

    The flat layout is one sequence per document, padded at the end: the
    words without gaps, `(documents, sentences * words)`; with a
    `separator` id, that id after every sentence, so the flat model also
    sees where each sentence ends, `(documents, sentences * (words + 1))`.
    """
    ids = np.zeros((len(documents), sentences, words), "int32")
    for d, doc in enumerate(documents):
        for s, sentence in enumerate(doc):
            ids[d, s, : len(sentence)] = [index.get(w, 1) for w in sentence]
    width = words if separator is None else words + 1
    flat = np.zeros((len(documents), sentences * width), "int32")
    for d, doc in enumerate(ids):
        kept = [
            token
            for sentence in doc[: len(documents[d])]
            for token in [*sentence[sentence > 0], separator]
            if token is not None
        ]
        flat[d, : len(kept)] = kept
    return ids, flat


def build_models(vocabulary_size, classes, units, seed):
    import keras

    import keras_rnnkit

    def embedding(ids):
        # Dropout on the word vectors: ~2,400 training articles overfit fast.
        vectors = keras.layers.Embedding(vocabulary_size, 64, mask_zero=True)(ids)
        return keras.layers.Dropout(0.3, seed=seed)(vectors)

    def bigru():
        return keras_rnnkit.BidirectionalEncoder(keras.layers.GRUCell(units))

    def head(features, name, inputs):
        features = keras.layers.Dropout(0.3, seed=seed)(features)
        outputs = keras.layers.Dense(classes, activation="softmax")(features)
        model = keras.Model(inputs, outputs, name=name)
        model.compile(
            optimizer=keras.optimizers.Adam(2e-3, clipnorm=1.0),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model

    documents = keras.Input((None, None), dtype="int32", name="documents")
    encoder = keras_rnnkit.HierarchicalEncoder(bigru(), bigru())
    encoded, word_weights, sentence_weights = encoder(
        embedding(documents), return_weights=True
    )
    hierarchical = head(encoded, "hierarchical", documents)
    # The same layers, also giving the attention weights: for the views.
    attention = keras.Model(
        documents,
        [hierarchical.output, word_weights, sentence_weights],
        name="hierarchical_attention",
    )

    words = keras.Input((None,), dtype="int32", name="words")
    pooled = keras_rnnkit.AttentionPooling()(bigru()(embedding(words)))
    flat = head(pooled, "flat", words)
    return hierarchical, flat, attention


def save_attention_views(
    attention, rows, ids, documents, labels, class_names, index, out, per_kind=3
):
    """HTML pages and PNGs of up to `per_kind` correctly and wrongly classified
    test documents (the first of each kind among `rows`), their words and
    sentences shaded by the hierarchical model's attention weights."""
    from keras_rnnkit.recipes import attention_view

    probabilities, word_weights, sentence_weights = attention.predict(
        ids[rows], verbose=0
    )
    predicted = np.argmax(probabilities, axis=-1)
    correct = np.flatnonzero(predicted == labels[rows])[:per_kind]
    wrong = np.flatnonzero(predicted != labels[rows])[:per_kind]
    paths = []
    for kind, chosen in (("correct", correct), ("wrong", wrong)):
        for number, k in enumerate(chosen, 1):
            row, guess = rows[k], predicted[k]
            options = dict(
                title=f"Test document {row}: {kind}ly classified",
                caption=(
                    f"Truth: {class_names[labels[row]]}; hierarchical model: "
                    f"{class_names[guess]} (probability "
                    f"{probabilities[k, guess]:.2f})."
                ),
                vocabulary=index,
            )
            weights = (documents[row], word_weights[k], sentence_weights[k])
            name = f"attention-{number}-{kind}"
            paths.append(
                attention_view.save_html(out / f"{name}.html", *weights, **options)
            )
            paths.append(
                attention_view.render_png(out / f"{name}.png", *weights, **options)
            )
    return paths


def linear_svm(train_texts, y_train, test_texts, y_test):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    svm = LinearSVC(C=0.5).fit(vectorizer.fit_transform(train_texts), y_train)
    return float(svm.score(vectorizer.transform(test_texts), y_test))


# GRU sizes (units per direction) tried for both RNNs on the sentence-order
# task: the same grid and the same early stopping for each.
UNITS = (16, 32)


def shuffle_sentences(documents, rng):
    """Each document with its sentences in a random order other than its own.

    Documents whose sentences are all equal (no other order exists) come
    back unchanged; drop them beforehand (`has_order`).
    """
    shuffled = []
    for doc in documents:
        other = doc
        if has_order(doc):
            while other == doc:
                other = [doc[i] for i in rng.permutation(len(doc))]
        shuffled.append(other)
    return shuffled


def has_order(doc):
    """True when `doc` has at least two different sentences."""
    return len({tuple(sentence) for sentence in doc}) > 1


def sentence_order_set(documents, shuffled, articles):
    """The two versions of each article in `articles`, interleaved.

    Returns ``(docs, labels, article)``: for each article its sentences as
    written (label 1) then shuffled (label 0), and the article of each row.
    """
    docs, labels, article = [], [], []
    for a in articles:
        docs += [documents[a], shuffled[a]]
        labels += [1, 0]
        article += [a, a]
    return docs, np.array(labels), np.array(article)


def train(model, x, y, fit, val, epochs, quick):
    """Fits `model` with early stopping on the validation loss; returns the
    History and the training time in seconds. A `quick` run (a smoke test)
    skips the validation passes and the early stopping."""
    validation = (
        {}
        if quick
        else dict(
            validation_data=(x[val], y[val]),
            callbacks=[_common.early_stopping(patience=2)],
        )
    )
    with _common.Timer() as timer:
        history = model.fit(
            x[fit],
            y[fit],
            epochs=epochs,
            batch_size=32,
            verbose=_common.fit_verbosity(quick),
            **validation,
        )
    return history, timer.seconds


def figures_of(model, history, seconds, x, y, val, test, predictor=None):
    """The validation and test loss, the test accuracy (from one `predict`
    with the weights `fit` kept), the training time and epochs; and the
    predicted classes of `test`. `predictor`, when given, is a model on the
    same layers whose first output is `model`'s: the hierarchical model's
    attention model, whose `predict` the views then reuse (one function
    traced instead of two)."""
    rows = np.concatenate([val, test])
    probabilities = (predictor or model).predict(x[rows], verbose=0)
    if predictor is not None:
        probabilities = probabilities[0]
    log_p = np.log(np.maximum(probabilities[np.arange(len(rows)), y[rows]], 1e-7))
    predicted = np.argmax(probabilities[len(val) :], axis=-1)
    figures = {
        "loss": float(-np.mean(log_p[len(val) :])),
        "accuracy": float(np.mean(predicted == y[test])),
        "val_loss": float(-np.mean(log_p[: len(val)])),
        "seconds": seconds,
        "epochs": len(history.history["loss"]),
    }
    return figures, predicted


def report(results, svm, svm_note):
    for name, result in results.items():
        print(
            f"{name:12s} accuracy {result['accuracy']:.3f}  loss "
            f"{result['loss']:.3f}  ({result.get('units', '')} units, "
            f"{result['epochs']} epochs, {result['seconds']:.0f} s of training)"
        )
    print(f"{'TF-IDF+SVM':12s} accuracy {svm:.3f}  ({svm_note})")


def joined(documents):
    return [" ".join(w for s in doc for w in s) for doc in documents]


def sentence_order(texts, sentences, words, units, epochs, quick, seed, out):
    """The lead task: as written or shuffled? Returns figures and plots."""
    from sklearn.model_selection import train_test_split

    _common.header("Sentence order: each article as written and shuffled")
    documents = [tokenize(text, sentences, words) for text in texts]
    documents = [d for d in documents if len(d) == sentences and has_order(d)]
    shuffled = shuffle_sentences(documents, np.random.default_rng(seed))
    train_articles, test_articles = train_test_split(
        np.arange(len(documents)), test_size=0.3, random_state=seed
    )
    fit_articles, val_articles = train_test_split(
        train_articles, test_size=0.1, random_state=seed
    )
    docs, labels, article = sentence_order_set(
        documents, shuffled, np.concatenate([fit_articles, val_articles, test_articles])
    )
    fit = np.flatnonzero(np.isin(article, fit_articles))
    val = np.flatnonzero(np.isin(article, val_articles))
    test = np.flatnonzero(np.isin(article, test_articles))
    index = vocabulary([docs[i] for i in fit], 2000 if quick else 10000)
    index[SEPARATOR] = len(index) + 2  # the flat model's sentence ends
    ids, flat_ids = encode(docs, index, sentences, words, index[SEPARATOR])
    print(
        f"{len(documents)} articles with {sentences}+ sentences (first {sentences} "
        f"kept, at most {words} words each), 2 versions each; vocabulary "
        f"{len(index) + 2:,}; train {len(fit)}, validation {len(val)}, test "
        f"{len(test)} documents (split by article)"
    )
    results, chosen, budget = {}, {}, {}
    for size in units:
        hierarchical, flat, attention = build_models(len(index) + 2, 2, size, seed)
        for model, x in ((hierarchical, ids), (flat, flat_ids)):
            _common.header(
                f"sentence order, {model.name} model, {size} units, "
                f"{model.count_params():,} parameters"
            )
            history, seconds = train(model, x, labels, fit, val, epochs, quick)
            figures, _ = figures_of(
                model,
                history,
                seconds,
                x,
                labels,
                val,
                test,
                attention if model is hierarchical else None,
            )
            figures["units"] = size
            budget[model.name] = budget.get(model.name, 0.0) + seconds
            print(
                f"validation loss {figures['val_loss']:.3f} (test accuracy "
                f"{figures['accuracy']:.3f})"
            )
            best = results.get(model.name)
            if best is None or figures["val_loss"] < best["val_loss"]:
                results[model.name] = figures
                chosen[model.name] = (history, attention)
    for name in results:
        results[name]["grid_seconds"] = budget[name]
    svm = linear_svm(
        joined([docs[i] for i in np.concatenate([fit, val])]),
        labels[np.concatenate([fit, val])],
        joined([docs[i] for i in test]),
        labels[test],
    )
    _common.header("Sentence order, summary (test set; validation-chosen units)")
    report(results, svm, "word 1-2-grams, fitted on training + validation")
    for name, result in results.items():
        print(
            f"{name}: {len(units)} settings trained in "
            f"{result['grid_seconds']:.0f} s in all"
        )
    folder = out / "sentence-order"
    folder.mkdir(exist_ok=True)
    plots = [
        _common.plot_history(
            history,
            folder / f"history_{name}.png",
            metrics=("loss", "accuracy"),
            title=f"sentence order, {name} model ({results[name]['units']} units)",
        )
        for name, (history, _) in chosen.items()
    ]
    plots += save_attention_views(
        chosen["hierarchical"][1],
        test,
        ids,
        docs,
        labels,
        ["shuffled", "as written"],
        index,
        folder,
        per_kind=1 if quick else 3,
    )
    figures = {
        f"order_{name}_{key}": value
        for name, result in results.items()
        for key, value in result.items()
    }
    figures.update(
        order_svm_accuracy=svm,
        order_articles=len(documents),
        order_split={"fit": fit, "val": val, "test": test},
        order_labels=labels,
        order_article=article,
    )
    return figures, plots


def outlet(
    texts, labels, class_names, sentences, words, units, epochs, quick, seed, out
):
    """The second task: which outlet? Returns figures and plots."""
    from sklearn.model_selection import train_test_split

    _common.header("Outlet: which of the 9 outlets ran the article")
    documents = [tokenize(text, sentences, words) for text in texts]
    rows = np.arange(len(texts))
    train_rows, test = train_test_split(
        rows, test_size=0.3, stratify=labels, random_state=seed
    )
    fit, val = train_test_split(
        train_rows, test_size=0.1, stratify=labels[train_rows], random_state=seed
    )
    index = vocabulary([documents[i] for i in train_rows], 2000 if quick else 10000)
    index[SEPARATOR] = len(index) + 2  # the flat model's sentence ends
    ids, flat_ids = encode(documents, index, sentences, words, index[SEPARATOR])
    print(
        f"{len(texts)} articles, {len(class_names)} outlets; first {sentences} "
        f"sentences of at most {words} words; vocabulary {len(index) + 2:,}; "
        f"train {len(fit)}, validation {len(val)}, test {len(test)}"
    )
    hierarchical, flat, attention = build_models(
        len(index) + 2, len(class_names), units, seed
    )
    results, histories, predicted = {}, {}, {}
    # A quick run trains only the hierarchical model here: the flat one runs
    # the same code on the sentence-order task.
    models = (
        ((hierarchical, ids),) if quick else ((hierarchical, ids), (flat, flat_ids))
    )
    for model, x in models:
        _common.header(
            f"outlet, {model.name} model, {model.count_params():,} parameters"
        )
        history, seconds = train(model, x, labels, fit, val, epochs, quick)
        results[model.name], predicted[model.name] = figures_of(
            model,
            history,
            seconds,
            x,
            labels,
            val,
            test,
            attention if model is hierarchical else None,
        )
        results[model.name]["units"] = units
        histories[model.name] = history
    svm = linear_svm(
        joined([documents[i] for i in train_rows]),
        labels[train_rows],
        joined([documents[i] for i in test]),
        labels[test],
    )
    _common.header("Outlet, hierarchical model (test set)")
    accuracy, matrix, _ = _common.classification_report(
        labels[test], predicted["hierarchical"], class_names
    )
    _common.header("Outlet, summary (test set)")
    report(results, svm, "word 1-2-grams, fitted on training + validation")
    folder = out / "outlet"
    folder.mkdir(exist_ok=True)
    plots = [
        _common.plot_confusion_matrix(
            matrix,
            [name.split(".")[0] for name in class_names],
            folder / "confusion_matrix.png",
            title=f"outlet, hierarchical model, test accuracy {accuracy:.3f}",
        )
    ]
    for name, history in histories.items():
        plots.append(
            _common.plot_history(
                history,
                folder / f"history_{name}.png",
                metrics=("loss", "accuracy"),
                title=f"outlet, {name} model",
            )
        )
    plots += save_attention_views(
        attention,
        test,
        ids,
        documents,
        labels,
        class_names,
        index,
        folder,
        per_kind=1 if quick else 3,
    )
    figures = {
        f"outlet_{name}_{key}": value
        for name, result in results.items()
        for key, value in result.items()
    }
    figures["outlet_svm_accuracy"] = svm
    return figures, plots


def run(quick=False, out="runs/document-classification", epochs=None, seed=0):
    """Both tasks, both RNNs and the SVM; returns their test figures."""
    import keras
    from sklearn.model_selection import train_test_split

    from keras_rnnkit.recipes.datasets import load_news_articles

    out = _common.setup(out, seed)
    sentences, words = (4, 10) if quick else (8, 20)
    epochs = epochs or (1 if quick else 10)
    with _common.Timer() as total:
        texts, labels, class_names = load_news_articles()
        if quick:  # a stratified slice
            texts, _, labels, _ = train_test_split(
                texts, labels, train_size=270, stratify=labels, random_state=seed
            )
        order, plots = sentence_order(
            texts,
            sentences,
            words,
            (8,) if quick else UNITS,
            epochs,
            quick,
            seed,
            out,
        )
        by_outlet, outlet_plots = outlet(
            texts,
            labels,
            class_names,
            sentences,
            words,
            8 if quick else 32,
            epochs,
            quick,
            seed,
            out,
        )
        plots += outlet_plots
    print(f"plots: {', '.join(map(str, plots))}; {total.seconds:.1f} s in all")
    keras.backend.clear_session()
    return {**order, **by_outlet, "plots": plots, "seconds": total.seconds}
