"""What a recurrent cell says about itself, beyond Keras's cell protocol.

Keras's protocol (`state_size`, `output_size`, `get_initial_state`,
`call(inputs, states)`) says how to run a cell. The kit's wrappers and loops
also need to know what the states *are* and what the cell computes. A cell
says so with three optional members of its class:

- `carry_states`: a tuple of booleans, one per state (flattened, in the
  order of `state_size`): `True` for an LSTM-style carry `c`. TF1's
  `DropoutWrapper` never dropped a carry, and neither does the kit's state
  dropout; `ZoneoutWrapper` zones carries out with `zoneout_c` and every
  other state with `zoneout_h`. An LSTM whose states are `[h, c]` declares
  `(False, True)`.
- `output_is_first_state`: `True` when the cell's output is its new first
  state (the `h` of an LSTM or a GRU), so that a wrapper that changes
  state 0 (`ZoneoutWrapper`) changes the output with it.
- `fused_form(self, training=False)`: the cell's math as a form object
  (`LSTMForm`, ...) that the kit's own loops can run over a whole sequence
  at once (the fast paths of `_torch_loop.py` and `_jax_loop.py`), or
  `None`. Written next to `call`, it must describe exactly what `call`
  computes; a subclass that overrides `call` never inherits its parent's
  `fused_form` (it runs its own `call`), one that does not keeps it, and
  one that defines `fused_form` itself (at or below its `call`) uses its
  own.

Each may be a class attribute or a property (wrappers derive theirs from the
cell they wrap). Cells that declare nothing get TF1's defaults: no carries,
an output not assumed to be state 0, no fused form. Keras's own cells
(`LSTMCell`, `GRUCell`, `SimpleRNNCell`, `StackedRNNCells`) are declared in
this module, with `declare`, which does the same for any class you cannot
edit.

The functions below read the declarations; every part of the kit that needs
a trait asks them, never a list of classes. See `docs/extending.md` for a
worked example (a user's own LSTM variant in every wrapper and layer).

Examples:
    >>> import keras, keras_rnnkit
    >>> from keras_rnnkit import cell_protocol
    >>> class CoupledLSTMCell(keras.layers.Layer):
    ...     carry_states = (False, True)      # states [h, c]: c is a carry
    ...     output_is_first_state = True      # the output is the new h
    ...     state_size = [4, 4]
    >>> cell_protocol.carry_states(CoupledLSTMCell())
    (False, True)
    >>> cell_protocol.carry_states(keras.layers.GRUCell(3))  # declared here
    (False,)
    >>> cell_protocol.output_is_first_state(
    ...     keras_rnnkit.OutputProjectionWrapper(keras.layers.GRUCell(3), 2))
    False
"""

import dataclasses
from collections.abc import Callable
from typing import Any

import keras

_MISSING = object()
# class -> {trait name: value, or a function of the cell giving it}
_DECLARED: dict[type, dict[str, Any]] = {}
_TRAITS = ("carry_states", "output_is_first_state", "fused_form")


def declare(
    cls: type,
    *,
    carry_states: Any = _MISSING,
    output_is_first_state: Any = _MISSING,
    fused_form: Any = _MISSING,
    fused_form_ignores: tuple[str, ...] | None = None,
) -> type:
    """Declares the traits of a cell class you cannot edit (e.g. a library's).

    Each trait is a value, or a function of the cell instance that returns
    it (`fused_form` is always a function `(cell, training) -> form | None`).
    Subclasses inherit the declarations; a subclass that overrides `call`
    does not inherit `fused_form`.

    Args:
        cls: The cell class.
        carry_states: Tuple of booleans (one per flattened state), or a
            function of the cell.
        output_is_first_state: Boolean, or a function of the cell.
        fused_form: Function `(cell, training) -> form or None`.
        fused_form_ignores: `get_config` keys that cannot change the numbers
            of the fused form (initializers, regularizers, ...): the tests
            check that every other key is read by `fused_form`.

    Returns:
        `cls`.
    """
    given = {
        "carry_states": carry_states,
        "output_is_first_state": output_is_first_state,
        "fused_form": fused_form,
    }
    traits = {name: value for name, value in given.items() if value is not _MISSING}
    if fused_form_ignores is not None:
        traits["fused_form_ignores"] = tuple(fused_form_ignores)
    _DECLARED.setdefault(cls, {}).update(traits)
    return cls


def _owner(cls, name):
    """The class of `cls`'s MRO that defines (or declares) `name`."""
    for klass in cls.__mro__:
        if name in vars(klass) or name in _DECLARED.get(klass, ()):
            return klass
    return None


def _trait(cell, name):
    """The value of trait `name` for `cell`, or `_MISSING`."""
    owner = _owner(type(cell), name)
    if owner is None:
        return _MISSING
    if name in vars(owner):
        return getattr(cell, name)
    value = _DECLARED[owner][name]
    return value(cell) if callable(value) else value


def _flat_state_count(cell):
    return len(keras.tree.flatten(cell.state_size))


def carry_states(cell: keras.layers.Layer) -> tuple[bool, ...]:
    """Which of `cell`'s flattened states are LSTM-style carries.

    Args:
        cell: A recurrent cell.

    Returns:
        A tuple of booleans, one per flattened state of `cell.state_size`:
        the cell's `carry_states`, or all `False` when it declares none.

    Raises:
        ValueError: The declaration is not one boolean per state.
    """
    count = _flat_state_count(cell)
    value = _trait(cell, "carry_states")
    if value is _MISSING:
        return (False,) * count
    flat = tuple(keras.tree.flatten(value))
    if len(flat) != count or not all(isinstance(v, bool) for v in flat):
        raise ValueError(
            f"{type(cell).__name__} '{cell.name}' declares carry_states={value!r}; "
            f"it must be one boolean per state of its state_size "
            f"{cell.state_size!r} ({count} state(s)), True for an LSTM-style "
            "carry."
        )
    return flat


def output_is_first_state(cell: keras.layers.Layer) -> bool:
    """Whether `cell`'s output is its new first state (`False` if undeclared).

    Raises:
        ValueError: The declaration is not a boolean.
    """
    value = _trait(cell, "output_is_first_state")
    if value is _MISSING:
        return False
    if not isinstance(value, bool):
        raise ValueError(
            f"{type(cell).__name__} '{cell.name}' declares "
            f"output_is_first_state={value!r}; it must be True or False."
        )
    return value


def fused_form(cell: keras.layers.Layer, training: bool = False) -> Any:
    """`cell`'s fused form for this call, or `None` (run `call` step by step).

    `None` also when `call` is defined below the class that defines
    `fused_form`: a subclass that computes something else in its own `call`
    must not run its parent's math. (A subclass that overrides `call`
    without changing the math takes the form back by defining `fused_form`
    itself, e.g. `fused_form = PeepholeLSTMCell.fused_form`.)

    Args:
        cell: A built recurrent cell.
        training: Whether the call trains (dropout may need the step loop).
    """
    cls = type(cell)
    owner = _owner(cls, "fused_form")
    if owner is None or not issubclass(owner, _owner(cls, "call")):
        return None  # `call` was overridden below the class of the form
    if "fused_form" in vars(owner):
        return cell.fused_form(training)
    return _DECLARED[owner]["fused_form"](cell, training)


def fused_form_ignores(cell: keras.layers.Layer) -> tuple[str, ...]:
    """The `get_config` keys that `cell` declares irrelevant to its fused
    form (read by the tests that tie `fused_form` to the config)."""
    value = _trait(cell, "fused_form_ignores")
    return () if value is _MISSING else tuple(value)


# -- the forms ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LSTMForm:
    """An LSTM step, in Keras's gate order i, f, c, o (`PeepholeLSTMCell`'s
    equations): with `z = x @ kernel + h @ recurrent_kernel + bias`,

        i  = recurrent_activation(z_i + w_i * c)
        f  = recurrent_activation(z_f + w_f * c + forget_bias)
        c' = clip(f * c + i * activation(z_c), cell_clip)
        o  = recurrent_activation(z_o + w_o * c')
        h' = clip((o * activation(c')) @ projection, proj_clip)

    States `[h, c]`, output `h'`. `peepholes` is `(w_i, w_f, w_o)` or None;
    `bias`, `projection`, `cell_clip` and `proj_clip` may be None.
    `recurrent_mask` `(batch, h size)`, or None, multiplies `h` on its way
    into `h @ recurrent_kernel` at every step (per-sequence recurrent
    dropout, drawn before the loop); the state `h` itself is not masked.
    """

    kernel: Any
    recurrent_kernel: Any
    bias: Any = None
    peepholes: tuple | None = None
    projection: Any = None
    forget_bias: float = 0.0
    cell_clip: float | None = None
    proj_clip: float | None = None
    activation: Callable = keras.activations.tanh
    recurrent_activation: Callable = keras.activations.sigmoid
    recurrent_mask: Any = None

    def is_standard(self):
        """Whether this is the LSTM of `torch.nn.LSTM` and cuDNN: no
        peepholes, cell clip, projection or recurrent mask, sigmoid gates
        and tanh (a `forget_bias` goes into the bias)."""
        return (
            self.peepholes is None
            and self.recurrent_mask is None
            and self.projection is None
            and not self.cell_clip
            and self.activation is keras.activations.tanh
            and self.recurrent_activation is keras.activations.sigmoid
        )


@dataclasses.dataclass(frozen=True)
class LayerNormLSTMForm:
    """A layer-normalised LSTM step (`LayerNormLSTMCell`'s equations), gates
    in Keras's order i, f, c, o. `LN(v, (gamma, beta))` normalises `v` over
    its last axis (`epsilon` added to the variance), then scales and
    shifts. With `input_norm` and `recurrent_norm` (tensorflow-addons'
    variant) `z = LN(x @ kernel, input_norm) + LN(h @ recurrent_kernel,
    recurrent_norm) + bias`; with `gate_norm` (TF1 contrib's) each gate's
    block of `x @ kernel + h @ recurrent_kernel` is normalised alone with
    its part of `gate_norm`, then `bias` is added. Then

        i  = recurrent_activation(z_i + w_i * c)
        f  = recurrent_activation(z_f + w_f * c + forget_bias)
        c' = LN(f * c + i * activation(z_c), state_norm)
        h' = recurrent_activation(z_o + w_o * c') * activation(c')

    `peepholes` is `(w_i, w_f, w_o)` or None; `bias` may be None.
    """

    kernel: Any
    recurrent_kernel: Any
    state_norm: tuple
    epsilon: float
    input_norm: tuple | None = None
    recurrent_norm: tuple | None = None
    gate_norm: tuple | None = None
    bias: Any = None
    peepholes: tuple | None = None
    forget_bias: float = 0.0
    activation: Callable = keras.activations.tanh
    recurrent_activation: Callable = keras.activations.sigmoid


@dataclasses.dataclass(frozen=True)
class ProjectionForm:
    """`activation(cell_output @ kernel + bias)` on every step's output of
    the cell `cell` (a form); the states are the cell's."""

    cell: Any
    kernel: Any
    bias: Any = None
    activation: Callable = keras.activations.linear


@dataclasses.dataclass(frozen=True)
class ResidualForm:
    """`inputs + cell_output` at every step; the states are the cell's."""

    cell: Any


@dataclasses.dataclass(frozen=True)
class MaskedForm:
    """The cell's inputs and outputs multiplied by masks `(batch, size)`
    that are the same at every step (per-sequence dropout); either may be
    None."""

    cell: Any
    input_mask: Any = None
    output_mask: Any = None


@dataclasses.dataclass(frozen=True)
class StackForm:
    """Cells stacked per step: cell k reads cell k-1's output; the state is
    the list of the cells' states."""

    cells: tuple

    @classmethod
    def of(cls, cells, training=False):
        """The form of `cells` stacked, or None if one of them has none."""
        forms = tuple(fused_form(cell, training) for cell in cells)
        return None if None in forms else cls(forms)


# -- Keras's own cells -------------------------------------------------------

# Settings that only initialise, regularise or constrain weights, or seed
# dropout: they never change what a step computes from the weights.
WEIGHT_SETTINGS = tuple(
    f"{weight}_{kind}"
    for weight in ("kernel", "recurrent", "bias")
    for kind in ("initializer", "regularizer", "constraint")
) + ("seed",)


def _keras_lstm_form(cell, training):
    if training and (cell.dropout or cell.recurrent_dropout):
        return None  # masks act inside the step
    return LSTMForm(
        kernel=cell.kernel,
        recurrent_kernel=cell.recurrent_kernel,
        bias=cell.bias if cell.use_bias else None,
        activation=cell.activation,
        recurrent_activation=cell.recurrent_activation,
    )


def _stack_carries(cell):
    return tuple(flag for inner in cell.cells for flag in carry_states(inner))


declare(
    keras.layers.LSTMCell,
    carry_states=(False, True),
    output_is_first_state=True,
    fused_form=_keras_lstm_form,
    # units: the kernels' shapes; unit_forget_bias: an initializer setting
    fused_form_ignores=(*WEIGHT_SETTINGS, "units", "unit_forget_bias"),
)
declare(keras.layers.GRUCell, carry_states=(False,), output_is_first_state=True)
declare(keras.layers.SimpleRNNCell, carry_states=(False,), output_is_first_state=True)
declare(
    keras.layers.StackedRNNCells,
    carry_states=_stack_carries,
    output_is_first_state=False,
    fused_form=lambda cell, training: StackForm.of(cell.cells, training),
)

__all__ = [
    "LSTMForm",
    "LayerNormLSTMForm",
    "MaskedForm",
    "ProjectionForm",
    "ResidualForm",
    "StackForm",
    "carry_states",
    "declare",
    "fused_form",
    "fused_form_ignores",
    "output_is_first_state",
]
