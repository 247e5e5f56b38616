"""Loading TF1 RNN checkpoints into kit and Keras layers.

`checkpoint_structure` reads the variable names a TF1 `Saver` wrote and says
which recurrent structures they describe; `load_checkpoint` maps the
variables of one structure onto a built layer or cell. Both are re-exported
from `keras_rnnkit.tf1`; see their docstrings there.

The TF1 variable names (checked against `tf.compat.v1` in TF 2.21, see
tests/tf1_oracle.py): `dynamic_rnn` opens the scope `rnn` (or the `scope`
given to it), `bidirectional_dynamic_rnn` the scope `bidirectional_rnn`
with `fw` and `bw` inside. In it each cell opens a scope of its own:

- `LSTMCell`: `lstm_cell/kernel` over `[x, h]` (gates i, j, f, o), `bias`,
  with peepholes `w_i_diag`, `w_f_diag`, `w_o_diag`, with `num_proj`
  `projection/kernel`;
- `BasicLSTMCell`: `basic_lstm_cell/kernel`, `bias` (gates i, j, f, o);
- `GRUCell`: `gru_cell/gates/kernel` over `[x, h]` (gates r, u),
  `gates/bias`, `candidate/kernel` over `[x, r * h]`, `candidate/bias`;
- `BasicRNNCell`: `basic_rnn_cell/kernel` over `[x, h]`, `bias`;
- `tf.contrib.rnn.LayerNormBasicLSTMCell` (TF 1.15,
  tensorflow/contrib/rnn/python/ops/rnn_cell.py; TF 2 has none): its
  `_linear` makes `layer_norm_basic_lstm_cell/kernel` over `[x, h]` (gates
  i, j, f, o) and, only with `layer_norm=False`, `bias`; its `_norm` makes
  `gamma` and `beta` of shape `(num_units,)` under the sub-scopes `input`,
  `transform`, `forget`, `output` (one per gate) and `state`, which
  `tf.contrib.layers.layer_norm(reuse=True, scope=...)` then reads;
- `MultiRNNCell`: `multi_rnn_cell/cell_0/...`, `cell_1/...`;
- `DropoutWrapper`, `ResidualWrapper`: no scope, no variables (nor has the
  kit's `ZoneoutWrapper`, which TF1 lacked: a model may add it);
- `tf.contrib.rnn.OutputProjectionWrapper` (TF 1.15,
  tensorflow/contrib/rnn/python/ops/core_rnn_cell.py; TF 2 has none): a
  layer scope `output_projection_wrapper` holding the wrapped cell's scope
  and the `kernel` and `bias` that its `_Linear` creates with
  `vs.get_variable("kernel")` / `("bias")`.
"""

import os
import re
from typing import Any

import keras
import numpy as np

from keras_rnnkit import _validation as check
from keras_rnnkit.bidirectional_encoder import BidirectionalEncoder
from keras_rnnkit.dropout_wrapper import DropoutWrapper
from keras_rnnkit.layer_norm_lstm_cell import LayerNormLSTMCell
from keras_rnnkit.multi_rnn_cell import MultiRNNCell
from keras_rnnkit.output_projection_wrapper import OutputProjectionWrapper
from keras_rnnkit.peephole_lstm_cell import PeepholeLSTMCell
from keras_rnnkit.residual_wrapper import ResidualWrapper
from keras_rnnkit.tf1 import _PEEPHOLES, _SWAP_J_F, _reorder_gates
from keras_rnnkit.zoneout_wrapper import ZoneoutWrapper

# The variables of each TF1 cell, below its scope.
_CELL_VARIABLES = {
    "lstm_cell": ("kernel", "bias", "w_i_diag", "w_f_diag", "w_o_diag",
                  "projection/kernel"),
    "basic_lstm_cell": ("kernel", "bias"),
    "gru_cell": ("gates/kernel", "gates/bias", "candidate/kernel",
                 "candidate/bias"),
    "basic_rnn_cell": ("kernel", "bias"),
    "layer_norm_basic_lstm_cell": ("kernel", "bias", *(
        f"{scope}/{part}" for scope in ("input", "transform", "forget",
                                        "output", "state")
        for part in ("gamma", "beta")
    )),
}  # fmt: skip
# LayerNormBasicLSTMCell's norm scopes in the kit's gate order i, f, c, o.
_LN_GATES = ("input", "forget", "transform", "output")
_LN_EPSILON = 1e-12  # tf.contrib.layers.layer_norm's variance_epsilon
_CELL_TYPES = {
    "lstm_cell": "LSTMCell",
    "basic_lstm_cell": "BasicLSTMCell",
    "gru_cell": "GRUCell",
    "basic_rnn_cell": "BasicRNNCell",
    "layer_norm_basic_lstm_cell": "LayerNormBasicLSTMCell",
}
_PROJECTION = "output_projection_wrapper"
_MULTI = "multi_rnn_cell"
_LAYER = re.compile(r"cell_\d+")
_INSTALL = 'pip install "keras-rnnkit[tensorflow]"'


def _read(checkpoint):
    """The checkpoint's reader and its {name: shape} of model variables
    (optimizer slots such as `kernel/Adam`, named after a variable, left
    out)."""
    try:
        import tensorflow as tf
    except ImportError as e:
        raise ImportError(
            "Reading a TF1 checkpoint needs TensorFlow (any Keras backend "
            f"can then use the weights): {_INSTALL}"
        ) from e
    try:
        reader = tf.train.load_checkpoint(str(checkpoint))
    except Exception as e:  # NotFoundError, DataLossError, ValueError, ...
        raise ValueError(
            "Argument `checkpoint` must be a TF1 checkpoint path or prefix "
            f"(or a directory holding one). Received: checkpoint={checkpoint!r} "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        ) from None
    shapes = {
        name: tuple(shape) for name, shape in reader.get_variable_to_shape_map().items()
    }
    slots = {  # named after another variable: `<variable>/Adam`, ...
        name
        for name in shapes
        if any(
            "/".join(name.split("/")[:i]) in shapes
            for i in range(1, name.count("/") + 1)
        )
    }
    return reader, {n: s for n, s in shapes.items() if n not in slots}


# -- what the checkpoint holds ----------------------------------------------


def _units_of(shapes):
    """{path: kind} of every cell and projection wrapper the names show."""
    units = {}
    for name in shapes:
        parts = name.split("/")
        for i in range(len(parts) - 1, -1, -1):
            rest = "/".join(parts[i + 1 :])
            if rest in _CELL_VARIABLES.get(parts[i], ()):
                units["/".join(parts[: i + 1])] = parts[i]
                break
        else:
            if (
                len(parts) >= 2
                and parts[-2] == _PROJECTION
                and parts[-1]
                in (
                    "kernel",
                    "bias",
                )
            ):
                units["/".join(parts[:-1])] = _PROJECTION
    # the stacks the cells sit in
    for path in list(units):
        parts = path.split("/")
        for i in range(1, len(parts) - 1):
            if parts[i - 1] == _MULTI and _LAYER.fullmatch(parts[i]):
                units.setdefault("/".join(parts[:i]), _MULTI)
    return units


def _parent_unit(path, units):
    """The path of the stack or wrapper that holds the unit at `path`."""
    parts = path.split("/")
    if len(parts) >= 3 and _LAYER.fullmatch(parts[-2]) and parts[-3] == _MULTI:
        parent = "/".join(parts[:-2])
    elif len(parts) >= 2 and parts[-2] == _PROJECTION:
        parent = "/".join(parts[:-1])
    else:
        return None
    return parent if parent in units else None


def _describe(path, units, shapes):
    kind = units[path]
    children = sorted(
        (p for p in units if _parent_unit(p, units) == path),
        key=lambda p: [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", p)],
    )
    if kind == _MULTI:
        return {"type": "MultiRNNCell", "cells": [
            _describe(p, units, shapes) for p in children
        ]}  # fmt: skip
    if kind == _PROJECTION:
        kernel = shapes.get(path + "/kernel", (None, None))
        info = {"type": "OutputProjectionWrapper", "output_size": kernel[-1]}
        if len(children) == 1:
            info["cell"] = _describe(children[0], units, shapes)
        return info

    def get(name, axis=-1):
        shape = shapes.get(f"{path}/{name}")
        return None if shape is None else shape[axis]

    info = {"type": _CELL_TYPES[kind]}
    if kind == "gru_cell":
        units_ = get("candidate/bias")
        kernel_rows = get("candidate/kernel", 0)
    elif kind == "layer_norm_basic_lstm_cell":  # no bias with layer_norm
        units_ = get("kernel")
        if units_ is not None:
            units_ //= 4
        kernel_rows = get("kernel", 0)
        info["layer_norm"] = f"{path}/input/gamma" in shapes
    else:
        units_ = get("bias")
        if units_ is not None and kind != "basic_rnn_cell":
            units_ //= 4
        kernel_rows = get("kernel", 0)
    info["num_units"] = units_
    output = units_
    if kind == "lstm_cell":
        info["use_peepholes"] = f"{path}/w_i_diag" in shapes
        info["num_proj"] = get("projection/kernel")
        output = info["num_proj"] or units_
    if kernel_rows is not None and output is not None:
        info["input_size"] = kernel_rows - output
    return info


def _structures(shapes):
    """[(scope, description)] of the outermost structures, by scope."""
    units = _units_of(shapes)
    tops = sorted(p for p in units if _parent_unit(p, units) is None)
    found = {}
    for path in tops:
        scope, _, _ = path.rpartition("/")
        head, _, direction = scope.rpartition("/")
        if direction in ("fw", "bw"):
            entry = found.setdefault(head, {"type": "bidirectional_dynamic_rnn"})
            entry[direction] = _describe(path, units, shapes)
        else:
            entry = found.setdefault(scope, {"type": "dynamic_rnn"})
            entry.setdefault("cells", []).append(_describe(path, units, shapes))
    result = []
    for scope, entry in sorted(found.items()):
        if "cells" in entry:
            cells = entry.pop("cells")
            entry["cell"] = cells[0] if len(cells) == 1 else cells
        result.append({"scope": scope, **entry})
    return result


def checkpoint_structure(checkpoint: str | os.PathLike) -> list[dict[str, Any]]:
    """What TF1 RNN structures a checkpoint holds, so you know what to build.

    Reads only the variable names and shapes (needs TensorFlow to read the
    file, whatever the Keras backend). Optimizer slots (`.../Adam`) and
    variables of other parts of the model (embeddings, dense layers,
    `global_step`) are not reported.

    Args:
        checkpoint: Path or prefix of a TF1 checkpoint (`model.ckpt`,
            `model.ckpt-1000`, or the directory holding the `checkpoint`
            file), as `tf.train.load_checkpoint` takes it.

    Returns:
        One dict per structure, sorted by scope: `{"scope": ..., "type":
        "dynamic_rnn", "cell": ...}`, or for `bidirectional_dynamic_rnn`
        `{"scope": ..., "type": "bidirectional_dynamic_rnn", "fw": ...,
        "bw": ...}`. A cell is a dict with its TF1 `"type"` (`"LSTMCell"`,
        `"BasicLSTMCell"`, `"GRUCell"`, `"BasicRNNCell"`,
        `"LayerNormBasicLSTMCell"`) and sizes (`"num_units"`,
        `"input_size"`; for `LSTMCell` also `"use_peepholes"` and
        `"num_proj"`, for `LayerNormBasicLSTMCell` `"layer_norm"`), or
        `{"type": "MultiRNNCell", "cells": [...]}`, or `{"type":
        "OutputProjectionWrapper", "output_size": ..., "cell": ...}`. Dropout
        and residual wrappers hold no variables and cannot be seen.

    Raises:
        ImportError: TensorFlow is not installed.
        ValueError: `checkpoint` cannot be read.

    Examples:
        >>> from keras_rnnkit import tf1
        >>> tf1.checkpoint_structure("model.ckpt")  # doctest: +SKIP
        [{'scope': 'rnn', 'type': 'dynamic_rnn', 'cell': {'type': 'MultiRNNCell',
          'cells': [{'type': 'GRUCell', 'num_units': 8, 'input_size': 3}, ...]}}]
    """
    reader, shapes = _read(checkpoint)
    del reader
    return _structures(shapes)


# -- the plan: every check before any write --------------------------------


class _Plan:
    def __init__(self, shapes, forget_bias):
        self.shapes = shapes
        self.forget_bias = forget_bias
        self.problems = []
        self.needed = {}  # name -> shape
        self.writes = []  # fn(values) -> [(name(s), variable, array)]

    def need(self, name, shape, why):
        self.needed[name] = shape
        if name not in self.shapes:
            self.problems.append(f"missing variable {name!r} ({why}, shape {shape})")
        elif self.shapes[name] != shape:
            self.problems.append(
                f"variable {name!r} has shape {self.shapes[name]}; the target "
                f"needs {shape} ({why})"
            )

    def pick(self, scope, names, wanted="kernel"):
        """The first cell scope name that the checkpoint holds, else the first."""
        for name in names:
            if f"{scope}/{name}/{wanted}" in self.shapes:
                return name
        return names[0]


def _join(scope, name):
    return f"{scope}/{name}" if scope else name


def _weights_of(cell, what, bias=True):
    if not cell.built:
        raise ValueError(
            f"{what} ('{cell.name}') is not built yet, so it has no weights to "
            "load into. Build the target first: call it on data of the TF1 "
            "model's input size (or `target.build(input_shape)`)."
        )
    if bias and not getattr(cell, "use_bias", True):
        raise ValueError(
            f"{what} ('{cell.name}') has use_bias=False; TF1's cells always "
            "have a bias. Build it with use_bias=True."
        )


def _np(variable):
    return tuple(variable.shape)


def _plan_lstm(cell, scope, plan, keras_cell):
    _weights_of(cell, type(cell).__name__)
    units = cell.units
    input_dim = cell.kernel.shape[0]
    peepholes = not keras_cell and cell.use_peepholes
    num_proj = None if keras_cell else cell.num_proj
    out = num_proj or units
    if peepholes or num_proj:
        name = "lstm_cell"
    else:
        name = plan.pick(
            scope, ("lstm_cell", "basic_lstm_cell", "layer_norm_basic_lstm_cell")
        )
    p = _join(scope, name) + "/"
    plan.need(p + "kernel", (input_dim + out, 4 * units), "kernel over [x, h]")
    plan.need(p + "bias", (4 * units,), "4 gates x units")
    if peepholes:
        for tf1_name in _PEEPHOLES:
            plan.need(p + tf1_name, (units,), "use_peepholes=True")
    if num_proj:
        plan.need(p + "projection/kernel", (units, num_proj), "num_proj is set")
    fold = plan.forget_bias - (0.0 if keras_cell else cell.forget_bias)

    def write(values):
        kernel = _reorder_gates(values[p + "kernel"], _SWAP_J_F)
        bias = _reorder_gates(values[p + "bias"], _SWAP_J_F)
        bias[units : 2 * units] += fold
        out = [
            (p + "kernel", cell.kernel, kernel[:input_dim]),
            (p + "kernel", cell.recurrent_kernel, kernel[input_dim:]),
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

    plan.writes.append(write)


def _plan_layer_norm(cell, scope, plan):
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
    _weights_of(cell, "LayerNormLSTMCell", bias=False)
    units, input_dim = cell.units, cell.kernel.shape[0]
    p = _join(scope, "layer_norm_basic_lstm_cell") + "/"
    plan.need(p + "kernel", (input_dim + units, 4 * units), "kernel over [x, h]")
    for gate in (*_LN_GATES, "state"):
        for part in ("gamma", "beta"):
            plan.need(f"{p}{gate}/{part}", (units,), f"layer norm of {gate!r}")
    # TF1 adds forget_bias at run time and has no bias: the kit's bias (after
    # the normalisation) carries the difference, or the cell's own
    # forget_bias must be TF1's.
    fold = plan.forget_bias - cell.forget_bias
    if cell.bias is None and fold:
        plan.problems.append(
            f"{what} has use_bias=False and forget_bias={cell.forget_bias}, but "
            f"the TF1 cell ran with forget_bias={plan.forget_bias} (build it "
            f"with forget_bias={plan.forget_bias}, or with use_bias=True to "
            "carry it in the bias)"
        )

    def write(values):
        kernel = _reorder_gates(values[p + "kernel"], _SWAP_J_F)
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

    plan.writes.append(write)


def _plan_gru(cell, scope, plan):
    _weights_of(cell, "GRUCell")
    if cell.reset_after:
        raise ValueError(
            f"GRUCell '{cell.name}' has reset_after=True; TF1's GRUCell applies "
            "the reset gate before the recurrent kernel, as "
            "keras.layers.GRUCell(reset_after=False) does. Build the target "
            "cell with reset_after=False."
        )
    units, input_dim = cell.units, cell.kernel.shape[0]
    p = _join(scope, "gru_cell") + "/"
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

    plan.writes.append(write)


def _plan_simple(cell, scope, plan):
    _weights_of(cell, "SimpleRNNCell")
    units, input_dim = cell.units, cell.kernel.shape[0]
    p = _join(scope, "basic_rnn_cell") + "/"
    plan.need(p + "kernel", (input_dim + units, units), "kernel over [x, h]")
    plan.need(p + "bias", (units,), "units")

    def write(values):
        kernel = values[p + "kernel"]
        return [
            (p + "kernel", cell.kernel, kernel[:input_dim]),
            (p + "kernel", cell.recurrent_kernel, kernel[input_dim:]),
            (p + "bias", cell.bias, values[p + "bias"]),
        ]

    plan.writes.append(write)


def _plan_projection(cell, scope, plan):
    inner = _join(scope, _PROJECTION)
    _plan_cell(cell.cell, inner, plan)
    _weights_of(cell, "OutputProjectionWrapper")
    p = inner + "/"
    plan.need(p + "kernel", _np(cell.kernel), "the projection")
    plan.need(p + "bias", _np(cell.bias), "the projection")
    plan.writes.append(
        lambda values: [
            (p + "kernel", cell.kernel, values[p + "kernel"]),
            (p + "bias", cell.bias, values[p + "bias"]),
        ]
    )


def _plan_cell(cell, scope, plan):
    if isinstance(cell, keras.layers.RNN):
        return _plan_cell(cell.cell, scope, plan)
    if isinstance(cell, (MultiRNNCell, keras.layers.StackedRNNCells)):
        for k, inner in enumerate(cell.cells):
            _plan_cell(inner, f"{_join(scope, _MULTI)}/cell_{k}", plan)
        return None
    if isinstance(cell, OutputProjectionWrapper):
        return _plan_projection(cell, scope, plan)
    if isinstance(cell, (DropoutWrapper, ResidualWrapper, ZoneoutWrapper)):
        return _plan_cell(cell.cell, scope, plan)
    if isinstance(cell, PeepholeLSTMCell):
        return _plan_lstm(cell, scope, plan, keras_cell=False)
    if isinstance(cell, LayerNormLSTMCell):
        return _plan_layer_norm(cell, scope, plan)
    if isinstance(cell, keras.layers.LSTMCell):
        return _plan_lstm(cell, scope, plan, keras_cell=True)
    if isinstance(cell, keras.layers.GRUCell):
        return _plan_gru(cell, scope, plan)
    if isinstance(cell, keras.layers.SimpleRNNCell):
        return _plan_simple(cell, scope, plan)
    raise TypeError(
        "load_checkpoint reads TF1 LSTMCell, BasicLSTMCell, GRUCell, "
        "BasicRNNCell and LayerNormBasicLSTMCell variables into "
        "PeepholeLSTMCell, keras.layers.LSTMCell, "
        "keras.layers.GRUCell(reset_after=False), keras.layers.SimpleRNNCell "
        'and LayerNormLSTMCell(norm="per_gate"), '
        "inside MultiRNNCell, DropoutWrapper, ResidualWrapper, ZoneoutWrapper, "
        "OutputProjectionWrapper, recurrent layers and BidirectionalEncoder. "
        f"Received a {type(cell).__name__} ('{getattr(cell, 'name', cell)}')."
    )


def _plan_target(target, scope, shapes, forget_bias):
    plan = _Plan(shapes, forget_bias)
    if isinstance(target, BidirectionalEncoder):
        _plan_cell(target.forward_layer.cell, _join(scope, "fw"), plan)
        _plan_cell(target.backward_layer.cell, _join(scope, "bw"), plan)
    else:
        _plan_cell(target, scope, plan)
    # left over: variables under the scope that nothing consumes
    recognised = set()
    units = _units_of(shapes)
    for name in shapes:
        if any(name.startswith(path + "/") for path in units):
            recognised.add(name)
    for name in sorted(shapes):
        under = name.startswith(scope + "/") if scope else name in recognised
        if under and name not in plan.needed:
            plan.problems.append(f"left-over variable {name!r} (shape {shapes[name]})")
    return plan


def _choose_scope(target, shapes, forget_bias):
    structures = _structures(shapes)
    if not structures:
        raise ValueError(
            "The checkpoint holds no TF1 RNN cell variables (no scope with "
            f"{sorted(_CELL_VARIABLES)}). Its variables: {sorted(shapes)[:20]}"
        )
    if len(structures) == 1:
        return structures[0]["scope"]
    fits = [
        s["scope"]
        for s in structures
        if not _plan_target(target, s["scope"], shapes, forget_bias).problems
    ]
    if len(fits) == 1:
        return fits[0]
    scopes = [s["scope"] for s in structures]
    if fits:
        raise ValueError(
            f"Several structures of the checkpoint fit the target: scopes {fits}."
            " Pass `scope=` to choose one."
        )
    raise ValueError(
        f"The checkpoint holds several structures (scopes {scopes}) and none "
        "fits the target exactly. Pass `scope=` to choose one (the error then "
        "names what is missing); `checkpoint_structure` shows what each holds."
    )


def load_checkpoint(
    target: keras.layers.Layer,
    checkpoint: str | os.PathLike,
    scope: str | None = None,
    forget_bias: float = 1.0,
) -> dict[str, list[str]]:
    """Loads the variables of a TF1 RNN checkpoint into a built layer or cell.

    The TF1 structure maps onto the target one to one:

    | TF1 (`tf.compat.v1.nn.rnn_cell`, `tf.contrib.rnn`) | target |
    | --- | --- |
    | `dynamic_rnn(cell)` | `DynamicRNN`, `keras.layers.RNN`, `PeepholeLSTM` |
    | `bidirectional_dynamic_rnn(fw, bw)` | `BidirectionalEncoder(cell)` |
    | `LSTMCell` | `PeepholeLSTMCell` (same `use_peepholes`, `num_proj`) |
    | `LSTMCell`, `BasicLSTMCell` without either | also `keras.layers.LSTMCell` |
    | `GRUCell` | `keras.layers.GRUCell(reset_after=False)` |
    | `BasicRNNCell` | `keras.layers.SimpleRNNCell` |
    | `LayerNormBasicLSTMCell` | `LayerNormLSTMCell(norm="per_gate")` |
    | `LayerNormBasicLSTMCell(layer_norm=False)` | as `BasicLSTMCell` |
    | `MultiRNNCell` | `MultiRNNCell` (or `keras.layers.StackedRNNCells`) |
    | `OutputProjectionWrapper` | `OutputProjectionWrapper` |
    | `DropoutWrapper`, `ResidualWrapper` | the same wrappers (no variables) |
    | - | `ZoneoutWrapper` (no variables) may wrap any cell |

    Gates are reordered (LSTM: TF1 i, j, f, o to i, f, c, o; GRU: TF1's
    gates kernel r, u and candidate kernel to Keras's z, r, h with z = u),
    kernels over `[x, h]` split into `kernel` and `recurrent_kernel`, and
    `forget_bias` folded into the stored bias as `set_lstm_weights` does.
    For `LayerNormBasicLSTMCell`, which has no bias, the per-gate gains and
    shifts go to `gate_norm_*` (gates reordered too) and `state_norm_*`;
    the target's bias, if it has one, is set to zero except the forget
    block, which carries `forget_bias` minus the cell's own (with
    `use_bias=False` the cell's `forget_bias` must equal TF1's).
    Settings that are not variables (activations, `cell_clip`,
    `proj_clip`, dropout rates, the layer-norm epsilon, which is TF1's
    `1e-12` by default for `norm="per_gate"`) are not in a checkpoint:
    build the target with the TF1 model's. Everything is checked before
    anything is written.

    Args:
        target: A built layer or cell (call it on data of the TF1 input
            size first, or `build` it): see the table.
        checkpoint: Path or prefix of a TF1 checkpoint, as
            `tf.train.load_checkpoint` takes it. Reading it needs TensorFlow;
            the target may run on any Keras backend.
        scope: The variable scope the structure was built in: `"rnn"` for
            `dynamic_rnn` without a scope, `"bidirectional_rnn"`,
            `"encoder/rnn"`... Default: found by itself when the checkpoint
            holds one structure, or exactly one that fits the target.
        forget_bias: The `forget_bias` the TF1 LSTM cells ran with (TF1's
            default 1.0; it is not saved in a checkpoint), for every LSTM
            cell of the structure.

    Returns:
        Which checkpoint variable went where: `{checkpoint variable name:
        [paths of the Keras weights it was written to]}`.

    Raises:
        ValueError: a variable the target needs is missing, a variable under
            the scope is left over, a shape does not fit, `scope` is None and
            no single structure fits, a cell is not built, or `checkpoint`
            cannot be read. The message names the variables; nothing is
            written then.
        TypeError: the target holds a cell with no TF1 counterpart.
        ImportError: TensorFlow is not installed.

    Examples:
        >>> import keras, keras_rnnkit
        >>> encoder = keras_rnnkit.DynamicRNN(keras_rnnkit.MultiRNNCell(
        ...     [keras.layers.GRUCell(8, reset_after=False),
        ...      keras_rnnkit.PeepholeLSTMCell(8)]))
        >>> encoder.build((None, None, 3))
        >>> keras_rnnkit.tf1.load_checkpoint(
        ...     encoder, "model.ckpt", scope="rnn")  # doctest: +SKIP
        {'rnn/multi_rnn_cell/cell_0/gru_cell/gates/kernel': [...], ...}
    """
    forget_bias = check.finite_float("forget_bias", forget_bias)
    if not isinstance(target, keras.layers.Layer):
        raise TypeError(
            "Argument `target` must be a built Keras layer or cell. "
            f"Received: target={target!r}"
        )
    if scope is not None and not isinstance(scope, str):
        raise TypeError(
            f"Argument `scope` must be a string or None. Received: scope={scope!r}"
        )
    reader, shapes = _read(checkpoint)
    if scope is None:
        scope = _choose_scope(target, shapes, forget_bias)
    scope = scope.strip("/")
    plan = _plan_target(target, scope, shapes, forget_bias)
    if plan.problems:
        shown = "; ".join(plan.problems[:10])
        more = len(plan.problems) - 10
        raise ValueError(
            f"The checkpoint's variables under scope {scope!r} do not fit the "
            f"target '{target.name}': {shown}"
            + (f"; and {more} more" if more > 0 else "")
            + ". Nothing was loaded. Build the target like the TF1 model "
            "(`keras_rnnkit.tf1.checkpoint_structure(checkpoint)` shows it)."
        )
    values = {
        name: np.asarray(reader.get_tensor(name), "float64") for name in plan.needed
    }
    assignments = [item for write in plan.writes for item in write(values)]
    for name, variable, value in assignments:  # by construction; a last check
        if tuple(variable.shape) != value.shape:
            raise AssertionError(f"{name} -> {variable.path}: {value.shape}")
    loaded = {}
    for name, variable, value in assignments:
        variable.assign(value.astype(variable.dtype))
        for single in (name,) if isinstance(name, str) else name:
            loaded.setdefault(single, []).append(variable.path)
    return loaded
