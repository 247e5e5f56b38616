"""Documents as sentences of words: the hierarchical encoder against a flat one.

The tutorial's last exercise: the hierarchical model whose first level reads
the words of each sentence and whose second level reads the sentences of
each document, built with RNNs. The data are 3,776 English news articles of
early 2017 from 9 outlets (`load_news_articles`, the outlets' own names
masked in the texts); the task is to tell which outlet ran an article, from
its first sentences. Stratified split: 70 % training (10 % of it held out
for early stopping), 30 % test.

Two models on the same split, the same embedding size and GRU size:

- hierarchical: `Embedding(mask_zero=True)` -> `keras_rnnkit.
  HierarchicalEncoder` (a bidirectional GRU with attention pooling over
  the words of each sentence, then a bidirectional GRU with attention over
  the sentences) -> softmax;
- flat: the same words as one sequence -> bidirectional GRU -> attention
  (`keras_rnnkit.AttentionPooling`) -> softmax;

next to TF-IDF (word 1-2-grams) + a linear SVM on the same words.

Then what the hierarchical model attends to: up to 3 correctly and 3
wrongly classified test articles, their words and sentences shaded by its
attention weights (`attention_view`), as `attention-<i>-correct.html` /
`.png` and `attention-<i>-wrong.html` / `.png`.
"""

import re

import numpy as np

from keras_rnnkit.recipes import _common

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


def encode(documents, index, sentences, words):
    """(documents, sentences, words) ids and the flat (documents, S*W) ids."""
    ids = np.zeros((len(documents), sentences, words), "int32")
    for d, doc in enumerate(documents):
        for s, sentence in enumerate(doc):
            ids[d, s, : len(sentence)] = [index.get(w, 1) for w in sentence]
    flat = np.zeros((len(documents), sentences * words), "int32")
    for d, row in enumerate(ids.reshape(len(documents), -1)):
        kept = row[row > 0]  # the same words, one sequence, no gaps
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
    test articles (the first of each kind among `rows`), their words and
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
                title=f"Test article {row}: {kind}ly classified",
                caption=(
                    f"Outlet {class_names[labels[row]]}; hierarchical model: "
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


def run(quick=False, out="runs/document-classification", epochs=None, seed=0):
    """Trains both models; returns their test figures."""
    import keras
    from sklearn.model_selection import train_test_split

    from keras_rnnkit.recipes.datasets import load_news_articles

    out = _common.setup(out, seed)
    sentences, words = (4, 12) if quick else (15, 30)
    with _common.Timer() as total:
        _common.header("News articles by outlet, sentences of words")
        texts, labels, class_names = load_news_articles()
        if quick:  # a stratified slice
            texts, _, labels, _ = train_test_split(
                texts, labels, train_size=270, stratify=labels, random_state=seed
            )
        documents = [tokenize(text, sentences, words) for text in texts]
        rows = np.arange(len(texts))
        train, test = train_test_split(
            rows, test_size=0.3, stratify=labels, random_state=seed
        )
        fit, val = train_test_split(
            train, test_size=0.1, stratify=labels[train], random_state=seed
        )
        index = vocabulary([documents[i] for i in train], 2000 if quick else 10000)
        ids, flat_ids = encode(documents, index, sentences, words)
        print(
            f"{len(texts)} articles, {len(class_names)} outlets; first {sentences} "
            f"sentences of at most {words} words; vocabulary {len(index) + 2:,}; "
            f"train {len(fit)}, validation {len(val)}, test {len(test)}"
        )

        hierarchical, flat, attention = build_models(
            len(index) + 2, len(class_names), 16 if quick else 32, seed
        )
        results, histories = {}, {}
        for model, x in ((hierarchical, ids), (flat, flat_ids)):
            _common.header(f"{model.name} model, {model.count_params():,} parameters")
            with _common.Timer() as timer:
                histories[model.name] = model.fit(
                    x[fit],
                    labels[fit],
                    validation_data=(x[val], labels[val]),
                    epochs=epochs or (1 if quick else 15),
                    batch_size=32,
                    verbose=_common.fit_verbosity(quick),
                    callbacks=[_common.early_stopping(patience=3)],
                )
            loss, accuracy = model.evaluate(x[test], labels[test], verbose=0)
            predicted = np.argmax(model.predict(x[test], verbose=0), axis=-1)
            results[model.name] = {
                "loss": float(loss),
                "accuracy": float(accuracy),
                "seconds": timer.seconds,
                "epochs": len(histories[model.name].history["loss"]),
                "predicted": predicted,
            }

        joined = [" ".join(w for s in doc for w in s) for doc in documents]
        svm = linear_svm(
            [joined[i] for i in train],
            labels[train],
            [joined[i] for i in test],
            labels[test],
        )

        _common.header("Test set, hierarchical model")
        accuracy, matrix, _ = _common.classification_report(
            labels[test], results["hierarchical"]["predicted"], class_names
        )
        _common.header("Summary (test set)")
        for name, result in results.items():
            print(
                f"{name:12s} accuracy {result['accuracy']:.3f}  loss "
                f"{result['loss']:.3f}  ({result['epochs']} epochs, "
                f"{result['seconds']:.0f} s of training)"
            )
        print(
            f"{'TF-IDF+SVM':12s} accuracy {svm:.3f}  (word 1-2-grams, same words; "
            "fitted on training + validation articles)"
        )
        plots = [
            _common.plot_confusion_matrix(
                matrix,
                [name.split(".")[0] for name in class_names],
                out / "confusion_matrix.png",
                title=f"hierarchical model, test accuracy {accuracy:.3f}",
            ),
        ]
        for name, history in histories.items():
            plots.append(
                _common.plot_history(
                    history,
                    out / f"history_{name}.png",
                    metrics=("loss", "accuracy"),
                    title=f"{name} model",
                )
            )
        plots += save_attention_views(
            attention, test, ids, documents, labels, class_names, index, out
        )
    print(f"plots: {', '.join(map(str, plots))}; {total.seconds:.1f} s in all")
    keras.backend.clear_session()
    figures = {
        f"{name}_{key}": value
        for name, result in results.items()
        for key, value in result.items()
        if key != "predicted"
    }
    return {**figures, "svm_accuracy": svm, "plots": plots, "seconds": total.seconds}
