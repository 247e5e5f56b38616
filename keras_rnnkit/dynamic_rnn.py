"""A recurrent layer with TF1 `dynamic_rnn` semantics for per-row lengths."""

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from keras_rnnkit import _step_noise
from keras_rnnkit import _validation as check
from keras_rnnkit._backend import torch_tracing
from keras_rnnkit._cell_wrapper import (
    call_cell,
    check_cell,
    output_size,
    prepare_dropout_masks,
    reset_dropout_masks,
)
from keras_rnnkit._compat import backend_rnn
from keras_rnnkit._registration import register
from keras_rnnkit._serialization import construct, load_nested
from keras_rnnkit._types import Cell, States, Tensor
from keras_rnnkit.runtime_checks import runtime_checks_enabled
from keras_rnnkit.sequence import forward_fill, last_valid_output, mask_like


@register
class DynamicRNN(check.LengthsCheckedFirst, keras.layers.RNN):
    """`keras.layers.RNN` with per-row lengths and TF1 `dynamic_rnn` semantics.

    The replacement of `tf.nn.dynamic_rnn(cell, inputs, sequence_length=L)`.
    Give the lengths as `sequence_length=` or a mask (from `Masking`,
    `Embedding(mask_zero=True)` or `mask=`); for a row of length `L`:

    | | TF1 `dynamic_rnn` | `DynamicRNN` (default) | `keras.layers.RNN` (default) |
    | --- | --- | --- | --- |
    | outputs at `t >= L` | zeros | zeros | the last valid output, repeated |
    | final state | after step `L - 1` | after step `L - 1` | after step `L - 1` |
    | `L == 0` | initial state, zero outputs | the same | initial state |
    | last output | - | output of step `L - 1` (0 if `L == 0`) | the same |

    With `zero_output_for_mask=False` the outputs past `L` repeat the last
    valid output instead, as in `keras.layers.RNN`. Either way the last
    output is the output of the last valid step.

    It also corrects a flaw of Keras's JAX backend: with a mask, Keras's JAX
    loop (Keras 3.15) fills masked steps with the cell's first state instead
    of its previous output, which is wrong for every cell whose output is
    not its first state (`OutputProjectionWrapper`, `ResidualWrapper`,
    `DropoutWrapper` with output dropout, concatenated `MultiRNNCell`
    states). `DynamicRNN` gives the same numbers on every backend.

    Masks need not be right padding: every masked step is skipped, wherever
    it is (the state is carried over it unchanged).

    A mask made from `sequence_length` acts inside this layer only: Keras
    passes on only masks that come from `mask=` or from a masking layer. To
    mask the layers after it too, pass `mask=lengths_to_mask(lengths, T)`.

    Args:
        cell: An RNN cell (Keras, kit cell or wrapper), or a list of cells
            (stacked as `keras.layers.StackedRNNCells`).
        return_sequences: Boolean (default `False`): return every step's
            output instead of the last one.
        return_state: Boolean (default `False`): also return the final
            states.
        go_backwards: Boolean (default `False`): process the sequence from
            its end (for a bidirectional layer use `BidirectionalEncoder`,
            which reverses only the valid part of each row).
        stateful: Boolean (default `False`).
        unroll: Boolean (default `False`).
        zero_output_for_mask: Boolean (default `True`, TF1's behaviour).
        **kwargs: Standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        sequences: Float tensor `(batch, timesteps, features)`.
        initial_state: Optional initial state(s) of the cell.
        mask: Optional boolean tensor `(batch, timesteps)`.
        training: Boolean, passed to the cell (dropout).
        sequence_length: Optional integer tensor `(batch,)` of row lengths,
            `0 <= length <= timesteps`. Not together with a mask that
            disagrees with it. Checked when its values are known; inside a
            compiled function (`fit`, `predict`) they are not, and a length
            outside `[0, timesteps]` acts as if clipped to it, unless
            `keras_rnnkit.set_runtime_checks(True)` is on.

    Returns:
        Like `keras.layers.RNN`: the output (or sequence of outputs) and,
        with `return_state`, the final states after it.

    Raises:
        ValueError: At construction: `cell` is an empty list, or a recurrent
            layer (`keras.layers.LSTM`, ...) instead of a cell. At call:
            inputs with no time step; a mask or `sequence_length` whose shape
            does not fit the inputs; lengths outside `[0, timesteps]` (when
            their values are known: inside a compiled function they are
            checked only with `keras_rnnkit.set_runtime_checks(True)`, and
            otherwise act as if clipped).
        TypeError: At call: integer inputs, or a `sequence_length` that is
            not of an integer dtype.

    Examples:
        >>> import numpy as np, keras, keras_rnnkit
        >>> layer = keras_rnnkit.DynamicRNN(
        ...     keras.layers.GRUCell(4), return_sequences=True, return_state=True)
        >>> x = np.ones((2, 5, 3), "float32")
        >>> outputs, state = keras.tree.map_structure(
        ...     keras.ops.convert_to_numpy,
        ...     layer(x, sequence_length=np.array([5, 2])))
        >>> bool(np.all(outputs[1, 2:] == 0))  # zeros past length
        True
        >>> bool(np.allclose(state[1], outputs[1, 1]))     # state at step L - 1
        True
    """

    def __init__(
        self,
        cell: Cell | Sequence[Cell],
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = True,
        **kwargs: Any,
    ) -> None:
        if isinstance(cell, (list, tuple)):
            if not cell:
                raise ValueError(
                    "Argument `cell` must be a cell or a non-empty list of "
                    f"cells. Received: cell={cell!r}"
                )
            for i, inner in enumerate(cell):
                check_cell(f"cell[{i}]", inner)
            # As keras.layers.RNN does, but with the layer's dtype policy, so
            # that mixed precision states match the cells' outputs.
            cell = keras.layers.StackedRNNCells(cell, dtype=kwargs.get("dtype"))
        else:
            check_cell("cell", cell)
        super().__init__(
            cell,
            return_sequences=check.boolean("return_sequences", return_sequences),
            return_state=check.boolean("return_state", return_state),
            go_backwards=check.boolean("go_backwards", go_backwards),
            stateful=check.boolean("stateful", stateful),
            unroll=check.boolean("unroll", unroll),
            zero_output_for_mask=check.boolean(
                "zero_output_for_mask", zero_output_for_mask
            ),
            **kwargs,
        )
        self.input_spec = keras.layers.InputSpec(ndim=3)

    def call(
        self,
        sequences: Tensor,
        initial_state: States | None = None,
        mask: Tensor | None = None,
        training: bool = False,
        sequence_length: Tensor | None = None,
    ):
        mask = prepare_mask(self, sequences, mask, sequence_length)
        if initial_state is not None:
            initial_state_fits(self, sequences, initial_state)
        if sequences.shape[0] == 0 and not self.stateful:
            return self._empty_batch(sequences, initial_state)
        if self.unroll and sequences.shape[1] is None:
            raise ValueError(
                f"Layer '{self.name}' has unroll=True, which needs the number "
                "of time steps when the model is built: give the Input a "
                f"shape with it. Received: sequences.shape={sequences.shape}"
            )
        if mask is not None:
            # Masked steps never reach a result, but the loop still computes
            # them; zeroed, they cannot send a NaN or inf into a gradient.
            valid = ops.expand_dims(ops.cast(mask, "bool"), -1)
            sequences = ops.where(valid, sequences, ops.zeros_like(sequences))
        loop = _Loop(
            self.cell,
            training=training,
            go_backwards=self.go_backwards,
            unroll=self.unroll,
            zero_output_for_mask=self.zero_output_for_mask,
            return_sequences=self.return_sequences,
        )
        last, outputs, states = loop.run(
            sequences, self._initial_state(sequences, initial_state), mask
        )
        cast = lambda x: ops.cast(x, self.compute_dtype)  # noqa: E731
        states = keras.tree.map_structure(cast, states)
        if self.stateful:
            for variable, state in zip(
                keras.tree.flatten(self.states), keras.tree.flatten(states), strict=True
            ):
                variable.assign(state)
        output = cast(outputs if self.return_sequences else last)
        if self.return_state:
            return output, *states
        return output

    def _initial_state(self, sequences, initial_state):
        """The loop's initial states: the given ones, the layer's (stateful)
        or the cell's zeros; a list, cast to the cell's compute dtype."""
        if initial_state is None:
            if self.stateful:
                batch = sequences.shape[0]
                expected = keras.tree.flatten(self.states)[0].shape[0]
                if batch is not None and batch != expected:
                    raise ValueError(
                        f"Layer '{self.name}' is stateful with batch size "
                        f"{expected}; its inputs must keep that batch size. "
                        f"Received: sequences.shape={tuple(sequences.shape)}"
                    )
                initial_state = self.states
            else:
                initial_state = self.get_initial_state(
                    batch_size=ops.shape(sequences)[0]
                )
        if not keras.tree.is_nested(initial_state):
            initial_state = [initial_state]
        dtype = self.cell.compute_dtype
        tensors = keras.tree.map_structure(
            lambda x: ops.convert_to_tensor(x, dtype=dtype), list(initial_state)
        )
        if self.stateful:  # copies: on torch the variables are assigned in
            # place after the loop, under autograd's eyes
            tensors = keras.tree.map_structure(ops.copy, tensors)
        return tensors

    @property
    def supports_jit(self):
        """False on TensorFlow while `keras_rnnkit.set_runtime_checks` is on
        (XLA drops the assertions), so that `fit` runs without XLA."""
        if runtime_checks_enabled() and keras.backend.backend() == "tensorflow":
            return False
        return self._supports_jit

    @supports_jit.setter
    def supports_jit(self, value):
        self._supports_jit = value

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        cell = load_nested(cls, config, "cell", config.pop("cell"))
        return construct(cls, config, cell, **config)

    def _empty_batch(self, sequences, initial_state):
        """What a call returns for a batch of no rows (the loop is not run:
        some backends' kernels refuse empty operands)."""
        size = output_size(self.cell)
        shape = (0, sequences.shape[1], size) if self.return_sequences else (0, size)
        output = ops.zeros(shape, dtype=self.compute_dtype)
        if not self.return_state:
            return output
        if initial_state is None:
            initial_state = self.get_initial_state(batch_size=0)
        states = (
            initial_state if keras.tree.is_nested(initial_state) else [initial_state]
        )
        return output, *states


class _Loop:
    """One call's time loop: the cell and the call's options. Everything a
    call needs lives here (and the cells' masks in per-thread stores), never
    on the layer, so that one layer may be called from several threads at
    once."""

    def __init__(
        self,
        cell,
        training,
        go_backwards,
        unroll,
        zero_output_for_mask,
        return_sequences,
    ):
        self.cell = cell
        self.training = training
        self.go_backwards = go_backwards
        self.unroll = unroll
        self.zero_output_for_mask = zero_output_for_mask
        self.return_sequences = return_sequences
        self.eager_torch = keras.backend.backend() == "torch" and not torch_tracing()

    def run(self, sequences, initial_state, mask):
        """`(last_output, outputs, final_states)` with `dynamic_rnn`
        semantics (see `DynamicRNN`)."""
        requests = []
        if self.training:
            # Fresh masks, even if a call that failed left some behind (only
            # when training: inference draws nothing and writes no seed
            # state). Cells with new numbers at every step ask for them
            # meanwhile; the eager torch loop is plain Python, where they
            # draw step by step.
            reset_dropout_masks(self.cell)
            with _step_noise.collecting(enabled=not self.eager_torch) as requests:
                prepare_dropout_masks(self.cell, sequences[:, 0, :])
        noise = None
        if requests:
            noise = (requests, _step_noise.draw(requests, sequences))
        try:
            return self._run(sequences, initial_state, mask, noise)
        finally:
            _step_noise.clear(requests)
            if self.training:
                reset_dropout_masks(self.cell)

    def _run(self, sequences, initial_state, mask, noise):
        if keras.tree.is_nested(mask):
            mask = keras.tree.flatten(mask)[0]
        if mask is not None:
            mask = ops.cast(mask, "bool")
        own = self._own_loop(sequences, initial_state, mask, noise)
        if own is not None:
            outputs, states = own
            if mask is None:
                return outputs[:, -1], outputs, states
        elif mask is None:
            return self._backend_loop(
                sequences,
                initial_state,
                None,
                noise,
                zero_output_for_mask=self.zero_output_for_mask,
                return_all_outputs=self.return_sequences,
            )
        else:
            # Every output is kept, and the outputs this layer promises are
            # derived from the valid steps alone: Keras's backends disagree
            # on what a masked step outputs, but agree on valid steps. The
            # flag keeps each backend's loop away from its flaw: JAX's scan
            # repeats the first state (and fails when its size differs from
            # the output's) unless it zeroes; TF's unrolled backwards loop
            # zeroes the wrong steps; JAX's unrolled loop ignores the flag.
            _, outputs, states = self._backend_loop(
                sequences,
                initial_state,
                mask,
                noise,
                zero_output_for_mask=not self.unroll,
                return_all_outputs=True,
            )
        if self.go_backwards:  # outputs come in processing order
            mask = ops.flip(mask, axis=1)
        last = last_valid_output(outputs, mask)
        if not self.return_sequences:
            return last, last, states
        if self.zero_output_for_mask:
            valid = ops.reshape(mask, (*ops.shape(mask), 1))
            return last, ops.where(valid, outputs, ops.zeros_like(outputs)), states
        return last, forward_fill(outputs, mask), states

    def _own_loop(self, sequences, initial_state, mask, noise):
        """`(outputs, states)` from the kit's own loop for this backend (see
        `_torch_loop.py`, `_jax_loop.py`), or None for Keras's loop."""
        if self.eager_torch:
            from keras_rnnkit import _torch_loop

            return _torch_loop.run(
                self.cell,
                sequences,
                initial_state,
                mask,
                self.training,
                self.go_backwards,
            )
        if keras.backend.backend() == "jax" and noise is None and not self.unroll:
            from keras_rnnkit import _jax_loop

            return _jax_loop.run(
                self.cell,
                sequences,
                initial_state,
                mask,
                self.training,
                self.go_backwards,
            )
        return None

    def _backend_loop(
        self,
        sequences,
        initial_state,
        mask,
        noise,
        zero_output_for_mask,
        return_all_outputs,
    ):
        """The backend's loop (`keras.layers.RNN`'s); with per-step numbers
        (`noise`: the requests and their `(batch, timesteps, size)`
        numbers), it runs over `(sequences, numbers)` and hands each step's
        numbers out before calling the cell (`_step_noise.py`)."""
        cell, training = self.cell, self.training
        inputs = sequences if noise is None else (sequences, noise[1])

        def step(inputs, states):
            if noise is not None:
                inputs, step_numbers = inputs
                _step_noise.hand_out(noise[0], step_numbers)
            output, new_states = call_cell(cell, inputs, states, training)
            if not keras.tree.is_nested(new_states):
                new_states = [new_states]
            return output, new_states

        return backend_rnn(
            step,
            inputs,
            initial_state,
            go_backwards=self.go_backwards,
            mask=mask,
            unroll=self.unroll,
            input_length=sequences.shape[1],
            zero_output_for_mask=zero_output_for_mask,
            return_all_outputs=return_all_outputs,
        )


def prepare_mask(layer, sequences, mask, sequence_length):
    """Checks `sequences` and returns the one `(batch, timesteps)` mask of a
    call, from `mask` and/or `sequence_length` (None when neither is given)."""
    check.floating_inputs(layer, "sequences", sequences)
    if sequences.shape[1] == 0:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) needs at least one "
            "time step: an empty sequence has no output to return. Received: "
            f"sequences.shape={tuple(sequences.shape)}"
        )
    if keras.tree.is_nested(mask):
        mask = keras.tree.flatten(mask)[0]
    check.sequence_mask_matches(layer, sequences, mask)
    if sequence_length is not None:
        mask = mask_from_lengths(layer, sequences, sequence_length, mask)
    return mask


def initial_state_fits(layer, sequences, initial_state):
    """Raises a ValueError unless `initial_state` holds one `(batch, size)`
    tensor per state of `layer.cell`."""
    sizes = keras.tree.flatten(layer.cell.state_size)
    given = keras.tree.flatten(initial_state)
    shapes = [tuple(s.shape) for s in given]
    batch = sequences.shape[0]
    if len(given) != len(sizes) or any(
        len(shape) != 2
        or shape[-1] not in (None, size)
        or None not in (batch, shape[0])
        and shape[0] != batch
        for shape, size in zip(shapes, sizes, strict=False)
    ):
        raise ValueError(
            f"Layer '{layer.name}' expects `initial_state` with {len(sizes)} "
            f"tensor(s) of shapes {[(batch, size) for size in sizes]} (the "
            f"cell's state_size). Received shapes {shapes}"
        )


def mask_from_lengths(layer, sequences, sequence_length, mask=None):
    """The `(batch, timesteps)` mask of `sequence_length` for `layer`'s
    inputs, after checking the lengths (and that `mask`, if given, agrees)."""
    lengths = ops.convert_to_tensor(sequence_length)
    if "int" not in keras.backend.standardize_dtype(lengths.dtype):
        raise TypeError(
            f"Layer '{layer.name}' expects integer `sequence_length`. "
            f"Received: sequence_length.dtype={lengths.dtype}"
        )
    batch, timesteps = sequences.shape[0], sequences.shape[1]
    if len(lengths.shape) != 1 or (
        batch is not None and lengths.shape[0] is not None and lengths.shape[0] != batch
    ):
        raise ValueError(
            f"Layer '{layer.name}' expects `sequence_length` of shape "
            f"(batch,) = ({batch},). Received: "
            f"sequence_length.shape={tuple(lengths.shape)}"
        )
    check.lengths_in_range(layer, lengths, timesteps, ops.shape(sequences)[1])
    from_lengths = mask_like(lengths, sequences)
    if mask is not None:
        check.masks_agree(layer, mask, from_lengths)
    return from_lengths
