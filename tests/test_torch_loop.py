"""The torch backend's own recurrent loop (keras_rnnkit/_torch_loop.py).

The fused LSTM function (`_torch_lstm.LSTMSequence`, hand-written backward)
must compute what the cell's own `call` computes step by step: outputs,
final states and every gradient, with and without lengths. The reference is
the plain loop of the same module run on a subclass of the cell that
overrides `call` (so the cell protocol gives it no fused form), which calls
the cell's `call` per step and lets autograd differentiate it. Its configs
are drawn from each cell's whole config space (`config_space`). The contract and the TF1 oracle tests check
both paths against the other backends and TF1.
"""

from unittest import mock

import keras
import numpy as np
import pytest
from helpers import draw_lengths
from hypothesis import assume, given
from hypothesis import strategies as st

from keras_rnnkit import (
    DropoutWrapper,
    DynamicRNN,
    LayerNormLSTMCell,
    MultiRNNCell,
    OutputProjectionWrapper,
    PeepholeLSTMCell,
    ResidualWrapper,
    cell_protocol,
)

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "torch",
    reason=f"tests the torch loop, running {keras.backend.backend()}",
)


class _LSTMCell(keras.layers.LSTMCell):
    """Same math; its own `call` keeps it out of the fused path (it names
    `training`, or Keras would not pass it)."""

    def call(self, inputs, states, training=False):
        return super().call(inputs, states, training=training)


class _PeepholeLSTMCell(PeepholeLSTMCell):
    """Same math; its own `call` keeps it out of the fused path (it names
    `training`, or Keras would not pass it)."""

    def call(self, inputs, states, training=False):
        return super().call(inputs, states, training=training)


class _LayerNormLSTMCell(LayerNormLSTMCell):
    """Same math; its own `call` keeps it out of the fused path (it names
    `training`, or Keras would not pass it)."""

    def call(self, inputs, states, training=False):
        return super().call(inputs, states, training=training)


REFERENCE = {
    PeepholeLSTMCell: _PeepholeLSTMCell,
    keras.layers.LSTMCell: _LSTMCell,
    LayerNormLSTMCell: _LayerNormLSTMCell,
}

# A strategy for every setting of the cells with a fused form. The configs
# of the parity test are drawn from the cell's whole config space: every
# `get_config` key that its `fused_form` does not declare irrelevant
# (`fused_form_ignores`) must have a strategy here, or the test fails.
SETTINGS = {
    "use_peepholes": st.booleans(),
    "cell_clip": st.none() | st.sampled_from([0.3, 1.5]),
    "num_proj": st.none() | st.integers(1, 3),
    "proj_clip": st.none() | st.sampled_from([0.2, 1.0]),
    "forget_bias": st.sampled_from([0.0, 1.0, -0.5]),
    "use_bias": st.booleans(),
    "activation": st.sampled_from(["tanh", "tanh", "sigmoid"]),
    "recurrent_activation": st.sampled_from(["sigmoid", "sigmoid", "hard_sigmoid"]),
    "norm": st.sampled_from(["fused", "per_gate"]),
    "norm_epsilon": st.none() | st.sampled_from([1e-5, 0.1]),
    "dropout": st.sampled_from([0.0, 0.3]),  # off at inference: same numbers
    "recurrent_dropout": st.sampled_from([0.0, 0.3]),
}
STANDARD_KEYS = {"name", "dtype", "trainable"}


def config_space(cls):
    """The settings of `cls` that can change its fused form's numbers."""
    cell = cls(3)
    keys = set(cell.get_config()) - STANDARD_KEYS
    keys -= set(cell_protocol.fused_form_ignores(cell))
    missing = sorted(keys - set(SETTINGS))
    assert not missing, f"no strategy for {cls.__name__}'s settings {missing}"
    return st.fixed_dictionaries({key: SETTINGS[key] for key in sorted(keys)})


# Configurations that compute on the fused path (path coverage, not parity).
FUSED_CONFIGS = {
    "peepholes": {},
    "clip": {"cell_clip": 0.4},
    "projection": {"num_proj": 3},
    "projection+clips": {"num_proj": 3, "proj_clip": 0.3, "cell_clip": 0.5},
    "no peepholes, tf1 forget bias": {
        "use_peepholes": False,
        "forget_bias": 1.0,
        "unit_forget_bias": False,
    },
    "no bias": {"use_bias": False},
    # PyTorch's own LSTM computes these two (torch._VF.lstm):
    "no peepholes": {"use_peepholes": False},
    "no peepholes, no bias": {"use_peepholes": False, "use_bias": False},
}


def make_pair(cls, config, units, dtype=None):
    """(fast cell, reference cell) of `cls` with the same settings."""
    return cls(units, dtype=dtype, **config), REFERENCE[cls](
        units, dtype=dtype, **config
    )


def run(layer, x, states, lengths, seed, training=False):
    """Outputs, final states and the gradients of a random weighting of
    them with respect to the inputs, initial states and weights."""
    import torch

    x = torch.tensor(x, requires_grad=True)
    states = [torch.tensor(s, requires_grad=True) for s in states]
    kwargs = {}
    if lengths is not None:
        kwargs["sequence_length"] = torch.tensor(lengths)
    initial = keras.tree.pack_sequence_as(layer.cell.state_size, states)
    results = layer(x, initial_state=initial, training=training, **kwargs)
    rng = np.random.default_rng(seed)
    loss = sum(
        (r * torch.tensor(rng.normal(size=tuple(r.shape)).astype("float32"))).sum()
        for r in keras.tree.flatten(results)
    )
    weights = [w.value for w in layer.trainable_weights]
    grads = torch.autograd.grad(
        loss, [x, *states, *weights], allow_unused=True, materialize_grads=True
    )
    return [t.detach().numpy() for t in (*keras.tree.flatten(results), *grads)]


def random_states(rng, cell, batch, dtype="float32"):
    return [
        rng.normal(size=(batch, size)).astype(dtype)
        for size in keras.tree.flatten(cell.state_size)
    ]


@given(
    cls=st.sampled_from(list(REFERENCE)),
    batch=st.integers(1, 4),
    timesteps=st.integers(1, 6),
    features=st.integers(1, 4),
    units=st.integers(1, 5),
    masked=st.booleans(),
    return_sequences=st.booleans(),
    go_backwards=st.booleans(),
    data=st.data(),
)
def test_fused_lstm_equals_the_cells_own_step(
    cls,
    batch,
    timesteps,
    features,
    units,
    masked,
    return_sequences,
    go_backwards,
    data,
):
    config = data.draw(config_space(cls), label="config")
    assume(config.get("proj_clip") is None or config.get("num_proj") is not None)
    # The layer norm divides by a standard deviation that may be small: its
    # float32 rounding differs with the order of operations, so it is
    # compared in float64, where only the math can differ (both paths
    # compute in float64: a float32 step, as Keras's torch `ops.matmul`
    # made it, is 1e-7 to 1e-5 away).
    dtype = "float64" if cls is LayerNormLSTMCell else "float32"
    tolerance = dict(rtol=2e-5, atol=2e-6)
    if dtype == "float64":
        tolerance = dict(rtol=1e-9, atol=1e-9)
    # A layer norm over one unit is a constant (its shift); what rounding
    # leaves of the centred value then meets an epsilon of 1e-12.
    assume(units > 1 or cls is not LayerNormLSTMCell)
    fast_cell, slow_cell = make_pair(cls, config, units, dtype)
    options = dict(
        return_sequences=return_sequences,
        return_state=True,
        go_backwards=go_backwards,
        dtype=dtype,
    )
    fast, slow = DynamicRNN(fast_cell, **options), DynamicRNN(slow_cell, **options)
    fast.build((None, timesteps, features))
    slow.build((None, timesteps, features))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    slow.set_weights([w * 2 for w in fast.get_weights()])  # larger: clips act
    fast.set_weights(slow.get_weights())
    x = rng.normal(size=(batch, timesteps, features)).astype(dtype)
    states = random_states(rng, fast_cell, batch, dtype)
    lengths = draw_lengths(data, batch, timesteps) if masked else None
    got = run(fast, x, states, lengths, seed=1)
    want = run(slow, x, states, lengths, seed=1)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, **tolerance)


@pytest.mark.parametrize("norm", ["fused", "per_gate"])
@pytest.mark.parametrize("use_bias", [False, True])
def test_float64_layer_norm_lstm_step_is_computed_in_float64(norm, use_bias):
    # Found by the thorough profile of the test above (fused, no bias):
    # Keras's torch `ops.matmul` computed the float64 step's products in
    # float32 (and `ops.mean` its sums), 2e-5 away from the fused loop.
    config = dict(norm=norm, use_bias=use_bias)
    fast_cell, slow_cell = make_pair(LayerNormLSTMCell, config, 5, "float64")
    options = dict(return_sequences=True, return_state=True, dtype="float64")
    fast, slow = DynamicRNN(fast_cell, **options), DynamicRNN(slow_cell, **options)
    fast.build((None, 2, 2))
    slow.build((None, 2, 2))
    rng = np.random.default_rng(0)
    slow.set_weights([w * 2 for w in fast.get_weights()])
    fast.set_weights(slow.get_weights())
    x = rng.normal(size=(3, 2, 2))
    states = random_states(rng, fast_cell, 3, "float64")
    got = run(fast, x, states, None, seed=1)
    want = run(slow, x, states, None, seed=1)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype == np.float64
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-10)


FLOAT64_CELLS = {
    "peepholes": lambda cls: cls(4, dtype="float64"),
    "clips+projection": lambda cls: cls(
        4, cell_clip=0.3, num_proj=2, proj_clip=0.2, dtype="float64"
    ),
    "torch's own lstm": lambda cls: cls(4, use_peepholes=False, dtype="float64"),
    "projection wrapper": lambda cls: OutputProjectionWrapper(
        cls(4, dtype="float64"), 2, "tanh", dtype="float64"
    ),
}


@pytest.mark.parametrize("name", sorted(FLOAT64_CELLS))
def test_float64_lstm_step_is_computed_in_float64(name):
    # Keras's torch `ops.matmul` computed float64 in float32, and `ops.clip`
    # clipped at float32(0.3): the step was 1e-7 away from the fused loop.
    make = FLOAT64_CELLS[name]
    options = dict(return_sequences=True, return_state=True, dtype="float64")
    fast = DynamicRNN(make(PeepholeLSTMCell), **options)
    slow = DynamicRNN(make(_PeepholeLSTMCell), **options)
    fast.build((None, 4, 3))
    slow.build((None, 4, 3))
    rng = np.random.default_rng(0)
    slow.set_weights([w * 2 for w in fast.get_weights()])  # larger: clips act
    fast.set_weights(slow.get_weights())
    x = rng.normal(size=(3, 4, 3))
    states = random_states(rng, fast.cell, 3, "float64")
    got = run(fast, x, states, None, seed=1)
    want = run(slow, x, states, None, seed=1)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype == np.float64
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-10)


WRAPPERS = {
    "projection": lambda cell, units: OutputProjectionWrapper(cell, 2, "tanh"),
    "residual": lambda cell, units: ResidualWrapper(cell),
    "dropout": lambda cell, units: DropoutWrapper(cell, 0.3, 0.0, 0.4, seed=3),
    "multi": lambda cell, units: MultiRNNCell([cell, keras.layers.LSTMCell(units)]),
    "stacked": lambda cell, units: keras.layers.StackedRNNCells(
        [keras.layers.LSTMCell(units), cell]
    ),
}


@given(
    wrapper=st.sampled_from(sorted(WRAPPERS)),
    batch=st.integers(1, 4),
    timesteps=st.integers(1, 5),
    units=st.integers(1, 4),
    masked=st.booleans(),
    training=st.booleans(),
    data=st.data(),
)
def test_wrapped_lstm_runs_whole_sequences_with_the_same_numbers(
    wrapper, batch, timesteps, units, masked, training, data
):
    wrap = WRAPPERS[wrapper]
    fast = DynamicRNN(
        wrap(PeepholeLSTMCell(units, cell_clip=0.5), units), return_state=True
    )
    slow = DynamicRNN(
        wrap(_PeepholeLSTMCell(units, cell_clip=0.5), units), return_state=True
    )
    fast.build((None, timesteps, units))  # as many features as units: residual
    slow.build((None, timesteps, units))
    slow.set_weights(fast.get_weights())
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    x = rng.normal(size=(batch, timesteps, units)).astype("float32")
    states = random_states(rng, fast.cell, batch)
    lengths = draw_lengths(data, batch, timesteps) if masked else None
    got = run(fast, x, states, lengths, seed=1, training=training)
    want = run(slow, x, states, lengths, seed=1, training=training)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("config", [*FUSED_CONFIGS, "keras LSTMCell"])
def test_lstm_cells_take_the_fused_path(config):
    from keras_rnnkit import _torch_loop

    if config == "keras LSTMCell":
        fast, slow = make_pair(keras.layers.LSTMCell, {}, 4)
    else:
        fast, slow = make_pair(PeepholeLSTMCell, FUSED_CONFIGS[config], 4)
    layer = DynamicRNN(fast, return_sequences=True)
    x = np.ones((3, 5, 2), "float32")
    with mock.patch.object(_torch_loop, "_run_cell", side_effect=AssertionError):
        layer(x)
        layer(x, sequence_length=np.array([5, 0, 2]))
        layer(x, training=True)
    # A mask that is not right padding falls back to the per-step loop, and
    # so does the reference cell, whose own `call` the parity tests run.
    for stepped, kwargs in (
        (layer, {"mask": np.array([[False, True, True, True, True]] * 3)}),
        (DynamicRNN(slow, return_sequences=True), {}),
    ):
        with pytest.raises(AssertionError):
            with mock.patch.object(
                _torch_loop, "_run_cell", side_effect=AssertionError
            ):
                stepped(x, **kwargs)


# what PyTorch's own LSTM (cuDNN's on a GPU) computes, and what it does not
TORCH_LSTM_CONFIGS = {
    "no peepholes": True,
    "no peepholes, no bias": True,
    "no peepholes, tf1 forget bias": True,
    "peepholes": False,
    "clip": False,
    "projection": False,
}


@pytest.mark.parametrize("config", sorted(TORCH_LSTM_CONFIGS))
def test_lstms_that_are_pytorchs_run_pytorchs_lstm(config):
    from keras_rnnkit import _torch_loop

    settings = dict(FUSED_CONFIGS[config])
    if config == "no peepholes, no bias":
        settings["forget_bias"] = 0.5  # folded into a bias of its own
    fast, slow = make_pair(PeepholeLSTMCell, settings, 4)
    layer, reference = DynamicRNN(fast), DynamicRNN(slow)
    layer.build((None, 5, 2))
    reference.build((None, 5, 2))
    rng = np.random.default_rng(0)
    layer.set_weights([rng.normal(size=w.shape) for w in layer.get_weights()])
    reference.set_weights(layer.get_weights())
    x = rng.normal(size=(3, 5, 2)).astype("float32")
    states = random_states(rng, fast, 3)
    real = _torch_loop._run_torch_lstm
    with mock.patch.object(_torch_loop, "_run_torch_lstm", side_effect=real) as spy:
        got = run(layer, x, states, None, seed=2)
    assert spy.called == TORCH_LSTM_CONFIGS[config]
    want = run(reference, x, states, None, seed=2)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("lengths", [None, [5, 2, 0]])
def test_pytorchs_lstm_runs_in_training_mode_when_gradients_are_wanted(lengths):
    """cuDNN keeps what its backward pass needs only in training mode."""
    from keras_rnnkit import _compat, _torch_loop

    seen = []

    def spy():
        real = _compat.torch_lstm()

        def call(*args):
            seen.append(args[6] if lengths is None else args[7])
            return real(*args)

        return call

    layer = DynamicRNN(PeepholeLSTMCell(3, use_peepholes=False))
    x = np.ones((3, 5, 2), "float32")
    kwargs = {} if lengths is None else {"sequence_length": np.array(lengths)}
    with mock.patch.object(_torch_loop, "torch_lstm", spy):
        layer(x, **kwargs)
        with torch_no_grad():
            layer(x, **kwargs)
    assert seen == [True, False]


def torch_no_grad():
    import torch

    return torch.no_grad()


def test_dropout_while_training_takes_the_fused_path_with_the_drawn_masks():
    from keras_rnnkit import _torch_loop

    layer = DynamicRNN(PeepholeLSTMCell(4, dropout=0.5, recurrent_dropout=0.5))
    x = np.ones((3, 5, 2), "float32")
    sequence = _torch_loop.LSTMSequence
    masks = []

    def apply(*args):
        masks.append(args[-2])  # h_mask
        return sequence.apply(*args)

    with (
        mock.patch.object(_torch_loop, "_run_cell", side_effect=AssertionError),
        mock.patch.object(_torch_loop, "LSTMSequence", apply=apply),
    ):
        layer(x)  # inference: dropout is off
        layer(x, training=True)
    assert masks[0] is None
    kept = masks[1].numpy()
    assert kept.shape == (3, 4) and set(np.unique(kept)) <= {0.0, 2.0}
    assert (kept == 0).any() and (kept == 2).any()


def assert_trains_like_the_cells_own_step(cls, config, x, lengths, go_backwards, seed):
    """The fused path and the cell's own step, training with dropout: the
    same outputs, states and gradients (both layers draw the same masks:
    same seed, same order)."""
    dtype = x.dtype.name
    fast_cell, slow_cell = make_pair(cls, {**config, "seed": 7}, 3, dtype)
    options = dict(
        return_sequences=True, return_state=True, go_backwards=go_backwards, dtype=dtype
    )
    fast, slow = DynamicRNN(fast_cell, **options), DynamicRNN(slow_cell, **options)
    fast.build((None, *x.shape[1:]))
    slow.build((None, *x.shape[1:]))
    rng = np.random.default_rng(seed)
    slow.set_weights([w * 2 for w in fast.get_weights()])
    fast.set_weights(slow.get_weights())
    states = random_states(rng, fast_cell, len(x), dtype)
    got = run(fast, x, states, lengths, seed=1, training=True)
    want = run(slow, x, states, lengths, seed=1, training=True)
    tolerance = dict(rtol=2e-5, atol=2e-6)
    if dtype == "float64":
        tolerance = dict(rtol=1e-9, atol=1e-9)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, **tolerance)


@given(
    cls=st.sampled_from([PeepholeLSTMCell, LayerNormLSTMCell]),
    batch=st.integers(1, 4),
    timesteps=st.integers(1, 5),
    dropout=st.sampled_from([0.0, 0.4]),
    recurrent_dropout=st.sampled_from([0.0, 0.4]),
    masked=st.booleans(),
    go_backwards=st.booleans(),
    data=st.data(),
)
def test_fused_lstm_trains_with_the_cells_own_dropout_masks(
    cls, batch, timesteps, dropout, recurrent_dropout, masked, go_backwards, data
):
    # The fast path applies the masks on whole sequences (input) or in its
    # loop (recurrent); the layer norm compares in float64 (see above).
    config = dict(dropout=dropout, recurrent_dropout=recurrent_dropout)
    if cls is PeepholeLSTMCell:
        config["num_proj"] = data.draw(st.none() | st.integers(1, 3), label="num_proj")
    dtype = "float64" if cls is LayerNormLSTMCell else "float32"
    seed = data.draw(st.integers(0, 2**16))
    x = np.random.default_rng(seed).normal(size=(batch, timesteps, 3)).astype(dtype)
    lengths = draw_lengths(data, batch, timesteps) if masked else None
    assert_trains_like_the_cells_own_step(cls, config, x, lengths, go_backwards, seed)


@pytest.mark.parametrize("go_backwards", [False, True])
def test_recurrent_dropout_masks_follow_the_rows_sorted_by_length(go_backwards):
    # Rows run sorted by length, longest first: each row keeps its own mask.
    x = np.random.default_rng(4).normal(size=(4, 5, 3)).astype("float32")
    config = dict(recurrent_dropout=0.5, num_proj=2)
    lengths = np.array([1, 5, 0, 3])
    assert_trains_like_the_cells_own_step(
        PeepholeLSTMCell, config, x, lengths, go_backwards, seed=3
    )


@pytest.mark.parametrize(
    "make_cell",
    [
        lambda: PeepholeLSTMCell(4, cell_clip=1.0, num_proj=3),
        lambda: keras.layers.GRUCell(4),
    ],
    ids=["fused LSTM", "per-step loop"],
)
def test_nan_in_padding_reaches_neither_outputs_nor_gradients(make_cell):
    import torch

    layer = DynamicRNN(make_cell(), return_sequences=True, return_state=True)
    rng = np.random.default_rng(0)
    clean = rng.normal(size=(3, 6, 2)).astype("float32")
    lengths = np.array([6, 2, 0])
    padded = clean.copy()
    for row, length in enumerate(lengths):
        padded[row, length:] = np.nan

    def outputs_and_grads(x):
        x = torch.tensor(x, requires_grad=True)
        results = layer(x, sequence_length=torch.tensor(lengths))
        loss = sum(r.sum() for r in results)
        weights = [w.value for w in layer.trainable_weights]
        grads = torch.autograd.grad(loss, [x, *weights])
        return [t.detach().numpy() for t in (*results, *grads)]

    layer(clean)
    for got, want in zip(
        outputs_and_grads(padded), outputs_and_grads(clean), strict=True
    ):
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
def test_wrapped_lstm_cells_take_the_whole_sequence_path(wrapper):
    from keras_rnnkit import _torch_loop

    layer = DynamicRNN(WRAPPERS[wrapper](PeepholeLSTMCell(3), 3))
    x = np.ones((2, 4, 3), "float32")
    with mock.patch.object(_torch_loop, "_run_cell", side_effect=AssertionError):
        layer(x, sequence_length=np.array([4, 1]))
        layer(x, training=True)


@pytest.mark.parametrize("norm", ["fused", "per_gate"])
def test_layer_norm_lstm_takes_the_fused_path_unless_recurrent_dropout_trains(norm):
    from keras_rnnkit import _torch_loop

    layer = DynamicRNN(
        LayerNormLSTMCell(4, norm=norm, dropout=0.3, recurrent_dropout=0.3),
        return_state=True,
    )
    x = np.ones((3, 5, 2), "float32")
    sequence = _torch_loop.LayerNormLSTMSequence
    calls = []

    def apply(*args):
        calls.append(args[-1][:2])  # (batch_sizes, per_gate)
        return sequence.apply(*args)

    with (
        mock.patch.object(_torch_loop, "_run_cell", side_effect=AssertionError),
        mock.patch.object(_torch_loop, "LayerNormLSTMSequence", apply=apply),
    ):
        layer(x)
        layer(x, sequence_length=np.array([5, 0, 2]))
        with pytest.raises(AssertionError):
            layer(x, training=True)
    per_gate = norm == "per_gate"
    assert calls == [(None, per_gate), ([2, 2, 1, 1, 1], per_gate)]
    layer.cell.recurrent_dropout = 0.0  # input dropout alone: a masked form
    with mock.patch.object(_torch_loop, "_run_cell", side_effect=AssertionError):
        layer(x, training=True)


@pytest.mark.parametrize("cls", [PeepholeLSTMCell, LayerNormLSTMCell])
def test_second_order_gradients_raise_instead_of_missing_the_recurrence(cls):
    # The hand-written backward passes are first-order: differentiating them
    # (a gradient penalty) would drop the recurrence's part without a word.
    import torch

    x = torch.tensor(
        np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32"),
        requires_grad=True,
    )
    layer = DynamicRNN(cls(3))
    (gx,) = torch.autograd.grad(layer(x).sum(), x)  # first order: fine
    assert gx.shape == x.shape and bool(torch.isfinite(gx).all())
    with pytest.raises(RuntimeError, match="first-order gradients only"):
        torch.autograd.grad(layer(x).sum(), x, create_graph=True)
    # the step-by-step loop (a subclass with its own `call`) differentiates twice
    slow = DynamicRNN(REFERENCE[cls](3))
    slow.build((None, 4, 3))
    (gx,) = torch.autograd.grad(slow(x).sum(), x, create_graph=True)
    (gw,) = torch.autograd.grad((gx**2).sum(), slow.trainable_weights[1].value)
    assert float(gw.abs().sum()) > 0
