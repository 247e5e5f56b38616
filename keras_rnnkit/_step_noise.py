"""Random numbers that change at every step, drawn before the time loop.

A cell whose randomness is new at every step (`DropoutWrapper(variational=
False)`, `ZoneoutWrapper`) cannot draw inside JAX's scanned loop: the seed
generator's state would leak out of `lax.scan`. So `DynamicRNN` (and every
kit layer, which all run through it) draws for them:

1. Before its loop, while the cells draw their per-sequence dropout masks,
   it collects requests: each such cell calls `request(self, size)` from its
   `_draw_masks`, asking for `size` uniform numbers per row and step.
2. It draws every request at once, `(batch, timesteps, size)` with the
   requesting cell's own seed generator (`draw`), and runs its loop over
   `(sequences, noise)`.
3. At each step it hands each cell its slice (`hand_out`): the cell finds
   it in `self._step_noise`, kept per thread like the masks (`_compat`).

Outside `DynamicRNN` (inside `keras.layers.RNN`, or called step by step in a
hand-written loop) nothing is collected, and the cell draws at each step
itself (`uniform`): TensorFlow and torch can; JAX can only when not tracing.
"""

import contextlib
import threading

import keras
from keras import ops

from keras_rnnkit._backend import jax_tracing

_THREAD = threading.local()


@contextlib.contextmanager
def collecting(enabled=True):
    """Collects the `request`s made inside the block into the yielded list
    (left empty when not `enabled`)."""
    previous = getattr(_THREAD, "requests", None)
    requests = []
    _THREAD.requests = requests if enabled else None
    try:
        yield requests
    finally:
        _THREAD.requests = previous


def request(cell, size):
    """Asks the loop being set up for `size` uniform numbers per row and step
    for `cell`. Returns False when no loop collects (the cell then draws
    each step itself)."""
    requests = getattr(_THREAD, "requests", None)
    if requests is None:
        return False
    requests.append((cell, int(size)))
    return True


def draw(requests, sequences):
    """Every request's numbers for the whole loop: one float32 tensor
    `(batch, timesteps, total size)`, in the order of `requests`."""
    shape = ops.shape(sequences)[:2]
    noise = [
        keras.random.uniform((*shape, size), seed=cell.seed_generator)
        for cell, size in requests
    ]
    return noise[0] if len(noise) == 1 else ops.concatenate(noise, axis=-1)


def hand_out(requests, step):
    """Gives each requesting cell its slice of one step's numbers `step`
    `(batch, total size)`."""
    start = 0
    for cell, size in requests:
        cell._step_noise = step[:, start : start + size]
        start += size


def clear(requests):
    for cell, _ in requests:
        cell._step_noise = None


def uniform(cell, reference, size):
    """`(batch, size)` uniform numbers for one step of `cell`: the slice the
    loop handed out, else drawn now with the cell's seed generator.

    Raises:
        RuntimeError: On JAX inside a compiled function, when no loop drew
            the numbers (`keras.layers.RNN` or a hand-written loop).
    """
    noise = cell._step_noise
    if noise is not None:
        return noise
    if jax_tracing(reference):
        raise RuntimeError(
            f"{type(cell).__name__} '{cell.name}' draws new random numbers at "
            "every step, which JAX cannot do inside a compiled time loop. Run "
            "it in keras_rnnkit.DynamicRNN (or any keras_rnnkit layer), which "
            "draws every step's numbers before its loop, instead of "
            "keras.layers.RNN or a hand-written loop."
        )
    return keras.random.uniform(
        (ops.shape(reference)[0], size), seed=cell.seed_generator
    )
