"""Zoneout around any RNN cell (Krueger et al., 2016)."""

from typing import Any

import keras
from keras import ops

from keras_rnnkit import _step_noise, cell_protocol
from keras_rnnkit import _validation as check
from keras_rnnkit._cell_wrapper import CellWrapper, call_cell
from keras_rnnkit._registration import register
from keras_rnnkit._types import Cell, States, Tensor


@register
class ZoneoutWrapper(CellWrapper):
    """Zoneout: at each step, each unit of the state may keep its old value.

    Zoneout (Krueger et al., 2016, "Zoneout: Regularizing RNNs by Randomly
    Preserving Hidden Activations") regularises a recurrent cell like
    dropout, but instead of setting units to zero it keeps, at random, their
    value of the previous step: in training, per step, row and unit,

        state_t = d * state_{t-1} + (1 - d) * cell_state_t,
        d ~ Bernoulli(rate),

    and at inference the expected mix,
    `rate * state_{t-1} + (1 - rate) * cell_state_t`, with nothing random.
    Neither TF1 nor Keras has it. An LSTM's `h` is zoned out with `zoneout_h`
    and its carry `c` with `zoneout_c`; every state of other cells (GRU,
    SimpleRNN, ...) with `zoneout_h`; a `MultiRNNCell` per layer in the same
    way (its whole state with `zoneout_h` when concatenated). When the
    wrapped cell's output is its first state (Keras's `LSTMCell`,
    `GRUCell`, `SimpleRNNCell`, the kit's `PeepholeLSTMCell` and
    `LayerNormLSTMCell`), the output is the zoned-out `h`, as in the paper;
    other cells' outputs are returned as they computed them. Which states
    are carries and whether the output is state 0, the wrapped cell says
    (`carry_states`, `output_is_first_state`: see
    `keras_rnnkit.cell_protocol`), so a user's own cell can say it too.

    The masks are new at every step. `DynamicRNN` and the kit's layers draw
    all steps' random numbers before their loop, so zoneout trains on every
    backend, under JAX's `jit` too; inside `keras.layers.RNN` the wrapper
    draws at each step, which TensorFlow and torch can but JAX's compiled
    loop cannot (an error says so).

    Args:
        cell: The RNN cell to wrap (any Keras RNN cell or kit cell/wrapper).
        zoneout_h: Float in `[0, 1)`, the probability that a unit of `h`
            (of every state but an LSTM's carry) keeps its old value.
        zoneout_c: Float in `[0, 1)`, the same for an LSTM's carry `c`.
        seed: Integer or `None`, seed of the masks.
        **kwargs: Standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: Float tensor `(batch, features)`, one step.
        states: The wrapped cell's states.
        training: Boolean: random masks when `True`, the expected mix
            otherwise.

    Returns:
        `(output, new_states)`: the wrapped cell's, zoned out.

    Raises:
        ValueError: At construction: a rate outside `[0, 1)`, a
            `zoneout_c` for a cell with no LSTM carry, or a `cell` that is
            not an RNN cell. At call: a step not shaped
            `(batch, features)`, or states that do not fit the cell's
            `state_size`.
        TypeError: At call: an integer step input.
        RuntimeError: While training on JAX in a compiled loop other than
            the kit's (`keras.layers.RNN`).

    Examples:
        >>> import numpy as np, keras, keras_rnnkit
        >>> cell = keras_rnnkit.ZoneoutWrapper(
        ...     keras.layers.LSTMCell(8), zoneout_h=0.1, zoneout_c=0.15, seed=1)
        >>> layer = keras_rnnkit.DynamicRNN(cell, return_sequences=True)
        >>> x = np.ones((4, 5, 3), "float32")
        >>> run = lambda **kw: keras.ops.convert_to_numpy(layer(x, **kw))
        >>> bool(np.allclose(run(), run()))  # inference: the expected mix
        True
        >>> bool(np.allclose(run(training=True), run()))
        False
    """

    def __init__(
        self,
        cell: Cell,
        zoneout_h: float = 0.0,
        zoneout_c: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(cell, **kwargs)
        self.zoneout_h = check.rate("zoneout_h", zoneout_h)
        self.zoneout_c = check.rate("zoneout_c", zoneout_c)
        carries = cell_protocol.carry_states(self.cell)
        if self.zoneout_c and not any(carries):
            raise ValueError(
                "Argument `zoneout_c` zones out an LSTM's carry `c`, and "
                f"{type(self.cell).__name__} '{self.cell.name}' has no carry "
                "(its `carry_states` are all False: see "
                "keras_rnnkit.cell_protocol): use `zoneout_h` for its states. "
                f"Received: zoneout_c={zoneout_c!r}"
            )
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)
        # The zoneout rate and size of each flattened state, and how many
        # random numbers one row of one step takes.
        self._rates = [
            (self.zoneout_c if carry else self.zoneout_h, size)
            for carry, size in zip(
                carries, keras.tree.flatten(self.cell.state_size), strict=True
            )
        ]
        self._numbers_per_step = sum(size for rate, size in self._rates if rate)
        # Whether the output is zoned out with state 0 (decided once).
        self._output_is_first_state = cell_protocol.output_is_first_state(self.cell)

    def _draw_masks(self, step_input):
        check.floating_inputs(self, "inputs", step_input)
        if self._numbers_per_step:
            _step_noise.request(self, self._numbers_per_step)

    def call(self, inputs: Tensor, states: States, training: bool = False):
        check.step_fits(self, inputs, states)
        output, new_states = call_cell(self.cell, inputs, states, training)
        if not self._numbers_per_step:
            return output, new_states
        if training:
            numbers = _step_noise.uniform(self, inputs, self._numbers_per_step)
        start, mixed = 0, []
        for (rate, size), old, new in zip(
            self._rates,
            keras.tree.flatten(states),
            keras.tree.flatten(new_states),
            strict=True,
        ):
            if not rate:
                mixed.append(new)
            elif training:
                keep = numbers[:, start : start + size] < rate
                start += size
                mixed.append(ops.where(keep, ops.cast(old, new.dtype), new))
            else:
                rate = ops.cast(rate, new.dtype)
                mixed.append(rate * ops.cast(old, new.dtype) + (1 - rate) * new)
        if self._output_is_first_state:
            output = mixed[0]
        return output, keras.tree.pack_sequence_as(new_states, mixed)

    def get_config(self):
        config = {
            "zoneout_h": self.zoneout_h,
            "zoneout_c": self.zoneout_c,
            "seed": self.seed,
        }
        return {**super().get_config(), **config}
