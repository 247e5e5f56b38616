"""The CRF oracle: every tag path enumerated, in float64 NumPy; and the
per-backend gradient and compilation helpers of the CRF tests."""

import itertools

import keras
import numpy as np


class BruteForce:
    """Every path of one row, scored: the valid steps of `mask` in order.

    `allowed` (optional) is `(transitions (N, N), start (N,), end (N,))` of
    booleans; paths with a forbidden transition are left out (the loss with
    `constrain_training=True` and decoding with constraints).
    """

    def __init__(
        self, potentials, mask, transitions, start=None, end=None, allowed=None
    ):
        steps = np.flatnonzero(mask)
        self.steps = steps
        self.unary = np.asarray(potentials, "float64")[steps]
        num_tags = self.unary.shape[1] if self.unary.size else potentials.shape[-1]
        self.transitions = np.asarray(transitions, "float64")
        self.start = (
            np.zeros(num_tags) if start is None else np.asarray(start, "float64")
        )
        self.end = np.zeros(num_tags) if end is None else np.asarray(end, "float64")
        self.scores = {}
        for path in itertools.product(range(num_tags), repeat=len(steps)):
            if allowed is not None and not self.allowed(path, *allowed):
                continue
            self.scores[path] = self.score(path)

    @staticmethod
    def allowed(path, inner, first, last):
        if not path:
            return True
        pairs = all(inner[a, b] for a, b in zip(path, path[1:], strict=False))
        return bool(pairs and first[path[0]] and last[path[-1]])

    def score(self, path):
        if not path:
            return 0.0
        total = self.start[path[0]] + self.end[path[-1]]
        total += sum(self.unary[t, tag] for t, tag in enumerate(path))
        total += sum(
            self.transitions[a, b] for a, b in zip(path, path[1:], strict=False)
        )
        return float(total)

    @property
    def log_z(self):
        values = np.array(list(self.scores.values()))
        if values.size == 0:
            return -np.inf
        top = values.max()
        return float(top + np.log(np.exp(values - top).sum()))

    @property
    def best_score(self):
        return max(self.scores.values()) if self.scores else -np.inf

    def best_paths(self, k=1):
        """The `k` best paths, best first (ties in lexicographic order)."""
        ranked = sorted(self.scores.items(), key=lambda item: (-item[1], item[0]))
        return [path for path, _ in ranked[:k]]

    def marginals(self, num_tags, time):
        """d log Z / d potentials: the probability of each tag at each step."""
        out = np.zeros((time, num_tags))
        log_z = self.log_z
        for path, score in self.scores.items():
            for t, tag in zip(self.steps, path, strict=True):
                out[t, tag] += np.exp(score - log_z)
        return out

    def pair_marginals(self, num_tags):
        """d log Z / d transitions: the expected count of each transition."""
        out = np.zeros((num_tags, num_tags))
        log_z = self.log_z
        for path, score in self.scores.items():
            for a, b in zip(path, path[1:], strict=False):
                out[a, b] += np.exp(score - log_z)
        return out


_JAX_GRADIENTS = {}


def gradients(function, *arguments):
    """`(value, [d value.sum() / d argument, ...])` on the current backend,
    as NumPy arrays; `function` takes backend tensors."""
    backend = keras.backend.backend()
    arguments = [np.asarray(a, "float32") for a in arguments]
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.constant(a) for a in arguments]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            value = tf.reduce_sum(function(*tensors))
        grads = tape.gradient(value, tensors)
    elif backend == "jax":
        import jax

        # compiled, once per function: eager JAX compiles each operation
        key = (function, len(arguments))
        if key not in _JAX_GRADIENTS:
            _JAX_GRADIENTS[key] = jax.jit(
                jax.value_and_grad(
                    lambda *xs: function(*xs).sum(),
                    argnums=tuple(range(len(arguments))),
                )
            )
        value, grads = _JAX_GRADIENTS[key](*arguments)
    else:
        import torch

        tensors = [torch.tensor(a, requires_grad=True) for a in arguments]
        value = function(*tensors).sum()
        value.backward()
        grads = [t.grad for t in tensors]
        value = value.detach()
    as_array = keras.ops.convert_to_numpy
    return float(as_array(value)), [np.asarray(as_array(g)) for g in grads]


_JITTED = {}


def fast(function):
    """`function` under `jax.jit` on JAX, once per function object (eager JAX
    compiles every operation, which costs more than one compilation of the
    whole; eager JAX runs in the doctests); `function` itself elsewhere."""
    if keras.backend.backend() != "jax":
        return function
    import jax

    if function not in _JITTED:
        _JITTED[function] = jax.jit(function)
    return _JITTED[function]


def compiled(function):
    """`function` compiled the way Keras compiles on this backend
    (`jax.jit`; `tf.function(jit_compile=True)`, i.e. XLA), or None on torch,
    whose Keras backend runs eagerly unless told otherwise."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.jit(function)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(function, jit_compile=True)
    return None
