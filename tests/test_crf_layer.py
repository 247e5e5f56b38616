"""CRF and CRFLoss: the enumeration of all paths, fit/predict, saving, masks.

The layer maps potentials `(batch, time, num_tags)` to integer tags
`(batch, time)`, which the shared contract (tests/contract.py: float
outputs, a Dense head) does not fit; its points are covered here: config
round trip, `.keras` reload in a fresh process, masks (Embedding,
Masking, sequence_length), mixed precision, fit under JAX's jit.
"""

import importlib.util
import json

import keras
import numpy as np
import pytest
from crf_oracle import BruteForce, fast, gradients
from hypothesis import given
from hypothesis import strategies as st

import keras_rnnkit
from keras_rnnkit import CRF, CRFLoss, crf

BACKEND = keras.backend.backend()


def as_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def random_crf(num_tags, seed=0, **kwargs):
    layer = CRF(num_tags, **kwargs)
    layer.build((None, None, num_tags))
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(size=w.shape) for w in layer.get_weights()])
    return layer


def weights_of(layer):
    """(transitions, start, end) as NumPy (start/end None without them)."""
    start = end = None
    if layer.start_end_transitions:
        start, end = as_numpy(layer.start_transitions), as_numpy(layer.end_transitions)
    return as_numpy(layer.transitions), start, end


def penalized(layer, forbidden):
    """The layer's scores with its forbidden transitions set to `forbidden`
    (as the loss, -1e4, or decoding, -inf, see them)."""
    transitions, start, end = weights_of(layer)
    if layer.constraints is None:
        return transitions, start, end
    inner, first, last = crf.constraint_masks(layer.constraints, layer.num_tags)
    start = np.zeros(layer.num_tags) if start is None else start
    end = np.zeros(layer.num_tags) if end is None else end
    return (
        np.where(inner, transitions, forbidden),
        np.where(first, start, forbidden),
        np.where(last, end, forbidden),
    )


def loss_and_tags(layer, x, y, mask=None):
    """The loss of each row and the tags (under jit on JAX)."""

    def both(x, y, mask):
        tags = layer(x, mask=mask)
        return CRFLoss(reduction="none")(y, tags), tags

    losses, tags = fast(both)(x, y, mask)
    return as_numpy(losses), as_numpy(tags)


# -- the enumeration ---------------------------------------------------------


@st.composite
def layer_problems(draw):
    batch = draw(st.integers(1, 3))
    time = draw(st.integers(1, 5))
    num_tags = draw(st.integers(2, 4))
    rows = st.lists(st.booleans(), min_size=time, max_size=time)
    mask = np.array(draw(st.lists(rows, min_size=batch, max_size=batch)))
    seed = draw(st.integers(0, 2**16))
    options = dict(
        start_end_transitions=draw(st.booleans()),
        constrain_training=draw(st.booleans()),
    )
    rng = np.random.default_rng(seed)
    if draw(st.booleans()):  # constraints: a random set of allowed pairs
        pairs = [
            (i, j)
            for i in range(num_tags + 1)
            for j in [*range(num_tags), num_tags + 1]
            if not (i == num_tags and j == num_tags + 1) and rng.random() < 0.7
        ]
        options["constraints"] = pairs
    x = 2 * rng.normal(size=(batch, time, num_tags))
    x = np.where(mask[..., None], x, np.nan).astype("float32")  # NaN padding
    y = np.where(mask, rng.integers(0, num_tags, (batch, time)), -1)
    return x, y, mask, num_tags, seed, options


@given(problem=layer_problems())
def test_loss_and_tags_match_the_enumeration_of_all_paths(problem):
    """Any mask (holes, left padding, empty rows), start/end scores,
    constraints in training or in decoding only."""
    x, y, mask, num_tags, seed, options = problem
    layer = random_crf(num_tags, seed, **options)
    losses, tags = loss_and_tags(layer, x, y, mask)
    training = penalized(layer, crf.TRAINING_PENALTY)
    if not layer.constrain_training:
        training = weights_of(layer)
    allowed = None
    if layer.constraints is not None:
        allowed = crf.constraint_masks(layer.constraints, num_tags)
    decoding = weights_of(layer)
    for row in range(len(x)):
        steps = np.flatnonzero(mask[row])
        paths = BruteForce(x[row], mask[row], *training)
        gold = tuple(y[row, steps])
        np.testing.assert_allclose(
            losses[row], paths.log_z - paths.scores[gold], rtol=1e-5, atol=1e-3
        )
        best = BruteForce(x[row], mask[row], *decoding, allowed=allowed)
        assert np.all(tags[row, ~mask[row]] == 0)
        if best.scores:  # some path is allowed: the tags are a best one
            path = tuple(tags[row, steps])
            assert path in best.scores
            np.testing.assert_allclose(best.scores[path], best.best_score, atol=1e-4)


# AllenNLP's fixture (tests/modules/conditional_random_field_test.py)
ALLENNLP_LOGITS = np.array(
    [
        [[0, 0, 0.5, 0.5, 0.2], [0, 0, 0.3, 0.3, 0.1], [0, 0, 0.9, 10, 1]],
        [[0, 0, 0.2, 0.5, 0.2], [0, 0, 3, 0.3, 0.1], [0, 0, 0.9, 1, 1]],
    ],
    "float32",
)
ALLENNLP_WEIGHTS = [
    np.array(
        [
            [0.1, 0.2, 0.3, 0.4, 0.5],
            [0.8, 0.3, 0.1, 0.7, 0.9],
            [-0.3, 2.1, -5.6, 3.4, 4.0],
            [0.2, 0.4, 0.6, -0.3, -0.4],
            [1.0, 1.0, 1.0, 1.0, 1.0],
        ]
    ),
    np.array([0.1, 0.2, 0.3, 0.4, 0.6]),
    np.array([-0.1, -0.2, 0.3, -0.4, -0.4]),
]


def test_allennlp_viterbi_with_a_hole_in_the_mask_and_constraints():
    layer = CRF(5)
    layer.build((None, None, 5))
    layer.set_weights(ALLENNLP_WEIGHTS)
    mask = np.array([[True, True, True], [True, False, True]])
    tags = as_numpy(layer(ALLENNLP_LOGITS, mask=mask))
    for row in range(2):  # AllenNLP's naive search: the valid steps in order
        paths = BruteForce(ALLENNLP_LOGITS[row], mask[row], *ALLENNLP_WEIGHTS)
        assert tuple(tags[row, mask[row]]) == paths.best_paths()[0]
    assert tags[1, 1] == 0
    ring = [(0, 0), (0, 1), (1, 1), (1, 2), (2, 2), (2, 3), (3, 3), (3, 4), (4, 4)]
    ends = [(5, i) for i in range(5)] + [(i, 6) for i in range(5)]
    constrained = CRF(5, constraints=[*ring, (4, 0), *ends])
    constrained.build((None, None, 5))
    constrained.set_weights(ALLENNLP_WEIGHTS)
    mask = np.array([[True, True, True], [True, True, False]])
    tags = as_numpy(constrained(ALLENNLP_LOGITS, mask=mask))
    assert tags.tolist() == [[2, 3, 3], [2, 3, 0]]  # AllenNLP's [[2, 3, 3], [2, 3]]


def test_top_k_paths_are_allennlps():
    layer = CRF(5, top_k=2)
    layer.build((None, None, 5))
    layer.set_weights(ALLENNLP_WEIGHTS)
    mask = np.array([[True, True, True], [True, True, False]])
    _, tags = loss_and_tags(layer, ALLENNLP_LOGITS, np.zeros((2, 3), "int32"), mask)
    assert tags.shape == (2, 2, 3)
    best = CRF(5)
    best.build((None, None, 5))
    best.set_weights(ALLENNLP_WEIGHTS)
    np.testing.assert_array_equal(
        tags[:, 0],
        loss_and_tags(best, ALLENNLP_LOGITS, np.zeros((2, 3), "int32"), mask)[1],
    )
    # AllenNLP's second best paths: [[4, 2, 3], [3, 2]]
    assert tags[:, 1].tolist() == [[4, 2, 3], [3, 2, 0]]
    assert layer.compute_output_shape((None, None, 5)) == (None, 2, None)


def test_decoding_never_takes_a_forbidden_transition():
    labels = ["B", "M", "E", "S"]
    pairs = crf.allowed_transitions("BMES", labels)
    layer = random_crf(4, seed=3, constraints=pairs)
    transitions, start, end = weights_of(layer)
    inner, first, last = crf.constraint_masks(pairs, 4)
    # make every forbidden move the most attractive one
    layer.set_weights(
        [np.where(inner, transitions, 50.0), np.where(first, start, 50.0), end]
    )
    x = np.random.default_rng(0).normal(size=(16, 7, 4)).astype("float32")
    lengths = np.random.default_rng(1).integers(0, 8, 16)
    _, tags = loss_and_tags(
        layer, x, np.zeros((16, 7), "int32"), np.arange(7) < lengths[:, None]
    )
    for row, length in enumerate(lengths):
        path = tags[row, :length]
        if length:
            assert BruteForce.allowed(tuple(path), inner, first, last), path
        assert np.all(tags[row, length:] == 0)


def test_a_training_sequence_that_breaks_a_constraint_costs_1e4_not_nan():
    pairs = crf.allowed_transitions("BMES", ["B", "M", "E", "S"])
    layer = random_crf(4, seed=0, constraints=pairs)
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype("float32")
    y = np.array([[0, 2, 3], [3, 1, 2]])  # B E S is fine; S M E is not (S->M)

    def loss(potentials):
        return CRFLoss(reduction="none")(y, layer(potentials))

    _, (grad,) = gradients(loss, x)
    losses, _ = loss_and_tags(layer, x, y)
    assert losses[0] < 50 and 1e4 - 50 < losses[1] < 1e4 + 50
    assert np.isfinite(grad).all() and np.abs(grad).max() <= 1.0 + 1e-5
    free = random_crf(4, seed=0, constraints=pairs, constrain_training=False)
    assert loss_and_tags(free, x, y)[0][1] < 50


def test_start_and_end_scores_match_pytorch_crf():
    if BACKEND != "torch":
        pytest.skip("pytorch-crf parity runs on the torch backend")
    if importlib.util.find_spec("torchcrf") is None:
        pytest.skip("needs pytorch-crf: pip install pytorch-crf")
    import torch
    import torchcrf

    rng = np.random.default_rng(0)
    emissions = rng.normal(size=(4, 6, 5)).astype("float32")
    tags = rng.integers(0, 5, (4, 6))
    mask = np.arange(6)[None, :] < np.array([6, 3, 1, 5])[:, None]
    reference = torchcrf.CRF(5, batch_first=True)
    layer = CRF(5)
    layer.build((None, None, 5))
    layer.set_weights(
        [
            reference.transitions.detach().numpy(),
            reference.start_transitions.detach().numpy(),
            reference.end_transitions.detach().numpy(),
        ]
    )
    x = torch.tensor(emissions, requires_grad=True)
    want = reference(x, torch.tensor(tags), torch.tensor(mask), reduction="sum")
    (want_grad,) = torch.autograd.grad(want, x)
    got, (grad,) = gradients(
        lambda e: -CRFLoss(reduction="sum")(tags, layer(e, mask=mask)), emissions
    )
    np.testing.assert_allclose(got, want.item(), rtol=1e-5)
    np.testing.assert_allclose(grad, want_grad.numpy(), atol=1e-5)
    decoded = as_numpy(layer(emissions, mask=mask))
    for row, path in enumerate(
        reference.decode(torch.tensor(emissions), torch.tensor(mask))
    ):
        assert decoded[row, : len(path)].tolist() == path


def test_without_start_end_transitions_it_is_tf_contrib_crf():
    layer = random_crf(3, seed=5, start_end_transitions=False)
    assert [w.path.split("/")[-1] for w in layer.weights] == ["transitions"]
    assert tuple(layer.transitions.shape) == (3, 3)
    x = np.random.default_rng(0).normal(size=(3, 4, 3)).astype("float32")
    y = np.random.default_rng(1).integers(0, 3, (3, 4))
    lengths = np.array([4, 2, 0])
    mask = np.arange(4)[None, :] < lengths[:, None]
    got, tags = loss_and_tags(layer, x, y, mask)

    def contrib(x, y, lengths, transitions):
        ll, _ = crf.crf_log_likelihood(x, y, lengths, transitions)
        return ll, crf.crf_decode(x, transitions, lengths)[0]

    want, want_tags = fast(contrib)(x, y, lengths, as_numpy(layer.transitions))
    np.testing.assert_allclose(got, -as_numpy(want), rtol=1e-6)
    np.testing.assert_array_equal(tags, as_numpy(want_tags))


# -- padding, precision, weights ---------------------------------------------------


def test_padding_changes_neither_the_loss_nor_its_gradients():
    layer = random_crf(4, seed=2, constraints=[(0, 1), (1, 0), (4, 0), (2, 5)])
    rng = np.random.default_rng(0)
    mask = np.array([[1, 1, 1, 0, 0], [0, 0, 1, 1, 1], [1, 0, 1, 0, 1], [0] * 5], bool)
    y = rng.integers(0, 4, (4, 5))
    clean = np.where(mask[..., None], rng.normal(size=(4, 5, 4)), 0.0)

    def loss(x):
        return CRFLoss(reduction="none")(y, layer(x, mask=mask))

    value, (grad,) = gradients(loss, clean)
    assert np.isfinite(value) and np.all(grad[~mask] == 0)
    for junk in (np.nan, np.inf, -1e30):
        noisy = np.where(mask[..., None], clean, junk)
        got, (got_grad,) = gradients(loss, noisy)
        assert got == value
        np.testing.assert_array_equal(got_grad, grad)
    losses, tags = loss_and_tags(layer, clean.astype("float32"), y, mask)
    assert losses[3] == 0.0 and np.all(tags[3] == 0)  # no valid step


def test_mixed_precision_computes_in_float32():
    layer = random_crf(4, seed=1, dtype="mixed_float16")
    assert all(w.dtype == "float32" for w in layer.weights)
    reference = random_crf(4, seed=1)
    rng = np.random.default_rng(0)
    # large scores: their sums overflow float16, not float32
    x = (1e4 * rng.normal(size=(3, 5, 4))).astype("float16").astype("float32")
    y = rng.integers(0, 4, (3, 5))
    losses, tags = loss_and_tags(layer, x, y)
    want_losses, want_tags = loss_and_tags(reference, x, y)
    assert np.isfinite(losses).all() and losses.dtype == np.float32
    np.testing.assert_allclose(losses, want_losses, rtol=1e-5)
    np.testing.assert_array_equal(tags, want_tags)


def test_sample_weights_and_reductions():
    layer = random_crf(3, seed=4)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4, 3)).astype("float32")
    y = rng.integers(0, 3, (3, 4))
    mask = np.arange(4)[None, :] < np.array([4, 2, 0])[:, None]
    w = np.array([0.5, 2.0, 1.0], "float32")
    # per-step weights: each sequence by its mean weight over valid steps
    steps = np.where(mask, np.array([[1.0, 1.0, 0.0, 0.0]]), 9.0).astype("float32")

    def losses(x, y, mask, w, steps):
        tags = layer(x, mask=mask)
        return (
            CRFLoss(reduction=None)(y, tags),
            CRFLoss()(y, tags),
            CRFLoss("sum")(y, tags, w),
            CRFLoss("mean_with_sample_weight")(y, tags, w),
            CRFLoss("sum")(y, tags, steps),
        )

    each, mean, weighted, normalized, per_step = map(
        as_numpy, fast(losses)(x, y, mask, w, steps)
    )
    assert each[2] == 0 and each.shape == (3,)
    np.testing.assert_allclose(mean, each.mean(), rtol=1e-6)
    np.testing.assert_allclose(weighted, (w * each).sum(), rtol=1e-6)
    np.testing.assert_allclose(normalized, (w * each).sum() / w.sum(), rtol=1e-6)
    np.testing.assert_allclose(per_step, each[0] * 0.5 + each[1], rtol=1e-6)


# -- in models ---------------------------------------------------------------------


def token_task(rng, batch=32, time=6):
    """Tokens 1..6 (0 pads); the tag of a token is token % 3."""
    lengths = rng.integers(1, time + 1, batch)
    x = rng.integers(1, 7, (batch, time))
    x[np.arange(time)[None, :] >= lengths[:, None]] = 0
    return x, np.where(x > 0, x % 3, 0), lengths


def tagger(crf_layer, **compile_kwargs):
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(7, 8, mask_zero=True),
            keras.layers.Dense(3),
            crf_layer,
        ]
    )
    model.compile(
        keras.optimizers.Adam(0.05),
        loss=CRFLoss(),
        metrics=[keras.metrics.Accuracy()],
        **compile_kwargs,
    )
    return model


def test_fit_evaluate_predict_in_a_sequential_model():
    """Under jit on JAX (Keras's default there), with the Embedding's mask."""
    x, y, lengths = token_task(np.random.default_rng(0))
    model = tagger(CRF(3))
    history = model.fit(x, y, epochs=25, batch_size=32, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0] and np.isfinite(losses).all()
    tags = model.predict(x, verbose=0)
    assert tags.dtype == np.int32 and tags.shape == x.shape
    valid = x > 0
    assert np.all(tags[~valid] == 0)
    accuracy = float(np.mean(tags[valid] == y[valid]))
    assert accuracy > 0.95
    loss, masked_accuracy = model.evaluate(x, y, verbose=0)
    assert np.isclose(masked_accuracy, accuracy, atol=1e-6)  # padding left out
    embedded = model.layers[0](x)  # the loss of the same potentials, mask
    potentials = as_numpy(model.layers[1](embedded)).astype("float32")
    losses, _ = loss_and_tags(model.layers[2], potentials, y, valid)
    np.testing.assert_allclose(loss, losses.mean(), rtol=1e-4)


def test_fit_in_a_functional_model_with_sequence_lengths():
    x, y, lengths = token_task(np.random.default_rng(1))
    tokens = keras.Input((None,), dtype="int32")
    length_input = keras.Input((), dtype="int32")
    potentials = keras.layers.Dense(3)(keras.layers.Embedding(7, 8)(tokens))
    tags = CRF(3, name="crf")(potentials, sequence_length=length_input)
    model = keras.Model([tokens, length_input], tags)
    model.compile(keras.optimizers.Adam(0.05), loss=CRFLoss())
    history = model.fit([x, lengths], y, epochs=25, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    predicted = model.predict([x, lengths], verbose=0)
    valid = x > 0
    assert np.all(predicted[~valid] == 0)
    assert np.mean(predicted[valid] == y[valid]) > 0.95


def test_a_loss_without_crf_potentials_is_refused():
    message = "CRFLoss computes the loss from the output of a keras_rnnkit.CRF layer"
    with pytest.raises(ValueError, match=message):
        CRFLoss()(np.zeros((2, 3)), keras.ops.zeros((2, 3)))
    model = keras.Sequential([keras.Input((3, 2)), keras.layers.Dense(1)])
    model.compile("sgd", loss=CRFLoss())
    with pytest.raises(Exception, match=message):  # in the compiled step too
        model.fit(np.zeros((2, 3, 2)), np.zeros((2, 3)), verbose=0)


def test_keras_file_reloads_in_fresh_process(tmp_path, fresh_process):
    x, y, _ = token_task(np.random.default_rng(2), batch=8)
    pairs = crf.allowed_transitions("BIO", ["O", "B-X", "I-X"])
    model = tagger(CRF(3, constraints=pairs, name="crf"))  # compiled: CRFLoss
    want = model.predict(x, verbose=0)
    model.optimizer.build(model.trainable_variables)  # saved with the model
    model.save(tmp_path / "model.keras")
    np.savez(tmp_path / "data.npz", x=x, y0=want)
    reply = fresh_process(
        "reload_and_predict",
        model=str(tmp_path / "model.keras"),
        data=str(tmp_path / "data.npz"),
    )
    assert reply["test_modules"] == []
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(reloaded.loss, CRFLoss)
    assert reloaded.layers[-1].constraints == [tuple(p) for p in pairs]


@pytest.mark.tf_only
def test_saved_model_export_decodes(tmp_path):
    import tensorflow as tf

    x, y, _ = token_task(np.random.default_rng(3), batch=8)
    x = x.astype("int32")  # the serving signature's dtype
    model = tagger(
        CRF(3, constraints=crf.allowed_transitions("BIO", ["O", "B-X", "I-X"]))
    )
    model.fit(x, y, epochs=1, verbose=0)
    model.export(tmp_path / "exported", verbose=False)
    served = tf.saved_model.load(str(tmp_path / "exported"))
    for batch in (x, x[:3, :4]):
        got = served.serve(tf.constant(batch)).numpy()
        np.testing.assert_array_equal(got, model.predict(batch, verbose=0))


# -- configuration and arguments -------------------------------------------------


def test_registered_and_config_round_trip():
    layer = CRF(
        4,
        start_end_transitions=False,
        constraints=[(0, 1), (4, 0)],
        constrain_training=False,
        transitions_regularizer="l2",
        name="tagger_crf",
    )
    layer.build((None, None, 4))
    config = layer.get_config()
    text = json.dumps(config)
    clone = CRF.from_config(json.loads(text))
    assert json.dumps(clone.get_config()) == text
    assert keras.saving.get_registered_name(CRF) == "keras_rnnkit>CRF"
    assert keras.saving.get_registered_name(CRFLoss) == "keras_rnnkit>CRFLoss"
    loss = keras.losses.deserialize(
        json.loads(json.dumps(keras.losses.serialize(CRFLoss("sum", name="nll"))))
    )
    assert isinstance(loss, CRFLoss) and loss.reduction == "sum" and loss.name == "nll"
    assert "CRF" in keras_rnnkit.__all__ and "CRFLoss" in keras_rnnkit.__all__


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"num_tags": 0},
            r"`num_tags` must be a positive integer. Received: num_tags=0",
        ),
        (
            {"num_tags": 3, "start_end_transitions": "yes"},
            r"`start_end_transitions` must be True or False",
        ),
        (
            {"num_tags": 3, "constrain_training": 1},
            r"`constrain_training` must be True or False",
        ),
        (
            {"num_tags": 3, "constraints": "BIO"},
            r"`constraints` must be a list of allowed \(from, to\) tag index pairs",
        ),
        (
            {"num_tags": 3, "constraints": [(0, 1), (3, 4)]},
            r"from in \[0, 3\] \(3 = START\), to in \[0, 2\] or 4 \(END\), not START -> END. Received the pair \(3, 4\)",
        ),
        ({"num_tags": 3, "constraints": [(5, 0)]}, r"Received the pair \(5, 0\)"),
        ({"num_tags": 3, "constraints": [(0, 3)]}, r"Received the pair \(0, 3\)"),
        ({"num_tags": 3, "constraints": [(0,)]}, r"Received the pair \(0,\)"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CRF(**kwargs)
    with pytest.raises(
        ValueError, match=r"`reduction` must be one of sum_over_batch_size"
    ):
        CRFLoss(reduction="token_mean")


def test_bad_inputs():
    layer = CRF(3)
    with pytest.raises(
        ValueError,
        match=r"expects inputs of shape \(batch, time, num_tags\) = \(batch, time, 3\).*Received: input_shape=\(2, 5, 4\)",
    ):
        layer(np.zeros((2, 5, 4), "float32"))
    with pytest.raises(TypeError, match=r"expects floating-point `inputs`"):
        layer(np.zeros((2, 5, 3), "int32"))
    with pytest.raises(
        ValueError, match=r"expects `mask` of shape .*Received: mask.shape=\(2, 4\)"
    ):
        layer(np.zeros((2, 5, 3), "float32"), mask=np.ones((2, 4), bool))
    with pytest.raises(
        ValueError,
        match=r"`sequence_length` values in \[0, 5\].*Received: sequence_length=\[6, 1\]",
    ):
        layer(np.zeros((2, 5, 3), "float32"), sequence_length=np.array([6, 1]))
    tags = layer(np.zeros((2, 5, 3), "float32"))
    with pytest.raises(
        ValueError,
        match=r"CRFLoss expects `y_true` of shape \(batch, time\) = \(2, 5\)",
    ):
        CRFLoss()(np.zeros((2, 4), "int32"), tags)
    with pytest.raises(
        ValueError, match=r"CRFLoss expects gold tags in \[0, 3\) at the valid steps"
    ):
        CRFLoss()(np.full((2, 5), 3), tags)
    with pytest.raises(
        ValueError,
        match=r"CRFLoss expects `sample_weight` of shape \(batch,\) or \(batch, time\)",
    ):
        CRFLoss()(np.zeros((2, 5), "int32"), tags, np.ones((2, 5, 1)))


@pytest.mark.skipif(
    BACKEND != "torch", reason=f"ONNX export from torch, running {BACKEND}"
)
@pytest.mark.parametrize("top_k", [None, 2], ids=["best", "top2"])
def test_onnx_from_torch_decodes_like_predict(tmp_path, top_k):
    import warnings

    pytest.importorskip("onnxscript", reason="onnx export from torch needs onnxscript")
    onnxruntime = pytest.importorskip(
        "onnxruntime", reason="onnx export from torch needs onnxruntime"
    )
    x = keras.Input((None, 4), name="x")
    lengths = keras.Input((), dtype="int32", name="lengths")
    tags = CRF(5, top_k=top_k)(keras.layers.Dense(5)(x), sequence_length=lengths)
    model = keras.Model([x, lengths], tags)
    # traced per step: the length is fixed at export, the batch is free
    signature = [
        [
            keras.InputSpec(shape=(None, 7, 4), dtype="float32", name="x"),
            keras.InputSpec(shape=(None,), dtype="int32", name="lengths"),
        ]
    ]
    path = str(tmp_path / "crf.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's TracerWarnings
        model.export(path, format="onnx", verbose=False, input_signature=signature)
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    rng = np.random.default_rng(0)
    for batch in (1, 4):
        inputs = [
            rng.normal(size=(batch, 7, 4)).astype("float32"),
            rng.integers(0, 8, batch).astype("int32"),
        ]
        (got,) = session.run(None, dict(zip(names, inputs, strict=True)))
        want = model.predict(inputs, verbose=0, batch_size=batch)
        np.testing.assert_array_equal(got, want, err_msg=f"{batch=}")
