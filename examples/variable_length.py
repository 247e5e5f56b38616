"""Sequences of different lengths: DynamicRNN with sequence_length.

UCI Japanese Vowels (from aeon; 270 training and 370 test utterances of 7 to
29 frames of 12 coefficients, 9 speakers): the rows are zero padded to 29
frames and their lengths passed to `keras_rnnkit.DynamicRNN(cell)(frames,
sequence_length=lengths)`, the replacement of the tutorial's
`tf.nn.dynamic_rnn(cell, X, sequence_length=seq_length)`, which returns the
output of each row's last valid frame and never reads the padding. Five
such networks, one per held-out fold of the training set (the validation
accuracy), are averaged into the final model. The report compares the
test accuracy with 1-nearest-neighbour baselines (DTW and summary features)
and shows that the padding does not matter: the predictions are the same
for each row run alone at its own length, or with noise in its padding.
The recipe lives in `keras_rnnkit.recipes.variable_length`; this script
only calls it.

    pip install -e ".[recipes]"
    python examples/variable_length.py            # full run, about 4 minutes
    python examples/variable_length.py --quick    # a smoke run
"""

import sys

from keras_rnnkit.recipes import main

if __name__ == "__main__":
    sys.exit(main(["variable-length", *sys.argv[1:]]))
