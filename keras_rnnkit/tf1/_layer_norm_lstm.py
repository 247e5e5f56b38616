"""The TF1 planner of `LayerNormLSTMCell`: TF 1.15's
`tf.contrib.rnn.LayerNormBasicLSTMCell(layer_norm=True)` (see _plan.py)."""

import numpy as np

from keras_rnnkit.layer_norm_lstm_cell import LayerNormLSTMCell
from keras_rnnkit.tf1._lstm import reorder_gates
from keras_rnnkit.tf1._plan import join, register_planner, weights_of

# LayerNormBasicLSTMCell's norm scopes in the kit's gate order i, f, c, o.
_LN_GATES = ("input", "forget", "transform", "output")


@register_planner(LayerNormLSTMCell)
def _plan_layer_norm_lstm(cell, scope, plan):
    """TF 1.15 `LayerNormBasicLSTMCell(layer_norm=True)` into
    `LayerNormLSTMCell(norm="per_gate")`."""
    what = f"LayerNormLSTMCell '{cell.name}'"
    if cell.norm != "per_gate":
        raise ValueError(
            f"{what} has norm={cell.norm!r}; TF1's LayerNormBasicLSTMCell "
            'normalises each gate alone, as norm="per_gate" does. Build the '
            'target cell with norm="per_gate".'
        )
    if cell.use_peepholes:
        raise ValueError(
            f"{what} has use_peepholes=True; TF1's LayerNormBasicLSTMCell has "
            "no peepholes. Build the target cell with use_peepholes=False."
        )
    weights_of(cell, "LayerNormLSTMCell", bias=False)
    units, input_dim = cell.units, cell.kernel.shape[0]
    p = join(scope, "layer_norm_basic_lstm_cell") + "/"
    plan.need(p + "kernel", (input_dim + units, 4 * units), "kernel over [x, h]")
    for gate in (*_LN_GATES, "state"):
        for part in ("gamma", "beta"):
            plan.need(f"{p}{gate}/{part}", (units,), f"layer norm of {gate!r}")
    # TF1 adds forget_bias at run time and has no bias: the kit's bias (after
    # the normalisation) carries the difference, or the cell's own
    # forget_bias must be TF1's.
    fold = plan.forget_bias - cell.forget_bias
    if cell.bias is None and fold:
        plan.problem(
            f"{what} has use_bias=False and forget_bias={cell.forget_bias}, but "
            f"the TF1 cell ran with forget_bias={plan.forget_bias} (build it "
            f"with forget_bias={plan.forget_bias}, or with use_bias=True to "
            "carry it in the bias)"
        )

    def write(values):
        kernel = reorder_gates(values[p + "kernel"])
        gates = tuple(f"{p}{gate}/" for gate in _LN_GATES)
        out = [
            (p + "kernel", cell.kernel, kernel[:input_dim]),
            (p + "kernel", cell.recurrent_kernel, kernel[input_dim:]),
        ]
        for part in ("gamma", "beta"):
            names = tuple(g + part for g in gates)
            out += [
                (names, getattr(cell, f"gate_norm_{part}"),
                 np.concatenate([values[n] for n in names])),
                (f"{p}state/{part}", getattr(cell, f"state_norm_{part}"),
                 values[f"{p}state/{part}"]),
            ]  # fmt: skip
        if cell.bias is not None:  # not a TF1 variable: no name
            bias = np.zeros(4 * units)
            bias[units : 2 * units] = fold
            out.append(((), cell.bias, bias))
        return out

    plan.write(write)
