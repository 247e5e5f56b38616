"""Loading a TF1 checkpoint into a built layer: the plan, then the writes."""

import os

import keras
import numpy as np

from keras_rnnkit import _validation as check
from keras_rnnkit.tf1._names import CELL_VARIABLES, read, structures, units_of
from keras_rnnkit.tf1._plan import Plan, candidate_scopes, plan_cell


def _plan_target(target, scope, shapes, forget_bias):
    plan = Plan(shapes, forget_bias)
    plan_cell(target, scope, plan)
    if candidate_scopes(target, shapes) is not None:
        return plan  # not a recurrent structure: its scope holds other layers
    # left over: variables under the scope that nothing consumes
    recognised = set()
    units = units_of(shapes)
    for name in shapes:
        if any(name.startswith(path + "/") for path in units):
            recognised.add(name)
    for name in sorted(shapes):
        under = name.startswith(scope + "/") if scope else name in recognised
        if under and name not in plan.needed:
            plan.problem(f"left-over variable {name!r} (shape {shapes[name]})")
    return plan


def _choose_scope(target, shapes, forget_bias):
    scopes = candidate_scopes(target, shapes)
    if scopes is not None:  # not a recurrent structure: its planner knows
        fits = [
            scope
            for scope in scopes
            if not _plan_target(target, scope, shapes, forget_bias).problems
        ]
        if len(fits) == 1:
            return fits[0]
        raise ValueError(
            f"The checkpoint holds {len(fits)} places that fit the target "
            f"'{target.name}' ({type(target).__name__}): scopes {fits}. Pass "
            "`scope=` to choose one."
            if fits
            else f"Nothing in the checkpoint fits the target '{target.name}' "
            f"({type(target).__name__}). Candidates: {scopes}. Its variables: "
            f"{sorted(shapes)[:20]}"
        )
    found = structures(shapes)
    if not found:
        raise ValueError(
            "The checkpoint holds no TF1 RNN cell variables (no scope with "
            f"{sorted(CELL_VARIABLES)}). Its variables: {sorted(shapes)[:20]}"
        )
    if len(found) == 1:
        return found[0]["scope"]
    fits = [
        s["scope"]
        for s in found
        if not _plan_target(target, s["scope"], shapes, forget_bias).problems
    ]
    if len(fits) == 1:
        return fits[0]
    scopes = [s["scope"] for s in found]
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
    | `tf.contrib.crf`'s `transitions` | `CRF` (its start and end scores set to 0) |
    | `tf.contrib.seq2seq.AttentionWrapper` | `WithMemory(rnn(AttentionWrapper))` |

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
            `"encoder/rnn"`...; for an attention decoder, the scope its
            mechanisms were made in (`"dynamic_seq2seq/decoder"` in nmt).
            Default: found by itself when the checkpoint holds one
            structure, or exactly one that fits the target.
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
    reader, shapes = read(checkpoint)
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
