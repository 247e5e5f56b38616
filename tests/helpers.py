"""Test helpers shared by several test modules (the contract is contract.py)."""

import keras
import numpy as np
import pytest

from keras_rnnkit import (
    DropoutWrapper,
    DynamicRNN,
    MultiRNNCell,
    OutputProjectionWrapper,
    PeepholeLSTMCell,
    ResidualWrapper,
    tf1,
)


class IdentityCell(keras.layers.Layer):
    """A cell whose output and single state are its input: shows masks."""

    def __init__(self, size, **kwargs):
        super().__init__(**kwargs)
        self.state_size = size
        self.output_size = size

    def call(self, inputs, states):
        return inputs, [inputs]


def rnn_factory(make_cell, **rnn_kwargs):
    """A contract `Case.make` running `make_cell(units, dtype)` in DynamicRNN."""

    def make(units, dtype=None, **kwargs):
        return DynamicRNN(make_cell(units, dtype), dtype=dtype, **rnn_kwargs, **kwargs)

    return make


def draw_lengths(data, batch, timesteps):
    """Hypothesis: per-row lengths in [0, timesteps], 0 and full included."""
    from hypothesis import strategies as st

    lengths = st.lists(st.integers(0, timesteps), min_size=batch, max_size=batch)
    return np.array(data.draw(lengths))


def lstm_variables(rng, input_dim, units, num_proj=None, use_peepholes=False):
    """Random variables of a TF1 LSTMCell, keyed by their TF1 names."""
    out = num_proj or units
    variables = {
        "kernel": rng.normal(scale=0.5, size=(input_dim + out, 4 * units)),
        "bias": rng.normal(scale=0.5, size=(4 * units,)),
    }
    if use_peepholes:
        for name in ("w_i_diag", "w_f_diag", "w_o_diag"):
            variables[name] = rng.normal(scale=0.5, size=(units,))
    if num_proj:
        variables["projection/kernel"] = rng.normal(size=(units, num_proj))
    return variables


def lstm_spec(rng, input_dim, units, **options):
    """A TF1 LSTMCell spec for tests/tf1_oracle.py, with random variables."""
    variables = lstm_variables(
        rng,
        input_dim,
        units,
        options.get("num_proj"),
        options.get("use_peepholes", False),
    )
    return dict(
        type="lstm", input_dim=input_dim, units=units, variables=variables, **options
    )


def respec(rng, spec):
    """The same cell structure as `spec`, with new random variables."""
    if spec["type"] == "lstm":
        variables = lstm_variables(
            rng,
            spec["input_dim"],
            spec["units"],
            spec.get("num_proj"),
            spec.get("use_peepholes", False),
        )
        return dict(spec, variables=variables)
    if spec["type"] == "multi":
        return dict(spec, cells=[respec(rng, inner) for inner in spec["cells"]])
    return dict(spec, cell=respec(rng, spec["cell"]))


def spec_input_dim(spec):
    if spec["type"] == "lstm":
        return spec["input_dim"]
    if spec["type"] == "multi":
        return spec_input_dim(spec["cells"][0])
    return spec_input_dim(spec["cell"])


def kit_cell(spec):
    """The keras_rnnkit cell computing what the TF1 cell of `spec` computes."""
    kind = spec["type"]
    if kind == "lstm":
        cell = PeepholeLSTMCell(
            spec["units"],
            use_peepholes=spec.get("use_peepholes", False),
            cell_clip=spec.get("cell_clip"),
            num_proj=spec.get("num_proj"),
            proj_clip=spec.get("proj_clip"),
        )
        tf1.set_lstm_weights(cell, spec["variables"], spec.get("forget_bias", 1.0))
        return cell
    if kind == "residual":
        return ResidualWrapper(kit_cell(spec["cell"]))
    if kind == "dropout":
        return DropoutWrapper(
            kit_cell(spec["cell"]),
            input_keep_prob=spec["input_keep_prob"],
            state_keep_prob=spec["state_keep_prob"],
            output_keep_prob=spec["output_keep_prob"],
        )
    if kind == "multi":
        return MultiRNNCell([kit_cell(inner) for inner in spec["cells"]])
    if kind == "projection":
        inner = kit_cell(spec["cell"])
        cell = OutputProjectionWrapper(inner, spec["kernel"].shape[1])
        cell.build((None, spec_input_dim(spec)))
        cell.kernel.assign(spec["kernel"])
        cell.bias.assign(spec["bias"])
        return cell
    raise ValueError(kind)


def tf1_state_order(spec, offset=0):
    """Indices that put the kit's flattened states in TF1's flat order
    (TF1 LSTM states are (c, h); the kit's and Keras's are [h, c])."""
    if spec["type"] == "lstm":
        return [offset + 1, offset]
    if spec["type"] == "multi":
        order = []
        for inner in spec["cells"]:
            order += tf1_state_order(inner, offset + len(order))
        return order
    return tf1_state_order(spec["cell"], offset)


def compare_with_tf1(oracle, spec, inputs, lengths, training=False, atol=1e-5):
    """Runs TF1's dynamic_rnn and the kit's RNN on the same cell and data and
    asserts that outputs and final states agree."""
    want = oracle("dynamic_rnn", cell=spec, inputs=inputs, sequence_length=lengths)
    layer = DynamicRNN(kit_cell(spec), return_sequences=True, return_state=True)
    outputs, *states = layer(
        inputs.astype("float32"), sequence_length=np.asarray(lengths), training=training
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(outputs), want["outputs"], rtol=1e-5, atol=atol
    )
    states = [keras.ops.convert_to_numpy(s) for s in keras.tree.flatten(states)]
    order = tf1_state_order(spec)
    assert len(states) == len(want["state"]) == len(order)
    for index, expected in zip(order, want["state"], strict=True):
        np.testing.assert_allclose(states[index], expected, rtol=1e-5, atol=atol)
    return layer


def load_or_skip(loader, *args, **kwargs):
    """`loader(*args, **kwargs)` from `keras_rnnkit.recipes.datasets`, or a skip that
    says which data set is missing and why (what to install, what failed)."""
    from keras_rnnkit.recipes.datasets import DatasetNotAvailable

    try:
        return loader(*args, **kwargs)
    except DatasetNotAvailable as e:
        pytest.skip(f"{loader.__name__}: data set not available: {e}")


def assert_matches_tfa_run(cell, outputs, states, fixtures, name, atol, both=False):
    """Compares a run of the kit's `AttentionWrapper` `cell` (its `outputs`
    and final `states`) with tensorflow-addons' run `name` in `fixtures`:
    the outputs (and alignment histories), the cell's h and c, the
    attention, each mechanism's alignments and, with `both`, its attention
    state (fixtures that recorded it)."""
    outputs = np.asarray(keras.ops.convert_to_numpy(outputs))
    if cell.alignment_history:
        outputs, histories = cell.split_alignment_history(outputs)
        for i, history in enumerate(histories):
            np.testing.assert_allclose(
                history, fixtures[f"{name}/history_{i}"], atol=atol
            )
    np.testing.assert_allclose(outputs, fixtures[f"{name}/outputs"], atol=atol)
    states = [np.asarray(keras.ops.convert_to_numpy(s)) for s in states]
    layout = dict(zip(cell.state_layout(), states, strict=True))
    expected = {"cell_state_0": "h", "cell_state_1": "c", "attention": "attention"}
    for i in range(len(cell.attention_mechanisms)):
        expected[f"alignments_{i}"] = f"alignments_{i}"
        if both:
            expected[f"attention_state_{i}"] = f"attention_state_{i}"
    for key, fixture in expected.items():
        np.testing.assert_allclose(
            layout[key], fixtures[f"{name}/{fixture}"], atol=atol, err_msg=key
        )
