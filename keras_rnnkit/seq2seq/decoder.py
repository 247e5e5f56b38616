"""The decoder protocol and its loop, `dynamic_decode` (tfa.seq2seq's names).

A decoder says how to start (`initialize`) and how to take one step
(`step`); `dynamic_decode` runs the steps until every batch entry is
finished or `maximum_iterations` steps have run, and stacks what each step
emitted. It runs on TensorFlow, JAX and PyTorch, eagerly and compiled:

- **Eagerly** (values known) it is a Python loop that stops as soon as
  every entry is finished.
- **Compiled or symbolic** (`tf.function`, XLA, `jax.jit`, a functional
  model being built, `torch` tracing) the number of steps must be bounded:
  `maximum_iterations` is required. The loop (TensorFlow's `while_loop`
  with TensorArrays, JAX's scan, both differentiable) skips the steps
  after every entry finished with a `cond`.

With `maximum_iterations` the outputs always have `maximum_iterations`
steps, eagerly too (shapes do not depend on values, so `predict` can
concatenate batches); steps after every entry finished hold zeros (the
beam search decoder pads its own way, see `BeamSearchDecoder`). Without it
(eagerly only) they have as many steps as were run, as in
tensorflow-addons.

Per-call values (the sampler's inputs, the start tokens, the end token,
the embedding, the random noise...) are kept out of the decoder and the
sampler, so that nothing on them changes during a call: one decoder can
decode in several threads at once, and under `jit` or `tf.function` the
values read are those of the same trace. `initialize` stores them in a
small per-call object (`begin_call(owner)`), `step`, `finalize` and the
sampler's `sample` and `next_inputs` read it back (`current_call(owner)`).
These objects live in a per-thread stack of scopes: `dynamic_decode`
pushes a scope for one decode and pops it when done (in `finally`), so a
decode's values are seen by that decode only, and a decode inside a step
(a nested decoder) has its own. Outside any decode (tfa-style code calling
`initialize` then `step` by hand) they go to the thread's bottom scope,
where each `initialize` replaces the last one of that decoder or sampler.
"""

import contextlib
import threading
import types
import weakref

import keras
from keras import ops

from keras_rnnkit import _validation as check
from keras_rnnkit._backend import all_true, jax_tracing, torch_tracing, where

__all__ = ["BaseDecoder", "Decoder", "dynamic_decode"]

_THREAD = threading.local()


def _scopes():
    """This thread's stack of scopes, each a dict owner -> per-call object;
    the bottom one is for `initialize` / `step` called by hand."""
    scopes = getattr(_THREAD, "scopes", None)
    if scopes is None:
        scopes = _THREAD.scopes = [weakref.WeakKeyDictionary()]
    return scopes


@contextlib.contextmanager
def decode_scope():
    """A scope for the per-call values of one decode, in this thread."""
    scopes = _scopes()
    scopes.append(weakref.WeakKeyDictionary())
    try:
        yield
    finally:
        scopes.pop()


def begin_call(owner, **values):
    """A new per-call object of `owner` (a decoder or a sampler), in the
    innermost scope of this thread (replacing the one there): what its
    `initialize` computed, for its `step`."""
    call = types.SimpleNamespace(**values)
    _scopes()[-1][owner] = call
    return call


def current_call(owner, required=True):
    """`owner`'s per-call object in this thread (the innermost scope that
    has one), or None (or a ValueError when `required`) before its
    `initialize`."""
    for scope in reversed(_scopes()):
        call = scope.get(owner)
        if call is not None:
            return call
    if required:
        raise ValueError(
            f"{type(owner).__name__}.initialize() must run first (in this "
            "thread): dynamic_decode and the decoder's call do, or call it "
            "by hand before step() / sample() / next_inputs()."
        )
    return None


def per_call(name, doc):
    """A read-only property: this thread's current value of `name` for the
    object (None before its `initialize`)."""
    return property(
        lambda self: getattr(current_call(self, required=False), name, None), doc=doc
    )


class Decoder:
    """The decoder protocol, as a plain object (tfa's `Decoder`).

    A decoder has three methods and one flag:

    - `initialize(inputs, **kwargs) -> (finished, first_inputs, state)`:
      `finished` is boolean, `(batch,)` (or `(batch, beam_width)`).
    - `step(time, inputs, state, training=None) -> (outputs, next_state,
      next_inputs, finished)`: `outputs` is any structure of tensors with
      the batch first; `time` is a Python int (eager) or an int32 scalar.
    - `finalize(outputs, final_state, sequence_lengths) -> (outputs,
      final_state)`: receives the stacked outputs time-major; the default
      returns them unchanged.
    - `tracks_own_finished`: `True` when `step` returns the full finished
      flags itself (and, if its state has `lengths`, the lengths);
      otherwise `dynamic_decode` ors the flags and counts the lengths.

    `BaseDecoder` is the same protocol as a Keras layer; `dynamic_decode`
    takes either.
    """

    tracks_own_finished = False

    def initialize(self, inputs, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define initialize()")

    def step(self, time, inputs, state, training=None):
        raise NotImplementedError(f"{type(self).__name__} must define step()")

    def finalize(self, outputs, final_state, sequence_lengths):
        return outputs, final_state


class BaseDecoder(keras.layers.Layer):
    """The decoder protocol as a Keras layer (tfa's `BaseDecoder`).

    Subclasses define `initialize`, `step` and optionally `finalize` and
    `tracks_own_finished` (see `Decoder`); calling the layer runs
    `dynamic_decode` with the arguments given here.

    Args:
        output_time_major: Whether the outputs are `(time, batch, ...)`
            instead of `(batch, time, ...)`.
        impute_finished: Whether finished entries emit zeros and keep their
            state unchanged (slower, and what a masked `keras.layers.RNN`
            does).
        maximum_iterations: The most steps to run: a positive integer, or
            `None` (eager decoding only; required when compiled).
        **kwargs: Base layer arguments (`name`, `dtype`).

    Call arguments:
        inputs: The decoder's first input, passed to `initialize`.
        initial_state: The cell's initial state.
        training: Passed to each step.
        **kwargs: Passed to `initialize` (e.g. `sequence_length`,
            `start_tokens`, `end_token`).

    Returns:
        `(final_outputs, final_state, final_sequence_lengths)`, as
        `dynamic_decode`.
    """

    tracks_own_finished = False

    def __init__(
        self,
        output_time_major=False,
        impute_finished=False,
        maximum_iterations=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # A masked input (the decoder inputs of a training sampler) is read,
        # not passed on: the outputs carry their own lengths.
        self.supports_masking = True
        self.output_time_major = check.boolean("output_time_major", output_time_major)
        self.impute_finished = check.boolean("impute_finished", impute_finished)
        self.maximum_iterations = _maximum_iterations(maximum_iterations)

    def build(self, *args, **kwargs):
        # The cell and output layer build on the first step (their input
        # shapes come from the sampler), before any loop runs.
        self.built = True

    def call(self, inputs, initial_state=None, training=None, **kwargs):
        return dynamic_decode(
            self,
            output_time_major=self.output_time_major,
            impute_finished=self.impute_finished,
            maximum_iterations=self.maximum_iterations,
            training=training,
            decoder_init_input=inputs,
            decoder_init_kwargs={"initial_state": initial_state, **kwargs},
        )

    def initialize(self, inputs, initial_state=None, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define initialize()")

    def step(self, time, inputs, state, training=None):
        raise NotImplementedError(f"{type(self).__name__} must define step()")

    def finalize(self, outputs, final_state, sequence_lengths):
        return outputs, final_state

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {
            **super().get_config(),
            "output_time_major": self.output_time_major,
            "impute_finished": self.impute_finished,
            "maximum_iterations": self.maximum_iterations,
        }


def _maximum_iterations(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            "Argument `maximum_iterations` must be a non-negative integer or "
            f"None. Received: maximum_iterations={value!r}"
        )
    return int(value)


def _traced(*tensors):
    """Whether values are unknown here (compiled, symbolic or traced)."""
    if torch_tracing() or jax_tracing(*tensors):
        return True
    return any(check.concrete(t) is None for t in tensors)


def _expand_like(flags, x):
    """`flags` (batch,) or (batch, beam) reshaped to broadcast against `x`."""
    extra = len(x.shape) - len(flags.shape)
    return ops.reshape(flags, tuple(ops.shape(flags)) + (1,) * extra)


def _same_leading(flags, x):
    return len(x.shape) >= len(flags.shape) and check.shapes_agree(
        x.shape[: len(flags.shape)], flags.shape
    )


def dynamic_decode(
    decoder,
    output_time_major=False,
    impute_finished=False,
    maximum_iterations=None,
    training=None,
    decoder_init_input=None,
    decoder_init_kwargs=None,
):
    """Runs `decoder` step by step (tfa's `dynamic_decode`).

    Args:
        decoder: A `BaseDecoder` layer or a `Decoder` object.
        output_time_major: Whether to return `(time, batch, ...)` outputs.
        impute_finished: Whether finished entries emit zeros and keep their
            state (the decoder's own finished flags decide).
        maximum_iterations: The most steps: a non-negative integer, or
            `None` (eagerly, or when the decoder's `step_bound` gives one:
            a `BasicDecoder` with a training sampler is bounded by its
            inputs' time axis; other compiled and symbolic runs need it).
        training: Passed to every `step`.
        decoder_init_input: The first argument of `decoder.initialize`.
        decoder_init_kwargs: Keyword arguments of `decoder.initialize`.

    Returns:
        `(final_outputs, final_state, final_sequence_lengths)`: the stacked
        step outputs (after `decoder.finalize`), the last state, and int32
        lengths: the step at which each entry finished, plus one (or the
        decoder's own `state.lengths` when it tracks its finished flags).
        With `maximum_iterations` the time axis has that many steps.

    Raises:
        ValueError: `maximum_iterations` is missing in a compiled or
            symbolic run, or is not a non-negative integer.

    Examples:
        >>> import numpy as np, keras
        >>> from keras_rnnkit import seq2seq
        >>> cell = keras.layers.GRUCell(4)
        >>> decoder = seq2seq.BasicDecoder(cell, seq2seq.TrainingSampler())
        >>> x = np.ones((2, 5, 3), "float32")
        >>> outputs, state, lengths = seq2seq.dynamic_decode(
        ...     decoder, decoder_init_input=x,
        ...     decoder_init_kwargs=dict(sequence_length=np.array([5, 2])))
        >>> tuple(outputs.rnn_output.shape), np.asarray(lengths).tolist()
        ((2, 5, 4), [5, 2])
    """
    maximum_iterations = _maximum_iterations(maximum_iterations)
    with decode_scope():
        return _decode(
            decoder,
            output_time_major,
            impute_finished,
            maximum_iterations,
            training,
            decoder_init_input,
            dict(decoder_init_kwargs or {}),
        )


def _decode(
    decoder,
    output_time_major,
    impute_finished,
    maximum_iterations,
    training,
    decoder_init_input,
    init_kwargs,
):
    finished, inputs, state = decoder.initialize(decoder_init_input, **init_kwargs)
    finished = ops.cast(finished, "bool")
    if maximum_iterations == 0:
        finished = ops.ones_like(finished)
    lengths = ops.zeros_like(finished, dtype="int32")
    own_finished = bool(getattr(decoder, "tracks_own_finished", False))

    def one_step(time, inputs, state, finished, lengths):
        outputs, next_state, next_inputs, step_finished = decoder.step(
            time, inputs, state, training=training
        )
        step_finished = ops.cast(step_finished, "bool")
        next_lengths = None
        if own_finished:
            next_finished = step_finished
            own_lengths = getattr(next_state, "lengths", None)
            if own_lengths is not None:
                next_lengths = ops.cast(own_lengths, "int32")
        else:
            next_finished = ops.logical_or(step_finished, finished)
        if next_lengths is None:
            next_lengths = ops.where(
                finished, lengths, ops.cast(time, "int32") + ops.ones_like(lengths)
            )
        if maximum_iterations is not None:
            over = ops.greater_equal(ops.cast(time, "int32") + 1, maximum_iterations)
            next_finished = ops.logical_or(next_finished, over)
        if impute_finished:
            outputs = keras.tree.map_structure(
                lambda o: where(_expand_like(finished, o), ops.zeros_like(o), o),
                outputs,
            )
            next_state = keras.tree.map_structure(
                lambda new, old: (
                    where(_expand_like(finished, new), old, new)
                    if _same_leading(finished, new)
                    else new
                ),
                next_state,
                state,
            )
        return outputs, next_state, next_inputs, next_finished, next_lengths

    if not _traced(finished):
        return _eager_loop(
            decoder,
            one_step,
            inputs,
            state,
            finished,
            lengths,
            maximum_iterations,
            output_time_major,
        )
    if maximum_iterations is None:
        # a training sampler's inputs bound the steps
        maximum_iterations = getattr(decoder, "step_bound", None)
    if maximum_iterations is None:
        raise ValueError(
            "Argument `maximum_iterations` is required when decoding is "
            "compiled or symbolic (tf.function, XLA, jax.jit, a functional "
            "model being built, torch tracing): the loop needs a bound. Pass "
            "maximum_iterations=<the longest output> to the decoder or to "
            "dynamic_decode."
        )
    return _compiled_loop(
        decoder,
        one_step,
        inputs,
        state,
        finished,
        lengths,
        maximum_iterations,
        output_time_major,
    )


def _all(flags):
    return bool(check.concrete(ops.all(flags)))


def _finish(decoder, stacked, state, lengths, output_time_major):
    stacked, state = decoder.finalize(stacked, state, lengths)
    if not output_time_major:
        stacked = keras.tree.map_structure(
            lambda x: ops.moveaxis(x, 0, 1) if len(x.shape) >= 2 else x, stacked
        )
    return stacked, state, lengths


def _eager_loop(
    decoder, one_step, inputs, state, finished, lengths, maximum, time_major
):
    emitted = []
    time = 0
    # The first step runs even when there is nothing to decode, for the
    # shapes of the outputs (and to build the layers); its results are
    # dropped then.
    first = one_step(0, inputs, state, finished, lengths)
    if not _all(finished):
        outputs, state, inputs, finished, lengths = first
        emitted.append(outputs)
        time = 1
        while not _all(finished):
            outputs, state, inputs, finished, lengths = one_step(
                time, inputs, state, finished, lengths
            )
            emitted.append(outputs)
            time += 1
    steps = time if maximum is None else maximum

    def stack(*xs):
        x = ops.stack(xs, axis=0)[:time] if time else ops.stack(xs[:1], 0)[:0]
        if steps > time:
            pad = ops.zeros((steps - time, *x.shape[1:]), dtype=x.dtype)
            x = ops.concatenate([x, pad], axis=0)
        return x

    stacked = keras.tree.map_structure(stack, *(emitted or [first[0]]))
    return _finish(decoder, stacked, state, lengths, time_major)


def _where_tree(flag, new, old):
    return keras.tree.map_structure(lambda n, o: where(flag, n, o), new, old)


def _compiled_loop(
    decoder, one_step, inputs, state, finished, lengths, maximum, time_major
):
    # The first step runs outside the loop: it builds the layers and gives
    # the shapes of the outputs.
    outputs, state1, inputs1, finished1, lengths1 = one_step(
        0, inputs, state, finished, lengths
    )
    if maximum == 0:
        stacked = keras.tree.map_structure(lambda o: ops.stack([o], 0)[:0], outputs)
        return _finish(decoder, stacked, state, lengths, time_major)
    live = ops.logical_not(all_true(finished))
    outputs = keras.tree.map_structure(
        lambda o: where(live, o, ops.zeros_like(o)), outputs
    )
    state, inputs, finished, lengths = _where_tree(
        live,
        (state1, inputs1, finished1, lengths1),
        (state, inputs, finished, lengths),
    )
    buffers = keras.tree.map_structure(
        lambda o: ops.concatenate(
            [o[None], ops.repeat(ops.zeros_like(o)[None], maximum - 1, axis=0)],
            axis=0,
        ),
        outputs,
    )

    def write(buffers, time, outputs):
        def put(buffer, o):
            start = [time] + [0] * len(o.shape)
            return ops.slice_update(buffer, start, o[None])

        return keras.tree.map_structure(put, buffers, outputs)

    def advance(time, buffers, state, inputs, finished, lengths):
        outputs, state, inputs, finished, lengths = one_step(
            time, inputs, state, finished, lengths
        )
        return write(buffers, time, outputs), state, inputs, finished, lengths

    backend = keras.backend.backend()
    carry = (buffers, state, inputs, finished, lengths)
    if backend == "tensorflow":
        return _tf_loop(decoder, one_step, outputs, carry[1:], maximum, time_major)
    elif backend == "jax":
        # a scan (differentiable), skipping the steps after all finished

        def body(time, carry):
            return ops.cond(
                all_true(carry[3]), lambda: carry, lambda: advance(time, *carry)
            )

        carry = ops.fori_loop(1, maximum, body, carry)
    else:  # torch, traced or symbolic: every step, masked once all finished
        for time in range(1, maximum):
            live = ops.logical_not(all_true(carry[3]))
            carry = _where_tree(live, advance(time, *carry), carry)
    buffers, state, inputs, finished, lengths = carry
    return _finish(decoder, buffers, state, lengths, time_major)


def _tf_loop(decoder, one_step, first_outputs, carry, maximum, time_major):
    """TensorFlow's loop: the outputs go to TensorArrays (differentiable;
    the slice updates of a fixed buffer have no gradient in TensorFlow), a
    `tf.cond` skips the steps after every entry finished."""
    import tensorflow as tf

    arrays = keras.tree.map_structure(
        lambda o: tf.TensorArray(o.dtype, size=maximum, element_shape=o.shape).write(
            0, o
        ),
        first_outputs,
    )
    zeros = keras.tree.map_structure(tf.zeros_like, first_outputs)

    def body(time, arrays, state, inputs, finished, lengths):
        def skip():
            return zeros, state, inputs, finished, lengths

        def go():
            return one_step(time, inputs, state, finished, lengths)

        outputs, state, inputs, finished, lengths = tf.cond(
            tf.reduce_all(finished), skip, go
        )
        arrays = keras.tree.map_structure(
            lambda array, o: array.write(time, o), arrays, outputs
        )
        return time + 1, arrays, state, inputs, finished, lengths

    _, arrays, state, _, _, lengths = tf.while_loop(
        lambda time, *_: time < maximum,
        body,
        (tf.constant(1), arrays, *carry),
    )
    stacked = keras.tree.map_structure(lambda array: array.stack(), arrays)
    return _finish(decoder, stacked, state, lengths, time_major)
