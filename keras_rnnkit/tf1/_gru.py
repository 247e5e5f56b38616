"""The TF1 planner of `keras.layers.GRUCell(reset_after=False)`: TF1's
`GRUCell` (see _plan.py)."""

import keras
import numpy as np

from keras_rnnkit.tf1._plan import join, register_planner, weights_of


@register_planner(keras.layers.GRUCell)
def _plan_gru(cell, scope, plan):
    weights_of(cell, "GRUCell")
    if cell.reset_after:
        raise ValueError(
            f"GRUCell '{cell.name}' has reset_after=True; TF1's GRUCell applies "
            "the reset gate before the recurrent kernel, as "
            "keras.layers.GRUCell(reset_after=False) does. Build the target "
            "cell with reset_after=False."
        )
    units, input_dim = cell.units, cell.kernel.shape[0]
    p = join(scope, "gru_cell") + "/"
    rows = input_dim + units
    plan.need(p + "gates/kernel", (rows, 2 * units), "gates r, u over [x, h]")
    plan.need(p + "gates/bias", (2 * units,), "gates r, u")
    plan.need(p + "candidate/kernel", (rows, units), "candidate over [x, r*h]")
    plan.need(p + "candidate/bias", (units,), "candidate")

    def write(values):
        # TF1: gates (r, u), h' = u*h + (1-u)*c. Keras (reset_after=False):
        # blocks (z, r, h), h' = z*h + (1-z)*hh, so z = u.
        gates = values[p + "gates/kernel"]
        kernel = np.concatenate(
            [gates[:, units:], gates[:, :units], values[p + "candidate/kernel"]],
            axis=1,
        )
        gb = values[p + "gates/bias"]
        bias = np.concatenate([gb[units:], gb[:units], values[p + "candidate/bias"]])
        names = (p + "gates/kernel", p + "candidate/kernel")
        return [
            (names, cell.kernel, kernel[:input_dim]),
            (names, cell.recurrent_kernel, kernel[input_dim:]),
            ((p + "gates/bias", p + "candidate/bias"), cell.bias, bias),
        ]

    plan.write(write)
