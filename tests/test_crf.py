"""keras_rnnkit.crf: the tf.contrib.crf / tfa.text functions.

Oracles: every tag path enumerated (tests/crf_oracle.py), tensorflow-addons
0.23 itself (tests/fixtures/tfa_crf.npz, made by make_tfa_crf.py in its own
environment), the marginals of the enumeration for gradients, and finite
differences.
"""

import pathlib

import keras
import numpy as np
import pytest
from crf_oracle import BruteForce, compiled, fast, gradients
from hypothesis import given
from hypothesis import strategies as st

from keras_rnnkit import crf

FIXTURES = np.load(pathlib.Path(__file__).parent / "fixtures" / "tfa_crf.npz")
CASES = sorted({key.split("/")[0] for key in FIXTURES.files if "/" in key})
BACKEND = keras.backend.backend()


def as_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def fixture(name):
    prefix = f"{name}/"
    return {
        k[len(prefix) :]: FIXTURES[k] for k in FIXTURES.files if k.startswith(prefix)
    }


def with_padding(inputs, lengths, value):
    """`inputs` with `value` (NaN, inf...) at every padded step."""
    valid = np.arange(inputs.shape[1])[None, :] < np.asarray(lengths)[:, None]
    return np.where(valid[..., None], inputs, value).astype("float32")


@st.composite
def crf_problems(draw):
    batch = draw(st.integers(1, 3))
    time = draw(st.integers(1, 5))
    num_tags = draw(st.integers(2, 4))
    lengths = draw(st.lists(st.integers(0, time), min_size=batch, max_size=batch))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    inputs = 2 * rng.normal(size=(batch, time, num_tags))
    transitions = rng.normal(size=(num_tags, num_tags)).astype("float32")
    tags = rng.integers(0, num_tags, size=(batch, time))
    tags[np.arange(time)[None, :] >= np.array(lengths)[:, None]] = -1  # never read
    bitmap = rng.random((batch, time, num_tags)) < 0.6
    lengths = np.array(lengths, "int32")
    return with_padding(inputs, lengths, np.nan), tags, lengths, transitions, bitmap


# -- the enumeration ---------------------------------------------------------


@given(problem=crf_problems())
def test_every_function_matches_the_enumeration_of_all_paths(problem):
    inputs, tags, lengths, transitions, bitmap = problem
    batch, time, num_tags = inputs.shape
    out = {k: as_numpy(v) for k, v in fast(_kit_outputs)(*problem).items()}
    score, unary, binary = (
        out["sequence_score"],
        out["unary_score"],
        out["binary_score"],
    )
    log_z, ll = out["log_norm"], out["log_likelihood"]
    decoded, best = out["decode_tags"], out["decode_score"]
    multitag, forward = out["multitag_score"], out["forward"]
    constrained, constrained_best = out["constrained_tags"], out["constrained_score"]
    top_tags, top_scores = out["top_tags"], out["top_scores"]
    for row in range(batch):
        length = lengths[row]
        mask = np.arange(time) < length
        paths = BruteForce(inputs[row], mask, transitions)
        gold = tuple(tags[row, :length])
        np.testing.assert_allclose(score[row], paths.scores[gold], atol=1e-4)
        no_pairs = BruteForce(inputs[row], mask, np.zeros_like(transitions))
        np.testing.assert_allclose(unary[row], no_pairs.scores[gold], atol=1e-4)
        np.testing.assert_allclose(binary[row], score[row] - unary[row], atol=1e-4)
        np.testing.assert_allclose(log_z[row], paths.log_z, atol=1e-4)
        np.testing.assert_allclose(ll[row], paths.scores[gold] - paths.log_z, atol=1e-4)
        # decoding: a best path (ties may pick either), zeros after it
        path = tuple(decoded[row, :length])
        np.testing.assert_allclose(paths.scores[path], paths.best_score, atol=1e-4)
        np.testing.assert_allclose(best[row], paths.best_score, atol=1e-4)
        assert np.all(decoded[row, length:] == 0)
        # the tags each step allows: their log-sum, their best path
        allowed = [
            p for p in paths.scores if all(bitmap[row, t, y] for t, y in enumerate(p))
        ]
        if allowed:
            sums = np.array([paths.scores[p] for p in allowed])
            want = sums.max() + np.log(np.exp(sums - sums.max()).sum())
            np.testing.assert_allclose(multitag[row], want, atol=1e-4)
            path = tuple(constrained[row, :length])
            assert path in allowed
            np.testing.assert_allclose(constrained_best[row], sums.max(), atol=1e-4)
        else:
            assert multitag[row] == -np.inf and constrained_best[row] == -np.inf
        # forward: alphas at the last valid step, per last tag
        if length >= 1:
            ends = [
                np.log(sum(np.exp(s) for p, s in paths.scores.items() if p[-1] == j))
                for j in range(num_tags)
            ]
            np.testing.assert_allclose(forward[row], ends, atol=1e-4)
        # the 3 best paths: the 3 best scores, each path's own, best first
        ranked = sorted(paths.scores.values(), reverse=True)[:3]
        ranked += [-np.inf] * (3 - len(ranked))
        np.testing.assert_allclose(top_scores[row], ranked, atol=1e-4)
        found = [tuple(p[:length]) for p in top_tags[row]]
        for path, value in zip(found, top_scores[row], strict=True):
            if np.isfinite(value):
                np.testing.assert_allclose(paths.scores[path], value, atol=1e-4)
        finite = [p for p, v in zip(found, top_scores[row], strict=True) if v > -np.inf]
        assert len(set(finite)) == len(finite)  # distinct paths
        assert np.all(top_tags[row][:, length:] == 0)
        # the NumPy decoder on the row alone
        if length:
            np_path, np_score = crf.viterbi_decode(inputs[row, :length], transitions)
            np.testing.assert_allclose(
                paths.scores[tuple(np_path)], np_score, atol=1e-4
            )
            np.testing.assert_allclose(np_score, paths.best_score, atol=1e-4)


def test_rows_of_length_zero_and_one():
    inputs = np.array([[[1.0, 3.0, 2.0]], [[np.nan, np.nan, np.nan]]], "float32")
    transitions = np.full((3, 3), 7.0, "float32")  # never used: one step
    lengths = np.array([1, 0])
    tags = np.array([[2], [5]])  # row 1's tag is padding: never read
    bitmap = np.ones((2, 1, 3), bool)
    out = {
        k: as_numpy(v)
        for k, v in fast(_kit_outputs)(
            inputs, tags, lengths, transitions, bitmap
        ).items()
    }
    log_z = np.log(np.exp([1.0, 3.0, 2.0]).sum())
    np.testing.assert_allclose(out["log_likelihood"], [2.0 - log_z, 0.0], rtol=1e-6)
    np.testing.assert_allclose(out["log_norm"], [log_z, 0.0], rtol=1e-6)
    np.testing.assert_allclose(out["multitag_score"], [log_z, 0.0], rtol=1e-6)
    np.testing.assert_allclose(out["sequence_score"], [2.0, 0.0])
    np.testing.assert_allclose(out["binary_score"], [0.0, 0.0])
    np.testing.assert_array_equal(out["decode_tags"], [[1], [0]])
    np.testing.assert_array_equal(out["decode_score"], [3.0, 0.0])
    assert crf.viterbi_decode(np.zeros((0, 3)), transitions) == ([], 0.0)
    # crf_forward returns the state it is given for rows of length 0 and 1
    state = np.array([[0.5, 0.25, 0.0], [1.0, 2.0, 3.0]], "float32")
    rest = np.ones((2, 1, 3), "float32")
    np.testing.assert_array_equal(
        as_numpy(crf.crf_forward(rest, state, transitions, np.array([1, 0]))), state
    )


# -- tensorflow-addons -------------------------------------------------------


def _kit_outputs(inputs, tags, lengths, transitions, bitmap):
    ll, _ = crf.crf_log_likelihood(inputs, tags, lengths, transitions)
    decoded, best = crf.crf_decode(inputs, transitions, lengths)
    constrained, constrained_best = crf.crf_constrained_decode(
        inputs, bitmap, transitions, lengths
    )
    out = {
        "sequence_score": crf.crf_sequence_score(inputs, tags, lengths, transitions),
        "unary_score": crf.crf_unary_score(tags, lengths, inputs),
        "binary_score": crf.crf_binary_score(tags, lengths, transitions),
        "log_norm": crf.crf_log_norm(inputs, lengths, transitions),
        "log_likelihood": ll,
        "decode_tags": decoded,
        "decode_score": best,
        "multitag_score": crf.crf_multitag_sequence_score(
            inputs, bitmap, lengths, transitions
        ),
        "constrained_tags": constrained,
        "constrained_score": constrained_best,
    }
    out["forward"] = crf.crf_forward(inputs[:, 1:], inputs[:, 0], transitions, lengths)
    out["top_tags"], out["top_scores"] = crf.crf_decode_top_k(
        inputs, transitions, lengths, top_k=3
    )
    return out


def _compare_with_tfa(got, want, lengths):
    # tfa decodes a row of length 0 as its first step's argmax; the kit
    # gives tags 0 and score 0 (the empty path): compare the other rows
    # (test_rows_of_length_zero_and_one checks those).
    rows = lengths > 0
    for key, value in got.items():
        if key not in want:  # tfa has no forward over zero steps
            continue
        value = as_numpy(value)
        if key.endswith("_tags"):
            valid = np.arange(value.shape[1])[None, :] < lengths[:, None]
            np.testing.assert_array_equal(
                np.where(valid, value, 0)[rows],
                np.where(valid, want[key], 0)[rows],
                key,
            )
        elif key in ("decode_score", "constrained_score", "forward", "multitag_score"):
            # forward: a row of length 0 returns its state (NaN here); tfa's
            # multitag score of such a row is not 0 when time is 1
            np.testing.assert_allclose(
                value[rows], want[key][rows], rtol=1e-5, atol=1e-5
            )
        else:
            np.testing.assert_allclose(
                value, want[key], rtol=1e-5, atol=1e-5, err_msg=key
            )


@pytest.mark.parametrize("name", CASES)
def test_matches_tensorflow_addons(name):
    case = fixture(name)
    lengths = case["lengths"]
    inputs = with_padding(case["inputs"], lengths, np.nan)  # tfa saw finite padding
    args = (inputs, case["tags"], lengths, case["transitions"], case["bitmap"])
    _compare_with_tfa(fast(_kit_outputs)(*args), case, lengths)
    # gradients of the log-likelihood (tfa's, with its finite padding)
    _, (grad_inputs, grad_transitions) = gradients(
        lambda x, t: crf.crf_log_likelihood(x, case["tags"], lengths, t)[0],
        inputs,
        case["transitions"],
    )
    valid = (np.arange(inputs.shape[1])[None, :] < lengths[:, None])[..., None]
    np.testing.assert_allclose(
        grad_inputs, np.where(valid, case["grad_inputs"], 0), atol=1e-5
    )
    np.testing.assert_allclose(grad_transitions, case["grad_transitions"], atol=1e-5)
    for row, length in enumerate(lengths):
        if length:
            path, score = crf.viterbi_decode(
                case["inputs"][row, :length], case["transitions"]
            )
            np.testing.assert_array_equal(
                path, case["viterbi_decode_tags"][row, :length]
            )
            np.testing.assert_allclose(
                score, case["viterbi_decode_score"][row], rtol=1e-5
            )


def _training_and_decoding(inputs, tags, lengths, transitions, bitmap):
    ll, _ = crf.crf_log_likelihood(inputs, tags, lengths, transitions)
    decoded, best = crf.crf_decode(inputs, transitions, lengths)
    return {"log_likelihood": ll, "decode_tags": decoded, "decode_score": best}


@pytest.mark.tf_only  # on JAX every test here runs under jax.jit (`fast`)
def test_xla_compiled_functions_match_tensorflow_addons():
    case = fixture("mixed")
    lengths = case["lengths"]
    inputs = with_padding(case["inputs"], lengths, np.nan)
    args = (inputs, case["tags"], lengths, case["transitions"], case["bitmap"])
    _compare_with_tfa(compiled(_kit_outputs)(*args), case, lengths)


# 10-20 s of tracing: by hand, `KERAS_BACKEND=torch pytest -m manual`
# (slow too: CI's JAX and torch runs leave slow tests out, not manual ones)
@pytest.mark.slow
@pytest.mark.manual
def test_torch_compiled_training_and_decoding_match_tensorflow_addons():
    """`torch.compile` (Keras's `jit_compile=True` on torch) of what a CRF
    tagger's training and prediction call."""
    if BACKEND != "torch":
        pytest.skip("torch.compile needs the torch backend")
    import torch

    case = fixture("mixed")
    lengths = case["lengths"]
    inputs = with_padding(case["inputs"], lengths, np.nan)
    args = (inputs, case["tags"], lengths, case["transitions"], case["bitmap"])
    function = torch.compile(_training_and_decoding, backend="eager")
    _compare_with_tfa(function(*args), case, lengths)


# -- padding, gradients, precision ---------------------------------------------


def _decode(inputs, transitions, lengths):
    return crf.crf_decode(inputs, transitions, lengths)[0]


def test_padding_changes_neither_results_nor_gradients():
    case = fixture("mixed")
    lengths, tags, transitions = case["lengths"], case["tags"], case["transitions"]

    def everything(x, t):
        ll, _ = crf.crf_log_likelihood(x, tags, lengths, t)
        multitag = crf.crf_multitag_sequence_score(x, case["bitmap"], lengths, t)
        return ll + multitag

    clean = with_padding(case["inputs"], lengths, 0.0)
    value, (grad_x, grad_t) = gradients(everything, clean, transitions)
    decoded = as_numpy(fast(_decode)(clean, transitions, lengths))
    valid = np.arange(clean.shape[1])[None, :] < lengths[:, None]
    assert np.all(grad_x[~valid] == 0) and np.isfinite(grad_x).all()
    for junk in (np.nan, np.inf, -np.inf, 1e30):
        noisy = with_padding(case["inputs"], lengths, junk)
        got, (got_x, got_t) = gradients(everything, noisy, transitions)
        assert got == value
        np.testing.assert_array_equal(got_x, grad_x)
        np.testing.assert_array_equal(got_t, grad_t)
        np.testing.assert_array_equal(
            as_numpy(fast(_decode)(noisy, transitions, lengths)), decoded
        )


def test_gradients_are_the_marginals_and_match_finite_differences():
    case = fixture("mixed")
    lengths, tags = case["lengths"], case["tags"]
    inputs, transitions = case["inputs"], case["transitions"]
    _, time, num_tags = inputs.shape

    def log_likelihood(x, t):
        return crf.crf_log_likelihood(x, tags, lengths, t)[0]

    _, (grad_x, grad_t) = gradients(log_likelihood, inputs, transitions)
    # d ll / d x = onehot(gold) - marginals; d ll / d T = gold pairs - expected
    want_x = np.zeros_like(grad_x, dtype="float64")
    want_t = np.zeros((num_tags, num_tags))
    for row, length in enumerate(lengths):
        paths = BruteForce(inputs[row], np.arange(time) < length, transitions)
        want_x[row] = -paths.marginals(num_tags, time)
        want_t -= paths.pair_marginals(num_tags)
        gold = tags[row, :length]
        want_x[row, np.arange(length), gold] += 1
        for a, b in zip(gold, gold[1:], strict=False):
            want_t[a, b] += 1
    np.testing.assert_allclose(grad_x, want_x, atol=1e-5)
    np.testing.assert_allclose(grad_t, want_t, atol=1e-5)
    # central differences of the kit's own function, float64 arithmetic
    # of float32 results: a step of 1e-2 keeps the rounding error ~1e-4
    step = 1e-2

    def total(x, t):
        return float(as_numpy(fast(log_likelihood)(x, t)).astype("float64").sum())

    rng = np.random.default_rng(0)
    for _ in range(6):
        index = tuple(rng.integers(0, s) for s in inputs.shape)
        if index[1] >= lengths[index[0]]:
            continue
        up, down = inputs.copy(), inputs.copy()
        up[index] += step
        down[index] -= step
        numeric = (total(up, transitions) - total(down, transitions)) / (2 * step)
        np.testing.assert_allclose(grad_x[index], numeric, atol=2e-3)
    for index in [(0, 1), (2, 3), (3, 3)]:
        up, down = transitions.copy(), transitions.copy()
        up[index] += step
        down[index] -= step
        numeric = (total(inputs, up) - total(inputs, down)) / (2 * step)
        np.testing.assert_allclose(grad_t[index], numeric, atol=2e-3)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_inputs_are_computed_in_float32(dtype):
    case = fixture("mixed")
    lengths, tags, transitions = case["lengths"], case["tags"], case["transitions"]
    # 10,000s per step: sums overflow float16 (max 65,504), not float32
    inputs = keras.ops.cast(case["inputs"] * 1e4, dtype)
    exact = as_numpy(keras.ops.cast(inputs, "float32"))

    def log_likelihood(x, t):
        return crf.crf_log_likelihood(x, tags, lengths, t)[0]

    ll = fast(log_likelihood)(inputs, keras.ops.cast(transitions, dtype))
    want = fast(log_likelihood)(exact, transitions)
    assert keras.backend.standardize_dtype(ll.dtype) == "float32"
    assert np.isfinite(as_numpy(ll)).all()
    np.testing.assert_allclose(as_numpy(ll), as_numpy(want), rtol=1e-5)
    decoded, best = fast(crf.crf_decode)(inputs, transitions, lengths)
    assert keras.backend.standardize_dtype(best.dtype) == "float32"
    np.testing.assert_array_equal(
        as_numpy(decoded), as_numpy(fast(_decode)(exact, transitions, lengths))
    )


def test_a_step_without_acceptable_tags_scores_minus_infinity_not_nan():
    inputs = np.random.default_rng(0).normal(size=(2, 3, 2)).astype("float32")
    bitmap = np.ones((2, 3, 2), bool)
    bitmap[0, 1] = False  # row 0 has no acceptable path
    bitmap[1, 2] = False  # ... but row 1's step 2 is padding
    lengths = np.array([3, 2])
    transitions = np.zeros((2, 2), "float32")

    def score(x):
        return crf.crf_multitag_sequence_score(x, bitmap, lengths, transitions)

    scores = as_numpy(fast(score)(inputs))
    assert scores[0] == -np.inf and np.isfinite(scores[1])
    _, (grad,) = gradients(lambda x: score(x)[1:], inputs)
    np.testing.assert_allclose(grad[1].sum(axis=1), [1.0, 1.0, 0.0], rtol=1e-6)
    assert np.all(grad[0] == 0)
    _, (grad,) = gradients(lambda x: score(x)[:1], inputs)  # -inf: no NaN
    assert np.all(grad == 0)


def test_log_likelihood_without_transitions_makes_the_variable():
    inputs = np.zeros((2, 3, 4), "float32")
    tags = np.zeros((2, 3), "int32")
    ll, transitions = crf.crf_log_likelihood(inputs, tags, [3, 1])
    assert isinstance(transitions, keras.Variable)
    assert transitions.name == "transitions" and tuple(transitions.shape) == (4, 4)
    want, given = crf.crf_log_likelihood(inputs, tags, [3, 1], transitions)
    assert given is transitions  # a given matrix comes back as it was
    np.testing.assert_array_equal(as_numpy(ll), as_numpy(want))


# -- allowed transitions -------------------------------------------------------

# AllenNLP's expected sets (tests/modules/conditional_random_field_test.py).
BIO = [(0, 0), (0, 1), (0, 3), (0, 6), (1, 0), (1, 1), (1, 2), (1, 3), (1, 6),
       (2, 0), (2, 1), (2, 2), (2, 3), (2, 6), (3, 0), (3, 1), (3, 3), (3, 4),
       (3, 6), (4, 0), (4, 1), (4, 3), (4, 4), (4, 6), (5, 0), (5, 1), (5, 3)]  # fmt: skip
IOB1 = [(0, 0), (0, 2), (0, 4), (0, 6), (1, 0), (1, 1), (1, 2), (1, 4), (1, 6),
        (2, 0), (2, 1), (2, 2), (2, 4), (2, 6), (3, 0), (3, 2), (3, 3), (3, 4),
        (3, 6), (4, 0), (4, 2), (4, 3), (4, 4), (4, 6), (5, 0), (5, 2), (5, 4)]  # fmt: skip
BIOUL = [(0, 0), (0, 1), (0, 4), (0, 5), (0, 8), (0, 10), (1, 2), (1, 3), (2, 2),
         (2, 3), (3, 0), (3, 1), (3, 4), (3, 5), (3, 8), (3, 10), (4, 0), (4, 1),
         (4, 4), (4, 5), (4, 8), (4, 10), (5, 6), (5, 7), (6, 6), (6, 7), (7, 0),
         (7, 1), (7, 4), (7, 5), (7, 8), (7, 10), (8, 0), (8, 1), (8, 4), (8, 5),
         (8, 8), (8, 10), (9, 0), (9, 1), (9, 4), (9, 5), (9, 8)]  # fmt: skip
BMES = [(0, 1), (0, 2), (1, 1), (1, 2), (2, 0), (2, 3), (2, 4), (2, 7), (2, 9),
        (3, 0), (3, 3), (3, 4), (3, 7), (3, 9), (4, 5), (4, 6), (5, 5), (5, 6),
        (6, 0), (6, 3), (6, 4), (6, 7), (6, 9), (7, 0), (7, 3), (7, 4), (7, 7),
        (7, 9), (8, 0), (8, 3), (8, 4), (8, 7)]  # fmt: skip


@pytest.mark.parametrize(
    "scheme, labels, expected",
    [
        ("BIO", ["O", "B-X", "I-X", "B-Y", "I-Y"], BIO),
        ("IOB1", ["O", "B-X", "I-X", "B-Y", "I-Y"], IOB1),
        ("BIOUL", ["O", "B-X", "I-X", "L-X", "U-X", "B-Y", "I-Y", "L-Y", "U-Y"], BIOUL),
        ("BMES", ["B-X", "M-X", "E-X", "S-X", "B-Y", "M-Y", "E-Y", "S-Y"], BMES),
    ],
)
def test_allowed_transitions_are_allennlps(scheme, labels, expected):
    assert crf.allowed_transitions(scheme, labels) == sorted(expected)
    assert crf.allowed_transitions(scheme, dict(enumerate(labels))) == sorted(expected)


def test_bmes_for_word_segmentation():
    pairs = crf.allowed_transitions("BMES", ["B", "M", "E", "S"])
    assert pairs == [
        (0, 1), (0, 2), (1, 1), (1, 2), (2, 0), (2, 3), (2, 5),
        (3, 0), (3, 3), (3, 5), (4, 0), (4, 3),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "scheme, labels, message",
    [
        (
            "BILOU",
            ["O"],
            r"`scheme` must be one of BIO, IOB1, BIOUL, BMES\. Received: scheme='BILOU'",
        ),
        (
            "BIO",
            ["O", "X-PER"],
            r"Label 'X-PER' does not belong to the BIO scheme: labels are a prefix B, I",
        ),
        ("BMES", ["B", "O"], r"Label 'O' does not belong to the BMES scheme"),
        ("BIO", [], r"`labels` must not be empty"),
        ("BIO", "BIO", r"`labels` must be a list of labels or a dict"),
        (
            "BIO",
            {1: "O"},
            r"must map the indices 0 .. num_tags - 1 to labels. Received keys: \[1\]",
        ),
        ("BIO", ["O", 3], r"`labels` must hold strings. Received: 3 of type int"),
    ],
)
def test_allowed_transitions_refuses_what_it_cannot_read(scheme, labels, message):
    with pytest.raises(ValueError, match=message):
        crf.allowed_transitions(scheme, labels)


# -- bad arguments ---------------------------------------------------------------

GOOD = dict(
    inputs=np.zeros((2, 3, 4), "float32"),
    tag_indices=np.zeros((2, 3), "int32"),
    sequence_lengths=np.array([3, 1]),
    transition_params=np.zeros((4, 4), "float32"),
)


@pytest.mark.parametrize(
    "change, error, message",
    [
        (
            {"inputs": np.zeros((2, 3), "float32")},
            ValueError,
            r"`inputs` must be of shape \(batch, time, num_tags\). Received: inputs.shape=\(2, 3\)",
        ),
        (
            {"inputs": np.zeros((2, 3, 4), "int32")},
            TypeError,
            r"`inputs` must be a floating-point tensor .* Received: inputs.dtype=int32",
        ),
        (
            {"inputs": np.zeros((2, 0, 4), "float32")},
            ValueError,
            r"needs at least one time step",
        ),
        (
            {"transition_params": np.zeros((4, 3), "float32")},
            ValueError,
            r"`transition_params` must be of shape \(num_tags, num_tags\) = \(4, 4\).*Received: transition_params.shape=\(4, 3\)",
        ),
        (
            {"sequence_lengths": np.array([3, 4])},
            ValueError,
            r"`sequence_lengths` must hold lengths in \[0, 3\].*Received: sequence_lengths=\[3, 4\]",
        ),
        (
            {"sequence_lengths": np.array([3, -1])},
            ValueError,
            r"Received: sequence_lengths=\[3, -1\]",
        ),
        (
            {"sequence_lengths": np.array([3.0, 1.0])},
            TypeError,
            r"`sequence_lengths` must hold integers",
        ),
        (
            {"sequence_lengths": np.array([3, 1, 1])},
            ValueError,
            r"`sequence_lengths` must be of shape \(batch,\) = \(2,\)",
        ),
        (
            {"tag_indices": np.full((2, 3), 4)},
            ValueError,
            r"`tag_indices` must hold tags in \[0, 4\) at the valid steps. Received: \[4, 4, 4, 4\] at \(row, step\) \[\[0, 0\], \[0, 1\], \[0, 2\], \[1, 0\]\]",
        ),
        (
            {"tag_indices": np.zeros((2, 4), "int32")},
            ValueError,
            r"`tag_indices` must be of shape \(batch, time\) = \(2, 3\)",
        ),
        (
            {"tag_indices": np.zeros((2, 3), "float32")},
            TypeError,
            r"`tag_indices` must hold integer tag indices",
        ),
    ],
)
def test_bad_arguments_are_named(change, error, message):
    arguments = {**GOOD, **change}
    with pytest.raises(error, match=message):
        crf.crf_log_likelihood(**arguments)


def test_tags_at_padded_steps_are_never_checked():
    tags = np.array([[0, 0, 0], [1, -7, 99]])  # row 1 has length 1
    ll, _ = crf.crf_log_likelihood(
        GOOD["inputs"], tags, [3, 1], GOOD["transition_params"]
    )
    np.testing.assert_allclose(as_numpy(ll), -np.log(4) * np.array([3, 1]), rtol=1e-6)


def test_viterbi_decode_checks_its_shapes():
    with pytest.raises(
        ValueError, match=r"`score` must be of shape \(time, num_tags\)"
    ):
        crf.viterbi_decode(np.zeros(3), np.zeros((3, 3)))
    with pytest.raises(
        ValueError,
        match=r"`transition_params` must be of shape \(num_tags, num_tags\) = \(3, 3\)",
    ):
        crf.viterbi_decode(np.zeros((2, 3)), np.zeros((2, 2)))
