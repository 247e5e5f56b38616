"""The tutorial's worked example: two steps of a simple RNN, by hand and in Keras.

The tutorial's first figure computes one recurrent cell by hand: a state of
2 units, W1 = [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]] (the first two rows act on
the previous state, the last on the input), b1 = [0.1, -0.1], an output
layer W2 = [1.0, 2.0], b2 = 0.1, inputs 1 then 2, a zero initial state.
This script computes the two steps with NumPy, sets the same weights into
`keras.layers.SimpleRNN` + `Dense` and into `keras_rnnkit.DynamicRNN` over
an `OutputProjectionWrapper`, prints every state and output next to the
values the tutorial's example prints, checks that all agree to 1e-6 and
saves a bar plot under runs/worked-example/. Nothing is trained; it takes a
few seconds. The recipe lives in `keras_rnnkit.recipes.worked_example`.

    pip install -e ".[examples]"
    python examples/worked_example.py
"""

import sys

from keras_rnnkit.recipes import main

if __name__ == "__main__":
    sys.exit(main(["worked-example", *sys.argv[1:]]))
