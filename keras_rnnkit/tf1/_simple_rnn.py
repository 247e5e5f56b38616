"""The TF1 planner of `keras.layers.SimpleRNNCell`: TF1's `BasicRNNCell`
(see _plan.py)."""

import keras

from keras_rnnkit.tf1._plan import join, register_planner, weights_of


@register_planner(keras.layers.SimpleRNNCell)
def _plan_simple_rnn(cell, scope, plan):
    weights_of(cell, "SimpleRNNCell")
    units, input_dim = cell.units, cell.kernel.shape[0]
    p = join(scope, "basic_rnn_cell") + "/"
    plan.need(p + "kernel", (input_dim + units, units), "kernel over [x, h]")
    plan.need(p + "bias", (units,), "units")

    def write(values):
        kernel = values[p + "kernel"]
        return [
            (p + "kernel", cell.kernel, kernel[:input_dim]),
            (p + "kernel", cell.recurrent_kernel, kernel[input_dim:]),
            (p + "bias", cell.bias, values[p + "bias"]),
        ]

    plan.write(write)
