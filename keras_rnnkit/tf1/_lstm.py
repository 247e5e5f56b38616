"""TF1's `LSTMCell` and the kit's LSTMs: one mapping of their weights.

TF1's `tf.contrib.rnn.LSTMCell` (also `tf.compat.v1.nn.rnn_cell.LSTMCell`)
keeps one fused `kernel` over the concatenation `[x, h]` with gates in the
order i, j (candidate), f, o, a `bias` without the run-time `forget_bias`,
the peephole vectors `w_i_diag`, `w_f_diag`, `w_o_diag` and, with
`num_proj`, a bias-free `projection/kernel`. `PeepholeLSTMCell` splits the
kernel into `kernel` (input) and `recurrent_kernel`, orders the gates
i, f, c, o and adds its own `forget_bias` at run time. `lstm_arrays`
reorders, splits and folds the difference of forget biases into the stored
bias, so that both cells compute the same numbers; `set_lstm_weights` (one
cell, a dict of arrays) and the checkpoint planners below (for
`PeepholeLSTMCell` and `keras.layers.LSTMCell`) both use it.
"""

from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_rnnkit import _validation as check
from keras_rnnkit.peephole_lstm_cell import PeepholeLSTMCell
from keras_rnnkit.tf1._plan import join, register_planner, weights_of

# TF1 gate blocks are (i, j, f, o); the kit's are (i, f, c=j, o). Swapping
# the middle two blocks maps either order to the other.
_SWAP_J_F = (0, 2, 1, 3)
_PEEPHOLES = {
    "w_i_diag": "input_gate_peephole_weights",
    "w_f_diag": "forget_gate_peephole_weights",
    "w_o_diag": "output_gate_peephole_weights",
}
_NAMES = ("projection/kernel", "kernel", "bias", *_PEEPHOLES)


def _cell_of(cell_or_layer):
    cell = getattr(cell_or_layer, "cell", cell_or_layer)
    if not isinstance(cell, PeepholeLSTMCell):
        raise TypeError(
            "Argument `cell` must be a `keras_rnnkit.PeepholeLSTMCell` or a "
            "layer whose `.cell` is one (e.g. `keras_rnnkit.PeepholeLSTM`). "
            f"Received: cell={cell_or_layer!r}"
        )
    return cell


def reorder_gates(array, order=_SWAP_J_F):
    """`array`'s four gate blocks (last axis) in `order` (default: TF1's
    i, j, f, o to the kit's i, f, c, o, or back)."""
    blocks = np.split(np.asarray(array), 4, axis=-1)
    return np.concatenate([blocks[k] for k in order], axis=-1)


def split_kernel(kernel, input_dim):
    """A TF1 kernel over `[x, h]` (gates i, j, f, o) as the kit's `kernel`
    and `recurrent_kernel` (gates i, f, c, o)."""
    kernel = reorder_gates(kernel)
    return kernel[:input_dim], kernel[input_dim:]


def lstm_arrays(kernel, bias, input_dim, fold):
    """A TF1 LSTM's `kernel` over `[x, h]` and `bias` (gates i, j, f, o) as
    the kit's `(kernel, recurrent_kernel, bias)` (gates i, f, c, o), with
    `fold` (TF1's `forget_bias` minus the cell's) added to the forget
    block of the bias."""
    bias = reorder_gates(bias)
    units = bias.shape[0] // 4
    bias[units : 2 * units] += fold
    return (*split_kernel(kernel, input_dim), bias)


def _canonical(variables):
    """Maps TF1 variable names (scoped or not, with or without ':0') to the
    short names `kernel`, `bias`, `w_i_diag`, ... and values to float64."""
    if not isinstance(variables, Mapping):
        raise TypeError(
            "Argument `variables` must be a dict of arrays keyed by TF1 "
            f"variable name. Received: variables of type {type(variables).__name__}"
        )
    found = {}
    for key, value in variables.items():
        short = str(key).split(":")[0]
        name = next(
            (n for n in _NAMES if short == n or short.endswith("/" + n)),
            None,
        )
        if name is None:
            raise ValueError(
                f"Unknown TF1 LSTMCell variable {key!r} in `variables`. "
                f"Expected names ending in one of {list(_NAMES)}."
            )
        if name in found:
            raise ValueError(
                f"Two entries of `variables` map to {name!r}: {found[name][0]!r}"
                f" and {key!r}. Pass the variables of one cell."
            )
        found[name] = (key, np.asarray(ops.convert_to_numpy(value), "float64"))
    return {name: value for name, (_, value) in found.items()}


def _expect(variables, name, shape, why):
    """Returns `variables[name]`, checking that it exists and, unless
    `shape` is None, that it has that shape."""
    if name not in variables:
        raise ValueError(
            f"`variables` has no {name!r}, needed because {why}. "
            f"Received keys: {sorted(variables)}"
        )
    value = variables[name]
    if shape is not None and value.shape != shape:
        raise ValueError(
            f"TF1 variable {name!r} has shape {value.shape}; the cell needs "
            f"{shape} ({why})."
        )
    return value


def set_lstm_weights(
    cell: keras.layers.Layer, variables: Mapping[str, Any], forget_bias: float = 1.0
) -> None:
    """Loads the variables of a TF1 `LSTMCell` into a `PeepholeLSTMCell`.

    Args:
        cell: A `PeepholeLSTMCell`, or a layer whose `.cell` is one (such as
            `PeepholeLSTM`). Built here if it is not built yet, with the
            input size read off the TF1 kernel.
        variables: Dict of arrays keyed by TF1 variable name: `kernel` and
            `bias`; `w_i_diag`, `w_f_diag`, `w_o_diag` when the cell uses
            peepholes; `projection/kernel` when it has `num_proj`. Scoped
            names (`"rnn/lstm_cell/kernel:0"`) are accepted.
        forget_bias: The `forget_bias` the TF1 cell ran with (TF1's default
            is 1.0). The difference to `cell.forget_bias` is folded into the
            forget part of the stored bias.

    Raises:
        ValueError: if a needed variable is missing, one is left over, or a
            shape does not fit the cell; `forget_bias` is not a finite
            number. Nothing is written to the cell then.
        TypeError: `cell` is not a `PeepholeLSTMCell` (or a layer holding
            one).

    Examples:
        >>> import numpy as np, keras_rnnkit
        >>> cell = keras_rnnkit.PeepholeLSTMCell(2, use_peepholes=False)
        >>> keras_rnnkit.tf1.set_lstm_weights(
        ...     cell, {"kernel": np.zeros((5, 8)), "bias": np.zeros(8)})
        >>> tuple(cell.kernel.shape), tuple(cell.recurrent_kernel.shape)
        ((3, 8), (2, 8))
    """
    forget_bias = check.finite_float("forget_bias", forget_bias)
    cell = _cell_of(cell)
    variables = _canonical(variables)
    units, out = cell.units, cell.output_size
    if not cell.use_bias:
        raise ValueError(
            "TF1's LSTMCell always has a bias; load it into a cell built with "
            "use_bias=True. Received a cell with use_bias=False."
        )
    wanted = {"kernel", "bias"}
    if cell.use_peepholes:
        wanted |= set(_PEEPHOLES)
    if cell.num_proj is not None:
        wanted.add("projection/kernel")
    extra = sorted(set(variables) - wanted)
    if extra:
        raise ValueError(
            f"`variables` holds {extra}, which this cell has no place for "
            f"(use_peepholes={cell.use_peepholes}, num_proj={cell.num_proj}). "
            "Build the cell with the configuration of the TF1 cell."
        )
    kernel = _expect(variables, "kernel", None, "every LSTMCell has one")
    if cell.built:
        input_dim = cell.kernel.shape[0]
    else:  # read the input size off the kernel; at least one feature
        input_dim = max(kernel.shape[0] - out, 1) if kernel.ndim == 2 else 1
    shape = (input_dim + out, 4 * units)
    _expect(variables, "kernel", shape, "it acts on [x, h]")
    bias = _expect(variables, "bias", (4 * units,), "there are 4 gates x units")

    peepholes = {}
    if cell.use_peepholes:
        for tf1_name, attribute in _PEEPHOLES.items():
            peepholes[attribute] = _expect(
                variables, tf1_name, (units,), "use_peepholes"
            )
    if cell.num_proj is not None:
        projection = _expect(
            variables, "projection/kernel", (units, out), "num_proj is set"
        )
    # Everything is checked: only now is anything written.
    if not cell.built:
        cell.build((None, input_dim))
    kernel, recurrent_kernel, bias = lstm_arrays(
        kernel, bias, input_dim, forget_bias - cell.forget_bias
    )
    cell.kernel.assign(kernel)
    cell.recurrent_kernel.assign(recurrent_kernel)
    cell.bias.assign(bias)
    for attribute, value in peepholes.items():
        getattr(cell, attribute).assign(value)
    if cell.num_proj is not None:
        cell.projection_kernel.assign(projection)


def get_lstm_weights(
    cell: keras.layers.Layer, forget_bias: float = 1.0
) -> dict[str, np.ndarray]:
    """Returns the variables of the TF1 `LSTMCell` that computes like `cell`.

    The inverse of `set_lstm_weights`.

    Args:
        cell: A built `PeepholeLSTMCell`, or a layer whose `.cell` is one.
        forget_bias: The `forget_bias` the TF1 cell will run with.

    Returns:
        Dict of numpy arrays keyed `kernel`, `bias`, and, as the cell has
        them, `w_i_diag`, `w_f_diag`, `w_o_diag`, `projection/kernel`.

    Raises:
        ValueError: The cell is not built, has `use_bias=False`, or
            `forget_bias` is not a finite number.
        TypeError: `cell` is not a `PeepholeLSTMCell` (or a layer holding
            one).
    """
    cell = _cell_of(cell)
    if not cell.built:
        raise ValueError(
            f"Cell '{cell.name}' is not built yet, so it has no weights. "
            "Call it (or its layer) on data first."
        )
    if not cell.use_bias:
        raise ValueError(
            "TF1's LSTMCell always has a bias; a cell with use_bias=False "
            "has none to export."
        )
    forget_bias = check.finite_float("forget_bias", forget_bias)
    units = cell.units
    kernel = np.concatenate(
        [ops.convert_to_numpy(cell.kernel), ops.convert_to_numpy(cell.recurrent_kernel)]
    )
    bias = np.array(ops.convert_to_numpy(cell.bias))
    bias[units : 2 * units] += cell.forget_bias - forget_bias
    variables = {
        "kernel": reorder_gates(kernel),
        "bias": reorder_gates(bias),
    }
    if cell.use_peepholes:
        for tf1_name, attribute in _PEEPHOLES.items():
            variables[tf1_name] = ops.convert_to_numpy(getattr(cell, attribute))
    if cell.num_proj is not None:
        variables["projection/kernel"] = ops.convert_to_numpy(cell.projection_kernel)
    return variables


# -- planners of checkpoint loads (see _plan.py) -----------------------------


@register_planner(PeepholeLSTMCell)
def _plan_peephole_lstm(cell, scope, plan):
    _plan_lstm(cell, scope, plan, cell.use_peepholes, cell.num_proj, cell.forget_bias)


@register_planner(keras.layers.LSTMCell)
def _plan_keras_lstm(cell, scope, plan):
    _plan_lstm(cell, scope, plan, peepholes=False, num_proj=None, forget_bias=0.0)


def _plan_lstm(cell, scope, plan, peepholes, num_proj, forget_bias):
    """TF1 `LSTMCell`, `BasicLSTMCell` or `LayerNormBasicLSTMCell(
    layer_norm=False)` variables into an LSTM cell with Keras's layout."""
    weights_of(cell, type(cell).__name__)
    units = cell.units
    input_dim = cell.kernel.shape[0]
    out = num_proj or units
    if peepholes or num_proj:
        name = "lstm_cell"
    else:
        name = plan.pick(
            scope, ("lstm_cell", "basic_lstm_cell", "layer_norm_basic_lstm_cell")
        )
    p = join(scope, name) + "/"
    plan.need(p + "kernel", (input_dim + out, 4 * units), "kernel over [x, h]")
    plan.need(p + "bias", (4 * units,), "4 gates x units")
    if peepholes:
        for tf1_name in _PEEPHOLES:
            plan.need(p + tf1_name, (units,), "use_peepholes=True")
    if num_proj:
        plan.need(p + "projection/kernel", (units, num_proj), "num_proj is set")
    fold = plan.forget_bias - forget_bias

    def write(values):
        kernel, recurrent_kernel, bias = lstm_arrays(
            values[p + "kernel"], values[p + "bias"], input_dim, fold
        )
        out = [
            (p + "kernel", cell.kernel, kernel),
            (p + "kernel", cell.recurrent_kernel, recurrent_kernel),
            (p + "bias", cell.bias, bias),
        ]
        if peepholes:
            for tf1_name, attribute in _PEEPHOLES.items():
                variable = getattr(cell, attribute)
                out.append((p + tf1_name, variable, values[p + tf1_name]))
        if num_proj:
            out.append(
                (p + "projection/kernel", cell.projection_kernel,
                 values[p + "projection/kernel"])
            )  # fmt: skip
        return out

    plan.write(write)
