"""keras_rnnkit.seq2seq attention: mechanisms, AttentionWrapper, WithMemory.

The oracle is tensorflow-addons 0.23 itself (tests/fixtures/
make_tfa_attention.py, run in its own environment, wrote the fixtures):
every mechanism (normalized, scaled, hardmax, the three monotonic modes)
with memory lengths, their gradients, and AttentionWrapper over an LSTM
cell (attention layer, alignment history, output_attention off, two
mechanisms). Then the properties tfa did not have: padded memory gets
exactly zero weight and NaN there changes nothing, fit under jit, .keras
reload, thread-safe binding, errors.
"""

import pathlib
import re
import threading

import keras
import numpy as np
import pytest
from crf_oracle import gradients
from helpers import assert_matches_tfa_run
from hypothesis import given, settings
from hypothesis import strategies as st
from keras import ops

import keras_rnnkit
from keras_rnnkit import cell_protocol, seq2seq

FIXTURES = np.load(pathlib.Path(__file__).with_name("fixtures") / "tfa_attention.npz")
LENGTHS = FIXTURES["lengths"]
ATOL = 1e-5

MECHANISMS = {
    "bahdanau": (seq2seq.BahdanauAttention, {"units": 4}),
    "bahdanau_normalize": (seq2seq.BahdanauAttention, {"units": 4, "normalize": True}),
    "bahdanau_hardmax": (
        seq2seq.BahdanauAttention,
        {"units": 4, "probability_fn": "hardmax"},
    ),
    "luong": (seq2seq.LuongAttention, {"units": 4}),
    "luong_scale": (seq2seq.LuongAttention, {"units": 4, "scale": True}),
    "bahdanau_monotonic_parallel": (
        seq2seq.BahdanauMonotonicAttention,
        {"units": 4, "mode": "parallel", "score_bias_init": -0.5},
    ),
    "bahdanau_monotonic_recursive": (
        seq2seq.BahdanauMonotonicAttention,
        {"units": 4, "mode": "recursive", "normalize": True},
    ),
    "bahdanau_monotonic_hard": (
        seq2seq.BahdanauMonotonicAttention,
        {"units": 4, "mode": "hard"},
    ),
    "luong_monotonic_parallel": (
        seq2seq.LuongMonotonicAttention,
        {"units": 4, "mode": "parallel", "scale": True},
    ),
    "luong_monotonic_recursive": (
        seq2seq.LuongMonotonicAttention,
        {"units": 4, "mode": "recursive", "score_bias_init": 0.5},
    ),
    "luong_monotonic_hard": (
        seq2seq.LuongMonotonicAttention,
        {"units": 4, "mode": "hard"},
    ),
}


def array(x):
    return np.asarray(ops.convert_to_numpy(x))


def set_mechanism_weights(mechanism, prefix):
    """Assigns the fixture's weights (TF1/tfa leaf names) to `mechanism`."""
    found = 0
    for key in FIXTURES.files:
        if not key.startswith(prefix + "/"):
            continue
        leaf = key[len(prefix) + 1 :]
        if leaf.endswith("/kernel"):
            variable = getattr(mechanism, leaf.split("/")[0]).kernel
        else:
            variable = getattr(mechanism, leaf)
        variable.assign(FIXTURES[key])
        found += 1
    assert found == len(mechanism.weights)


def build_mechanism(name):
    cls, kwargs = MECHANISMS[name]
    mechanism = cls(**kwargs)
    mechanism(FIXTURES[f"{name}/query"], FIXTURES[f"{name}/memory"])
    set_mechanism_weights(mechanism, f"{name}/w")
    return mechanism


# -- tfa parity: mechanisms ------------------------------------------------------


@pytest.mark.parametrize("name", list(MECHANISMS))
def test_mechanism_matches_tfa(name):
    mechanism = build_mechanism(name)
    state = FIXTURES[f"{name}/state"]
    weights_out = FIXTURES[f"{name}/weights_out"]
    alignments, next_state = mechanism(
        FIXTURES[f"{name}/query"],
        FIXTURES[f"{name}/memory"],
        state=state,
        memory_sequence_length=LENGTHS,
    )
    np.testing.assert_allclose(
        array(alignments), FIXTURES[f"{name}/alignments"], atol=ATOL
    )
    np.testing.assert_allclose(
        array(next_state), FIXTURES[f"{name}/next_state"], atol=ATOL
    )
    if "hard" in name:
        return  # no gradient: a one-hot of the scores

    def weighted(memory, query):
        got, _ = mechanism(query, memory, state=state, memory_sequence_length=LENGTHS)
        return got * ops.convert_to_tensor(weights_out)

    _, (grad_memory, grad_query) = gradients(
        weighted, FIXTURES[f"{name}/memory"], FIXTURES[f"{name}/query"]
    )
    np.testing.assert_allclose(grad_memory, FIXTURES[f"{name}/grad_memory"], atol=ATOL)
    np.testing.assert_allclose(grad_query, FIXTURES[f"{name}/grad_query"], atol=ATOL)


# -- tfa parity: AttentionWrapper ------------------------------------------------

WRAPPERS = {
    "wrapper_bahdanau": (
        [(seq2seq.BahdanauAttention, {"units": 5})],
        {"attention_layer_size": 6, "alignment_history": True},
    ),
    "wrapper_luong_no_layer": (
        [(seq2seq.LuongAttention, {"units": 8, "scale": True})],
        {"output_attention": False},
    ),
    "wrapper_monotonic": (
        [(seq2seq.BahdanauMonotonicAttention, {"units": 5, "mode": "recursive"})],
        {"attention_layer_size": 6, "alignment_history": True},
    ),
    "wrapper_multi": (
        [
            (seq2seq.BahdanauAttention, {"units": 5, "normalize": True}),
            (seq2seq.LuongMonotonicAttention, {"units": 8, "mode": "parallel"}),
        ],
        {"attention_layer_size": [6, 3], "alignment_history": True},
    ),
}


def build_decoder(name, rnn=keras.layers.RNN):
    """The fixture's wrapper in `rnn` under `WithMemory`, with its weights."""
    specs, kwargs = WRAPPERS[name]
    mechanisms = [cls(**kw) for cls, kw in specs]
    cell = seq2seq.AttentionWrapper(
        keras.layers.LSTMCell(8),
        mechanisms if len(mechanisms) > 1 else mechanisms[0],
        **kwargs,
    )
    decoder = seq2seq.WithMemory(rnn(cell, return_sequences=True, return_state=True))
    decoder(
        FIXTURES[f"{name}/inputs"],
        FIXTURES[f"{name}/memory"],
        memory_sequence_length=LENGTHS,
    )
    for i, mechanism in enumerate(mechanisms):
        set_mechanism_weights(mechanism, f"{name}/w/mechanism_{i}")
    for leaf in ("kernel", "recurrent_kernel", "bias"):
        getattr(cell.cell, leaf).assign(FIXTURES[f"{name}/w/cell/{leaf}"])
    for i, layer in enumerate(cell.attention_layers or []):
        layer.kernel.assign(FIXTURES[f"{name}/w/attention_layer_{i}/kernel"])
    return decoder, cell


@pytest.mark.parametrize(
    "name, rnn",
    [
        ("wrapper_bahdanau", keras.layers.RNN),
        ("wrapper_luong_no_layer", keras_rnnkit.DynamicRNN),
        ("wrapper_monotonic", keras_rnnkit.DynamicRNN),
        ("wrapper_multi", keras.layers.RNN),
    ],
)
def test_attention_wrapper_matches_tfa(name, rnn):
    decoder, cell = build_decoder(name, rnn)
    outputs, *states = decoder(
        FIXTURES[f"{name}/inputs"],
        FIXTURES[f"{name}/memory"],
        memory_sequence_length=LENGTHS,
    )
    assert_matches_tfa_run(cell, outputs, states, FIXTURES, name, ATOL)


def test_decoder_lengths_and_initial_cell_state_reach_the_loop():
    name = "wrapper_luong_no_layer"  # outputs: the LSTM's h
    decoder, cell = build_decoder(name, keras_rnnkit.DynamicRNN)
    inputs, memory = FIXTURES[f"{name}/inputs"], FIXTURES[f"{name}/memory"]
    rng = np.random.default_rng(3)
    h0, c0 = rng.normal(size=(2, 3, 8)).astype("float32")
    outputs, *states = decoder(
        inputs,
        memory,
        memory_sequence_length=LENGTHS,
        initial_cell_state=[h0, c0],
        sequence_length=np.array([4, 2, 0]),
    )
    outputs, states = array(outputs), [array(s) for s in states]
    assert np.all(outputs[1, 2:] == 0) and np.all(outputs[2] == 0)
    np.testing.assert_array_equal(states[0][2], h0[2])  # length 0: the start
    np.testing.assert_array_equal(states[1][2], c0[2])
    # the same first step by hand
    with cell.bind_memory(memory, LENGTHS, initial_cell_state=[h0, c0]):
        state = cell.get_initial_state(batch_size=3)
        first, _ = cell(ops.convert_to_tensor(inputs[:, 0]), state)
    np.testing.assert_allclose(array(first)[:2], outputs[:2, 0], atol=1e-6)


# -- padding -------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "bahdanau_normalize",
        "luong_scale",
        "bahdanau_monotonic_recursive",
        "luong_monotonic_parallel",
    ],
)
def test_padded_memory_gets_zero_weight_and_nan_there_changes_nothing(name):
    mechanism = build_mechanism(name)
    memory = FIXTURES[f"{name}/memory"].copy()
    query = FIXTURES[f"{name}/query"]
    state = FIXTURES[f"{name}/state"]
    weights_out = FIXTURES[f"{name}/weights_out"]
    lengths = np.array([5, 3, 0], "int32")  # a row with no memory at all
    valid = np.arange(5)[None, :] < lengths[:, None]

    def weighted(memory, query):
        got, _ = mechanism(query, memory, state=state, memory_sequence_length=lengths)
        return got * ops.convert_to_tensor(weights_out)

    clean_value, (clean_memory, clean_query) = gradients(weighted, memory, query)
    noisy = memory.copy()
    noisy[~valid] = np.nan
    noisy[1, 4, 0] = np.inf
    value, (grad_memory, grad_query) = gradients(weighted, noisy, query)
    assert value == pytest.approx(clean_value, abs=1e-6)
    np.testing.assert_array_equal(grad_memory, clean_memory)
    np.testing.assert_array_equal(grad_query, clean_query)
    assert np.all(grad_memory[~valid] == 0)
    alignments, _ = mechanism(query, noisy, state=state, memory_sequence_length=lengths)
    alignments = array(alignments)
    assert np.all(alignments[~valid] == 0)  # exactly zero, row of length 0 too
    # a mask is the same as lengths; both: valid where both say so
    masked, _ = mechanism(query, noisy, state=state, memory_mask=valid)
    np.testing.assert_array_equal(array(masked), alignments)
    both, _ = mechanism(
        query,
        noisy,
        state=state,
        memory_sequence_length=np.array([5, 5, 5]),
        memory_mask=valid,
    )
    np.testing.assert_array_equal(array(both), alignments)


PROPERTY_MECHANISMS = {
    "luong": seq2seq.LuongAttention(4, scale=True),
    "bahdanau": seq2seq.BahdanauAttention(3, normalize=True),
    "monotonic": seq2seq.LuongMonotonicAttention(4, mode="recursive"),
}


@settings(max_examples=12, deadline=None)
@given(
    kind=st.sampled_from(sorted(PROPERTY_MECHANISMS)),
    lengths=st.lists(st.integers(0, 6), min_size=3, max_size=3),
    seed=st.integers(0, 2**16),
)
def test_alignments_are_distributions_over_the_valid_memory(kind, lengths, seed):
    mechanism = PROPERTY_MECHANISMS[kind]
    rng = np.random.default_rng(seed)
    lengths = np.array(lengths, "int32")
    valid = np.arange(6)[None, :] < lengths[:, None]
    memory = rng.normal(scale=3, size=(3, 6, 5)).astype("float32")
    memory[~valid] = np.nan
    query = rng.normal(size=(3, 4)).astype("float32")
    alignments, _ = mechanism(query, memory, memory_sequence_length=lengths)
    alignments = array(alignments)
    assert np.all(np.isfinite(alignments)) and np.all(alignments >= 0)
    assert np.all(alignments[~valid] == 0)
    totals = alignments.sum(-1)
    if kind == "monotonic":  # may stop nowhere: at most 1
        assert np.all(totals <= 1 + 1e-5)
    else:
        np.testing.assert_allclose(totals, (lengths > 0).astype("float32"), atol=1e-5)


def test_nan_in_padded_memory_changes_neither_decoder_outputs_nor_gradients():
    name = "wrapper_bahdanau"
    decoder, _ = build_decoder(name)
    memory = FIXTURES[f"{name}/memory"].copy()
    inputs = FIXTURES[f"{name}/inputs"]
    valid = np.arange(5)[None, :] < LENGTHS[:, None]

    def run(memory, inputs):
        outputs, *_ = decoder(inputs, memory, memory_sequence_length=LENGTHS)
        return outputs

    clean, (clean_memory, clean_inputs) = gradients(run, memory, inputs)
    memory[~valid] = np.nan
    value, (grad_memory, grad_inputs) = gradients(run, memory, inputs)
    assert value == pytest.approx(clean, rel=1e-6)
    assert np.all(np.isfinite(grad_memory)) and np.all(grad_memory[~valid] == 0)
    np.testing.assert_allclose(grad_memory, clean_memory, atol=1e-6)
    np.testing.assert_allclose(grad_inputs, clean_inputs, atol=1e-6)


# -- the functions ----------------------------------------------------------------


def test_monotonic_modes_agree_and_hard_picks_the_first_choice():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.95, size=(4, 6)).astype("float32")
    previous = rng.random((4, 6)).astype("float32")
    previous /= previous.sum(-1, keepdims=True)
    recursive = array(seq2seq.monotonic_attention(p, previous, "recursive"))
    parallel = array(seq2seq.monotonic_attention(p, previous, "parallel"))
    np.testing.assert_allclose(recursive, parallel, atol=1e-5)
    # brute force: attention[j] = p[j] * sum_{k<=j} previous[k] prod_{k<=l<j}(1-p[l])
    expected = np.zeros_like(p)
    for j in range(6):
        for k in range(j + 1):
            expected[:, j] += previous[:, k] * np.prod(1 - p[:, k:j], axis=1)
        expected[:, j] *= p[:, j]
    np.testing.assert_allclose(recursive, expected, atol=1e-5)
    hard_p = np.array([[1, 0, 1, 1, 0, 1]] * 2, "float32")
    start = np.eye(6, dtype="float32")[[0, 3]]
    hard = array(seq2seq.monotonic_attention(hard_p, start, "hard"))
    np.testing.assert_array_equal(hard, np.eye(6, dtype="float32")[[0, 3]])
    with pytest.raises(ValueError, match="Argument `mode`"):
        seq2seq.monotonic_attention(p, previous, "soft")


@pytest.mark.tf_only
def test_recursive_mode_in_a_graph_of_unknown_memory_length():
    import tensorflow as tf

    rng = np.random.default_rng(1)
    p = rng.uniform(0, 1, size=(3, 7)).astype("float32")
    p[0, 2] = 1.0  # a factor 1 - p of 0
    previous = rng.random((3, 7)).astype("float32")
    spec = tf.TensorSpec((None, None))

    @tf.function(input_signature=[spec, spec])
    def graph(p, previous):
        with tf.GradientTape() as tape:
            tape.watch([p, previous])
            result = seq2seq.monotonic_attention(p, previous, "recursive")
            total = tf.reduce_sum(result * tf.range(7, dtype="float32"))
        return (result, *tape.gradient(total, [p, previous]))

    def eager(p, previous):
        return seq2seq.monotonic_attention(p, previous, "recursive") * np.arange(7)

    got, grad_p, grad_previous = graph(p, previous)
    _, (want_p, want_previous) = gradients(eager, p, previous)
    np.testing.assert_allclose(
        got, seq2seq.monotonic_attention(p, previous, "recursive"), atol=1e-6
    )
    np.testing.assert_allclose(grad_p, want_p, atol=1e-5)
    np.testing.assert_allclose(grad_previous, want_previous, atol=1e-5)
    assert np.all(np.isfinite(grad_p))


def test_safe_cumprod_and_hardmax():
    x = np.array([[0.5, 0.0, 0.25, 1.0]], "float32")
    np.testing.assert_allclose(
        array(seq2seq.safe_cumprod(x)), [[0.5, 0.0, 0.0, 0.0]], atol=1e-30
    )
    np.testing.assert_allclose(
        array(seq2seq.safe_cumprod(x, exclusive=True)),
        [[1.0, 0.5, 0.0, 0.0]],
        atol=1e-30,
    )
    np.testing.assert_array_equal(
        array(seq2seq.hardmax([[0.1, 2.0, 2.0], [-1.0, -3.0, -2.0]])),
        [[0, 1, 0], [1, 0, 0]],
    )


# -- Keras: a model, fit, save and reload ----------------------------------------


def make_model(rnn=keras_rnnkit.DynamicRNN):
    memory = keras.Input((None, 6), name="memory")
    lengths = keras.Input((), dtype="int32", name="memory_length")
    targets_in = keras.Input((None,), dtype="int32", name="decoder_inputs")
    embedded = keras.layers.Embedding(11, 5, mask_zero=True)(targets_in)
    cell = seq2seq.AttentionWrapper(  # dropout, noise: drawn before the loop
        keras.layers.LSTMCell(8, dropout=0.1, recurrent_dropout=0.1),
        [
            seq2seq.LuongAttention(8, scale=True),
            seq2seq.BahdanauMonotonicAttention(3, sigmoid_noise=1.0),
        ],
        attention_layer_size=[6, 2],
    )
    decoded = seq2seq.WithMemory(rnn(cell, return_sequences=True))(
        embedded, memory, memory_sequence_length=lengths
    )
    logits = keras.layers.Dense(11)(decoded)
    return keras.Model([memory, lengths, targets_in], logits)


def test_trains_with_fit_saves_and_reloads(tmp_path):
    rng = np.random.default_rng(0)
    memory = rng.normal(size=(16, 5, 6)).astype("float32")
    lengths = rng.integers(1, 6, size=16).astype("int32")
    tokens = rng.integers(1, 11, size=(16, 4)).astype("int32")
    tokens[::3, 2:] = 0  # padded decoder steps
    model = make_model()
    model.compile(keras.optimizers.Adam(0.05), seq2seq.SequenceLoss())
    history = model.fit(
        [memory, lengths, tokens], tokens, epochs=4, batch_size=8, verbose=0
    ).history["loss"]
    assert np.all(np.isfinite(history)) and history[-1] < history[0]
    expected = model.predict([memory, lengths, tokens], verbose=0)
    if keras.backend.backend() != "jax":  # (5 s of eager JAX; the same code)
        # noise and dropout only when training (predict matched the reload)
        x = [ops.convert_to_tensor(v) for v in (memory, lengths, tokens)]
        assert not np.allclose(array(model(x, training=True)), expected, atol=1e-3)
    path = tmp_path / "attention.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(
        again.predict([memory, lengths, tokens], verbose=0), expected, atol=1e-5
    )
    names = {"/".join(w.path.split("/")[-2:]) for w in model.weights}
    assert {"memory_layer/kernel", "attention_layer/kernel"} <= names
    assert any(
        re.search(r"luong_attention(_\d+)?/attention_g$", w.path) for w in model.weights
    )


@keras.saving.register_keras_serializable("test_seq2seq")
def attention_only(inputs, attention):
    return attention


def test_stacked_cells_and_a_cell_input_fn():
    # GNMT-style: attention in the first cell of a stack; that cell reads the
    # attention only (a registered cell_input_fn, saved with the config)
    cell = seq2seq.AttentionWrapper(
        keras.layers.LSTMCell(5),
        seq2seq.LuongAttention(5),
        cell_input_fn=attention_only,
    )
    rnn = keras_rnnkit.DynamicRNN(
        keras_rnnkit.MultiRNNCell([cell, keras.layers.LSTMCell(4)]),
        return_sequences=True,
    )
    outputs = seq2seq.WithMemory(rnn)(
        np.ones((2, 3, 7), "float32"),
        np.ones((2, 4, 6), "float32"),
        memory_sequence_length=np.array([4, 1]),
    )
    assert tuple(outputs.shape) == (2, 3, 4)
    assert tuple(cell.cell.kernel.shape) == (6, 20)  # the attention's depth
    again = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(cell)
    )
    assert again.cell_input_fn is attention_only


def test_config_round_trip_of_every_class():
    objects = [
        seq2seq.BahdanauAttention(3, normalize=True, probability_fn="hardmax"),
        seq2seq.LuongAttention(4, scale=True),
        seq2seq.BahdanauMonotonicAttention(3, sigmoid_noise=0.5, mode="hard"),
        seq2seq.LuongMonotonicAttention(3, score_bias_init=-1.0, mode="recursive"),
        seq2seq.AttentionWrapper(
            keras.layers.GRUCell(4),
            [seq2seq.LuongAttention(4), seq2seq.BahdanauAttention(2)],
            attention_layer_size=[3, 2],
            alignment_history=True,
            output_attention=False,
        ),
        seq2seq.SequenceLoss(
            average_across_timesteps=True,
            sum_over_timesteps=False,
            sum_over_batch=False,
        ),
    ]
    for obj in objects:
        config = keras.saving.serialize_keras_object(obj)
        assert config["registered_name"] == f"keras_rnnkit>{type(obj).__name__}"
        again = keras.saving.deserialize_keras_object(config)
        assert again.get_config() == obj.get_config()


# -- the cell protocol, threads ---------------------------------------------------


def test_declares_itself_through_the_cell_protocol():
    cell = seq2seq.AttentionWrapper(
        keras.layers.LSTMCell(4),
        [seq2seq.LuongAttention(4), seq2seq.BahdanauAttention(2)],
    )
    assert cell_protocol.carry_states(cell) == (
        False,
        True,
        False,
        False,
        False,
        False,
        False,
    )
    assert cell_protocol.output_is_first_state(cell) is False
    assert cell_protocol.fused_form(cell) is None
    assert cell.state_layout() == [
        "cell_state_0",
        "cell_state_1",
        "attention",
        "alignments_0",
        "alignments_1",
        "attention_state_0",
        "attention_state_1",
    ]


def test_memory_bound_in_one_thread_is_not_seen_by_another():
    decoder, _ = build_decoder("wrapper_bahdanau")
    inputs = FIXTURES["wrapper_bahdanau/inputs"]
    memories = [FIXTURES["wrapper_bahdanau/memory"] * scale for scale in (1.0, -2.0)]
    expected = [
        array(decoder(inputs, m, memory_sequence_length=LENGTHS)[0]) for m in memories
    ]
    results, barrier = {}, threading.Barrier(2)

    def work(i):
        barrier.wait()
        for _ in range(2):
            results.setdefault(i, []).append(
                array(decoder(inputs, memories[i], memory_sequence_length=LENGTHS)[0])
            )

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i in range(2):
        for got in results[i]:
            np.testing.assert_allclose(got, expected[i], atol=1e-6)


# -- errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: seq2seq.BahdanauAttention(0), "Argument `units`"),
        (lambda: seq2seq.BahdanauAttention(3, np.ones((1, 2, 3))), "takes no memory"),
        (
            lambda: seq2seq.LuongAttention(3, probability_fn="sparsemax"),
            "probability_fn",
        ),
        (lambda: seq2seq.LuongMonotonicAttention(3, mode="soft"), "Argument `mode`"),
        (
            lambda: seq2seq.BahdanauMonotonicAttention(3, sigmoid_noise=-1.0),
            "sigmoid_noise",
        ),
        (
            lambda: seq2seq.AttentionWrapper(keras.layers.GRUCell(3), "luong"),
            "attention_mechanism",
        ),
        (
            lambda: seq2seq.AttentionWrapper(
                keras.layers.GRUCell(3),
                [seq2seq.LuongAttention(3)] * 2,
                attention_layer_size=[2],
            ),
            "attention_layer_size",
        ),
        (
            lambda: seq2seq.AttentionWrapper(
                keras.layers.GRUCell(3), seq2seq.LuongAttention(3), cell_input_fn=3
            ),
            "cell_input_fn",
        ),
        (lambda: seq2seq.WithMemory(keras.layers.GRU(3)), "Argument `layer`"),
    ],
)
def test_bad_arguments_are_refused_when_created(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_calls_say_what_is_wrong():
    memory = np.ones((2, 5, 6), "float32")
    query = np.ones((2, 4), "float32")
    with pytest.raises(ValueError, match="`memory_mask`"):
        seq2seq.BahdanauAttention(3)(query, memory, memory_mask=np.ones((2,), bool))
    with pytest.raises(TypeError, match="integer"):
        seq2seq.BahdanauAttention(3)(
            query, memory, memory_sequence_length=np.array([1.0, 2.0])
        )
    with pytest.raises(ValueError, match="must have that depth"):
        seq2seq.LuongAttention(3)(query, memory)
    cell = seq2seq.AttentionWrapper(keras.layers.GRUCell(4), seq2seq.LuongAttention(4))
    with pytest.raises(ValueError, match="WithMemory"):
        keras.layers.RNN(cell)(np.ones((2, 3, 5), "float32"))


def test_keras_file_reloads_in_fresh_process(tmp_path, fresh_process):
    # one input (what the reload server feeds): the source tokens are the
    # memory's source and, embedded again, the decoder inputs
    tokens = keras.Input((None,), dtype="int32")
    memory = keras_rnnkit.DynamicRNN(keras.layers.GRUCell(6), return_sequences=True)(
        keras.layers.Embedding(9, 4, mask_zero=True)(tokens)
    )
    cell = seq2seq.AttentionWrapper(
        keras.layers.LSTMCell(5),
        [
            seq2seq.BahdanauMonotonicAttention(3, normalize=True, mode="recursive"),
            seq2seq.LuongAttention(5, scale=True, probability_fn="hardmax"),
        ],
        attention_layer_size=[4, 2],
        alignment_history=True,
        output_attention=False,
    )
    decoded = seq2seq.WithMemory(keras.layers.RNN(cell, return_sequences=True))(
        keras.layers.Embedding(9, 3)(tokens), memory
    )
    model = keras.Model(tokens, decoded)
    x = np.random.default_rng(1).integers(0, 9, size=(4, 6)).astype("int32")
    x[:, 4:] = 0
    want = model.predict(x, verbose=0)
    history = want[:, :, 5:].reshape(4, 6, 2, 6)  # (batch, step, mechanism, time)
    assert np.all(history[..., 4:] == 0)  # no attention on padding
    model.save(tmp_path / "model.keras")
    np.savez(tmp_path / "data.npz", x=x, y0=want)
    reply = fresh_process(
        "reload_and_predict",
        model=str(tmp_path / "model.keras"),
        data=str(tmp_path / "data.npz"),
    )
    assert reply["test_modules"] == []
