"""LengthBatches: every sample once, padding, bounded widths, shuffling,
order restoration, fit/evaluate/predict on the current backend, errors."""

import collections

import keras
import numpy as np
import pytest

from keras_rnnkit import LengthBatches


def _sequences(n=50, low=1, high=40, features=(), seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(low, high, n)
    return [rng.integers(1, 9, (length, *features)) for length in lengths], lengths


def _batches_x(data):
    return [data[i][0] for i in range(len(data))]


def test_every_sample_appears_once_and_is_padded_after_its_end():
    x, lengths = _sequences()
    y = np.arange(len(x))  # labels: the index of each sample
    data = LengthBatches(x, y, batch_size=8, pad_to_multiple_of=5)
    seen = []
    for i in range(len(data)):
        inputs, labels = data[i]
        assert len(inputs) == len(labels) <= 8
        assert inputs.shape[1] % 5 == 0
        for row, label in zip(inputs, labels, strict=True):
            n = lengths[label]
            np.testing.assert_array_equal(row[:n], x[label])
            assert np.all(row[n:] == 0)
        seen.extend(labels)
    assert sorted(seen) == list(range(len(x)))
    np.testing.assert_array_equal(seen, data.order)
    assert len(data) == 7 and data.num_samples == 50


def test_widths_are_bounded_by_the_batch_not_the_data_set():
    x, lengths = _sequences(n=200, high=100)
    data = LengthBatches(x, batch_size=20, pad_to_multiple_of=8)
    for i in range(2, len(data)):  # the first one may be padded further
        (inputs,) = data[i]
        longest = max(len(x[r]) for r in data._batches[i][0])
        assert longest <= inputs.shape[1] < longest + 8
    widths = [inputs.shape[1] for inputs in _batches_x(data)]
    assert min(widths) < 20 and max(widths) >= lengths.max()
    assert data.distinct_shapes <= 100 // 8 + 2
    # a multiple at least as long as the longest sample: one width
    one = LengthBatches(x, batch_size=20, pad_to_multiple_of=int(lengths.max()))
    assert {b.shape[1] for b in _batches_x(one)} == {lengths.max()}


def test_first_two_batches_differ_on_every_axis_that_varies():
    """TensorFlow fixes the axes on which the first two batches agree."""
    # Sorted by the target length, the source widths of the longest and the
    # shortest batch agree (3), but another batch has sources of 5.
    source = [np.ones(3)] * 4 + [np.ones(5)] * 4 + [np.ones(3)] * 4
    target = [np.ones(n) for n in [1] * 4 + [2] * 4 + [3] * 4]
    data = LengthBatches({"source": source}, target, batch_size=4, pad_to_multiple_of=1)
    shapes = [
        (b[0]["source"].shape, b[1].shape) for b in map(data.__getitem__, [0, 1, 2])
    ]
    assert shapes[1] == ((4, 3), (4, 1))
    assert shapes[0][0][1] not in (3,) and shapes[0][1][1] != 1
    for axis in (0, 1):
        assert (
            shapes[0][0][axis] != shapes[1][0][axis]
            or len({s[0][axis] for s in shapes}) == 1
        )


def test_the_last_batch_is_the_first_and_the_shortest_second():
    data = LengthBatches([np.ones(n) for n in [3, 20, 5, 17, 40, 1, 9]], batch_size=2)
    assert [list(rows) for rows, _ in data._batches[:2]] == [[4], [5, 0]]


def test_documents_pad_sentences_and_words():
    docs = [
        [[1, 2, 3], [4]],
        [[5]],
        [[6, 7], [8, 9, 1, 2, 3], [4, 5]],
    ]
    data = LengthBatches(docs, np.array([0, 1, 2]), batch_size=3, pad_to_multiple_of=1)
    (inputs, labels) = data[0]
    assert inputs.shape == (3, 3, 5)
    assert list(labels) == [1, 0, 2]  # sorted by the number of sentences
    np.testing.assert_array_equal(inputs[0], [[5, 0, 0, 0, 0]] + [[0] * 5] * 2)
    np.testing.assert_array_equal(inputs[2, 1], [8, 9, 1, 2, 3])
    data = LengthBatches(docs, batch_size=3, pad_to_multiple_of=(2, 4))
    assert data[0][0].shape == (3, 4, 8)
    # (time, features) sentences
    docs = [[np.ones((2, 3)), np.ones((4, 3))], [np.ones((1, 3))]]
    assert LengthBatches(docs, pad_to_multiple_of=1)[0][0].shape == (2, 2, 4, 3)


def test_structures_sample_weights_and_pad_value():
    x, lengths = _sequences(n=10, features=(3,))
    y = [np.full(n, 7) for n in lengths]
    data = LengthBatches(
        (x, np.arange(10)),
        y,
        sample_weight="mask",
        batch_size=4,
        pad_value=-1,
        pad_to_multiple_of=1,
    )
    for i in range(len(data)):
        (inputs, index), targets, weights = data[i]
        assert inputs.shape[2] == 3 and inputs.dtype == x[0].dtype
        assert targets.shape == weights.shape == inputs.shape[:2]
        np.testing.assert_array_equal(weights.sum(1), lengths[index])
        assert np.all((targets == 7) == (weights == 1))
        assert np.all((inputs[..., 0] == -1) == (weights == 0))
    # per-sample weights, taken as they are
    data = LengthBatches(x, np.zeros(10), sample_weight=np.arange(10.0), batch_size=4)
    assert sorted(np.concatenate([data[i][2] for i in range(len(data))])) == list(
        range(10)
    )


def test_shuffle_changes_the_order_per_epoch_and_is_repeatable():
    x, _ = _sequences(n=300)

    def epochs(seed, n=3):
        data = LengthBatches(x, batch_size=10, shuffle=True, seed=seed)
        orders = []
        for _ in range(n):
            orders.append(data.order)
            data.on_epoch_end()
        return orders

    a, b = epochs(1), epochs(1)
    for first, second in zip(a, b, strict=True):
        np.testing.assert_array_equal(first, second)
    assert not np.array_equal(a[0], a[1]) and not np.array_equal(a[1], a[2])
    assert not np.array_equal(a[0], epochs(2)[0])
    for order in a:  # the first two batches stay in place
        np.testing.assert_array_equal(order[:20], a[0][:20])
        assert sorted(order) == list(range(300))
    plain = LengthBatches(x, batch_size=10)
    before = plain.order
    plain.on_epoch_end()
    np.testing.assert_array_equal(plain.order, before)


def test_restore_order_is_exact():
    x, _ = _sequences(n=23)
    data = LengthBatches(x, batch_size=5)
    in_batch_order = np.concatenate([np.asarray(data[i][0])[:, :1] for i in range(5)])
    first_steps = np.array([s[:1] for s in x])
    np.testing.assert_array_equal(data.restore_order(in_batch_order), first_steps)
    restored = data.restore_order({"a": data.order, "b": [data.order * 2]})
    np.testing.assert_array_equal(restored["a"], np.arange(23))
    np.testing.assert_array_equal(restored["b"][0], np.arange(23) * 2)
    with pytest.raises(ValueError, match="one row per sample"):
        data.restore_order(np.zeros(5))


def _tagger():
    inputs = keras.Input((None,), dtype="int32")
    h = keras.layers.Embedding(10, 4, mask_zero=True)(inputs)
    h = keras.layers.GRU(4, return_sequences=True)(h)
    model = keras.Model(inputs, keras.layers.Dense(3)(h))
    model.compile(
        "adam",
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=["accuracy"],
    )
    return model


def test_fit_evaluate_predict_on_this_backend():
    keras.utils.set_random_seed(0)
    x, lengths = _sequences(n=60, high=30)
    y = [np.minimum(s, 2) for s in x]
    train = LengthBatches(x, y, sample_weight="mask", batch_size=16, shuffle=True)
    assert 1 < train.distinct_shapes <= len(train) == 4
    model = _tagger()
    history = model.fit(train, epochs=2, validation_data=train, verbose=0)
    assert np.isfinite(history.history["val_loss"]).all()
    assert np.isfinite(model.evaluate(train, verbose=0)).all()
    plain = LengthBatches(x, batch_size=16)
    per_step = plain.predict(model, per_step=True)
    assert [len(p) for p in per_step] == list(lengths)
    for i in (0, 17, 59):  # padding and batching change nothing
        alone = np.asarray(model.predict_on_batch(x[i][None]))[0]
        np.testing.assert_allclose(per_step[i], alone, atol=1e-5)
    with pytest.raises(ValueError, match="per_step=True"):
        plain.predict(model)


def test_classifier_predictions_in_input_order():
    keras.utils.set_random_seed(0)
    x, _ = _sequences(n=40, high=20, features=(2,))
    x = [s.astype("float32") for s in x]
    inputs = keras.Input((None, 2))
    h = keras.layers.GRU(4)(keras.layers.Masking(0.0)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2)(h))
    data = LengthBatches(x, batch_size=8, pad_to_multiple_of=4)
    keras_order = data.restore_order(model.predict(data, verbose=0))
    ours = data.predict(model)
    np.testing.assert_allclose(keras_order, ours, atol=1e-6)
    for i in (0, 13, 39):
        alone = np.asarray(model.predict_on_batch(x[i][None]))[0]
        np.testing.assert_allclose(ours[i], alone, atol=1e-5)


def test_compilations_are_bounded_by_the_distinct_shapes():
    """A compiling backend traces a step once per shape at most (TensorFlow:
    once in all, the first two batches leave the time axis open)."""
    calls = collections.Counter()

    class Count(keras.layers.Layer):
        def call(self, x):
            calls[tuple(x.shape)] += 1
            return x

        def compute_mask(self, x, mask=None):
            return mask

    x, _ = _sequences(n=100, high=50)
    inputs = keras.Input((None,), dtype="int32")
    h = Count()(keras.layers.Embedding(10, 4, mask_zero=True)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.GRU(4)(h)))
    model.compile("adam", "mse")
    data = LengthBatches(x, np.zeros(100), batch_size=10, shuffle=True, seed=0)
    calls.clear()
    model.fit(data, epochs=3, verbose=0)
    if keras.backend.backend() == "torch":
        # eager: one call a batch (and one more, building the model)
        assert 3 * len(data) <= sum(calls.values()) <= 3 * len(data) + 1
        return
    # JAX: once per shape, one more for the very first step
    assert sum(calls.values()) <= data.distinct_shapes + 1
    if keras.backend.backend() == "tensorflow":  # one signature, time axis open
        assert {shape[1] for shape in calls} == {None}
    calls.clear()
    model.fit(data, epochs=2, verbose=0)  # a second fit: nothing new to trace
    assert not calls


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(x=[[1]], batch_size=0), r"batch_size.*positive integer.*batch_size=0"),
        (dict(x=[[1]], batch_size=2.5), r"batch_size=2.5"),
        (dict(x=[]), r"`x` holds no samples"),
        (dict(x=np.zeros((0, 3))), r"`x` holds no samples"),
        (dict(x=None), r"`x` must hold the inputs"),
        (dict(x=[[1], [2]], y=np.zeros(3)), r"`y` and `x`.*3 in y, 2 in x"),
        (dict(x={"a": [[1]], "b": [[1], [2]]}), r"inputs of `x`.*x\['a'\]: 1"),
        (dict(x=[[1]], pad_to_multiple_of=0), r"pad_to_multiple_of=0"),
        (dict(x=[[1]], pad_to_multiple_of=(1, 2, 3)), r"pad_to_multiple_of"),
        (dict(x=[[1]], shuffle="yes"), r"shuffle='yes'"),
        (dict(x=[[1]], seed="1"), r"`seed`.*seed='1'"),
        (dict(x=[[1], [2]], lengths=[1]), r"`lengths`.*shape \(2,\)"),
        (dict(x=[[1]], lengths=[-1]), r"`lengths`.*negative"),
        (dict(x=[[1]], y=[[1]], sample_weight="steps"), r"sample_weight='steps'"),
        (dict(x=[[1]], y=np.zeros(1), sample_weight="mask"), r"'mask'.*`y`"),
        (dict(x=[[1]], sample_weight=np.ones(1)), r"sample_weight.*needs `y`"),
        (dict(x=[[1, 2], [[1], [2]]]), r"mixes sequences and documents"),
        (dict(x=[np.ones((2, 3)), np.ones((2, 4))]), r"one shape.*\(3,\), \(4,\)"),
        (dict(x=[1, 2]), r"Sample 0 of `x` must be a sequence"),
        (dict(x="text"), r"`x` must be a list of sequences"),
    ],
)
def test_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LengthBatches(**kwargs)
