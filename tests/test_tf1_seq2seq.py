"""keras_rnnkit.tf1.load_checkpoint into seq2seq attention decoders.

The checkpoints are written here as TF1 wrote them: `tf.compat.v1`
variables created by name in graph mode and saved with `Saver`, with the
names and shapes of TF 1.15's `tf.contrib.seq2seq` under tensorflow/nmt's
scopes (nmt/model_test.py's expected variable names: the decoder scope
`dynamic_seq2seq/decoder` holds `memory_layer/kernel`, the wrapper named
`attention` holds the cell, the mechanism's scope and `attention_layer`),
plus what a trained model also holds (an encoder, embeddings, the output
projection, Adam slots, `global_step`).
"""

import keras
import numpy as np
import pytest

import keras_rnnkit
from keras_rnnkit import tf1
from keras_rnnkit.seq2seq import (
    AttentionWrapper,
    BahdanauAttention,
    BahdanauMonotonicAttention,
    LuongAttention,
    WithMemory,
)
from keras_rnnkit.tf1._lstm import reorder_gates

tf = pytest.importorskip("tensorflow")

S = "dynamic_seq2seq/decoder"
W = S + "/attention"
IN, MEM, T = 3, 6, 4  # decoder input depth, memory depth, memory steps


def _save(prefix, variables):
    """A TF1 checkpoint holding `variables` and their Adam slots."""
    v1 = tf.compat.v1
    graph = v1.Graph()
    with graph.as_default():
        for name, value in variables.items():
            value = np.asarray(value, np.float32)
            v1.get_variable(name, initializer=tf.constant(value))
            for slot in ("Adam", "Adam_1"):
                v1.get_variable(f"{name}/{slot}", initializer=tf.zeros(value.shape))
        v1.get_variable("global_step", initializer=tf.constant(7, tf.int64))
        v1.get_variable("beta1_power", initializer=tf.constant(0.9))
        saver = v1.train.Saver()
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            return saver.save(session, str(prefix))


def _decoder(cell, mechanisms, layer_size, rnn=keras_rnnkit.DynamicRNN):
    wrapper = AttentionWrapper(cell, mechanisms, attention_layer_size=layer_size)
    decoder = WithMemory(rnn(wrapper, return_sequences=True))
    rng = np.random.default_rng(1)
    inputs = rng.normal(size=(2, 5, IN)).astype("float32")
    memory = rng.normal(size=(2, T, MEM)).astype("float32")
    decoder(inputs, memory)
    return decoder, wrapper, (inputs, memory)


def _numpy(variable):
    return np.array(keras.ops.convert_to_numpy(variable), "float64")


def _weights(layer):
    return [_numpy(w) for w in layer.weights]


def _other_parts(rng, units, vocab=11):
    """What else an nmt checkpoint holds: encoder, embeddings, projection."""
    return {
        "dynamic_seq2seq/encoder/embedding_encoder": rng.normal(size=(vocab, IN)),
        "dynamic_seq2seq/decoder/embedding_decoder": rng.normal(size=(vocab, IN)),
        "dynamic_seq2seq/encoder/rnn/basic_lstm_cell/kernel": rng.normal(
            size=(IN + MEM, 4 * MEM)
        ),
        "dynamic_seq2seq/encoder/rnn/basic_lstm_cell/bias": rng.normal(size=4 * MEM),
        f"{S}/output_projection/kernel": rng.normal(size=(units, vocab)),
    }


def _check_lstm(cell, kernel, bias, input_dim, forget_bias=1.0):
    got = np.concatenate([_numpy(cell.kernel), _numpy(cell.recurrent_kernel)])
    np.testing.assert_allclose(reorder_gates(got), kernel, rtol=1e-6, atol=1e-6)
    want = reorder_gates(bias)
    units = cell.units
    want[units : 2 * units] += forget_bias  # keras's LSTMCell has none
    np.testing.assert_allclose(_numpy(cell.bias), want, rtol=1e-6, atol=1e-6)
    assert cell.kernel.shape[0] == input_dim


def test_an_nmt_bahdanau_lstm_decoder_loads(tmp_path):
    units, att, size = 5, 4, 7
    rng = np.random.default_rng(0)
    ours = {
        f"{S}/memory_layer/kernel": rng.normal(size=(MEM, att)),
        f"{W}/basic_lstm_cell/kernel": rng.normal(size=(IN + size + units, 4 * units)),
        f"{W}/basic_lstm_cell/bias": rng.normal(size=4 * units),
        f"{W}/bahdanau_attention/query_layer/kernel": rng.normal(size=(units, att)),
        f"{W}/bahdanau_attention/attention_v": rng.normal(size=att),
        f"{W}/attention_layer/kernel": rng.normal(size=(units + MEM, size)),
    }
    path = _save(tmp_path / "nmt.ckpt", {**ours, **_other_parts(rng, size)})
    decoder, wrapper, (inputs, memory) = _decoder(
        keras.layers.LSTMCell(units), BahdanauAttention(att), size
    )
    loaded = tf1.load_checkpoint(decoder, path)  # the scope found by itself
    assert sorted(loaded) == sorted(ours)
    mechanism = wrapper.attention_mechanisms[0]
    pairs = {
        f"{S}/memory_layer/kernel": mechanism.memory_layer.kernel,
        f"{W}/bahdanau_attention/query_layer/kernel": mechanism.query_layer.kernel,
        f"{W}/bahdanau_attention/attention_v": mechanism.attention_v,
        f"{W}/attention_layer/kernel": wrapper.attention_layers[0].kernel,
    }
    for name, variable in pairs.items():
        assert loaded[name] == [variable.path]
        np.testing.assert_allclose(_numpy(variable), ours[name], rtol=1e-6)
    _check_lstm(
        wrapper.cell,
        ours[f"{W}/basic_lstm_cell/kernel"],
        ours[f"{W}/basic_lstm_cell/bias"],
        IN + size,
    )
    # the same with scope= given, and the RNN layer itself as the target
    assert tf1.load_checkpoint(decoder.layer, path, scope=S + "/") == loaded
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(decoder(inputs, memory))))


def test_two_mechanisms_gru_normalized_scaled_monotonic(tmp_path):
    """Two mechanisms (TF1 numbers the second memory layer and attention
    layer `_1`), a GRU cell, in keras.layers.RNN, the wrapper without
    nmt's name (TF1's default `attention_wrapper`), no scope around it."""
    units, att, sizes = 4, 3, (5, 2)
    w = "attention_wrapper"
    rng = np.random.default_rng(2)
    cell_in = IN + sum(sizes)
    ours = {
        "memory_layer/kernel": rng.normal(size=(MEM, att)),
        "memory_layer_1/kernel": rng.normal(size=(MEM, units)),
        f"{w}/gru_cell/gates/kernel": rng.normal(size=(cell_in + units, 2 * units)),
        f"{w}/gru_cell/gates/bias": rng.normal(size=2 * units),
        f"{w}/gru_cell/candidate/kernel": rng.normal(size=(cell_in + units, units)),
        f"{w}/gru_cell/candidate/bias": rng.normal(size=units),
        f"{w}/bahdanau_monotonic_attention/query_layer/kernel": rng.normal(
            size=(units, att)
        ),
        f"{w}/bahdanau_monotonic_attention/attention_v": rng.normal(size=att),
        f"{w}/bahdanau_monotonic_attention/attention_g": rng.normal(size=()),
        f"{w}/bahdanau_monotonic_attention/attention_b": rng.normal(size=att),
        f"{w}/bahdanau_monotonic_attention/attention_score_bias": rng.normal(size=()),
        f"{w}/luong_attention/attention_g": rng.normal(size=()),
        f"{w}/attention_layer/kernel": rng.normal(size=(units + MEM, sizes[0])),
        f"{w}/attention_layer_1/kernel": rng.normal(size=(units + MEM, sizes[1])),
    }
    path = _save(tmp_path / "two.ckpt", ours)
    decoder, wrapper, _ = _decoder(
        keras.layers.GRUCell(units, reset_after=False),
        [
            BahdanauMonotonicAttention(att, normalize=True),
            LuongAttention(units, scale=True),
        ],
        list(sizes),
        rnn=keras.layers.RNN,
    )
    loaded = tf1.load_checkpoint(decoder, path)
    assert sorted(loaded) == sorted(ours)
    first, second = wrapper.attention_mechanisms
    b = f"{w}/bahdanau_monotonic_attention/"
    pairs = {
        "memory_layer/kernel": first.memory_layer.kernel,
        "memory_layer_1/kernel": second.memory_layer.kernel,
        b + "query_layer/kernel": first.query_layer.kernel,
        b + "attention_v": first.attention_v,
        b + "attention_g": first.attention_g,
        b + "attention_b": first.attention_b,
        b + "attention_score_bias": first.attention_score_bias,
        f"{w}/luong_attention/attention_g": second.attention_g,
        f"{w}/attention_layer/kernel": wrapper.attention_layers[0].kernel,
        f"{w}/attention_layer_1/kernel": wrapper.attention_layers[1].kernel,
    }
    for name, variable in pairs.items():
        assert loaded[name] == [variable.path]
        np.testing.assert_allclose(_numpy(variable), ours[name], rtol=1e-6)
    # every GRU weight written (the GRU mapping itself: test_tf1_checkpoint)
    assert {p for ps in loaded.values() for p in ps} == {
        v.path for v in decoder.weights
    }


def _bahdanau_variables(rng, units=5, att=4, size=7, luong_scale=False):
    return {
        f"{S}/memory_layer/kernel": rng.normal(size=(MEM, att)),
        f"{W}/lstm_cell/kernel": rng.normal(size=(IN + size + units, 4 * units)),
        f"{W}/lstm_cell/bias": rng.normal(size=4 * units),
        f"{W}/bahdanau_attention/query_layer/kernel": rng.normal(size=(units, att)),
        f"{W}/bahdanau_attention/attention_v": rng.normal(size=att),
        f"{W}/attention_layer/kernel": rng.normal(size=(units + MEM, size)),
    }


def _misfits():
    rng = np.random.default_rng(3)
    base = _bahdanau_variables(rng)
    shape = {**base, f"{W}/attention_layer/kernel": rng.normal(size=(5 + MEM, 8))}
    missing = {k: v for k, v in base.items() if not k.endswith("attention_v")}
    extra = {**base, f"{W}/bahdanau_attention/attention_g": np.array(0.5)}
    return [
        (
            shape,
            r"'dynamic_seq2seq/decoder/attention/attention_layer/kernel' has shape "
            r"\(11, 8\); the target needs \(11, 7\)",
        ),
        (
            missing,
            r"missing variable 'dynamic_seq2seq/decoder/attention/"
            r"bahdanau_attention/attention_v'.*BahdanauAttention",
        ),
        (
            extra,
            r"left-over variable 'dynamic_seq2seq/decoder/attention/"
            r"bahdanau_attention/attention_g'",
        ),
    ]


@pytest.mark.parametrize(
    "variables, match", _misfits(), ids=["shape", "missing", "left-over"]
)
def test_a_misfit_is_named_and_nothing_is_written(tmp_path, variables, match):
    path = _save(tmp_path / "bad.ckpt", variables)
    decoder, _, _ = _decoder(keras_rnnkit.PeepholeLSTMCell(5), BahdanauAttention(4), 7)
    before = _weights(decoder)
    with pytest.raises(ValueError, match=match):
        tf1.load_checkpoint(decoder, path, scope=S)
    for old, new in zip(before, _weights(decoder), strict=True):
        np.testing.assert_array_equal(old, new)


def test_a_decoder_with_its_own_attention_layer_is_named(tmp_path):
    # TF1 checkpoints hold the layers of attention_layer_size; a user's
    # attention_layer is refused by name, and nothing is written.
    path = _save(tmp_path / "nmt.ckpt", _bahdanau_variables(np.random.default_rng(4)))
    wrapper = AttentionWrapper(
        keras_rnnkit.PeepholeLSTMCell(5),
        BahdanauAttention(4),
        attention_layer=keras.layers.Dense(7, use_bias=False),
    )
    decoder = WithMemory(keras_rnnkit.DynamicRNN(wrapper, return_sequences=True))
    rng = np.random.default_rng(1)
    decoder(
        rng.normal(size=(2, 5, IN)).astype("float32"),
        rng.normal(size=(2, T, MEM)).astype("float32"),
    )
    before = _weights(decoder)
    with pytest.raises(
        ValueError, match=r"its own `attention_layer`.*attention_layer_size"
    ):
        tf1.load_checkpoint(decoder, path, scope=S)
    for old, new in zip(before, _weights(decoder), strict=True):
        np.testing.assert_array_equal(old, new)


def test_the_decoder_scope_is_found_or_asked_for(tmp_path):
    rng = np.random.default_rng(4)
    variables = {
        **_bahdanau_variables(rng),
        **{
            k.replace("dynamic_seq2seq", "other"): v
            for k, v in _bahdanau_variables(rng).items()
        },
    }
    path = _save(tmp_path / "both.ckpt", variables)
    decoder, wrapper, _ = _decoder(
        keras_rnnkit.PeepholeLSTMCell(5, use_peepholes=False), BahdanauAttention(4), 7
    )
    before = _weights(decoder)
    with pytest.raises(ValueError, match=r"2 places.*'other/decoder'.*scope="):
        tf1.load_checkpoint(decoder, path)
    for old, new in zip(before, _weights(decoder), strict=True):
        np.testing.assert_array_equal(old, new)
    loaded = tf1.load_checkpoint(decoder, path, scope="other/decoder")
    assert all(name.startswith("other/decoder/") for name in loaded)
    np.testing.assert_allclose(
        _numpy(wrapper.attention_mechanisms[0].attention_v),
        variables["other/decoder/attention/bahdanau_attention/attention_v"],
        rtol=1e-6,
    )
    with pytest.raises(ValueError, match=r"Nothing in the checkpoint fits"):
        smaller, _, _ = _decoder(keras.layers.LSTMCell(5), BahdanauAttention(3), 7)
        tf1.load_checkpoint(smaller, path)


# -- a TF1-named checkpoint of tensorflow-addons' weights computes its outputs --

_KIND = {
    "BahdanauAttention": "bahdanau_attention",
    "LuongAttention": "luong_attention",
    "BahdanauMonotonicAttention": "bahdanau_monotonic_attention",
    "LuongMonotonicAttention": "luong_monotonic_attention",
}


def _tf1_names_of_fixture(name, specs):
    """The tfa fixture's weights as TF1's contrib.seq2seq named them in nmt
    (LSTM: `BasicLSTMCell`, one kernel over [x, h], gates i, j, f, o, the
    bias without its run-time forget_bias of 1)."""
    from test_seq2seq_attention import FIXTURES

    w = f"{name}/w/"
    kernel = np.concatenate(
        [FIXTURES[w + "cell/kernel"], FIXTURES[w + "cell/recurrent_kernel"]]
    )
    bias = np.array(FIXTURES[w + "cell/bias"], "float64")
    bias[8:16] -= 1.0  # keras's forget block = TF1's bias + forget_bias
    variables = {
        f"{W}/basic_lstm_cell/kernel": reorder_gates(kernel),
        f"{W}/basic_lstm_cell/bias": reorder_gates(bias),
    }
    for i, (cls, _) in enumerate(specs):
        prefix = f"{w}mechanism_{i}/"
        for key in FIXTURES.files:
            if not key.startswith(prefix):
                continue
            leaf = key[len(prefix) :]
            if leaf == "memory_layer/kernel":
                tf1_name = f"{S}/memory_layer{'_1' if i else ''}/kernel"
            else:
                tf1_name = f"{W}/{_KIND[cls.__name__]}/{leaf}"
            variables[tf1_name] = FIXTURES[key]
    for i in range(len(specs)):
        key = f"{w}attention_layer_{i}/kernel"
        if key in FIXTURES.files:
            suffix = f"_{i}" if i else ""
            variables[f"{W}/attention_layer{suffix}/kernel"] = FIXTURES[key]
    return variables


@pytest.mark.parametrize(
    "name",
    [
        "wrapper_bahdanau",
        "wrapper_luong_no_layer",
        "wrapper_monotonic",
        "wrapper_multi",
    ],
)
def test_a_tf1_checkpoint_of_tfa_weights_computes_tfa_outputs(tmp_path, name):
    from test_seq2seq_attention import ATOL, FIXTURES, LENGTHS, WRAPPERS

    specs, kwargs = WRAPPERS[name]
    variables = _tf1_names_of_fixture(name, specs)
    rng = np.random.default_rng(5)
    path = _save(tmp_path / "tfa.ckpt", {**variables, **_other_parts(rng, 6)})
    mechanisms = [cls(**kw) for cls, kw in specs]
    cell = AttentionWrapper(
        keras.layers.LSTMCell(8),
        mechanisms if len(mechanisms) > 1 else mechanisms[0],
        **kwargs,
    )
    decoder = WithMemory(keras_rnnkit.DynamicRNN(cell, return_sequences=True))
    inputs, memory = FIXTURES[f"{name}/inputs"], FIXTURES[f"{name}/memory"]
    decoder(inputs, memory, memory_sequence_length=LENGTHS)
    loaded = tf1.load_checkpoint(decoder, path)
    assert sorted(loaded) == sorted(variables)
    outputs = keras.ops.convert_to_numpy(
        decoder(inputs, memory, memory_sequence_length=LENGTHS)
    )
    if cell.alignment_history:
        outputs, _ = cell.split_alignment_history(outputs)
    np.testing.assert_allclose(outputs, FIXTURES[f"{name}/outputs"], atol=ATOL)


def test_a_model_gets_its_decoder_and_output_projection(tmp_path):
    units, att, size, vocab = 5, 4, 7, 11
    rng = np.random.default_rng(6)
    ours = {
        **_bahdanau_variables(rng, units, att, size),
        f"{S}/output_projection/kernel": rng.normal(size=(size, vocab)),
    }
    others = {k: v for k, v in _other_parts(rng, size).items() if k not in ours}
    path = _save(tmp_path / "model.ckpt", {**ours, **others})
    inputs = keras.Input((None, IN))
    memory = keras.Input((None, MEM))
    cell = AttentionWrapper(
        keras_rnnkit.PeepholeLSTMCell(units, use_peepholes=False),
        BahdanauAttention(att),
        attention_layer_size=size,
    )
    outputs = WithMemory(keras_rnnkit.DynamicRNN(cell, return_sequences=True))(
        inputs, memory
    )
    projection = keras.layers.Dense(vocab, use_bias=False, name="output_projection")
    model = keras.Model([inputs, memory], projection(outputs))
    loaded = tf1.load_checkpoint(model, path)
    assert sorted(loaded) == sorted(ours)
    name = f"{S}/output_projection/kernel"
    assert loaded[name] == [projection.kernel.path]
    np.testing.assert_allclose(_numpy(projection.kernel), ours[name], rtol=1e-6)
    # a projection of another size: named, nothing written
    other = keras.Model(
        [inputs, memory],
        keras.layers.Dense(3, use_bias=False, name="output_projection")(outputs),
    )
    before = _weights(other)
    with pytest.raises(ValueError, match=r"output_projection/kernel' has shape"):
        tf1.load_checkpoint(other, path, scope=S)
    for old, new in zip(before, _weights(other), strict=True):
        np.testing.assert_array_equal(old, new)


def test_an_unbuilt_decoder_is_named(tmp_path):
    path = _save(tmp_path / "one.ckpt", _bahdanau_variables(np.random.default_rng(7)))
    wrapper = AttentionWrapper(keras.layers.LSTMCell(5), BahdanauAttention(4), 7)
    decoder = WithMemory(keras_rnnkit.DynamicRNN(wrapper))
    with pytest.raises(ValueError, match=r"AttentionWrapper .* is not built yet"):
        tf1.load_checkpoint(decoder, path, scope=S)
