"""keras_rnnkit.tf1.load_checkpoint / checkpoint_structure.

The main test saves real TF1 checkpoints: the oracle process
(tests/tf1_oracle.py, `train_and_save`) builds a structure with
`tf.compat.v1` in graph mode, trains it a few steps, saves it with `Saver`
and computes outputs and final states with sequence lengths; the kit model
loads the checkpoint and must compute the same. The error tests write small
checkpoints here with `tf.compat.v1.get_variable` and `Saver`.

TF 1.15's `tf.contrib.rnn.LayerNormBasicLSTMCell` does not exist in TF 2, so
no TF1 process can train one: its tests write checkpoints holding exactly
the variable names and shapes that cell makes (tensorflow/contrib/rnn/
python/ops/rnn_cell.py, `_linear` and `_norm`) with random values, and
compare with the float64 NumPy transcription of its step in
tests/test_layer_norm_lstm_cell.py.
"""

import sys
import tempfile

import keras
import numpy as np
import pytest
import test_layer_norm_lstm_cell as reference
from hypothesis import example, given, settings
from hypothesis import strategies as st

import keras_rnnkit
from keras_rnnkit import tf1

tf = pytest.importorskip("tensorflow")


def _save(prefix, variables):
    """A TF1 checkpoint holding `variables` ({name: array}), as `Saver` writes it."""
    v1 = tf.compat.v1
    graph = v1.Graph()
    with graph.as_default():
        for name, value in variables.items():
            value = tf.constant(np.asarray(value, np.float32))
            v1.get_variable(name, initializer=value)
        saver = v1.train.Saver()
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            return saver.save(session, str(prefix))


def _weights(layer):
    return [np.array(keras.ops.convert_to_numpy(w)) for w in layer.weights]


# -- structures drawn by hypothesis, built by TF1 and by the kit ------------


@st.composite
def structures(draw):
    input_dim = draw(st.integers(1, 4))
    forget_bias = draw(st.sampled_from([0.0, 1.0, 2.5]))
    layers = draw(st.integers(1, 3))
    size, cells = input_dim, []
    for _ in range(layers):
        kind = draw(st.sampled_from(["lstm", "basic_lstm", "gru", "basic_rnn"]))
        wrapper = draw(st.sampled_from([None, "dropout", "residual", "projection"]))
        units = size if wrapper == "residual" else draw(st.integers(1, 4))
        spec = {"type": kind, "units": units, "forget_bias": forget_bias}
        out = units
        if kind in ("lstm", "basic_lstm"):
            spec["kit"] = draw(st.sampled_from(["keras", "kit"]))
            spec["kit_forget_bias"] = draw(st.sampled_from([0.0, 1.0]))
        if kind == "lstm":
            spec["use_peepholes"] = draw(st.booleans())
            if wrapper != "residual":
                spec["num_proj"] = draw(st.one_of(st.none(), st.integers(1, 4)))
                out = spec["num_proj"] or units
        if wrapper == "dropout":
            spec = {"type": "dropout", "cell": spec}
        elif wrapper == "residual":
            spec = {"type": "residual", "cell": spec}
        elif wrapper == "projection":
            out = draw(st.integers(1, 4))
            spec = {"type": "projection", "cell": spec, "output_size": out}
        cells.append(spec)
        size = out
    multi = layers > 1 or draw(st.booleans())
    time = draw(st.integers(1, 5))
    return {
        "input_dim": input_dim,
        "forget_bias": forget_bias,
        "cell": {"type": "multi", "cells": cells} if multi else cells[0],
        "bidirectional": draw(st.booleans()),
        "optimizer": draw(st.sampled_from(["sgd", "adam"])),
        "time": time,
        "lengths": draw(st.lists(st.integers(0, time), min_size=3, max_size=3)),
        "seed": draw(st.integers(0, 2**16)),
    }


def _kit_cell(spec):
    kind = spec["type"]
    if kind in ("lstm", "basic_lstm"):
        peepholes = spec.get("use_peepholes", False)
        num_proj = spec.get("num_proj")
        if spec["kit"] == "keras" and not peepholes and not num_proj:
            return keras.layers.LSTMCell(spec["units"])
        return keras_rnnkit.PeepholeLSTMCell(
            spec["units"],
            use_peepholes=peepholes,
            num_proj=num_proj,
            forget_bias=spec["kit_forget_bias"],
        )
    if kind == "gru":
        return keras.layers.GRUCell(spec["units"], reset_after=False)
    if kind == "basic_rnn":
        return keras.layers.SimpleRNNCell(spec["units"])
    if kind == "dropout":
        inner = _kit_cell(spec["cell"])
        return keras_rnnkit.DropoutWrapper(
            inner, input_keep_prob=0.8, output_keep_prob=0.8
        )
    if kind == "residual":
        return keras_rnnkit.ResidualWrapper(_kit_cell(spec["cell"]))
    if kind == "projection":
        inner = _kit_cell(spec["cell"])
        return keras_rnnkit.OutputProjectionWrapper(inner, spec["output_size"])
    return keras_rnnkit.MultiRNNCell([_kit_cell(c) for c in spec["cells"]])


def _leaves(spec):
    if spec["type"] == "multi":
        return [leaf for c in spec["cells"] for leaf in _leaves(c)]
    if "cell" in spec:
        return _leaves(spec["cell"])
    return [spec["type"]]


def _to_kit_order(spec, states):
    """TF1's flattened states (LSTM: c, h) in the kit's order (h, c)."""
    states, ordered = list(states), []
    for kind in _leaves(spec):
        if kind in ("lstm", "basic_lstm"):
            c, h, *states = states
            ordered += [h, c]
        else:
            first, *states = states
            ordered.append(first)
    assert not states
    return ordered


def _example(cell, bidirectional, **kwargs):
    return {
        "input_dim": 3,
        "forget_bias": 1.0,
        "cell": cell,
        "bidirectional": bidirectional,
        "optimizer": "adam",
        "time": 4,
        "lengths": [4, 0, 2],
        "seed": 0,
        **kwargs,
    }


# Every cell type and wrapper at least once, whatever hypothesis draws.
_GRU = {"type": "gru", "units": 3}
_PEEPHOLE = {
    "type": "lstm", "units": 3, "use_peepholes": True, "num_proj": 2,
    "forget_bias": 2.5, "kit": "kit", "kit_forget_bias": 1.0,
}  # fmt: skip
_BASIC_LSTM = {
    "type": "basic_lstm", "units": 3, "forget_bias": 0.0, "kit": "keras",
    "kit_forget_bias": 1.0,
}  # fmt: skip
_RNN = {"type": "basic_rnn", "units": 3}


@settings(max_examples=8, deadline=None)
@given(structure=structures())
@example(structure=_example(_GRU, bidirectional=False))
@example(
    structure=_example(
        {"type": "projection", "cell": _PEEPHOLE, "output_size": 2},
        bidirectional=True,
        forget_bias=2.5,
    )
)
@example(
    structure=_example(
        {
            "type": "multi",
            "cells": [
                {"type": "dropout", "cell": _BASIC_LSTM},
                {"type": "residual", "cell": _RNN},
                _GRU,
            ],
        },
        bidirectional=True,
        forget_bias=0.0,
        optimizer="sgd",
    )
)
def test_a_trained_tf1_checkpoint_loads_and_computes_the_same(tf1_oracle, structure):
    rng = np.random.default_rng(structure["seed"])
    batch, time = 3, structure["time"]
    inputs = rng.normal(size=(batch, time, structure["input_dim"])).astype("float32")
    lengths = np.array(structure["lengths"])
    with tempfile.TemporaryDirectory() as directory:
        want = tf1_oracle(
            "train_and_save",
            cell=structure["cell"],
            bidirectional=structure["bidirectional"],
            optimizer=structure["optimizer"],
            inputs=inputs,
            sequence_length=lengths,
            path=f"{directory}/model.ckpt",
            steps=3,
        )
        cell = _kit_cell(structure["cell"])
        if structure["bidirectional"]:
            target = keras_rnnkit.BidirectionalEncoder(cell, return_state=True)
        else:
            target = keras_rnnkit.DynamicRNN(
                cell, return_sequences=True, return_state=True
            )
        target.build((None, None, structure["input_dim"]))
        found = tf1.checkpoint_structure(directory)
        loaded = tf1.load_checkpoint(
            target, directory, forget_bias=structure["forget_bias"]
        )
    assert len(found) == 1
    kind = "bidirectional_dynamic_rnn" if structure["bidirectional"] else "dynamic_rnn"
    assert found[0]["type"] == kind
    model_variables = {
        name
        for name in want["variables"]
        if name.startswith(("rnn/", "bidirectional_rnn/"))
        and not name.endswith(("/Adam", "/Adam_1"))
    }
    assert set(loaded) == model_variables
    outputs, *states = target(inputs, sequence_length=lengths)
    states = [np.asarray(s) for s in keras.tree.flatten(states)]
    spec = structure["cell"]
    if structure["bidirectional"]:
        want_outputs = np.concatenate(want["outputs"], axis=-1)
        half = len(want["states"]) // 2
        fw = _to_kit_order(spec, want["states"][:half])
        bw = _to_kit_order(spec, want["states"][half:])
        want_states = [
            np.concatenate(pair, axis=-1) for pair in zip(fw, bw, strict=True)
        ]
    else:
        (want_outputs,) = want["outputs"]
        want_states = _to_kit_order(spec, want["states"])
    np.testing.assert_allclose(np.asarray(outputs), want_outputs, rtol=1e-5, atol=1e-5)
    assert len(states) == len(want_states)
    for got, expected in zip(states, want_states, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_tf1_variable_names_are_the_ones_the_loader_expects(tf1_oracle, tmp_path):
    """The names TF1 itself writes (checked, not assumed)."""
    lstm = {"type": "lstm", "units": 2, "use_peepholes": True, "num_proj": 1}
    cell = {
        "type": "multi",
        "cells": [
            {"type": "gru", "units": 2},
            {"type": "projection", "cell": lstm, "output_size": 3},
            {"type": "dropout", "cell": {"type": "basic_lstm", "units": 2}},
            {"type": "residual", "cell": {"type": "basic_rnn", "units": 2}},
        ],
    }
    reply = tf1_oracle(
        "train_and_save",
        cell=cell,
        inputs=np.zeros((1, 2, 3), "float32"),
        sequence_length=np.array([2]),
        path=str(tmp_path / "model.ckpt"),
        steps=1,
    )
    names = {n for n in reply["variables"] if not n.endswith(("Adam", "Adam_1"))}
    stack = "rnn/multi_rnn_cell/"
    projection = stack + "cell_1/output_projection_wrapper/"
    assert names == {
        "global_step",
        *(
            stack + "cell_0/gru_cell/" + n
            for n in (
                "gates/kernel",
                "gates/bias",
                "candidate/kernel",
                "candidate/bias",
            )
        ),
        *(
            projection + "lstm_cell/" + n
            for n in ("kernel", "bias", "w_i_diag", "w_f_diag", "w_o_diag")
        ),
        projection + "lstm_cell/projection/kernel",
        projection + "kernel",
        projection + "bias",
        stack + "cell_2/basic_lstm_cell/kernel",
        stack + "cell_2/basic_lstm_cell/bias",
        stack + "cell_3/basic_rnn_cell/kernel",
        stack + "cell_3/basic_rnn_cell/bias",
    }
    assert tf1.checkpoint_structure(tmp_path) == [
        {
            "scope": "rnn",
            "type": "dynamic_rnn",
            "cell": {
                "type": "MultiRNNCell",
                "cells": [
                    {"type": "GRUCell", "num_units": 2, "input_size": 3},
                    {
                        "type": "OutputProjectionWrapper",
                        "output_size": 3,
                        "cell": {
                            "type": "LSTMCell",
                            "num_units": 2,
                            "use_peepholes": True,
                            "num_proj": 1,
                            "input_size": 2,
                        },
                    },
                    {"type": "BasicLSTMCell", "num_units": 2, "input_size": 3},
                    {"type": "BasicRNNCell", "num_units": 2, "input_size": 2},
                ],
            },
        }
    ]


# -- errors: named, and nothing written --------------------------------------


def _lstm_variables(scope="rnn", peepholes=False, input_dim=3, units=4):
    rng = np.random.default_rng(0)
    variables = {
        f"{scope}/lstm_cell/kernel": rng.normal(size=(input_dim + units, 4 * units)),
        f"{scope}/lstm_cell/bias": rng.normal(size=4 * units),
    }
    if peepholes:
        for name in ("w_i_diag", "w_f_diag", "w_o_diag"):
            variables[f"{scope}/lstm_cell/{name}"] = rng.normal(size=units)
    return variables


def _lstm_layer(peepholes):
    layer = keras_rnnkit.DynamicRNN(
        keras_rnnkit.PeepholeLSTMCell(4, use_peepholes=peepholes)
    )
    layer.build((None, None, 3))
    return layer


@pytest.mark.parametrize(
    "variables, peepholes, match",
    [
        (_lstm_variables(), True, r"missing variable 'rnn/lstm_cell/w_i_diag'"),
        (
            _lstm_variables(peepholes=True),
            False,
            r"left-over variable 'rnn/lstm_cell/w_f_diag'",
        ),
        (
            _lstm_variables(input_dim=5),
            False,
            r"'rnn/lstm_cell/kernel' has shape \(9, 16\); the target needs \(7, 16\)",
        ),
    ],
    ids=["missing", "left-over", "shape"],
)
def test_a_misfit_is_named_and_nothing_is_written(
    tmp_path, variables, peepholes, match
):
    variables = {**variables, "rnn/lstm_cell/bias/Adam": np.zeros(16)}
    path = _save(tmp_path / "model.ckpt", variables)
    layer = _lstm_layer(peepholes)
    before = _weights(layer)
    with pytest.raises(ValueError, match=match):
        tf1.load_checkpoint(layer, path)
    for old, new in zip(before, _weights(layer), strict=True):
        np.testing.assert_array_equal(old, new)


def test_slots_and_other_variables_are_not_left_over(tmp_path):
    variables = _lstm_variables(peepholes=True)
    extra = {
        "global_step": np.array(7.0),
        "beta1_power": np.array(0.9),
        "embedding/embeddings": np.zeros((10, 3)),
        "dense/kernel": np.zeros((4, 2)),
        **{name + "/Adam": np.zeros_like(v) for name, v in variables.items()},
        **{name + "/Adam_1": np.zeros_like(v) for name, v in variables.items()},
    }
    path = _save(tmp_path / "model.ckpt", {**variables, **extra})
    layer = _lstm_layer(peepholes=True)
    loaded = tf1.load_checkpoint(layer, path, forget_bias=1.0)
    assert sorted(loaded) == sorted(variables)
    assert loaded["rnn/lstm_cell/kernel"] == [
        layer.cell.kernel.path,
        layer.cell.recurrent_kernel.path,
    ]
    back = tf1.get_lstm_weights(layer, forget_bias=1.0)
    np.testing.assert_allclose(
        back["kernel"], variables["rnn/lstm_cell/kernel"], rtol=1e-6, atol=1e-6
    )


def test_the_scope_is_found_or_the_ambiguity_named(tmp_path):
    variables = {**_lstm_variables("encoder/rnn"), **_lstm_variables("decoder/rnn")}
    path = _save(tmp_path / "model.ckpt", variables)
    layer = _lstm_layer(peepholes=False)
    before = _weights(layer)
    with pytest.raises(ValueError, match=r"\['decoder/rnn', 'encoder/rnn'\]"):
        tf1.load_checkpoint(layer, path)
    for old, new in zip(before, _weights(layer), strict=True):
        np.testing.assert_array_equal(old, new)
    loaded = tf1.load_checkpoint(layer, path, scope="decoder/rnn")
    assert sorted(loaded) == [
        "decoder/rnn/lstm_cell/bias",
        "decoder/rnn/lstm_cell/kernel",
    ]
    # Of two different structures, the one that fits is taken by itself.
    path = _save(
        tmp_path / "two.ckpt",
        {**_lstm_variables("a/rnn"), **_lstm_variables("b/rnn", peepholes=True)},
    )
    loaded = tf1.load_checkpoint(_lstm_layer(peepholes=True), path)
    assert all(name.startswith("b/rnn/") for name in loaded)


def test_unbuilt_and_unsupported_targets(tmp_path):
    path = _save(tmp_path / "model.ckpt", _lstm_variables())
    with pytest.raises(ValueError, match="not built yet"):
        tf1.load_checkpoint(keras_rnnkit.PeepholeLSTMCell(4), path)
    gru = keras.layers.GRUCell(4)  # reset_after=True by default
    gru.build((None, 3))
    with pytest.raises(ValueError, match="reset_after=True"):
        tf1.load_checkpoint(gru, path)
    with pytest.raises(TypeError, match="Received a Dense"):
        dense = keras.layers.Dense(2)
        dense.build((None, 3))
        tf1.load_checkpoint(dense, path)
    with pytest.raises(ValueError, match="Argument `checkpoint`"):
        tf1.load_checkpoint(_lstm_layer(False), tmp_path / "nothing-here")


def test_without_tensorflow_the_error_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with pytest.raises(ImportError, match=r'pip install "keras-rnnkit\[tensorflow\]"'):
        tf1.checkpoint_structure(tmp_path)


# -- LayerNormBasicLSTMCell (TF 1.15 contrib) --------------------------------

_LN_SCOPES = ("input", "transform", "forget", "output", "state")


def _ln_basic_variables(rng, prefix, input_dim, units, layer_norm=True):
    """What TF 1.15's LayerNormBasicLSTMCell saves under `prefix`: `_linear`'s
    `kernel` (and `bias` only without layer norm), `_norm`'s gamma and beta per
    sub-scope. Values rounded to float32, as the checkpoint stores them."""
    variables = {
        f"{prefix}/kernel": rng.normal(size=(input_dim + units, 4 * units)) * 0.5
    }
    if layer_norm:
        for scope in _LN_SCOPES:
            variables[f"{prefix}/{scope}/gamma"] = rng.uniform(0.5, 1.5, units)
            variables[f"{prefix}/{scope}/beta"] = rng.normal(size=units) * 0.3
    else:
        variables[f"{prefix}/bias"] = rng.normal(size=4 * units) * 0.3
    return {k: v.astype("float32").astype("float64") for k, v in variables.items()}


def _ln_basic_step(variables, prefix, forget_bias):
    """One TF1 step (x, c, h) -> (h, c) of the cell saved under `prefix`."""
    short = {
        name[len(prefix) + 1 :]: value
        for name, value in variables.items()
        if name.startswith(prefix + "/")
    }
    if "bias" not in short:
        return lambda x, c, h: reference.contrib_step(x, c, h, short, forget_bias)

    def basic(x, c, h):  # layer_norm=False: BasicLSTMCell's step
        z = np.concatenate([x, h], axis=1) @ short["kernel"] + short["bias"]
        i, j, f, o = np.split(z, 4, axis=1)
        s = reference._sigmoid
        new_c = c * s(f + forget_bias) + s(i) * np.tanh(j)
        return np.tanh(new_c) * s(o), new_c

    return basic


def _run_stack(steps, x, lengths, reverse=False):
    """dynamic_rnn (or the backward half of bidirectional_dynamic_rnn) over
    a stack of `(step, units)`: zeros past each row's length, the state of
    its last valid step; the outputs and [h, c] per layer."""
    batch, time, _ = x.shape
    outputs = np.zeros((batch, time, steps[-1][1]))
    states = [[np.zeros((batch, u)), np.zeros((batch, u))] for _, u in steps]
    for row, length in enumerate(lengths):
        order = range(length - 1, -1, -1) if reverse else range(length)
        hc = [(np.zeros((1, u)), np.zeros((1, u))) for _, u in steps]
        for t in order:
            inp = x[row : row + 1, t]
            for k, (step, _) in enumerate(steps):
                h, c = step(inp, hc[k][1], hc[k][0])
                hc[k] = (h, c)
                inp = h
            outputs[row, t] = inp[0]
        for k, (h, c) in enumerate(hc):
            states[k][0][row], states[k][1][row] = h[0], c[0]
    return outputs, [s for pair in states for s in pair]


@pytest.mark.parametrize("use_bias", [True, False])
def test_a_layer_norm_basic_lstm_stack_loads_and_computes_the_same(tmp_path, use_bias):
    rng = np.random.default_rng(3)
    forget_bias = 1.0  # TF1's default
    stack = "rnn/multi_rnn_cell"
    first = f"{stack}/cell_0/layer_norm_basic_lstm_cell"
    second = f"{stack}/cell_1/layer_norm_basic_lstm_cell"
    variables = {
        **_ln_basic_variables(rng, first, input_dim=3, units=4),
        **_ln_basic_variables(rng, second, input_dim=4, units=2, layer_norm=False),
    }
    slots = {f"{name}/Adam": np.zeros_like(v) for name, v in variables.items()}
    path = _save(
        tmp_path / "model.ckpt", {**variables, **slots, "global_step": np.array(9.0)}
    )
    assert tf1.checkpoint_structure(tmp_path) == [
        {
            "scope": "rnn",
            "type": "dynamic_rnn",
            "cell": {
                "type": "MultiRNNCell",
                "cells": [
                    {
                        "type": "LayerNormBasicLSTMCell",
                        "num_units": 4,
                        "layer_norm": True,
                        "input_size": 3,
                    },
                    {
                        "type": "LayerNormBasicLSTMCell",
                        "num_units": 2,
                        "layer_norm": False,
                        "input_size": 4,
                    },
                ],
            },
        }
    ]

    cell = keras_rnnkit.LayerNormLSTMCell(
        4,
        norm="per_gate",
        use_bias=use_bias,
        forget_bias=0.0 if use_bias else forget_bias,
    )
    target = keras_rnnkit.DynamicRNN(
        keras_rnnkit.MultiRNNCell([cell, keras.layers.LSTMCell(2)]),
        return_sequences=True,
        return_state=True,
    )
    target.build((None, None, 3))
    loaded = tf1.load_checkpoint(target, path, forget_bias=forget_bias)
    assert set(loaded) == set(variables)
    assert loaded[f"{first}/forget/gamma"] == [cell.gate_norm_gamma.path]
    assert loaded[f"{first}/kernel"] == [cell.kernel.path, cell.recurrent_kernel.path]

    x = rng.normal(size=(3, 5, 3)).astype("float32")
    lengths = np.array([5, 0, 3])
    want_outputs, want_states = _run_stack(
        [
            (_ln_basic_step(variables, first, forget_bias), 4),
            (_ln_basic_step(variables, second, forget_bias), 2),
        ],
        x.astype("float64"),
        lengths,
    )
    outputs, *states = target(x, sequence_length=lengths)
    np.testing.assert_allclose(np.asarray(outputs), want_outputs, atol=1e-5)
    states = keras.tree.flatten(states)
    assert len(states) == len(want_states)
    for got, want in zip(states, want_states, strict=True):
        np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)


def test_a_bidirectional_layer_norm_basic_lstm_loads_and_computes_the_same(
    tmp_path,
):
    rng = np.random.default_rng(4)
    forget_bias = 0.5
    variables = {
        **_ln_basic_variables(
            rng, "encoder/bidirectional_rnn/fw/layer_norm_basic_lstm_cell", 3, 4
        ),
        **_ln_basic_variables(
            rng, "encoder/bidirectional_rnn/bw/layer_norm_basic_lstm_cell", 3, 4
        ),
    }
    path = _save(tmp_path / "model.ckpt", variables)
    (found,) = tf1.checkpoint_structure(path)
    assert found["scope"] == "encoder/bidirectional_rnn"
    assert found["type"] == "bidirectional_dynamic_rnn"
    assert found["bw"]["type"] == "LayerNormBasicLSTMCell"

    target = keras_rnnkit.BidirectionalEncoder(
        keras_rnnkit.LayerNormLSTMCell(4, norm="per_gate"), return_state=True
    )
    target.build((None, None, 3))
    loaded = tf1.load_checkpoint(target, path, forget_bias=forget_bias)
    assert set(loaded) == set(variables)

    x = rng.normal(size=(3, 4, 3)).astype("float32")
    lengths = np.array([4, 2, 1])
    runs = [
        _run_stack(
            [(_ln_basic_step(variables, f"{found['scope']}/{d}/"
                             "layer_norm_basic_lstm_cell", forget_bias), 4)],
            x.astype("float64"),
            lengths,
            reverse=d == "bw",
        )
        for d in ("fw", "bw")
    ]  # fmt: skip
    outputs, *states = target(x, sequence_length=lengths)
    want = np.concatenate([runs[0][0], runs[1][0]], axis=-1)
    np.testing.assert_allclose(np.asarray(outputs), want, atol=1e-5)
    want_states = [
        np.concatenate(p, axis=-1) for p in zip(*(r[1] for r in runs), strict=True)
    ]
    for got, expected in zip(keras.tree.flatten(states), want_states, strict=True):
        np.testing.assert_allclose(np.asarray(got), expected, atol=1e-5)


def _ln_layer(**kwargs):
    layer = keras_rnnkit.DynamicRNN(
        keras_rnnkit.LayerNormLSTMCell(4, **{"norm": "per_gate", **kwargs})
    )
    layer.build((None, None, 3))
    return layer


_LN = "rnn/layer_norm_basic_lstm_cell"


def _ln_misfit(drop=(), **replace):
    """A layer-normalised cell's variables (input 3, units 4), some dropped,
    some added or replaced (keyword: the name below `_LN`, `/` as `__`)."""
    variables = _ln_basic_variables(np.random.default_rng(0), _LN, 3, 4)
    for name in drop:
        del variables[f"{_LN}/{name}"]
    for name, value in replace.items():
        variables[f"{_LN}/{name.replace('__', '/')}"] = value
    return variables


@pytest.mark.parametrize(
    "variables, kwargs, error, match",
    [
        (
            _ln_misfit(drop=["forget/beta"]),
            {},
            ValueError,
            rf"missing variable '{_LN}/forget/beta'",
        ),
        (
            _ln_misfit(bias=np.zeros(16)),
            {},
            ValueError,
            rf"left-over variable '{_LN}/bias'",
        ),
        (
            _ln_misfit(state__gamma=np.ones(5)),
            {},
            ValueError,
            rf"'{_LN}/state/gamma' has shape \(5,\); the target needs \(4,\)",
        ),
        (
            _ln_misfit(),
            {"use_bias": False},
            ValueError,
            r"use_bias=False and forget_bias=0.0, but the TF1 cell ran with "
            r"forget_bias=1.0",
        ),
        (_ln_misfit(), {"norm": "fused"}, ValueError, "per_gate"),
        (
            _ln_misfit(),
            {"use_peepholes": True},
            ValueError,
            "use_peepholes=True",
        ),
    ],
    ids=["missing", "left-over", "shape", "forget-bias", "fused", "peepholes"],
)
def test_a_layer_norm_misfit_is_named_and_nothing_is_written(
    tmp_path, variables, kwargs, error, match
):
    path = _save(tmp_path / "model.ckpt", variables)
    layer = _ln_layer(**kwargs)
    before = _weights(layer)
    with pytest.raises(error, match=match):
        tf1.load_checkpoint(layer, path)
    for old, new in zip(before, _weights(layer), strict=True):
        np.testing.assert_array_equal(old, new)


def test_layer_norm_off_loads_into_a_keras_lstm_cell(tmp_path):
    """`LayerNormBasicLSTMCell(layer_norm=False)` is a BasicLSTMCell."""
    rng = np.random.default_rng(1)
    variables = _ln_basic_variables(rng, _LN, 3, 4, layer_norm=False)
    path = _save(tmp_path / "model.ckpt", variables)
    layer = keras_rnnkit.DynamicRNN(keras.layers.LSTMCell(4), return_sequences=True)
    layer.build((None, None, 3))
    assert sorted(tf1.load_checkpoint(layer, path)) == sorted(variables)
    x = rng.normal(size=(2, 3, 3)).astype("float32")
    want, _ = _run_stack(
        [(_ln_basic_step(variables, _LN, 1.0), 4)], x.astype("float64"), [3, 3]
    )
    np.testing.assert_allclose(np.asarray(layer(x)), want, atol=1e-5)
    # and a layer-normalised checkpoint does not fit a plain LSTM cell
    path = _save(tmp_path / "ln.ckpt", _ln_basic_variables(rng, _LN, 3, 4))
    with pytest.raises(ValueError, match=rf"missing variable '{_LN}/bias'"):
        tf1.load_checkpoint(layer, path)


def test_a_zoneout_wrapper_has_no_variables_of_its_own(tmp_path):
    path = _save(tmp_path / "model.ckpt", _lstm_variables(peepholes=True))
    plain = _lstm_layer(peepholes=True)
    tf1.load_checkpoint(plain, path, forget_bias=1.0)
    zoned = keras_rnnkit.DynamicRNN(
        keras_rnnkit.ZoneoutWrapper(
            keras_rnnkit.PeepholeLSTMCell(4, use_peepholes=True), zoneout_c=0.2
        )
    )
    zoned.build((None, None, 3))
    loaded = tf1.load_checkpoint(zoned, path, forget_bias=1.0)
    assert sorted(loaded) == sorted(_lstm_variables(peepholes=True))
    for got, want in zip(zoned.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


# -- tf.contrib.crf's `transitions` into the CRF layer -------------------------


def _crf_checkpoint(tmp_path, scopes=("",), size=5, seed=0):
    rng = np.random.default_rng(seed)
    variables = {  # a tagger's other variables, around the CRF's
        "embedding/embeddings": rng.normal(size=(20, 4)),
        "proj/kernel": rng.normal(size=(4, size)),
    }
    transitions = {}
    for scope in scopes:
        name = f"{scope}/transitions" if scope else "transitions"
        transitions[name] = rng.normal(size=(size, size))
    return _save(tmp_path / "tagger.ckpt", {**variables, **transitions}), transitions


def test_crf_transitions_load_into_the_crf_layer(tmp_path):
    from keras_rnnkit.crf import viterbi_decode

    checkpoint, transitions = _crf_checkpoint(tmp_path)
    layer = keras_rnnkit.CRF(5)  # with start and end scores, which TF1 had not
    layer.build((None, None, 5))
    layer.start_transitions.assign(np.ones(5))
    loaded = tf1.load_checkpoint(layer, checkpoint)
    assert loaded == {"transitions": [layer.transitions.path]}
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer.transitions),
        transitions["transitions"],
        rtol=1e-6,
    )
    for boundary in (layer.start_transitions, layer.end_transitions):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(boundary), 0)
    # decoding now computes tf.contrib.crf's viterbi_decode
    potentials = np.random.default_rng(1).normal(size=(2, 6, 5)).astype("float32")
    tags = keras.ops.convert_to_numpy(layer(potentials))
    for row in range(2):
        want, _ = viterbi_decode(potentials[row], transitions["transitions"])
        assert tags[row].tolist() == list(want)


def test_crf_scope_is_found_or_asked_for(tmp_path):
    checkpoint, transitions = _crf_checkpoint(tmp_path, scopes=("tagger", "other"))
    layer = keras_rnnkit.CRF(5, start_end_transitions=False)
    layer.build((None, None, 5))
    with pytest.raises(ValueError, match=r"2 places.*\['other', 'tagger'\].*scope="):
        tf1.load_checkpoint(layer, checkpoint)
    tf1.load_checkpoint(layer, checkpoint, scope="tagger")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer.transitions),
        transitions["tagger/transitions"],
        rtol=1e-6,
    )
    with pytest.raises(ValueError, match=r"Nothing in the checkpoint fits.*CRF"):
        bigger = keras_rnnkit.CRF(6)
        bigger.build((None, None, 6))
        tf1.load_checkpoint(bigger, checkpoint)
