"""A TF1 checkpoint moved to Keras: the tutorial's classifier, trained by TF1.

The tutorial's text classifier, written with `tf.compat.v1` as the tutorial
writes it (embedding, `MultiRNNCell` of two `DropoutWrapper(GRUCell(128))`,
`dynamic_rnn`, final states concatenated, dense layers), trains a few
hundred steps on the THUCNews titles in TF1 graph mode (in a child process,
with the legacy Keras 2 that TF1's cells need) and saves a checkpoint. The
recipe inspects it with `keras_rnnkit.tf1.checkpoint_structure`, builds the
Keras model from keras_rnnkit pieces, loads the checkpoint with
`keras_rnnkit.tf1.load_checkpoint`, checks that the test predictions and
accuracy are TF1's, saves a `.keras` file under runs/tf1-migration/ and
checks that the reloaded file predicts the same. The recipe lives in
`keras_rnnkit.recipes.tf1_migration`; this script only calls it.

    pip install -e ".[recipes]" tf-keras
    python examples/tf1_migration.py            # full run: 500 TF1 steps
    python examples/tf1_migration.py --quick    # a smoke run on 1,500 titles
"""

import sys

from keras_rnnkit.recipes import main

if __name__ == "__main__":
    sys.exit(main(["tf1-migration", *sys.argv[1:]]))
