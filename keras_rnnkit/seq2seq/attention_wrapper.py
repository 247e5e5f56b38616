"""An RNN cell that attends over a memory at every step (tfa's
`AttentionWrapper`).

How the memory reaches the cell: Keras 3's `keras.layers.RNN` dropped the
`constants=` argument of Keras 2, and its loop passes a cell nothing but
the step's inputs and states. So the memory is *bound* to the cell for the
length of one call: `WithMemory(rnn)(inputs, memory, ...)` prepares the
memory (the keys are projected once per sequence, not once per step), binds
it to every `AttentionWrapper` inside `rnn`'s cell, runs `rnn`, and unbinds
it. The binding lives in a per-thread store outside the cell (like the
dropout masks of `_compat.py`), so that one model serves several threads at
once and nothing on the layer changes during a call; under `jit` the bound
tensors are the traced ones of the same trace. Outside a model,
`cell.bind_memory(...)` is the same binding as a context manager (for
hand-written loops and decoders).
"""

import contextlib
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import keras
from keras import ops

from keras_rnnkit import _float64, _step_noise, cell_protocol
from keras_rnnkit import _validation as check
from keras_rnnkit._cell_wrapper import (
    CellWrapper,
    call_cell,
    cells_inside,
    initial_state,
    output_size,
    prepare_dropout_masks,
)
from keras_rnnkit._registration import register
from keras_rnnkit._serialization import construct, load_nested
from keras_rnnkit._types import Cell, States, Tensor
from keras_rnnkit.seq2seq.attention_mechanism import (
    AttentionMechanism,
    normal_from_uniform,
)

_THREAD = threading.local()


def _bindings():
    """This thread's bindings: wrapper -> stack of bound memories."""
    store = getattr(_THREAD, "bindings", None)
    if store is None:
        store = _THREAD.bindings = weakref.WeakKeyDictionary()
    return store


class _Bound:
    """One binding: the prepared memories (one per mechanism), the
    optional initial cell state, and whether this binding asks for the
    alignment history in the outputs."""

    def __init__(self, memories, initial_cell_state, alignment_history=False):
        self.memories = memories
        self.initial_cell_state = initial_cell_state
        self.alignment_history = alignment_history


def _as_list(value, count, name):
    """`value` repeated `count` times, or the list given (of that length)."""
    if isinstance(value, (list, tuple)):
        if len(value) != count:
            raise ValueError(
                f"Argument `{name}` must be one value for all {count} attention "
                f"mechanisms or a list of {count}. Received a list of {len(value)}."
            )
        return list(value)
    return [value] * count


def _concat_inputs(inputs, attention):
    return ops.concatenate([inputs, attention], axis=-1)


class BoundMechanism:
    """An attention mechanism together with the memory bound for this call:
    what an `attention_fn` receives as its `attention_mechanism` argument.

    tensorflow-addons' mechanisms held their memory, so its attention
    functions called `attention_mechanism([query, state])` and read
    `attention_mechanism.values`; here the memory is bound per call, and
    this object gives the same interface:

    - `bound([query, state])` (or `bound(query, state=state)`):
      `(alignments, next_state)`, each `(batch, max_time)`;
    - `values`: the memory, zero where padded, `(batch, max_time, depth)`;
      `keys`: its projection by the memory layer; `mask`: the boolean
      `(batch, max_time)` mask of the valid positions, or None;
    - `mechanism`: the mechanism itself; its other attributes (`units`,
      `name`, ...) are read through.
    """

    def __init__(self, mechanism, memory, training=False, noise=None):
        self.mechanism = mechanism
        self.memory = memory
        self.training = training
        self.noise = noise

    @property
    def values(self):
        return self.memory.values

    @property
    def keys(self):
        return self.memory.keys

    @property
    def mask(self):
        return self.memory.mask

    def __call__(self, inputs, state=None):
        query = inputs
        if state is None and isinstance(inputs, (list, tuple)):
            query, state = inputs
        return self.mechanism.align(
            query, state, self.memory, training=self.training, noise=self.noise
        )

    def __getattr__(self, name):
        if name in ("mechanism", "memory", "training", "noise"):
            raise AttributeError(name)  # not yet set (copy, pickle)
        return getattr(self.mechanism, name)

    def __repr__(self):
        return f"<BoundMechanism of {self.mechanism.name!r}>"


def compute_attention(
    attention_mechanism, cell_output, attention_state, attention_layer
):
    """The default `attention_fn` of `AttentionWrapper` (tfa's
    `_compute_attention`): one mechanism's attention for one step.

    Args:
        attention_mechanism: The mechanism bound to its memory (a
            `BoundMechanism`).
        cell_output: Float tensor `(batch, query_depth)`, the wrapped cell's
            output (the query).
        attention_state: Float tensor `(batch, max_time)`, the mechanism's
            previous state.
        attention_layer: The mechanism's attention layer, or None.

    Returns:
        `(attention, alignments, next_attention_state)`: the attention is
        `attention_layer(concat([cell_output, context]))` (or the context
        when there is no layer), where `context = alignments @ values`.
    """
    alignments, next_attention_state = attention_mechanism(
        [cell_output, attention_state]
    )
    context = ops.squeeze(
        _float64.matmul(ops.expand_dims(alignments, 1), attention_mechanism.values),
        1,
    )
    if attention_layer is not None:
        attention = attention_layer(ops.concatenate([cell_output, context], axis=-1))
    else:
        attention = context
    return attention, alignments, next_attention_state


def _output_depth(wrapper, index, layer, depth):
    """The last dimension of `layer`'s output for inputs `(None, depth)`:
    its `compute_output_shape` (tfa's rule), else a symbolic call (which
    builds the layer for those inputs, as the wrapper's `build` would)."""
    try:
        shape = tuple(layer.compute_output_shape((None, depth)))
    except NotImplementedError:
        spec = layer(keras.KerasTensor((None, depth), dtype=wrapper.compute_dtype))
        shape = tuple(spec.shape) if hasattr(spec, "shape") else None
    size = shape[-1] if shape else None
    if not isinstance(size, int):
        raise ValueError(
            f"AttentionWrapper '{wrapper.name}': the output size of "
            f"attention_layer[{index}] ({layer.name!r}) for inputs of shape "
            f"(None, {depth}) (the cell output and the context, concatenated) "
            f"must be a known integer. Received: output shape {shape}"
        )
    return size


@register
class AttentionWrapper(CellWrapper):
    """Wraps an RNN cell with attention over a memory (tfa's `AttentionWrapper`).

    One step, as in tensorflow-addons and TF1's `tf.contrib.seq2seq`:

    1. `cell_inputs = cell_input_fn(inputs, previous_attention)` (default:
       their concatenation);
    2. `cell_output, cell_state = cell(cell_inputs, cell_state)`;
    3. for each mechanism, `alignments = mechanism(cell_output, memory)`,
       `context = alignments @ memory_values` and `attention =
       attention_layer(concat([cell_output, context]))` (or the context
       when there is no attention layer);
    4. `attention = concat` of the mechanisms' attentions; the output is
       `attention` (`output_attention=True`) or `cell_output`.

    **The memory** is given per call: run the wrapper in a
    `keras.layers.RNN` or `keras_rnnkit.DynamicRNN` layer and call that
    layer through `WithMemory`, whose inputs are the decoder inputs and the
    memory (see `WithMemory`); outside a model, `with
    cell.bind_memory(memory, memory_sequence_length):` binds it for a
    hand-written loop. Nothing is stored on the cell: see the module
    docstring.

    **State layout.** Keras RNN states are a flat list of tensors; tfa's
    `AttentionWrapperState(cell_state, attention, alignments,
    alignment_history, attention_state)` becomes, with `k` mechanisms:

    | index | tensor | shape |
    | --- | --- | --- |
    | `0 .. n-1` | the cell's states, flat (`[h, c]`: LSTM) | its sizes |
    | `n` | `attention` | `(batch, attention_size)` |
    | `n+1 .. n+k` | each mechanism's `alignments` | `(batch, max_time)` |
    | `n+k+1 .. n+2k` | each one's `attention_state` | `(batch, max_time)` |

    (A mechanism's attention state is its previous alignments, read by
    monotonic attention.)

    `state_layout()` returns those names. tfa's `alignment_history` (a
    `TensorArray` in the state) is here a per-step output instead: with
    `alignment_history=True` each step's output is
    `concat([output, alignments_1, ..., alignments_k])`, so an RNN with
    `return_sequences=True` returns the whole history `(batch, steps,
    max_time)` after the first `output_size - k * max_time` features
    (`split_alignment_history` splits it). That keeps the state a fixed
    size, which every backend's compiled loop needs.

    Args:
        cell: The RNN cell to wrap (e.g. `keras.layers.LSTMCell`).
        attention_mechanism: An attention mechanism (`BahdanauAttention`,
            `LuongAttention`, ...) or a list of them (their attentions are
            concatenated).
        attention_layer_size: None (default: the attention is the context
            itself), a positive integer, or a list of them, one per
            mechanism: the size of `Dense(size, use_bias=False,
            name="attention_layer")` applied to `[cell_output, context]`.
            With several mechanisms the layers are named `attention_layer`,
            `attention_layer_1`, ... as in TF1.
        alignment_history: Boolean (default `False`): append each step's
            alignments to its output (see above).
        cell_input_fn: None (concatenate inputs and attention) or a
            function `(inputs, attention) -> cell_inputs`; to be saved it
            must be registered with `keras.saving.register_keras_serializable`.
        output_attention: Boolean (default `True`): output the attention
            (Luong style) or, when `False`, the cell's output (Bahdanau
            style, the attention feeds only the next step's input).
        initial_cell_state: Optional initial state of the wrapped cell
            (tensors), used when none is bound with the memory. It is a
            tensor, so it is not part of the config: in a model, pass it to
            `WithMemory(...)(..., initial_cell_state=...)` instead.
        attention_layer: None (default), a Keras layer, or a list of them,
            one per mechanism (tfa's `attention_layer`): the layer applied to
            `concat([cell_output, context])` to make the mechanism's
            attention, instead of the `Dense` of `attention_layer_size`
            (exclusive with it). The attention's size is the layer's output
            size (its `compute_output_shape`). The layers are built by the
            wrapper, their weights are the wrapper's, and they are saved in
            its config.
        attention_fn: None (default: `compute_attention`) or a function
            `(attention_mechanism, cell_output, attention_state,
            attention_layer) -> (attention, alignments,
            next_attention_state)` computing one mechanism's step (tfa's
            `attention_fn`). `attention_mechanism` is a `BoundMechanism`: the
            mechanism with this call's memory, called as
            `attention_mechanism([query, state])` with `.values` the memory,
            as in tfa; `attention_layer` is the mechanism's attention layer
            or None. The attention must have the size given by the attention
            layer (or the memory's depth without one), the alignments and
            the next state `(batch, max_time)`. As `cell_input_fn`, it is
            saved with Keras's serializer: a function registered with
            `keras.saving.register_keras_serializable` reloads; a `lambda`
            saves with Keras's warning and reloads only with
            `safe_mode=False` (as in a `keras.layers.Lambda`); an
            unregistered named function saves, and reloading fails with
            "Could not locate function". `compute_attention` given
            explicitly is the default, and saved as None.
        **kwargs: Standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: Float tensor `(batch, features)`, one step.
        states: The flat state list described above.
        training: Boolean, passed to the wrapped cell.

    Returns:
        `(output, new_states)`.

    Raises:
        ValueError: At construction: a `cell` that is not an RNN cell, an
            `attention_mechanism` that is not a mechanism (or an empty
            list), an `attention_layer_size` that is not None, a positive
            integer or a list of one per mechanism, both
            `attention_layer_size` and `attention_layer`, an
            `attention_layer` that is not a layer or a list of one per
            mechanism, non-boolean flags, or a `cell_input_fn` or
            `attention_fn` that is not callable. At build or call: no memory
            bound (call the RNN through `WithMemory`), or an `attention_fn`
            whose attention has the wrong size.

    Examples:
        >>> import numpy as np, keras
        >>> from keras_rnnkit.seq2seq import (
        ...     AttentionWrapper, LuongAttention, WithMemory)
        >>> cell = AttentionWrapper(keras.layers.LSTMCell(8), LuongAttention(8),
        ...                         attention_layer_size=6)
        >>> decoder = WithMemory(keras.layers.RNN(cell, return_sequences=True))
        >>> memory = np.ones((2, 5, 4), "float32")       # encoder outputs
        >>> inputs = np.ones((2, 3, 7), "float32")       # decoder inputs
        >>> outputs = decoder(inputs, memory,
        ...                   memory_sequence_length=np.array([5, 2]))
        >>> tuple(outputs.shape)
        (2, 3, 6)
        >>> cell.state_layout()[2:]
        ['attention', 'alignments_0', 'attention_state_0']
    """

    output_is_first_state = False

    def __init__(
        self,
        cell: Cell,
        attention_mechanism: AttentionMechanism | Sequence[AttentionMechanism],
        attention_layer_size: int | Sequence[int] | None = None,
        alignment_history: bool = False,
        cell_input_fn: Callable | None = None,
        output_attention: bool = True,
        initial_cell_state: Any = None,
        attention_layer: keras.layers.Layer
        | Sequence[keras.layers.Layer]
        | None = None,
        attention_fn: Callable | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(cell, **kwargs)
        self._is_list = isinstance(attention_mechanism, (list, tuple))
        mechanisms = (
            list(attention_mechanism) if self._is_list else [attention_mechanism]
        )
        if not mechanisms or not all(
            isinstance(m, AttentionMechanism) for m in mechanisms
        ):
            raise ValueError(
                "Argument `attention_mechanism` must be an attention mechanism "
                "(keras_rnnkit.seq2seq.BahdanauAttention, LuongAttention, ...) or "
                f"a non-empty list of them. Received: attention_mechanism="
                f"{attention_mechanism!r}"
            )
        self.attention_mechanisms = mechanisms
        if attention_layer_size is not None and attention_layer is not None:
            raise ValueError(
                "Only one of `attention_layer_size` and `attention_layer` may be "
                "given (`attention_layer_size` makes a Dense(size, use_bias=False) "
                "per mechanism; `attention_layer` is the layer itself). Received: "
                f"attention_layer_size={attention_layer_size!r}, "
                f"attention_layer={attention_layer!r}"
            )
        self._layer_is_list = isinstance(attention_layer, (list, tuple))
        user_layers = None
        if attention_layer is not None:
            user_layers = (
                list(attention_layer) if self._layer_is_list else [attention_layer]
            )
            if len(user_layers) != len(mechanisms):
                raise ValueError(
                    "Argument `attention_layer` must be one Keras layer per "
                    f"attention mechanism ({len(mechanisms)}): a layer, or a list "
                    f"of {len(mechanisms)} layers. Received: attention_layer="
                    f"{attention_layer!r}"
                )
            for i, layer in enumerate(user_layers):
                if not isinstance(layer, keras.layers.Layer):
                    where = (
                        f"attention_layer[{i}]"
                        if self._layer_is_list
                        else ("attention_layer")
                    )
                    raise ValueError(
                        f"Argument `{where}` must be a Keras layer (applied to "
                        "concat([cell_output, context])). Received: "
                        f"{where}={layer!r}"
                    )
        if attention_fn is not None and not callable(attention_fn):
            raise ValueError(
                "Argument `attention_fn` must be None or a function "
                "(attention_mechanism, cell_output, attention_state, "
                "attention_layer) -> (attention, alignments, "
                f"next_attention_state). Received: attention_fn={attention_fn!r}"
            )
        self.attention_fn = attention_fn
        self.attention_layer_size = attention_layer_size
        if attention_layer_size is None:
            sizes = None
        elif isinstance(attention_layer_size, (list, tuple)):
            if len(attention_layer_size) != len(mechanisms):
                raise ValueError(
                    "Argument `attention_layer_size` must be None, a positive "
                    "integer or a list of one per attention mechanism "
                    f"({len(mechanisms)}). Received: attention_layer_size="
                    f"{attention_layer_size!r}"
                )
            sizes = [
                check.positive_int(f"attention_layer_size[{i}]", size)
                for i, size in enumerate(attention_layer_size)
            ]
        else:
            sizes = [check.positive_int("attention_layer_size", attention_layer_size)]
            if len(mechanisms) > 1:
                sizes = sizes * len(mechanisms)
        self._layer_sizes = sizes
        self.alignment_history = check.boolean("alignment_history", alignment_history)
        self.output_attention = check.boolean("output_attention", output_attention)
        if cell_input_fn is not None and not callable(cell_input_fn):
            raise ValueError(
                "Argument `cell_input_fn` must be None or a function "
                f"(inputs, attention) -> cell_inputs. Received: cell_input_fn="
                f"{cell_input_fn!r}"
            )
        self.cell_input_fn = cell_input_fn
        self.initial_cell_state = initial_cell_state
        # mechanisms with pre-sigmoid noise: the wrapper draws it (see
        # `_step_numbers`), two uniform numbers per memory position
        self._noisy = [
            i
            for i, m in enumerate(mechanisms)
            if getattr(m, "monotonic", False) and m.sigmoid_noise > 0
        ]
        if self._noisy:
            self.seed_generator = keras.random.SeedGenerator(
                seed=mechanisms[self._noisy[0]].sigmoid_noise_seed
            )
        self.attention_layers = user_layers
        self._output_depths = {}  # (mechanism, memory depth) -> layer's output
        if sizes is not None:
            self.attention_layers = [
                keras.layers.Dense(
                    size,
                    use_bias=False,
                    name="attention_layer" + (f"_{i}" if i else ""),
                    dtype=self.dtype_policy,
                )
                for i, size in enumerate(sizes)
            ]

    # -- the memory ----------------------------------------------------------

    @contextlib.contextmanager
    def bind_memory(
        self,
        memory: Tensor | Sequence[Tensor],
        memory_sequence_length: Tensor | Sequence[Tensor] | None = None,
        memory_mask: Tensor | Sequence[Tensor] | None = None,
        initial_cell_state: States | None = None,
        alignment_history: bool = False,
    ):
        """Binds a memory to this cell, in this thread, for the `with` block.

        Args:
            memory: Float tensor `(batch, max_time, depth)`, or a list of one
                per mechanism.
            memory_sequence_length: Optional integer tensor `(batch,)` (or a
                list): positions past it get zero weight.
            memory_mask: Optional boolean tensor `(batch, max_time)` (or a
                list); with `memory_sequence_length` too, a position is
                valid when both say so.
            initial_cell_state: Optional initial state of the wrapped cell
                (e.g. the encoder's final state) for `get_initial_state`.
            alignment_history: Boolean (default `False`): within the block,
                append each step's alignments to its output as
                `alignment_history=True` does, for a cell built without it
                (`WithMemory(...)(..., return_alignments=True)` uses it).

        Yields:
            The cell.
        """
        history = check.boolean("alignment_history", alignment_history)
        count = len(self.attention_mechanisms)
        memories = _as_list(memory, count, "memory")
        lengths = _as_list(memory_sequence_length, count, "memory_sequence_length")
        masks = _as_list(memory_mask, count, "memory_mask")
        query_depth = output_size(self.cell)
        prepared = []
        for mechanism, values, length, mask in zip(
            self.attention_mechanisms, memories, lengths, masks, strict=True
        ):
            values = ops.convert_to_tensor(values, dtype=self.compute_dtype)
            if not mechanism.built:
                if len(values.shape) != 3:
                    raise ValueError(
                        f"AttentionWrapper '{self.name}' expects a memory shaped "
                        "(batch, max_time, depth). Received: memory.shape="
                        f"{tuple(values.shape)}"
                    )
                mechanism.build((None, query_depth), tuple(values.shape))
            prepared.append(mechanism.prepare_memory(values, length, mask))
        stack = _bindings().setdefault(self, [])
        stack.append(_Bound(prepared, initial_cell_state, history))
        try:
            yield self
        finally:
            stack.pop()

    def _bound(self, what):
        stack = _bindings().get(self)
        if not stack:
            raise ValueError(
                f"AttentionWrapper '{self.name}' has no memory to attend to while "
                f"{what}. Run its RNN layer through keras_rnnkit.seq2seq."
                "WithMemory(rnn)(inputs, memory, memory_sequence_length=...), or "
                "call it inside `with cell.bind_memory(memory, ...):`."
            )
        return stack[-1]

    # -- sizes ---------------------------------------------------------------

    def _memory_depths(self):
        depths = [m.memory_depth for m in self.attention_mechanisms]
        stack = _bindings().get(self)
        if None in depths and stack:
            depths = [memory.values.shape[-1] for memory in stack[-1].memories]
        return depths

    def _max_times(self):
        stack = _bindings().get(self)
        if not stack:
            return [None] * len(self.attention_mechanisms)
        return [memory.values.shape[1] for memory in stack[-1].memories]

    def _attention_sizes(self):
        """Each mechanism's attention size (None where the memory's depth is
        not known yet and the size depends on it)."""
        if self._layer_sizes is not None:
            return list(self._layer_sizes)
        depths = self._memory_depths()
        if self.attention_layers is None:
            return depths
        query_depth = output_size(self.cell)
        sizes = []
        for i, (layer, depth) in enumerate(
            zip(self.attention_layers, depths, strict=True)
        ):
            if depth is not None and (i, depth) not in self._output_depths:
                self._output_depths[(i, depth)] = _output_depth(
                    self, i, layer, query_depth + depth
                )
            sizes.append(None if depth is None else self._output_depths[(i, depth)])
        return sizes

    @property
    def attention_size(self):
        """The size of the attention vector (None until the memory's depth
        is known when it depends on it: no attention layer, or
        `attention_layer` layers)."""
        sizes = self._attention_sizes()
        return None if None in sizes else sum(sizes)

    @property
    def state_size(self):
        cell_sizes = keras.tree.flatten(self.cell.state_size)
        times = self._max_times()
        return [*cell_sizes, self.attention_size, *times, *times]

    def _history(self):
        """Whether the outputs hold the alignments: the cell's own
        `alignment_history`, or the current binding's."""
        if self.alignment_history:
            return True
        stack = _bindings().get(self)
        return bool(stack) and stack[-1].alignment_history

    @property
    def output_size(self):
        size = self.attention_size if self.output_attention else output_size(self.cell)
        if not self._history():
            return size
        times = self._max_times()
        if size is None or None in times:
            return None
        return size + sum(times)

    @property
    def carry_states(self):
        extra = 1 + 2 * len(self.attention_mechanisms)
        return (*cell_protocol.carry_states(self.cell), *(False,) * extra)

    def state_layout(self) -> list[str]:
        """The name of each entry of the flat state list (see the class
        docstring)."""
        count = len(keras.tree.flatten(self.cell.state_size))
        mechanisms = range(len(self.attention_mechanisms))
        return [
            *(f"cell_state_{i}" for i in range(count)),
            "attention",
            *(f"alignments_{i}" for i in mechanisms),
            *(f"attention_state_{i}" for i in mechanisms),
        ]

    def split_alignment_history(self, outputs: Tensor):
        """Splits the outputs of a wrapper with `alignment_history=True`
        into `(outputs, [alignments of each mechanism])` along the last
        axis (the mechanisms' memories must have one max_time)."""
        if not self._history():
            raise ValueError(
                f"AttentionWrapper '{self.name}' has alignment_history=False "
                "(and no binding asks for it): its outputs hold no alignments."
            )
        size = self.attention_size if self.output_attention else output_size(self.cell)
        history = outputs[..., size:]
        k = len(self.attention_mechanisms)
        if k == 1:
            return outputs[..., :size], [history]
        return outputs[..., :size], list(ops.split(history, k, axis=-1))

    # -- building ------------------------------------------------------------

    def build(self, input_shape):
        depths = self._memory_depths()
        if None in depths:
            raise ValueError(
                f"AttentionWrapper '{self.name}' is built from the depth of its "
                "memory, which it does not know yet. Run its RNN layer through "
                "keras_rnnkit.seq2seq.WithMemory(rnn)(inputs, memory, ...), or "
                "inside `with cell.bind_memory(memory):`."
            )
        query_depth = output_size(self.cell)
        for mechanism, depth in zip(self.attention_mechanisms, depths, strict=True):
            if not mechanism.built:
                mechanism.build((None, query_depth), (None, None, depth))
        if self.attention_layers is not None:
            for layer, depth in zip(self.attention_layers, depths, strict=True):
                if not layer.built:
                    layer.build((None, query_depth + depth))
        if not self.cell.built:
            self.cell.build((input_shape[0], self._cell_input_depth(input_shape[-1])))
        self.built = True

    def _cell_input_depth(self, features):
        """The depth of the wrapped cell's input for steps of `features`."""
        if self.cell_input_fn is None:
            return features + self.attention_size
        spec = self.cell_input_fn(
            keras.KerasTensor((None, features), dtype=self.compute_dtype),
            keras.KerasTensor((None, self.attention_size), dtype=self.compute_dtype),
        )
        return spec.shape[-1]

    # -- the step --------------------------------------------------------------

    def get_initial_state(self, batch_size=None, inputs=None, dtype=None):
        bound = self._bound("creating its initial state")
        dtype = dtype or self.compute_dtype
        if batch_size is None:
            batch_size = ops.shape(inputs)[0]
        cell_state = bound.initial_cell_state
        if cell_state is None:
            cell_state = self.initial_cell_state
        if cell_state is None:
            cell_state = initial_state(self.cell, batch_size, dtype)
        cell_state = [
            ops.convert_to_tensor(s, dtype=dtype)
            for s in keras.tree.flatten(cell_state)
        ]
        attention = ops.zeros((batch_size, self.attention_size), dtype=dtype)
        alignments, states = [], []
        for mechanism, memory in zip(
            self.attention_mechanisms, bound.memories, strict=True
        ):
            max_time = ops.shape(memory.values)[1]
            alignments.append(mechanism.initial_alignments(batch_size, max_time, dtype))
            states.append(mechanism.initial_state(batch_size, max_time, dtype))
        return [*cell_state, attention, *alignments, *states]

    def call(self, inputs: Tensor, states: States, training: bool = False):
        bound = self._bound("running a step")
        states = list(states)
        count = len(keras.tree.flatten(self.cell.state_size))
        k = len(self.attention_mechanisms)
        cell_states = states[:count]
        if not isinstance(self.cell.state_size, int):
            cell_states = keras.tree.pack_sequence_as(
                list(self.cell.state_size), cell_states
            )
        previous_attention = states[count]
        attention_states = states[count + 1 + k : count + 1 + 2 * k]
        combine = self.cell_input_fn or _concat_inputs
        cell_inputs = combine(inputs, previous_attention)
        cell_output, next_cell_state = call_cell(
            self.cell, cell_inputs, cell_states, training
        )
        attentions, alignments = [], []
        noise = [None] * k
        if training and self._noisy:
            noise = self._step_numbers(inputs, bound.memories)
        attend = self.attention_fn or compute_attention
        next_attention_states = []
        for i, (mechanism, memory) in enumerate(
            zip(self.attention_mechanisms, bound.memories, strict=True)
        ):
            layer = None if self.attention_layers is None else self.attention_layers[i]
            attention, weights, next_attention_state = attend(
                BoundMechanism(mechanism, memory, training, noise[i]),
                cell_output,
                attention_states[i],
                layer,
            )
            if self.attention_fn is not None:
                self._check_attention(i, attention)
            attentions.append(attention)
            alignments.append(weights)
            next_attention_states.append(next_attention_state)
        attention = attentions[0] if k == 1 else ops.concatenate(attentions, -1)
        output = attention if self.output_attention else cell_output
        if self.alignment_history or bound.alignment_history:
            output = ops.concatenate([output, *alignments], axis=-1)
        new_states = [
            *keras.tree.flatten(next_cell_state),
            attention,
            *alignments,
            *next_attention_states,
        ]
        return output, new_states

    def _check_attention(self, index, attention):
        """An `attention_fn`'s attention must have the size the state has."""
        want = self._attention_sizes()[index]
        got = attention.shape[-1] if len(attention.shape) == 2 else None
        if want is not None and got is not None and got != want:
            raise ValueError(
                f"AttentionWrapper '{self.name}': attention_fn returned an "
                f"attention of shape {tuple(attention.shape)} for mechanism "
                f"{index}; it must be (batch, {want}), the size of its attention "
                "layer (or of the memory when there is none)."
            )

    # -- dropout masks of the wrapped cell --------------------------------------

    def get_dropout_mask(self, step_input):
        size = self._cell_input_depth(step_input.shape[-1])
        step = ops.ones((ops.shape(step_input)[0], size), dtype=step_input.dtype)
        prepare_dropout_masks(self.cell, step)
        numbers = self._numbers_per_step()
        if isinstance(numbers, int):  # a known memory length
            _step_noise.request(self, numbers)

    def _numbers_per_step(self):
        """How many uniform numbers one row of one step takes for the
        mechanisms' noise (None when there is none)."""
        if not self._noisy:
            return None
        times = self._max_times()
        if None in [times[i] for i in self._noisy]:
            stack = _bindings()[self]
            times = [ops.shape(memory.values)[1] for memory in stack[-1].memories]
        return sum(2 * times[i] for i in self._noisy)

    def _step_numbers(self, inputs, memories):
        """Each mechanism's standard normal noise for this step (None for
        those without): the numbers `DynamicRNN` drew before its loop, else
        drawn now."""
        noise = [None] * len(self.attention_mechanisms)
        numbers = _step_noise.uniform(self, inputs, self._numbers_per_step())
        start = 0
        for i in self._noisy:
            size = 2 * ops.shape(memories[i].values)[1]
            noise[i] = normal_from_uniform(numbers[:, start : start + size])
            start = start + size
        return noise

    # -- serialization ------------------------------------------------------------

    def get_config(self):
        mechanisms = [
            keras.saving.serialize_keras_object(m) for m in self.attention_mechanisms
        ]
        config = {
            "attention_mechanism": mechanisms if self._is_list else mechanisms[0],
            "attention_layer_size": self.attention_layer_size,
            "alignment_history": self.alignment_history,
            "cell_input_fn": None
            if self.cell_input_fn is None
            else keras.saving.serialize_keras_object(self.cell_input_fn),
            "output_attention": self.output_attention,
            "attention_layer": None,
            # compute_attention given explicitly is the default: saved as None
            "attention_fn": None
            if self.attention_fn in (None, compute_attention)
            else keras.saving.serialize_keras_object(self.attention_fn),
        }
        if self._layer_sizes is None and self.attention_layers is not None:
            layers = [
                keras.saving.serialize_keras_object(layer)
                for layer in self.attention_layers
            ]
            config["attention_layer"] = layers if self._layer_is_list else layers[0]
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        cell = load_nested(cls, config, "cell", config.pop("cell"))
        mechanism = config.pop("attention_mechanism")
        if isinstance(mechanism, list):
            mechanism = [
                load_nested(cls, config, f"attention_mechanism[{i}]", m)
                for i, m in enumerate(mechanism)
            ]
        else:
            mechanism = load_nested(cls, config, "attention_mechanism", mechanism)
        for key in ("cell_input_fn", "attention_fn"):
            if config.get(key) is not None:
                config[key] = load_nested(cls, config, key, config[key])
        layers = config.get("attention_layer")
        if isinstance(layers, list):
            config["attention_layer"] = [
                load_nested(cls, config, f"attention_layer[{i}]", layer)
                for i, layer in enumerate(layers)
            ]
        elif layers is not None:
            config["attention_layer"] = load_nested(
                cls, config, "attention_layer", layers
            )
        return construct(cls, config, cell, mechanism, **config)


def attention_wrappers(cell) -> list[AttentionWrapper]:
    """Every `AttentionWrapper` in `cell` (itself, or nested in wrappers and
    stacks)."""
    return [c for c in cells_inside(cell) if isinstance(c, AttentionWrapper)]
