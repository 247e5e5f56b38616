"""The plan of a load: every check before any write, and who plans what.

`load_checkpoint` walks the target with `plan_cell`: each cell, wrapper or
layer class has a planner, registered with `register_planner`, that says
which checkpoint variables it needs (`Plan.need`) and how they become its
weights (`Plan.write`). Nothing is written until the whole plan holds.
"""

from collections.abc import Callable
from typing import Any

import keras

# class -> planner(cell, scope, plan)
_PLANNERS: dict[type, Callable] = {}
# class -> scopes(target, shapes): the candidate scopes of such a target in
# a checkpoint, for targets that are not recurrent structures
_SCOPES: dict[type, Callable] = {}


def register_planner(*classes: type, scopes: Callable | None = None) -> Callable:
    """Registers the decorated function as the TF1 planner of `classes`.

    A planner `planner(cell, scope, plan)` says which variables under the
    checkpoint scope `scope` the `cell` needs (`plan.need(name, shape,
    why)`) and how they become its weights (`plan.write(fn)`, where
    `fn(values)` gets `{name: float64 array}` and returns `[(name or names,
    variable, array)]`); it may record misfits with `plan.problem(text)`
    and plan the cells inside `cell` with `plan_cell(inner, scope, plan)`.
    Subclasses of a registered class use its planner unless they register
    their own (their weights are their parent's). `scopes(target, shapes)`,
    if given, lists the checkpoint scopes that may hold such a target (from
    `{name: shape}` of the checkpoint's variables), so that
    `load_checkpoint` can find it without `scope=`.

    Examples:
        >>> import keras
        >>> from keras_rnnkit import tf1
        >>> class ScaledGRUCell(keras.layers.GRUCell):  # a new `scale` weight
        ...     def build(self, input_shape):
        ...         super().build(input_shape)
        ...         self.scale = self.add_weight(shape=(), name="scale")
        >>> @tf1.register_planner(ScaledGRUCell)
        ... def plan_scaled_gru(cell, scope, plan):
        ...     tf1.plan_cell(cell, scope, plan, as_class=keras.layers.GRUCell)
        ...     name = tf1.join(scope, "scale")
        ...     plan.need(name, (), "the cell's scale")
        ...     plan.write(lambda values: [(name, cell.scale, values[name])])
    """

    def register(planner):
        for cls in classes:
            _PLANNERS[cls] = planner
            if scopes is not None:
                _SCOPES[cls] = scopes
        return planner

    return register


def plan_cell(
    cell: keras.layers.Layer, scope: str, plan: "Plan", as_class: type | None = None
) -> None:
    """Plans `cell` (a cell, wrapper or recurrent layer) under `scope` with
    the planner registered for its class (or the nearest parent class).

    Args:
        cell: The cell, wrapper or layer to plan.
        scope: The checkpoint scope its variables are under.
        plan: The `Plan` of the load.
        as_class: Plan it with the planner of this class (one of its
            parents) instead, e.g. for its parent's weights.

    Raises:
        TypeError: No planner is registered for the cell's class.
    """
    for cls in (as_class or type(cell)).__mro__:
        planner = _PLANNERS.get(cls)
        if planner is not None:
            return planner(cell, scope, plan)
    names = sorted(cls.__name__ for cls in _PLANNERS)
    raise TypeError(
        "load_checkpoint reads TF1 LSTMCell, BasicLSTMCell, GRUCell, "
        "BasicRNNCell and LayerNormBasicLSTMCell variables into "
        "PeepholeLSTMCell, keras.layers.LSTMCell, "
        "keras.layers.GRUCell(reset_after=False), keras.layers.SimpleRNNCell "
        'and LayerNormLSTMCell(norm="per_gate"), inside MultiRNNCell, '
        "DropoutWrapper, ResidualWrapper, ZoneoutWrapper, "
        "OutputProjectionWrapper, recurrent layers and BidirectionalEncoder, "
        "and TF1 attention decoders into seq2seq.AttentionWrapper (under "
        "WithMemory, or a model holding one) "
        f"(planners are registered for {', '.join(names)}; "
        "`keras_rnnkit.tf1.register_planner` adds one for a class of yours). "
        f"Received a {type(cell).__name__} ('{getattr(cell, 'name', cell)}')."
    )


def candidate_scopes(target: keras.layers.Layer, shapes: dict) -> list | None:
    """The scopes a target's registered `scopes` function finds (or, for a
    layer holding a `cell`, its cell's), or None when none registered one
    (a recurrent structure)."""
    for cls in type(target).__mro__:
        if cls in _SCOPES:
            return _SCOPES[cls](target, shapes)
    cell = getattr(target, "cell", None)
    if isinstance(cell, keras.layers.Layer) and cell is not target:
        return candidate_scopes(cell, shapes)
    return None


class Plan:
    """What a load needs from the checkpoint and writes into the target.

    Attributes:
        shapes: `{name: shape}` of the checkpoint's model variables.
        forget_bias: The `forget_bias` the TF1 LSTM cells ran with.
        problems: Misfits found so far (missing variables, wrong shapes...).
        needed: `{name: shape}` of every variable the target needs.
        writes: Functions `fn(values) -> [(name(s), variable, array)]`.
    """

    def __init__(self, shapes: dict, forget_bias: float) -> None:
        self.shapes = shapes
        self.forget_bias = forget_bias
        self.problems: list[str] = []
        self.needed: dict[str, tuple] = {}
        self.writes: list[Callable] = []

    def need(self, name: str, shape: tuple, why: str) -> None:
        """Records that checkpoint variable `name` must exist with `shape`."""
        self.needed[name] = shape
        if name not in self.shapes:
            self.problems.append(f"missing variable {name!r} ({why}, shape {shape})")
        elif self.shapes[name] != shape:
            self.problems.append(
                f"variable {name!r} has shape {self.shapes[name]}; the target "
                f"needs {shape} ({why})"
            )

    def problem(self, text: str) -> None:
        """Records a misfit that is not about one variable's presence."""
        self.problems.append(text)

    def write(self, fn: Callable[[dict], list[tuple[Any, Any, Any]]]) -> None:
        """Adds `fn(values) -> [(name or names, variable, array)]` to the
        writes done once every check has passed."""
        self.writes.append(fn)

    def pick(self, scope: str, names: tuple, wanted: str = "kernel") -> str:
        """The first cell scope name that the checkpoint holds, else the first."""
        for name in names:
            if f"{scope}/{name}/{wanted}" in self.shapes:
                return name
        return names[0]


def join(scope: str, name: str) -> str:
    """`scope/name`, or `name` at the top."""
    return f"{scope}/{name}" if scope else name


def weights_of(cell: keras.layers.Layer, what: str, bias: bool = True) -> None:
    """Raises unless `cell` is built (and, with `bias`, has a bias)."""
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


def shape_of(variable: Any) -> tuple:
    return tuple(variable.shape)
