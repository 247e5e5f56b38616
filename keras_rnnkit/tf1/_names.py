"""Reading a TF1 checkpoint: its variables and the structures they describe.

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

# The variables of each TF1 cell, below its scope.
CELL_VARIABLES = {
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
_CELL_TYPES = {
    "lstm_cell": "LSTMCell",
    "basic_lstm_cell": "BasicLSTMCell",
    "gru_cell": "GRUCell",
    "basic_rnn_cell": "BasicRNNCell",
    "layer_norm_basic_lstm_cell": "LayerNormBasicLSTMCell",
}
PROJECTION = "output_projection_wrapper"
MULTI = "multi_rnn_cell"
_LAYER = re.compile(r"cell_\d+")
_INSTALL = 'pip install "keras-rnnkit[tensorflow]"'


def read(checkpoint):
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


def units_of(shapes):
    """{path: kind} of every cell and projection wrapper the names show."""
    units = {}
    for name in shapes:
        parts = name.split("/")
        for i in range(len(parts) - 1, -1, -1):
            rest = "/".join(parts[i + 1 :])
            if rest in CELL_VARIABLES.get(parts[i], ()):
                units["/".join(parts[: i + 1])] = parts[i]
                break
        else:
            if (
                len(parts) >= 2
                and parts[-2] == PROJECTION
                and parts[-1]
                in (
                    "kernel",
                    "bias",
                )
            ):
                units["/".join(parts[:-1])] = PROJECTION
    # the stacks the cells sit in
    for path in list(units):
        parts = path.split("/")
        for i in range(1, len(parts) - 1):
            if parts[i - 1] == MULTI and _LAYER.fullmatch(parts[i]):
                units.setdefault("/".join(parts[:i]), MULTI)
    return units


def _parent_unit(path, units):
    """The path of the stack or wrapper that holds the unit at `path`."""
    parts = path.split("/")
    if len(parts) >= 3 and _LAYER.fullmatch(parts[-2]) and parts[-3] == MULTI:
        parent = "/".join(parts[:-2])
    elif len(parts) >= 2 and parts[-2] == PROJECTION:
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
    if kind == MULTI:
        return {"type": "MultiRNNCell", "cells": [
            _describe(p, units, shapes) for p in children
        ]}  # fmt: skip
    if kind == PROJECTION:
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


def structures(shapes):
    """[(scope, description)] of the outermost structures, by scope."""
    units = units_of(shapes)
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
    reader, shapes = read(checkpoint)
    del reader
    return structures(shapes)
