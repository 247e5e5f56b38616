"""PeepholeLSTMCell and PeepholeLSTM: contract, TF1 oracle, golden numbers."""

import keras
import numpy as np
import pytest
from contract import Case, ContractTests
from helpers import draw_lengths, lstm_variables
from hypothesis import given
from hypothesis import strategies as st

from keras_rnnkit import PeepholeLSTM, PeepholeLSTMCell, tf1


def _cell_layer(**cell_kwargs):
    def make(units, dtype=None, **kwargs):
        cell = PeepholeLSTMCell(units, dtype=dtype, **cell_kwargs)
        return keras.layers.RNN(cell, dtype=dtype, **kwargs)

    return make


class TestPeepholeLSTMContract(ContractTests):
    cases = [
        Case("layer", lambda units, **kw: PeepholeLSTM(units, **kw)),
        Case(
            "layer-proj-clip-sequences-state",
            lambda units, **kw: PeepholeLSTM(
                units,
                num_proj=max(units - 1, 1),
                cell_clip=0.5,
                proj_clip=0.3,
                forget_bias=1.0,
                return_sequences=True,
                return_state=True,
                **kw,
            ),
        ),
        Case(
            "layer-dropout",
            lambda units, **kw: PeepholeLSTM(
                units, dropout=0.3, recurrent_dropout=0.4, seed=3, **kw
            ),
            stochastic=True,
        ),
        Case("cell-in-rnn", _cell_layer(num_proj=2, cell_clip=1.0)),
    ]


# --- TF1 oracle --------------------------------------------------------------


@given(
    data=st.data(),
    units=st.integers(1, 6),
    num_proj=st.one_of(st.none(), st.integers(1, 5)),
    cell_clip=st.one_of(st.none(), st.floats(0.05, 3.0)),
    use_proj_clip=st.booleans(),
    tf1_forget_bias=st.sampled_from([0.0, 1.0, 0.35]),
    kit_forget_bias=st.sampled_from([0.0, 1.0]),
    use_peepholes=st.booleans(),
    batch=st.integers(1, 4),
    timesteps=st.integers(1, 7),
    input_dim=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_matches_tf1_dynamic_rnn(
    tf1_oracle,
    data,
    units,
    num_proj,
    cell_clip,
    use_proj_clip,
    tf1_forget_bias,
    kit_forget_bias,
    use_peepholes,
    batch,
    timesteps,
    input_dim,
    seed,
):
    proj_clip = data.draw(st.floats(0.05, 1.0)) if num_proj and use_proj_clip else None
    lengths = draw_lengths(data, batch, timesteps)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, timesteps, input_dim))
    variables = lstm_variables(rng, input_dim, units, num_proj, use_peepholes)
    want = tf1_oracle(
        "lstm_dynamic_rnn",
        units=units,
        use_peepholes=use_peepholes,
        cell_clip=cell_clip,
        num_proj=num_proj,
        proj_clip=proj_clip,
        forget_bias=tf1_forget_bias,
        inputs=x,
        sequence_length=lengths,
        variables=variables,
    )

    layer = PeepholeLSTM(
        units,
        use_peepholes=use_peepholes,
        cell_clip=cell_clip,
        num_proj=num_proj,
        proj_clip=proj_clip,
        forget_bias=kit_forget_bias,
        return_sequences=True,
        return_state=True,
        zero_output_for_mask=True,
    )
    tf1.set_lstm_weights(layer, variables, forget_bias=tf1_forget_bias)
    mask = np.arange(timesteps)[None, :] < lengths[:, None]
    outputs, h, c = layer(x.astype("float32"), mask=mask)
    for got, name in ((outputs, "outputs"), (h, "h"), (c, "c")):
        got = keras.ops.convert_to_numpy(got)
        np.testing.assert_allclose(got, want[name], rtol=1e-5, atol=1e-5, err_msg=name)
    # And back: the exported variables are the ones TF1 ran with.
    back = tf1.get_lstm_weights(layer, forget_bias=tf1_forget_bias)
    assert sorted(back) == sorted(variables)
    for name, value in variables.items():
        np.testing.assert_allclose(back[name], value, rtol=1e-6, atol=1e-6)


# Recorded from TF1's LSTMCell(2, use_peepholes=True, cell_clip=0.3,
# num_proj=1, proj_clip=0.02, forget_bias=1.0) under dynamic_rnn with
# sequence_length [3, 1] (tests/tf1_oracle.py, float64). Both clips act.
GOLDEN_VARIABLES = {
    "kernel": np.linspace(-0.5, 0.5, 16).reshape(2, 8),
    "bias": np.linspace(-0.2, 0.2, 8),
    "w_i_diag": np.array([0.1, -0.2]),
    "w_f_diag": np.array([0.3, 0.4]),
    "w_o_diag": np.array([-0.5, 0.6]),
    "projection/kernel": np.array([[0.7], [-0.9]]),
}
GOLDEN_INPUTS = np.array([[[1.0], [2.0], [-3.0]], [[0.5], [0.0], [0.0]]])
GOLDEN_OUTPUTS = np.array(
    [
        [[0.0019854766907600116], [0.014601009715499519], [-0.02]],
        [[-0.0033403258258818055], [0.0], [0.0]],
    ]
)
GOLDEN_C = np.array([[0.3, 0.3], [-0.10230003281597769, -0.07263579416994921]])
GOLDEN_H = np.array([[-0.02], [-0.0033403258258818055]])


@pytest.mark.parametrize("kit_forget_bias", [0.0, 1.0])
def test_golden_numbers_from_tf1(kit_forget_bias):
    layer = PeepholeLSTM(
        2,
        cell_clip=0.3,
        num_proj=1,
        proj_clip=0.02,
        forget_bias=kit_forget_bias,
        return_sequences=True,
        return_state=True,
        zero_output_for_mask=True,
    )
    tf1.set_lstm_weights(layer, GOLDEN_VARIABLES, forget_bias=1.0)
    mask = np.array([[True, True, True], [True, False, False]])
    outputs, h, c = layer(GOLDEN_INPUTS.astype("float32"), mask=mask)
    for got, want in ((outputs, GOLDEN_OUTPUTS), (h, GOLDEN_H), (c, GOLDEN_C)):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(got), want, atol=1e-6)


# --- against Keras's own LSTM ------------------------------------------------


@given(
    units=st.integers(1, 6),
    input_dim=st.integers(1, 5),
    batch=st.integers(1, 3),
    timesteps=st.integers(1, 6),
    go_backwards=st.booleans(),
)
def test_without_peepholes_equals_keras_lstm(
    units, input_dim, batch, timesteps, go_backwards
):
    x = np.random.default_rng(units).normal(size=(batch, timesteps, input_dim))
    x = x.astype("float32")
    kit = PeepholeLSTM(
        units, use_peepholes=False, return_sequences=True, go_backwards=go_backwards
    )
    ref = keras.layers.LSTM(units, return_sequences=True, go_backwards=go_backwards)
    want = ref(x)
    kit.build(x.shape)
    kit.set_weights(ref.get_weights())
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(kit(x)), want, rtol=1e-5, atol=1e-6
    )


def test_cell_without_peepholes_equals_keras_lstm_cell_with_same_initial_bias():
    # Same initializer seeds: the unit forget bias lands in the same place.
    kit = PeepholeLSTMCell(
        3, use_peepholes=False, kernel_initializer="ones", recurrent_initializer="zeros"
    )
    ref = keras.layers.LSTMCell(
        3, kernel_initializer="ones", recurrent_initializer="zeros"
    )
    kit.build((None, 2))
    ref.build((None, 2))
    for a, b in zip(kit.weights, ref.weights, strict=True):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b)
        )
    x = np.ones((1, 2), "float32")
    states = [np.full((1, 3), 0.5, "float32")] * 2
    out_kit, _ = kit(x, states)
    out_ref, _ = ref(x, states)
    np.testing.assert_allclose(out_kit, out_ref, rtol=1e-6)


def test_peepholes_change_the_output():
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    with_p = PeepholeLSTM(4, peephole_initializer="ones")
    without = PeepholeLSTM(4, use_peepholes=False)
    without.build(x.shape)
    with_p.build(x.shape)
    with_p.set_weights(without.get_weights() + [np.ones(4, "float32")] * 3)
    assert not np.allclose(with_p(x), without(x), atol=1e-3)


@pytest.mark.tf_only
def test_gradients_match_finite_differences_float64():
    import tensorflow as tf

    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 4, 3))
    layer = PeepholeLSTM(
        3,
        num_proj=2,
        cell_clip=2.5,
        forget_bias=0.5,
        dtype="float64",
        return_sequences=True,
        bias_initializer="random_normal",
    )
    layer.build(x.shape)
    probe = rng.normal(size=(2, 4, 2))

    def loss():
        return tf.reduce_sum(layer(x) * probe)

    with tf.GradientTape() as tape:
        value = loss()
    grads = tape.gradient(value, [w.value for w in layer.trainable_weights])
    eps = 1e-6
    for weight, grad in zip(layer.trainable_weights, grads, strict=True):
        base = keras.ops.convert_to_numpy(weight).copy()
        flat = base.reshape(-1)
        for index in rng.choice(flat.size, size=min(5, flat.size), replace=False):
            shifted = []
            for sign in (1, -1):
                trial = flat.copy()
                trial[index] += sign * eps
                weight.assign(trial.reshape(base.shape))
                shifted.append(float(loss()))
            weight.assign(base)
            numeric = (shifted[0] - shifted[1]) / (2 * eps)
            analytic = grad.numpy().reshape(-1)[index]
            np.testing.assert_allclose(
                analytic,
                numeric,
                rtol=1e-6,
                atol=1e-8,
                err_msg=f"{weight.path}[{index}]",
            )


# --- bad input -----------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"units": 0}, r"`units` must be a positive integer. Received: units=0"),
        ({"units": -3}, r"units=-3"),
        ({"units": 2.5}, r"units=2.5"),
        ({"units": True}, r"units=True"),
        (
            {"units": 4, "num_proj": 0},
            r"`num_proj` must be a positive integer or None. Received: num_proj=0",
        ),
        (
            {"units": 4, "cell_clip": 0.0},
            r"`cell_clip` must be a finite number > 0 or None. Received: cell_clip=0.0",
        ),
        ({"units": 4, "cell_clip": -1}, r"cell_clip=-1"),
        ({"units": 4, "cell_clip": float("nan")}, r"cell_clip=nan"),
        ({"units": 4, "num_proj": 2, "proj_clip": -0.5}, r"proj_clip=-0.5"),
        (
            {"units": 4, "proj_clip": 1.0},
            r"`proj_clip` needs `num_proj`.*proj_clip=1.0, num_proj=None",
        ),
        (
            {"units": 4, "dropout": 1.0},
            r"`dropout` must be a float in \[0, 1\). Received: dropout=1.0",
        ),
        ({"units": 4, "dropout": -0.1}, r"dropout=-0.1"),
        ({"units": 4, "recurrent_dropout": 1.5}, r"recurrent_dropout=1.5"),
        (
            {"units": 4, "forget_bias": float("inf")},
            r"`forget_bias` must be a finite number",
        ),
        (
            {"units": 4, "use_peepholes": "yes"},
            r"`use_peepholes` must be True or False",
        ),
    ],
)
@pytest.mark.parametrize("cls", [PeepholeLSTMCell, PeepholeLSTM])
def test_bad_arguments_are_named(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


def test_wrong_input_rank_is_refused():
    with pytest.raises(ValueError, match=r"expected ndim=3, found ndim=2"):
        PeepholeLSTM(3)(np.zeros((2, 4), "float32"))
    with pytest.raises(
        ValueError, match=r"expects step inputs of shape \(batch, features\)"
    ):
        keras.layers.RNN(PeepholeLSTMCell(3))(np.zeros((2, 4, 5, 1), "float32"))


def test_integer_inputs_are_refused():
    with pytest.raises(TypeError, match=r"expects floating-point `sequences`.*int32"):
        PeepholeLSTM(3)(np.zeros((2, 4, 1), "int32"))


def test_mask_must_match_the_inputs():
    with pytest.raises(
        ValueError,
        match=r"`mask` of shape \(batch, timesteps\) = \(2, 4\).*mask.shape=\(2, 5\)",
    ):
        PeepholeLSTM(3)(np.zeros((2, 4, 1), "float32"), mask=np.ones((2, 5), bool))
    with pytest.raises(ValueError, match=r"mask.shape=\(2, 4, 1\)"):
        PeepholeLSTM(3)(np.zeros((2, 4, 1), "float32"), mask=np.ones((2, 4, 1), bool))
