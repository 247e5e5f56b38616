"""Training-aware dropout around any RNN cell (TF1's `DropoutWrapper`)."""

import numbers
from typing import Any

import keras
from keras import ops

from keras_rnnkit import _step_noise, cell_protocol
from keras_rnnkit import _validation as check
from keras_rnnkit._cell_wrapper import CellWrapper, call_cell
from keras_rnnkit._registration import register
from keras_rnnkit._types import Cell, States, Tensor
from keras_rnnkit.cell_protocol import MaskedForm


def _rate(name, rate, keep_prob):
    """A dropout rate from either spelling: `*_rate` or TF1's `*_keep_prob`."""
    if keep_prob is None:
        return check.rate(f"{name}_rate", rate)
    if rate:
        raise ValueError(
            f"Pass either `{name}_rate` or TF1's `{name}_keep_prob`, not both. "
            f"Received: {name}_rate={rate!r}, {name}_keep_prob={keep_prob!r}"
        )
    if (
        isinstance(keep_prob, bool)
        or not isinstance(keep_prob, numbers.Real)
        or not 0.0 < keep_prob <= 1.0
    ):
        raise ValueError(
            f"Argument `{name}_keep_prob` must be a float in (0, 1]. "
            f"Received: {name}_keep_prob={keep_prob!r}"
        )
    return 1.0 - float(keep_prob)


@register
class DropoutWrapper(CellWrapper):
    """Dropout on a cell's input, new state and output, only in training.

    TF1's `tf.contrib.rnn.DropoutWrapper` applied dropout at every call: to
    predict, the kit's TF1 tutorial (a Chinese RNN tutorial written for
    `tf.contrib.rnn`) had to rebuild the graph without it. This wrapper
    follows Keras's `training` flag instead: it drops units inside `fit` and
    is the identity in `predict`, `evaluate` and any call with
    `training=False`, with nothing rebuilt.

    Per step, in TF1's order: dropout on the input, call the cell, dropout on
    the new state, dropout on the output. State dropout never touches an
    LSTM's carry `c` (TF1's default); it acts on `h` and on every state of
    other cells (GRU, SimpleRNN), and on each layer of a `MultiRNNCell`
    (on the whole state when its states are concatenated). Which states
    are carries, the cell says (`carry_states`, see
    `keras_rnnkit.cell_protocol`): a user's own LSTM-like cell that declares
    its carry keeps it too. Kept units are scaled by `1 / (1 - rate)`.

    With `variational=True` (the default) one mask per sequence is drawn for
    each of input, state and output, before the time loop, and reused at
    every step (Gal and Ghahramani 2016; TF1's `variational_recurrent`, but
    per sample rather than shared across the batch); each batch gets new
    masks. (Called step by step outside a recurrent layer, e.g. in a
    hand-written decoder loop, each call draws new masks.) With
    `variational=False` the masks are new at every step, as TF1 did by
    default. `DynamicRNN` and the kit's layers draw all steps' numbers
    before their loop, so this works on every backend, under JAX's `jit`
    too; inside `keras.layers.RNN` the wrapper draws at each step, which
    TensorFlow and torch can but JAX's compiled loop cannot (an error says
    so).

    Args:
        cell: The RNN cell to wrap (any Keras RNN cell or kit cell/wrapper).
        input_rate: Float in `[0, 1)`, fraction of input features dropped.
        state_rate: Float in `[0, 1)`, fraction of state features dropped.
        output_rate: Float in `[0, 1)`, fraction of output features dropped.
        variational: Boolean (default `True`): one mask per sequence.
        seed: Integer or `None`, seed of the masks.
        input_keep_prob: TF1's spelling of `input_rate`, a float in
            `(0, 1]`; `keep_prob = 1 - rate`. Give at most one spelling
            per place; rates are what the config stores.
        state_keep_prob: TF1's spelling of `state_rate`.
        output_keep_prob: TF1's spelling of `output_rate`.
        **kwargs: Standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: Float tensor `(batch, features)`, one step.
        states: The wrapped cell's states.
        training: Boolean. Dropout acts only when `True`; at inference
            nothing random is drawn and no seed state is written (inside
            `DynamicRNN` and the kit's layers; `keras.layers.RNN` still draws
            unused masks). Masks are kept per thread: one layer may be
            trained from several threads at once. Keras's own cells with
            `dropout` inside a wrapper keep theirs on the cell (one model per
            thread for those).

    Returns:
        `(output, new_states)` of the wrapped cell, after dropout.

    Raises:
        ValueError: At construction: a rate outside `[0, 1)`, a keep
            probability outside `(0, 1]`, both spellings of one rate, a
            non-boolean `variational`, or a `cell` that is not an RNN cell.
            At call: a step not shaped `(batch, features)`, or states that
            do not fit the cell's `state_size`.
        TypeError: At call: an integer step input.
        RuntimeError: `variational=False` while training on JAX in a
            compiled loop other than the kit's (`keras.layers.RNN`).

    Examples:
        >>> import numpy as np, keras, keras_rnnkit
        >>> cell = keras_rnnkit.DropoutWrapper(
        ...     keras.layers.GRUCell(8), input_rate=0.2, output_rate=0.5, seed=1)
        >>> layer = keras.layers.RNN(cell)
        >>> x = np.ones((4, 5, 3), "float32")
        >>> run = lambda **kw: keras.ops.convert_to_numpy(layer(x, **kw))
        >>> bool(np.allclose(run(), run()))  # inference: no dropout
        True
        >>> bool(np.allclose(run(training=True), run()))
        False
    """

    def __init__(
        self,
        cell: Cell,
        input_rate: float = 0.0,
        state_rate: float = 0.0,
        output_rate: float = 0.0,
        variational: bool = True,
        seed: int | None = None,
        input_keep_prob: float | None = None,
        state_keep_prob: float | None = None,
        output_keep_prob: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(cell, **kwargs)
        self.input_rate = _rate("input", input_rate, input_keep_prob)
        self.state_rate = _rate("state", state_rate, state_keep_prob)
        self.output_rate = _rate("output", output_rate, output_keep_prob)
        self.variational = check.boolean("variational", variational)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)
        self._masks = None

    @property
    def output_is_first_state(self):
        """The wrapped cell's, unless dropout on the output or the state
        makes them differ."""
        if self.output_rate or self.state_rate:
            return False
        return cell_protocol.output_is_first_state(self.cell)

    def _mask(self, shape, rate, dtype):
        ones = ops.ones(shape, dtype=dtype)
        return keras.random.dropout(ones, rate, seed=self.seed_generator)

    def _new_masks(self, batch_size, input_dim, dtype, mask=None):
        """Input, state (a flat list in the order of the flattened states,
        None where a state is not dropped) and output masks; None for a rate
        of 0. `mask(shape, rate, dtype)` makes each (default: drawn now)."""
        mask = mask or self._mask
        masks = {"input": None, "state": None, "output": None}
        if self.input_rate:
            masks["input"] = mask((batch_size, input_dim), self.input_rate, dtype)
        if self.state_rate:
            masks["state"] = [
                None if carry else mask((batch_size, size), self.state_rate, dtype)
                for size, carry in zip(
                    keras.tree.flatten(self.cell.state_size),
                    cell_protocol.carry_states(self.cell),
                    strict=True,
                )
            ]
        if self.output_rate:
            masks["output"] = mask(
                (batch_size, self.output_size), self.output_rate, dtype
            )
        return masks

    def _numbers_per_step(self, input_dim):
        """How many uniform numbers one row's masks of one step take."""
        sizes = []
        self._new_masks(1, input_dim, None, lambda shape, *_: sizes.append(shape[1]))
        return sum(sizes)

    def _step_masks(self, inputs):
        """This step's masks, from uniform numbers (`_step_noise.py`): a unit
        is kept where its number is at least the rate."""
        input_dim = inputs.shape[-1]
        numbers = _step_noise.uniform(self, inputs, self._numbers_per_step(input_dim))
        start = 0

        def mask(shape, rate, dtype):
            nonlocal start
            kept = numbers[:, start : start + shape[1]] >= rate
            start += shape[1]
            return ops.cast(kept, dtype) / ops.cast(1.0 - rate, dtype)

        return self._new_masks(None, input_dim, inputs.dtype, mask)

    def _draw_masks(self, step_input):
        check.floating_inputs(self, "inputs", step_input)
        if self.variational:
            self._masks = self._new_masks(
                ops.shape(step_input)[0], step_input.shape[-1], step_input.dtype
            )
        else:
            _step_noise.request(self, self._numbers_per_step(step_input.shape[-1]))

    def _clear_masks(self):
        self._masks = None

    def call(self, inputs: Tensor, states: States, training: bool = False):
        check.step_fits(self, inputs, states)
        if not training:
            return call_cell(self.cell, inputs, states, training)
        if self.variational:
            masks = self._masks
            if masks is None:  # called step by step, outside a recurrent layer
                masks = self._new_masks(
                    ops.shape(inputs)[0], inputs.shape[-1], inputs.dtype
                )
        else:
            masks = self._step_masks(inputs)
        if masks["input"] is not None:
            inputs = inputs * masks["input"]
        output, new_states = call_cell(self.cell, inputs, states, training)
        if masks["state"] is not None:
            flat = [
                state if mask is None else state * mask
                for state, mask in zip(
                    keras.tree.flatten(new_states), masks["state"], strict=True
                )
            ]
            new_states = keras.tree.pack_sequence_as(new_states, flat)
        if masks["output"] is not None:
            output = output * masks["output"]
        return output, new_states

    # `seed` only chooses the masks, which the form holds as drawn.
    fused_form_ignores = ("seed",)

    def fused_form(self, training: bool = False) -> MaskedForm | None:
        """`call`'s math (see `keras_rnnkit.cell_protocol`): the wrapped
        cell's when not training; in training the per-sequence input and
        output masks drawn before the loop, or None when the masks act
        inside the recurrence (state dropout) or change at every step."""
        inner = cell_protocol.fused_form(self.cell, training)
        if inner is None or not training:
            return inner
        if not (self.input_rate or self.state_rate or self.output_rate):
            return inner
        masks = self._masks  # drawn before the loop (DynamicRNN)
        if not self.variational or masks is None or masks["state"] is not None:
            return None
        return MaskedForm(inner, masks["input"], masks["output"])

    def get_config(self):
        config = {
            "input_rate": self.input_rate,
            "state_rate": self.state_rate,
            "output_rate": self.output_rate,
            "variational": self.variational,
            "seed": self.seed,
        }
        return {**super().get_config(), **config}
