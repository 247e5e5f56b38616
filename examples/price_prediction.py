"""The tutorial's stock-price RNN, on real series: S&P 500 and sunspots.

A `SimpleRNNCell(100, activation="relu")` inside
`keras_rnnkit.OutputProjectionWrapper(cell, output_size=1)`, run by
`keras_rnnkit.DynamicRNN(..., return_sequences=True)` over windows of 20
values, learns to output the next value at every step (targets = inputs
shifted by one, mean squared error over all steps), as in the tutorial's
`tf.contrib.rnn.OutputProjectionWrapper` + `tf.nn.dynamic_rnn` code.

It runs twice, on chronological splits normalised with training statistics
only: on yearly sunspot numbers (1700-2008, from statsmodels), where it must
beat the "previous value" (persistence) baseline clearly and comes close to
an AR(10) model; and on the S&P 500 (1999-2018, from arch), where prices are
close to a random walk and the honest figure is the test RMSE next to
persistence's. The recipe lives in `keras_rnnkit.recipes.price_prediction`;
this script only calls it.

    pip install -e ".[recipes]"
    python examples/price_prediction.py            # full run, about 1.5 minutes
    python examples/price_prediction.py --quick    # a smoke run
    python examples/price_prediction.py --out runs/prices --seed 1
"""

import sys

from keras_rnnkit.recipes import main

if __name__ == "__main__":
    sys.exit(main(["price-prediction", *sys.argv[1:]]))
