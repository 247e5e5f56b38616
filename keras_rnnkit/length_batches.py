"""Batches of sequences (or documents) of similar length, padded per batch."""

import numbers
from typing import Any

import keras
import numpy as np

from keras_rnnkit import _validation


class LengthBatches(keras.utils.PyDataset):
    """Batches of sequences of similar length, each padded to its longest.

    Pass it to `model.fit`, `model.evaluate` and `model.predict` instead of
    arrays padded to the longest sequence of the whole data set: samples are
    sorted by length and cut into batches of `batch_size`, and each batch
    is padded (after the end) only to the longest of its members, rounded up
    to a multiple of `pad_to_multiple_of` so that few distinct shapes are
    compiled. A batch of short sentences then costs what short sentences
    cost. It works on every backend (see the docs page *Variable-length
    batches*): on TensorFlow one traced function serves every shape, JAX
    compiles once per distinct shape (`distinct_shapes` of them), torch runs
    eagerly.

    The inputs (`x`, `y` and `sample_weight` alike) are one of

    - a list of sequences, one per sample: a NumPy array `(time, ...)` or a
      list of numbers, padded along its first axis;
    - a list of documents, one per sample: a list of sequences (sentences),
      padded to `(batch, max_sentences, max_words, ...)`;
    - a NumPy array `(samples, ...)`: rows taken as they are (labels,
      lengths, per-sample features);
    - a dict or a tuple of the above, for models with several inputs (a
      `list` is always one input: a list of samples).

    Batches are `(x,)`, `(x, y)` or `(x, y, sample_weight)` with the same
    structure. Sequences of `x` are padded with `pad_value` (0 by default,
    which is what `Embedding(mask_zero=True)` masks); those of `y` and
    `sample_weight` with 0. `sample_weight="mask"` gives, for sequences `y`,
    weights 1 at every step of a sample and 0 at padding, so that padding
    counts in neither the loss nor weighted metrics.

    The first batch is the one of the longest samples and the second the
    one of the shortest; with `shuffle`, the others come in a new order
    every epoch. TensorFlow reads the first two batches to learn the input
    shapes and leaves open every axis on which they differ: they are made to
    differ on every axis that varies at all between batches (the first batch
    is padded further where needed), so no later batch is refused.

    Row `k` of `model.predict(batches)` is sample `batches.order[k]`;
    `restore_order` puts such predictions back in the order of `x`. For
    outputs with a time axis, whose width varies between batches, use
    `batches.predict(model, per_step=True)`.

    Args:
        x: The inputs (see above).
        y: Optional targets, same forms.
        sample_weight: Optional weights, same forms, or `"mask"` (`y` must
            then be one input of sequences).
        batch_size: Positive int, samples per batch (the last batch of the
            sorted samples, the longest, may be smaller).
        lengths: Optional int array `(samples,)`, the length to sort by. By
            default the longest sequence of each sample among the sequence
            inputs of `x` and `y` (for documents: the number of sentences,
            ties broken by the longest sentence). `predict(per_step=True)`
            cuts each sample's outputs to this length.
        pad_value: Value of the padding of `x`'s sequences.
        pad_to_multiple_of: Positive int: padded widths are rounded up to a
            multiple of it (fewer shapes, fewer compilations; 1 pads to the
            exact longest member). Or a pair `(sentences, words)` for
            documents. A multiple at least as large as the longest sample
            gives every batch the same width.
        shuffle: Whether to shuffle the order of the batches after the first
            two at the start and at the end of every epoch (the samples of a
            batch stay together). Leave it `False` for evaluation and
            prediction.
        seed: Seed of the shuffling (an int for a repeatable order).
        **kwargs: `workers`, `use_multiprocessing`, `max_queue_size` of
            `keras.utils.PyDataset`.

    Raises:
        ValueError: At construction: `x` missing or empty, parts of
            different numbers of samples, samples that are not sequences of
            the same rank and feature shape, a `batch_size`,
            `pad_to_multiple_of` or `lengths` that is not allowed, a bad
            `sample_weight`, a non-boolean `shuffle` or a `seed` that is not
            an integer. Each message names the argument.

    Examples:
        >>> import numpy as np
        >>> from keras_rnnkit import LengthBatches
        >>> x = [np.array([3, 1]), np.array([5, 9, 2, 7, 4]), np.array([8])]
        >>> y = np.array([0, 1, 0])
        >>> batches = LengthBatches(x, y, batch_size=2, pad_to_multiple_of=1)
        >>> len(batches)
        2
        >>> inputs, labels = batches[0]  # the longest samples first
        >>> inputs, labels
        (array([[5, 9, 2, 7, 4]]), array([1]))
        >>> batches[1][0]  # the others, padded to the longest of them
        array([[8, 0],
               [3, 1]])
        >>> batches.order  # the samples in the order the batches hold them
        array([1, 2, 0])
        >>> batches.restore_order(np.array([10.0, 20.0, 30.0]))  # e.g. predictions
        array([30., 10., 20.])
    """

    def __init__(
        self,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        batch_size: int = 32,
        lengths: Any = None,
        pad_value: float = 0,
        pad_to_multiple_of: int | tuple[int, int] = 8,
        shuffle: bool = False,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.batch_size = _validation.positive_int("batch_size", batch_size)
        shuffle = _validation.boolean("shuffle", shuffle)
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
        ):
            raise ValueError(
                f"Argument `seed` must be an integer or None. Received: seed={seed!r}"
            )
        if x is None:
            raise ValueError(
                "Argument `x` must hold the inputs: a list of sequences or "
                "documents, an array, or a dict or tuple of them. Received: x=None"
            )
        self.pad_value = pad_value
        self.shuffle = shuffle
        self._rng = np.random.default_rng(seed)

        self._x = _Structure("x", x)
        self.num_samples = self._x.num_samples
        self._y = None if y is None else _Structure("y", y)
        self._mask_weights = isinstance(sample_weight, str)
        if self._mask_weights:
            if sample_weight != "mask":
                raise ValueError(
                    "Argument `sample_weight` must be None, weights or 'mask'. "
                    f"Received: sample_weight={sample_weight!r}"
                )
            if (
                self._y is None
                or self._y.kind != "leaf"
                or (self._y.columns[0].kind != "sequences")
            ):
                raise ValueError(
                    "sample_weight='mask' weighs the steps of `y`: `y` must be "
                    "one input of sequences (a list of arrays). Received: "
                    + ("y=None" if y is None else f"y of {self._y.describe()}")
                )
            self._weights = None
        elif sample_weight is not None:
            if self._y is None:
                raise ValueError(
                    "Argument `sample_weight` needs `y`. Received: y=None and "
                    "sample_weight of type " + type(sample_weight).__name__
                )
            self._weights = _Structure("sample_weight", sample_weight)
        else:
            self._weights = None
        for part in (self._y, self._weights):
            if part is not None and part.num_samples != self.num_samples:
                raise ValueError(
                    f"`{part.name}` and `x` must hold as many samples. Received: "
                    f"{part.num_samples} in {part.name}, {self.num_samples} in x"
                )
        columns = [c for p in (self._x, self._y, self._weights) if p for c in p.columns]
        self._ragged = [c for c in columns if c.kind != "array"]
        multiples = _multiples(pad_to_multiple_of)
        for column in self._ragged:
            column.multiples = multiples

        if lengths is None:
            primary = np.zeros(self.num_samples, "int64")
            secondary = np.zeros(self.num_samples, "int64")
            for column in self._ragged:
                primary = np.maximum(primary, column.lengths[:, 0])
                if column.kind == "documents":
                    secondary = np.maximum(secondary, column.lengths[:, 1])
            order = np.lexsort((secondary, primary))
        else:
            primary = np.asarray(lengths)
            if (
                primary.shape != (self.num_samples,)
                or not np.issubdtype(primary.dtype, np.integer)
                or (primary < 0).any()
            ):
                raise ValueError(
                    "Argument `lengths` must be an int array of one length >= 0 "
                    f"per sample, shape ({self.num_samples},). Received: an "
                    f"array of shape {primary.shape} and dtype {primary.dtype}"
                    + (" with negative values" if primary.size else "")
                )
            order = np.argsort(primary, kind="stable")
        self.lengths = primary.astype("int64")

        cut = range(0, self.num_samples, self.batch_size)
        chunks = [order[i : i + self.batch_size] for i in cut]
        widths = [[c.widths(rows) for c in self._ragged] for rows in chunks]
        batches = [[rows, w] for rows, w in zip(chunks, widths, strict=True)]
        # The longest batch first, the shortest second (see the docstring).
        self._batches = [batches[-1], *batches[:-1]]
        if len(self._batches) > 1:
            self._separate_first_two()
        if self.shuffle:
            self._shuffle()

    # -- Keras's PyDataset ----------------------------------------------------

    def __len__(self):
        return len(self._batches)

    def __getitem__(self, index):
        rows, widths = self._batches[index]
        width = dict(zip(map(id, self._ragged), widths, strict=True))
        x = self._x.batch(rows, width, self.pad_value)
        if self._y is None:
            return (x,)
        y = self._y.batch(rows, width, 0)
        if self._mask_weights:
            column = self._y.columns[0]
            steps = np.arange(y.shape[1])
            weights = (steps < column.lengths[rows, :1]).astype("float32")
            return x, y, weights
        if self._weights is None:
            return x, y
        return x, y, self._weights.batch(rows, width, 0)

    def on_epoch_end(self):
        if self.shuffle:
            self._shuffle()

    # -- order and prediction -------------------------------------------------

    @property
    def order(self):
        """Int array `(samples,)`: the samples in the order of the batches
        (row `k` of `model.predict(self)` is sample `order[k]`)."""
        return np.concatenate([rows for rows, _ in self._batches])

    @property
    def distinct_shapes(self):
        """The number of distinct shapes of the batches: how many times a
        compiling backend (JAX, TensorFlow with XLA) compiles a step."""
        return len({(len(rows), str(widths)) for rows, widths in self._batches})

    def restore_order(self, predictions):
        """Puts per-sample `predictions` (from `model.predict(self)`, rows in
        the batches' order) back in the order of the samples of `x`.

        Args:
            predictions: An array `(samples, ...)`, or a list, tuple or dict
                of them (one per model output).

        Returns:
            The same structure, rows in input order.
        """
        order = self.order

        def restore(leaf):
            if isinstance(leaf, (list, tuple, dict)):
                return _map(restore, leaf)
            if not hasattr(leaf, "shape") or type(leaf).__name__ == "RaggedTensor":
                raise ValueError(
                    "restore_order takes arrays with one row per sample. "
                    f"Received: a {type(leaf).__name__}; for outputs whose "
                    "width varies between batches (per-step outputs), use "
                    "LengthBatches.predict(model, per_step=True)"
                )
            leaf = np.asarray(leaf)
            if len(leaf) != len(order):
                raise ValueError(
                    f"restore_order takes one row per sample ({len(order)}). "
                    f"Received: an array of shape {leaf.shape}"
                )
            restored = np.empty_like(leaf)
            restored[order] = leaf
            return restored

        return restore(predictions)

    def predict(self, model, per_step=False):
        """The predictions of `model` for every sample, in input order.

        Runs `model.predict_on_batch` on every batch.

        Args:
            model: A Keras model taking the batches' inputs.
            per_step: If False, every output is one array `(samples, ...)`
                (it must have the same shape in every batch). If True, every
                output is a list of one array per sample, cut along its time
                axis (axis 1) to the sample's length (`lengths`).

        Returns:
            The outputs, in the structure of the model's outputs.
        """
        outputs = [model.predict_on_batch(self[i][0]) for i in range(len(self))]
        rows = [rows for rows, _ in self._batches]

        def gather(*leaves):
            if not per_step:
                shapes = {np.shape(leaf)[1:] for leaf in leaves}
                if len(shapes) > 1:
                    raise ValueError(
                        "The outputs of the batches differ in shape "
                        f"({sorted(shapes)}): use predict(model, per_step=True)"
                    )
                return self.restore_order(np.concatenate(leaves))
            result = [None] * self.num_samples
            for leaf, members in zip(leaves, rows, strict=True):
                leaf = np.asarray(leaf)
                for k, r in enumerate(members):
                    result[r] = leaf[k, : self.lengths[r]]
            return result

        return _map(gather, *outputs)

    # -- internals --------------------------------------------------------------

    def _separate_first_two(self):
        """Pads the first batch further on every axis that varies between
        batches but on which the first two batches agree."""
        first, second = self._batches[0][1], self._batches[1][1]
        for c, column in enumerate(self._ragged):
            for axis in range(len(first[c])):
                values = {w[c][axis] for _, w in self._batches}
                if len(values) > 1 and first[c][axis] == second[c][axis]:
                    widest = max(values)
                    if widest == second[c][axis]:
                        widest += column.multiples[min(axis, 1)]
                    first[c] = (*first[c][:axis], widest, *first[c][axis + 1 :])

    def _shuffle(self):
        rest = self._batches[2:]
        self._rng.shuffle(rest)
        self._batches[2:] = rest


def _map(function, *structures):
    """`function` over the leaves of equal structures (a dict, list, tuple or
    one leaf)."""
    first = structures[0]
    if isinstance(first, dict):
        return {k: function(*(s[k] for s in structures)) for k in first}
    if isinstance(first, (list, tuple)):
        return type(first)(
            function(*leaves) for leaves in zip(*structures, strict=True)
        )
    return function(*structures)


def _multiples(value):
    """`pad_to_multiple_of` as a pair (first padded axis, second)."""
    pair = value if isinstance(value, tuple) else (value, value)
    if len(pair) != 2 or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0
        for v in pair
    ):
        raise ValueError(
            "Argument `pad_to_multiple_of` must be a positive int, or a pair "
            "(sentences, words) of them for documents. Received: "
            f"pad_to_multiple_of={value!r}"
        )
    return tuple(int(v) for v in pair)


def _round_up(value, multiple):
    return -(-max(int(value), 1) // multiple) * multiple


class _Structure:
    """One of `x`, `y`, `sample_weight`: a leaf, a dict or a tuple of leaves."""

    def __init__(self, name, data):
        self.name = name
        if isinstance(data, dict):
            if not data:
                raise ValueError(f"Argument `{name}` is an empty dict.")
            self.kind, self.keys = "dict", list(data)
            self.columns = [_Column(f"{name}[{k!r}]", data[k]) for k in self.keys]
        elif isinstance(data, tuple):
            if not data:
                raise ValueError(f"Argument `{name}` is an empty tuple.")
            self.kind, self.keys = "tuple", list(range(len(data)))
            self.columns = [_Column(f"{name}[{k}]", v) for k, v in enumerate(data)]
        else:
            self.kind, self.keys = "leaf", [None]
            self.columns = [_Column(name, data)]
        counts = {c.name: c.num_samples for c in self.columns}
        if len(set(counts.values())) > 1:
            raise ValueError(
                f"The inputs of `{name}` must hold as many samples. Received: "
                + ", ".join(f"{n}: {v}" for n, v in counts.items())
            )
        self.num_samples = self.columns[0].num_samples

    def describe(self):
        return ", ".join(f"{c.kind}" for c in self.columns)

    def batch(self, rows, width, pad_value):
        arrays = [c.batch(rows, width.get(id(c)), pad_value) for c in self.columns]
        if self.kind == "dict":
            return dict(zip(self.keys, arrays, strict=True))
        if self.kind == "tuple":
            return tuple(arrays)
        return arrays[0]


def _is_sequence_like(value):
    return isinstance(value, (list, tuple, np.ndarray))


class _Column:
    """One input: an array taken by rows, or ragged sequences or documents."""

    multiples = (1, 1)

    def __init__(self, name, data):
        self.name = name
        if isinstance(data, np.ndarray) and data.dtype != object:
            if data.ndim == 0:
                raise ValueError(
                    f"Argument `{name}` must hold one row per sample. Received: "
                    f"a 0-d array {data!r}"
                )
            self.kind, self.array = "array", data
            self.num_samples = len(data)
        elif isinstance(data, (list, np.ndarray)):
            self._ragged(list(data))
        else:
            raise ValueError(
                f"Argument `{name}` must be a list of sequences (arrays or lists "
                "of numbers), a list of documents (lists of sequences) or an "
                f"array. Received: an object of type {type(data).__name__}"
            )
        if self.num_samples == 0:
            raise ValueError(f"Argument `{name}` holds no samples: it is empty.")

    def _ragged(self, samples):
        self.num_samples = len(samples)
        if not samples:
            return
        for index, sample in enumerate(samples):
            if not _is_sequence_like(sample):
                self._sequence(sample, index)  # raises
        documents = [
            not isinstance(s, np.ndarray) and any(_is_sequence_like(e) for e in s)
            for s in samples
        ]
        known = [(i, d) for i, d in enumerate(documents) if len(samples[i])]
        self.kind = "documents" if known and known[0][1] else "sequences"
        for index, document in known:
            if document != known[0][1]:
                raise ValueError(
                    f"Argument `{self.name}` mixes sequences and documents "
                    f"(lists of sequences): sample {known[0][0]} is a "
                    f"{self.kind[:-1]}, sample {index} is not"
                )
        if self.kind == "documents":
            self.samples = [
                [self._sequence(s, i) for s in d] for i, d in enumerate(samples)
            ]
            sentences = [s for d in self.samples for s in d]
            self.lengths = np.array(
                [[len(d), max(map(len, d), default=0)] for d in self.samples], "int64"
            )
        else:
            self.samples = [self._sequence(s, i) for i, s in enumerate(samples)]
            sentences = self.samples
            self.lengths = np.array([[len(s)] for s in self.samples], "int64")
        shapes = {s.shape[1:] for s in sentences if len(s)} or {
            s.shape[1:] for s in sentences
        }
        if len(shapes) > 1:
            raise ValueError(
                f"The steps of `{self.name}` must all have one shape. Received: "
                f"steps of shapes {sorted(shapes)}"
            )
        self.features = shapes.pop() if shapes else ()
        typed = [s.dtype for s in sentences if s.size] or [np.dtype("float32")]
        self.dtype = np.result_type(*typed)

    def _sequence(self, value, index):
        if not _is_sequence_like(value):
            raise ValueError(
                f"Sample {index} of `{self.name}` must be a sequence (an array "
                f"or a list of numbers). Received: {value!r}"
            )
        array = np.asarray(value)
        if array.ndim == 0 or array.dtype == object:
            raise ValueError(
                f"Sample {index} of `{self.name}` must be a sequence: an array "
                f"(time, ...) or a list of numbers. Received: {value!r}"
            )
        if array.ndim == 1 and len(value) == 0 and not isinstance(value, np.ndarray):
            array = array.astype("float32")
        return array

    def widths(self, rows):
        """The padded widths of a batch of `rows`: one per padded axis."""
        if self.kind == "array":
            return ()
        longest = self.lengths[rows].max(0)
        return tuple(
            _round_up(v, m) for v, m in zip(longest, self.multiples, strict=False)
        )

    def batch(self, rows, widths, pad_value):
        if self.kind == "array":
            return self.array[rows]
        shape = (len(rows), *widths, *self.features)
        out = np.full(shape, pad_value, self.dtype)
        for k, r in enumerate(rows):
            if self.kind == "documents":
                for s, sentence in enumerate(self.samples[r]):
                    out[k, s, : len(sentence)] = sentence
            else:
                out[k, : len(self.samples[r])] = self.samples[r]
        return out
