"""What every cell wrapper shares: the cell protocol, masks, serialization.

`CellWrapper` forwards `state_size`, `output_size`, `get_initial_state` and
`build` to the wrapped cell, serializes it with Keras's serializers, and
takes part in the dropout-mask mechanism of `keras.layers.RNN` (see
`_compat.py`): when the RNN layer asks the outermost cell for its masks
before the time loop, the wrapper draws its own and asks every cell inside
it for theirs, with step inputs and states of the right shapes. Nothing
random then happens inside the scanned step, so wrappers work under JAX's
`jit`.
"""

import functools
import inspect
from typing import Any

import keras
from keras import ops

from keras_rnnkit import _validation as check
from keras_rnnkit import cell_protocol
from keras_rnnkit._compat import DropoutRNNCell, ThreadLocalMasks
from keras_rnnkit._serialization import construct, load_nested
from keras_rnnkit._types import Cell


def check_cell(name, cell):
    """Returns `cell` if it follows the Keras RNN cell protocol."""
    if not (
        isinstance(cell, keras.layers.Layer)
        and callable(getattr(cell, "call", None))
        and hasattr(cell, "state_size")
    ):
        raise ValueError(
            f"Argument `{name}` must be a Keras RNN cell: a keras.layers.Layer "
            "with a `state_size` attribute and a `call(inputs, states)` method, "
            "such as keras.layers.LSTMCell or keras_rnnkit.PeepholeLSTMCell. "
            f"Received: {name}={cell!r}"
        )
    if isinstance(cell, keras.layers.RNN):
        raise ValueError(
            f"Argument `{name}` must be a cell, not a recurrent layer. Wrap the "
            f"layer's cell instead (`layer.cell`). Received: {name}={cell!r}"
        )
    return cell


def output_size(cell):
    """The size of a cell's output (Keras's rule: else its first state)."""
    size = getattr(cell, "output_size", None)
    if size is not None:
        return size
    sizes = cell.state_size
    return sizes[0] if isinstance(sizes, (list, tuple)) else sizes


def initial_state(cell, batch_size, dtype):
    """A cell's initial state, from its own `get_initial_state` or zeros."""
    get_initial_state = getattr(cell, "get_initial_state", None)
    if get_initial_state is not None:
        return get_initial_state(batch_size=batch_size)
    sizes = cell.state_size
    if isinstance(sizes, int):
        return ops.zeros((batch_size, sizes), dtype=dtype)
    return [ops.zeros((batch_size, size), dtype=dtype) for size in sizes]


@functools.cache
def _takes_training(cls):
    return "training" in inspect.signature(cls.call).parameters


def call_cell(cell, inputs, states, training):
    """Calls a cell with `training` if its `call` takes it, after checking
    the step's shapes (a clear error instead of a backend's)."""
    check.step_fits(cell, inputs, states)
    if _takes_training(type(cell)):
        return cell(inputs, states, training=training)
    return cell(inputs, states)


def cells_inside(cell):
    """`cell` and every cell nested in it (through `.cell` and `.cells`)."""
    found = [cell]
    inner = getattr(cell, "cell", None)
    if inner is not None:
        found += cells_inside(inner)
    for inner in getattr(cell, "cells", None) or []:
        found += cells_inside(inner)
    return found


def first_state_size(cell):
    return keras.tree.flatten(cell.state_size)[0]


def prepare_dropout_masks(cell, step_input):
    """Makes `cell` (and the cells inside it) draw their dropout masks now.

    `step_input` is a tensor shaped like one step of the cell's input. Mirrors
    what `keras.layers.RNN` does for the outermost cell before its loop.
    """
    if isinstance(cell, DropoutRNNCell):
        cell.get_dropout_mask(step_input)
        state = ops.ones(
            (ops.shape(step_input)[0], first_state_size(cell)),
            dtype=step_input.dtype,
        )
        cell.get_recurrent_dropout_mask(state)
    elif isinstance(cell, keras.layers.StackedRNNCells):
        prepare_stack_masks(cell.cells, step_input)


def prepare_stack_masks(cells, step_input):
    """`prepare_dropout_masks` for cells stacked per step: each cell's step
    input is shaped like the previous cell's output."""
    for cell in cells:
        prepare_dropout_masks(cell, step_input)
        step_input = ops.ones(
            (ops.shape(step_input)[0], output_size(cell)), dtype=step_input.dtype
        )


def reset_dropout_masks(cell):
    """Forgets the masks drawn by `prepare_dropout_masks` (after the loop)."""
    if isinstance(cell, DropoutRNNCell):
        cell.reset_dropout_mask()
        cell.reset_recurrent_dropout_mask()
    elif isinstance(cell, keras.layers.StackedRNNCells):
        for inner in cell.cells:
            reset_dropout_masks(inner)


class CellWrapper(keras.layers.Layer, ThreadLocalMasks):
    """Base of the kit's cell wrappers: wraps one cell, forwards the protocol.

    Subclasses implement `call` and, when they draw random masks, override
    `_draw_masks(step_input)` and `_clear_masks()`.
    """

    def __init__(self, cell: Cell, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cell = check_cell("cell", cell)

    @property
    def state_size(self):
        return self.cell.state_size

    @property
    def output_size(self):
        return output_size(self.cell)

    # -- the cell protocol (keras_rnnkit.cell_protocol): the wrapped cell's
    # states and, unless a subclass says otherwise, its output

    @property
    def carry_states(self):
        return cell_protocol.carry_states(self.cell)

    @property
    def output_is_first_state(self):
        return cell_protocol.output_is_first_state(self.cell)

    def build(self, input_shape):
        if not self.cell.built:
            self.cell.build(input_shape)

    def get_initial_state(self, batch_size=None):
        return initial_state(self.cell, batch_size, self.compute_dtype)

    # -- the pre-drawn dropout masks of keras.layers.RNN -------------------

    def get_dropout_mask(self, step_input):
        prepare_dropout_masks(self.cell, step_input)
        self._draw_masks(step_input)

    def get_recurrent_dropout_mask(self, step_input):
        return None  # everything is drawn in get_dropout_mask

    def reset_dropout_mask(self):
        reset_dropout_masks(self.cell)
        self._clear_masks()

    def reset_recurrent_dropout_mask(self):
        pass

    def _draw_masks(self, step_input):
        pass

    def _clear_masks(self):
        pass

    # -- serialization -----------------------------------------------------

    def get_config(self):
        config = {"cell": keras.saving.serialize_keras_object(self.cell)}
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        cell = load_nested(cls, config, "cell", config.pop("cell"))
        return construct(cls, config, cell, **config)
