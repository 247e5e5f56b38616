"""Several distinct cells stacked per time step (TF1's `MultiRNNCell`)."""

import itertools
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from keras_rnnkit import _validation as check
from keras_rnnkit import cell_protocol
from keras_rnnkit._cell_wrapper import (
    call_cell,
    cells_inside,
    check_cell,
    initial_state,
    output_size,
    prepare_stack_masks,
    reset_dropout_masks,
)
from keras_rnnkit._compat import ThreadLocalMasks
from keras_rnnkit._registration import register
from keras_rnnkit._serialization import construct, load_nested
from keras_rnnkit._types import Cell, States, Tensor
from keras_rnnkit.cell_protocol import StackForm


@register
class MultiRNNCell(keras.layers.Layer, ThreadLocalMasks):
    """Stacks distinct RNN cells: at each step, cell k reads cell k-1's output.

    TF1's `tf.contrib.rnn.MultiRNNCell`. The output is the last cell's. With
    `state_is_tuple=True` (the default) the state is a list with one entry
    per cell (each cell's own state list); with `state_is_tuple=False` all
    states are concatenated into one tensor, as in the deep RNN of the kit's
    TF1 tutorial (a Chinese RNN tutorial written for `tf.contrib.rnn`):
    `MultiRNNCell(..., state_is_tuple=False)`, which a dense layer can read
    directly.

    Every entry of `cells` must be a different object, and so must every cell
    inside them: TF1 users wrote `MultiRNNCell([cell] * n)` (or wrapped one
    cell n times), which silently shares one set of weights between layers
    (that tutorial warns about it). Here that is refused.

    Args:
        cells: Non-empty list of RNN cells (Keras cells, kit cells or
            wrappers), distinct objects.
        state_is_tuple: Boolean (default `True`): per-cell states, else one
            concatenated state.
        **kwargs: Standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: Float tensor `(batch, features)`, one step.
        states: A list of per-cell states, or one concatenated tensor.
        training: Boolean, passed to every cell.

    Returns:
        `(last_output, new_states)`, states in the same layout as `states`.

    Raises:
        ValueError: At construction: `cells` empty or not a list, an entry
            that is not an RNN cell, one cell used twice, or a non-boolean
            `state_is_tuple`. At call: a number of layer states other than
            the number of cells, or states that do not fit a cell.
        TypeError: At call: an integer step input.

    Examples:
        >>> import numpy as np, keras, keras_rnnkit
        >>> cell = keras_rnnkit.MultiRNNCell(
        ...     [keras.layers.LSTMCell(8), keras.layers.GRUCell(4)],
        ...     state_is_tuple=False)
        >>> cell.state_size  # h and c of the LSTM, h of the GRU
        20
        >>> output, state = keras.layers.RNN(cell, return_state=True)(
        ...     np.ones((2, 5, 3), "float32"))
        >>> tuple(output.shape), tuple(state.shape)
        ((2, 4), (2, 20))
    """

    def __init__(
        self, cells: Sequence[Cell], state_is_tuple: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(cells, (list, tuple)) or not cells:
            raise ValueError(
                "Argument `cells` must be a non-empty list of RNN cells. "
                f"Received: cells={cells!r}"
            )
        seen = {}
        for index, cell in enumerate(cells):
            check_cell(f"cells[{index}]", cell)
            for inner in cells_inside(cell):
                if id(inner) in seen:
                    raise ValueError(
                        f"cells[{index}] contains a cell already in "
                        f"cells[{seen[id(inner)]}]: the layers would share one "
                        "set of weights. Create a new cell for each layer, e.g. "
                        "[LSTMCell(n) for _ in range(k)]. "
                        f"Received: cells={cells!r}"
                    )
                seen[id(inner)] = index
        self.cells = list(cells)
        self.state_is_tuple = check.boolean("state_is_tuple", state_is_tuple)

    @property
    def state_size(self):
        sizes = [cell.state_size for cell in self.cells]
        return sizes if self.state_is_tuple else sum(keras.tree.flatten(sizes))

    @property
    def output_size(self):
        return output_size(self.cells[-1])

    # -- the cell protocol (keras_rnnkit.cell_protocol)

    @property
    def carry_states(self):
        """Each cell's carries; none when the states are concatenated (one
        tensor, dropped or zoned out as a whole, as TF1 did)."""
        if not self.state_is_tuple:
            return (False,)
        return tuple(
            flag for cell in self.cells for flag in cell_protocol.carry_states(cell)
        )

    output_is_first_state = False  # the output is the last cell's

    def fused_form(self, training: bool = False) -> StackForm | None:
        """`call`'s math (see `keras_rnnkit.cell_protocol`), with per-cell
        states (`state_is_tuple=True`) only."""
        if not self.state_is_tuple:
            return None
        return StackForm.of(self.cells, training)

    def build(self, input_shape):
        for cell in self.cells:
            if not cell.built:
                cell.build(input_shape)
            input_shape = (input_shape[0], output_size(cell))

    def get_initial_state(self, batch_size=None):
        states = [
            initial_state(cell, batch_size, self.compute_dtype) for cell in self.cells
        ]
        if self.state_is_tuple:
            return states
        return ops.concatenate(keras.tree.flatten(states), axis=-1)

    def _split(self, states):
        """Per-cell state lists from the tuple or concatenated layout."""
        if self.state_is_tuple:
            if len(states) != len(self.cells):
                raise ValueError(
                    f"Cell '{self.name}' (MultiRNNCell) expects `states` with "
                    f"one entry per cell ({len(self.cells)}). Received "
                    f"{len(states)}"
                )
            return [
                list(state) if keras.tree.is_nested(state) else [state]
                for state in states
            ]
        if keras.tree.is_nested(states):
            (states,) = keras.tree.flatten(states)
        sizes = [keras.tree.flatten(cell.state_size) for cell in self.cells]
        flat = keras.tree.flatten(sizes)
        # One split op (cheaper than a slice per state, forwards and backwards).
        boundaries = list(itertools.accumulate(flat))[:-1]
        pieces = ops.split(states, boundaries, axis=-1) if boundaries else [states]
        per_cell = []
        for cell, cell_sizes in zip(self.cells, sizes, strict=True):
            own, pieces = list(pieces[: len(cell_sizes)]), pieces[len(cell_sizes) :]
            if isinstance(cell.state_size, int):
                per_cell.append(own)
            else:  # the cell's own nesting, e.g. [[h, c]] for a stack
                per_cell.append(keras.tree.pack_sequence_as(cell.state_size, own))
        return per_cell

    def call(self, inputs: Tensor, states: States, training: bool = False):
        check.floating_inputs(self, "inputs", inputs)
        new_states = []
        for cell, state in zip(self.cells, self._split(states), strict=True):
            inputs, state = call_cell(cell, inputs, state, training)
            new_states.append(state)
        if self.state_is_tuple:
            return inputs, new_states
        return inputs, ops.concatenate(keras.tree.flatten(new_states), axis=-1)

    # -- the pre-drawn dropout masks of keras.layers.RNN (see _cell_wrapper)

    def get_dropout_mask(self, step_input):
        prepare_stack_masks(self.cells, step_input)

    def get_recurrent_dropout_mask(self, step_input):
        return None

    def reset_dropout_mask(self):
        for cell in self.cells:
            reset_dropout_masks(cell)

    def reset_recurrent_dropout_mask(self):
        pass

    def get_config(self):
        config = {
            "cells": [keras.saving.serialize_keras_object(c) for c in self.cells],
            "state_is_tuple": self.state_is_tuple,
        }
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        cells = [
            load_nested(cls, config, f"cells[{i}]", cell)
            for i, cell in enumerate(config.pop("cells"))
        ]
        return construct(cls, config, cells, **config)
