"""keras_rnnkit.seq2seq.sequence_loss and SequenceLoss against tensorflow-addons.

Fixtures: tests/fixtures/tfa_attention.npz (written by
tests/fixtures/make_tfa_attention.py with tfa 0.23): every allowed
combination of the four reduction flags, on weights with fractions, zeros
and a row of zeros.
"""

import pathlib

import keras
import numpy as np
import pytest
from keras import ops

from keras_rnnkit import seq2seq

FIXTURES = np.load(pathlib.Path(__file__).with_name("fixtures") / "tfa_attention.npz")
FLAGS = (
    "average_across_timesteps",
    "average_across_batch",
    "sum_over_timesteps",
    "sum_over_batch",
)
LOGITS, TARGETS, WEIGHTS = (
    FIXTURES[f"loss/{k}"] for k in ("logits", "targets", "weights")
)


@pytest.mark.parametrize("index", range(len(FIXTURES["loss/flags"])))
def test_every_reduction_matches_tfa(index):
    flags = dict(zip(FLAGS, map(bool, FIXTURES["loss/flags"][index]), strict=True))
    got = seq2seq.sequence_loss(LOGITS, TARGETS, WEIGHTS, **flags)
    np.testing.assert_allclose(
        ops.convert_to_numpy(got), FIXTURES[f"loss/result_{index}"], atol=1e-5
    )


def test_one_hot_targets_and_the_class_defaults_match_tfa():
    one_hot = np.eye(5, dtype="float32")[TARGETS]
    got = seq2seq.sequence_loss(LOGITS, one_hot, WEIGHTS)
    np.testing.assert_allclose(
        ops.convert_to_numpy(got), FIXTURES["loss/one_hot_default"], atol=1e-5
    )
    loss = seq2seq.SequenceLoss()
    got = loss(TARGETS, LOGITS, WEIGHTS)
    np.testing.assert_allclose(
        ops.convert_to_numpy(got), FIXTURES["loss/class_default"], atol=1e-5
    )
    # the defaults differ: sum(weights) against the count of non-zero weights
    mean = float(ops.convert_to_numpy(seq2seq.sequence_loss(LOGITS, TARGETS, WEIGHTS)))
    assert mean != pytest.approx(float(ops.convert_to_numpy(got)))


def test_without_weights_every_step_counts_and_zero_weights_give_zero():
    ones = np.ones(TARGETS.shape, "float32")
    loss = seq2seq.SequenceLoss()
    np.testing.assert_allclose(
        ops.convert_to_numpy(loss(TARGETS, LOGITS)),
        ops.convert_to_numpy(seq2seq.sequence_loss(LOGITS, TARGETS, ones)),
        rtol=1e-6,
    )
    zeros = np.zeros(TARGETS.shape, "float32")
    assert (
        float(ops.convert_to_numpy(seq2seq.sequence_loss(LOGITS, TARGETS, zeros))) == 0
    )
    # uniform logits: ln(5) per step
    uniform = seq2seq.sequence_loss(np.zeros_like(LOGITS), TARGETS, WEIGHTS)
    assert float(ops.convert_to_numpy(uniform)) == pytest.approx(np.log(5), rel=1e-6)


@pytest.mark.parametrize(
    "flags",
    [
        {"average_across_timesteps": True, "sum_over_timesteps": True},
        {"average_across_batch": True, "sum_over_batch": True},
        {"average_across_batch": True, "sum_over_timesteps": True},
        {
            "average_across_batch": False,
            "sum_over_batch": True,
            "average_across_timesteps": True,
        },
    ],
)
def test_forbidden_combinations_are_refused(flags):
    with pytest.raises(ValueError, match="cannot both be True"):
        seq2seq.sequence_loss(LOGITS, TARGETS, WEIGHTS, **flags)
    with pytest.raises(ValueError, match="cannot both be True"):
        seq2seq.SequenceLoss(
            **{"sum_over_timesteps": False, "sum_over_batch": False, **flags}
        )


def test_bad_ranks_name_the_argument():
    with pytest.raises(ValueError, match="`logits`"):
        seq2seq.sequence_loss(LOGITS[0], TARGETS, WEIGHTS)
    with pytest.raises(ValueError, match="`targets`"):
        seq2seq.sequence_loss(LOGITS, TARGETS[0], WEIGHTS)
    with pytest.raises(ValueError, match="`weights`"):
        seq2seq.sequence_loss(LOGITS, TARGETS, WEIGHTS[0])
    with pytest.raises(ValueError, match="`sum_over_batch`"):
        seq2seq.SequenceLoss(sum_over_batch="yes")


def test_sequence_loss_trains_a_model_with_sample_weights():
    rng = np.random.default_rng(0)
    inputs = keras.Input((4, 3))
    model = keras.Model(inputs, keras.layers.Dense(5)(inputs))
    model.compile("adam", seq2seq.SequenceLoss())
    x = rng.normal(size=(8, 4, 3)).astype("float32")
    y = rng.integers(0, 5, size=(8, 4))
    weights = (rng.random((8, 4)) < 0.7).astype("float32")
    before = model.evaluate(x, y, sample_weight=weights, verbose=0)
    model.fit(x, y, sample_weight=weights, epochs=5, verbose=0)
    assert model.evaluate(x, y, sample_weight=weights, verbose=0) < before
