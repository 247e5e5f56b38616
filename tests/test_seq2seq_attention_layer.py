"""AttentionWrapper's `attention_layer=` and `attention_fn=` (tfa's names).

The oracle is tensorflow-addons 0.23 (tests/fixtures/
make_tfa_attention_layer.py wrote the fixtures): a Dense attention layer
with a bias and tanh, one layer per mechanism for two mechanisms, and a
custom attention_fn over monotonic attention whose next state is not the
alignments. Then equal outputs for equivalent configurations, the
attention's size from the layer, saving and reloading, and errors.
"""

import pathlib

import keras
import numpy as np
import pytest
from helpers import assert_matches_tfa_run
from keras import ops

import keras_rnnkit
from keras_rnnkit import seq2seq

FIXTURES = np.load(
    pathlib.Path(__file__).with_name("fixtures") / "tfa_attention_layer.npz"
)
LENGTHS = FIXTURES["lengths"]
ATOL = 1e-5


def array(x):
    return np.asarray(ops.convert_to_numpy(x))


def tanh_attention(mechanism, cell_output, attention_state, attention_layer):
    """The fixture's attention_fn (the same in the oracle's TensorFlow)."""
    alignments, _ = mechanism([cell_output, attention_state])
    context = ops.squeeze(ops.matmul(alignments[:, None], mechanism.values), 1)
    attention = ops.tanh(attention_layer(ops.concatenate([cell_output, context], 1)))
    return attention, alignments, 0.5 * (alignments + attention_state)


CASES = {
    "layer_tanh": (
        [(seq2seq.BahdanauAttention, {"units": 5})],
        [(6, "tanh", True)],
        {"alignment_history": True},
        keras.layers.RNN,
    ),
    "layer_multi": (
        [
            (seq2seq.LuongAttention, {"units": 8, "scale": True}),
            (seq2seq.BahdanauAttention, {"units": 5, "normalize": True}),
        ],
        [(4, "tanh", True), (3, None, False)],
        {},
        keras_rnnkit.DynamicRNN,
    ),
    "fn_monotonic": (
        [(seq2seq.LuongMonotonicAttention, {"units": 8, "mode": "recursive"})],
        None,
        {"attention_layer_size": 6, "attention_fn": tanh_attention},
        keras.layers.RNN,
    ),
}


def assign_mechanism(mechanism, prefix):
    found = 0
    for key in FIXTURES.files:
        if key.startswith(prefix + "/"):
            leaf = key[len(prefix) + 1 :]
            if leaf.endswith("/kernel"):
                variable = getattr(mechanism, leaf.split("/")[0]).kernel
            else:
                variable = getattr(mechanism, leaf)
            variable.assign(FIXTURES[key])
            found += 1
    assert found == len(mechanism.weights)


@pytest.mark.parametrize("name", list(CASES))
def test_matches_tfa(name):
    specs, layers, kwargs, rnn = CASES[name]
    mechanisms = [cls(**kw) for cls, kw in specs]
    if layers is not None:
        dense = [
            keras.layers.Dense(units, activation=activation, use_bias=bias)
            for units, activation, bias in layers
        ]
        kwargs = {**kwargs, "attention_layer": dense if len(dense) > 1 else dense[0]}
    cell = seq2seq.AttentionWrapper(
        keras.layers.LSTMCell(8),
        mechanisms if len(mechanisms) > 1 else mechanisms[0],
        **kwargs,
    )
    decoder = seq2seq.WithMemory(rnn(cell, return_sequences=True, return_state=True))
    inputs, memory = FIXTURES[f"{name}/inputs"], FIXTURES[f"{name}/memory"]
    decoder(inputs, memory, memory_sequence_length=LENGTHS)
    for i, mechanism in enumerate(mechanisms):
        assign_mechanism(mechanism, f"{name}/w/mechanism_{i}")
    for leaf in ("kernel", "recurrent_kernel", "bias"):
        getattr(cell.cell, leaf).assign(FIXTURES[f"{name}/w/cell/{leaf}"])
    for i, layer in enumerate(cell.attention_layers):
        for variable in layer.weights:
            variable.assign(FIXTURES[f"{name}/w/attention_layer_{i}/{variable.name}"])
    outputs, *states = decoder(inputs, memory, memory_sequence_length=LENGTHS)
    assert_matches_tfa_run(cell, outputs, states, FIXTURES, name, ATOL, both=True)


# -- equivalent configurations ---------------------------------------------------

RNG = np.random.default_rng(5)
MEMORY = RNG.normal(size=(2, 4, 6)).astype("float32")
INPUTS = RNG.normal(size=(2, 3, 5)).astype("float32")
MEMORY_LENGTHS = np.array([4, 2], "int32")


def decode(like=None, **kwargs):
    """A Bahdanau-wrapped LSTM over the shared memory: (cell, outputs), with
    the weights of the cell `like` when given (the same structure)."""
    cell = seq2seq.AttentionWrapper(
        keras.layers.LSTMCell(4),
        kwargs.pop("mechanism", None) or seq2seq.BahdanauAttention(3),
        **kwargs,
    )
    decoder = seq2seq.WithMemory(keras.layers.RNN(cell, return_sequences=True))
    outputs = decoder(INPUTS, MEMORY, memory_sequence_length=MEMORY_LENGTHS)
    if like is not None:
        assert len(like.weights) == len(cell.weights)
        for source, target in zip(like.weights, cell.weights, strict=True):
            target.assign(source)
        outputs = decoder(INPUTS, MEMORY, memory_sequence_length=MEMORY_LENGTHS)
    return cell, array(outputs)


def default_by_hand(mechanism, cell_output, attention_state, attention_layer):
    # the keyword form of tfa's call, `mechanism(query, state=...)`
    alignments, next_state = mechanism(cell_output, state=attention_state)
    context = ops.einsum("bt,btd->bd", alignments, mechanism.values)
    return attention_layer(ops.concatenate([cell_output, context], -1)), *(
        alignments,
        next_state,
    )


def test_a_dense_attention_layer_and_a_default_attention_fn_change_nothing():
    reference, want = decode(attention_layer_size=5)
    _, got = decode(reference, attention_layer=keras.layers.Dense(5, use_bias=False))
    np.testing.assert_allclose(got, want, atol=1e-6)
    _, got = decode(reference, attention_layer_size=5, attention_fn=default_by_hand)
    np.testing.assert_allclose(got, want, atol=1e-6)
    _, got = decode(
        reference, attention_layer_size=5, attention_fn=seq2seq.compute_attention
    )
    np.testing.assert_array_equal(got, want)


class Doubled(keras.layers.Layer):
    """A layer without compute_output_shape, with a weight: twice its input."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(), initializer="ones")

    def call(self, x):
        return ops.concatenate([x, x], -1) * self.scale


def test_the_attention_size_is_the_layers_output_size():
    # Dense: from compute_output_shape; Doubled: from a symbolic call
    cell, outputs = decode(
        mechanism=[seq2seq.LuongAttention(4), seq2seq.BahdanauAttention(3)],
        attention_layer=[keras.layers.Dense(2), Doubled()],
    )
    assert cell.attention_size == 2 + 2 * (4 + 6)
    assert outputs.shape == (2, 3, 22)
    assert tuple(cell.cell.kernel.shape) == (5 + 22, 16)
    assert len(cell.attention_layers[1].weights) == 1
    scale = cell.attention_layers[1].weights[0]
    assert any(w is scale for w in cell.weights)  # the wrapper's weight


# -- saving ------------------------------------------------------------------------


@keras.saving.register_keras_serializable("test_seq2seq_attention_layer")
def registered_attention(mechanism, cell_output, attention_state, attention_layer):
    return tanh_attention(mechanism, cell_output, attention_state, attention_layer)


def test_keras_file_round_trip(tmp_path):
    memory = keras.Input((None, 6))
    lengths = keras.Input((), dtype="int32")
    inputs = keras.Input((None, 5))
    cell = seq2seq.AttentionWrapper(
        keras.layers.GRUCell(4),
        [seq2seq.LuongAttention(4), seq2seq.BahdanauMonotonicAttention(3)],
        attention_layer=[
            keras.layers.Dense(3, activation="tanh", name="first"),
            keras.layers.Dense(2, use_bias=False, name="second"),
        ],
        attention_fn=registered_attention,
    )
    outputs = seq2seq.WithMemory(keras.layers.RNN(cell, return_sequences=True))(
        inputs, memory, memory_sequence_length=lengths
    )
    model = keras.Model([inputs, memory, lengths], outputs)
    for variable in cell.attention_layers[0].weights:  # not the initial values
        variable.assign(RNG.normal(size=variable.shape).astype("float32"))
    x = [INPUTS, MEMORY, MEMORY_LENGTHS]
    want = model.predict(x, verbose=0)
    config = cell.get_config()
    assert [c["config"]["name"] for c in config["attention_layer"]] == [
        "first",
        "second",
    ]
    model.save(tmp_path / "model.keras")
    again = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), want, atol=1e-6)
    cell_again = again.layers[-1].layer.cell
    assert cell_again.attention_fn is registered_attention
    assert [layer.name for layer in cell_again.attention_layers] == ["first", "second"]
    # one layer, not a list: saved and rebuilt as one
    single = seq2seq.AttentionWrapper(
        keras.layers.GRUCell(4),
        [seq2seq.LuongAttention(4)],
        attention_layer=keras.layers.Dense(3),
    )
    rebuilt = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(single)
    )
    assert rebuilt.get_config() == single.get_config()
    assert isinstance(rebuilt.get_config()["attention_layer"], dict)


def unregistered_attention(mechanism, cell_output, attention_state, attention_layer):
    return seq2seq.compute_attention(
        mechanism, cell_output, attention_state, attention_layer
    )


def test_unregistered_attention_fns_save_as_keras_saves_them():
    def config_of(fn):
        cell = seq2seq.AttentionWrapper(
            keras.layers.GRUCell(4), seq2seq.LuongAttention(4), attention_fn=fn
        )
        return keras.saving.serialize_keras_object(cell)

    with pytest.warns(UserWarning, match="lambda"):  # as keras.layers.Lambda
        config = config_of(
            lambda m, q, s, layer: unregistered_attention(m, q, s, layer)
        )
    with pytest.raises(ValueError, match="attention_fn.*safe_mode=False"):
        keras.saving.deserialize_keras_object(config)
    assert config_of(seq2seq.compute_attention)["config"]["attention_fn"] is None
    config = config_of(unregistered_attention)
    with pytest.raises(ValueError, match="attention_fn.*register_keras_serializable"):
        keras.saving.deserialize_keras_object(config)


# -- errors ------------------------------------------------------------------------


def wrapper(**kwargs):
    mechanisms = kwargs.pop("mechanisms", seq2seq.LuongAttention(4))
    return seq2seq.AttentionWrapper(keras.layers.GRUCell(4), mechanisms, **kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            {"attention_layer_size": 3, "attention_layer": keras.layers.Dense(3)},
            r"Only one of `attention_layer_size` and `attention_layer`.*"
            r"attention_layer_size=3, attention_layer=<Dense",
        ),
        (
            {
                "mechanisms": [seq2seq.LuongAttention(4)] * 2,
                "attention_layer": keras.layers.Dense(3),
            },
            r"`attention_layer` must be one Keras layer per attention mechanism \(2\)",
        ),
        (
            {"mechanisms": [seq2seq.LuongAttention(4)], "attention_layer": [3]},
            r"`attention_layer\[0\]` must be a Keras layer.*attention_layer\[0\]=3",
        ),
        ({"attention_layer": "dense"}, r"`attention_layer` must be a Keras layer"),
        ({"attention_fn": "luong"}, r"`attention_fn` must be None or a function"),
    ],
)
def test_bad_arguments_are_refused_when_created(kwargs, match):
    with pytest.raises(ValueError, match=match):
        wrapper(**kwargs)


def test_an_attention_of_the_wrong_size_is_refused():
    def wrong(mechanism, cell_output, attention_state, attention_layer):
        attention, alignments, state = seq2seq.compute_attention(
            mechanism, cell_output, attention_state, attention_layer
        )
        return attention[:, :2], alignments, state

    with pytest.raises(ValueError, match=r"attention_fn returned an attention of"):
        decode(attention_layer_size=5, attention_fn=wrong)
