"""The JAX backend's own loop for cells with a fused form (_jax_loop.py).

Outputs, final states and every gradient must equal those of the cell's
own `call` run step by step by Keras's loop (the reference: a subclass that
overrides `call`, which the cell protocol therefore gives no fused form),
with and without masks, in training (the custom VJP) and at inference (a
plain scan), under `jax.jit`. Configs are drawn from each cell's config
space (tests/test_torch_loop.py's `config_space`).
"""

from unittest import mock

import keras
import numpy as np
import pytest
from helpers import draw_lengths
from hypothesis import assume, given
from hypothesis import strategies as st
from test_torch_loop import REFERENCE, WRAPPERS, config_space, make_pair

from keras_rnnkit import DynamicRNN, LayerNormLSTMCell, PeepholeLSTMCell

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason=f"tests the JAX loop, running {keras.backend.backend()}",
)


def outputs_and_gradients(layer, x, states, lengths, training):
    """Outputs, final states and the gradients of a fixed weighting of them
    with respect to the inputs, the initial states and every weight, from
    one jitted function."""
    import jax

    trainable = [v.value for v in layer.trainable_variables]
    fixed = [v.value for v in layer.non_trainable_variables]
    kwargs = {} if lengths is None else {"sequence_length": lengths}

    def plain(nest):  # Keras tracks state_size in lists JAX cannot take
        return [plain(n) for n in nest] if isinstance(nest, list) else nest

    def results(weights, x, states):
        initial = plain(keras.tree.pack_sequence_as(layer.cell.state_size, states))
        out, _ = layer.stateless_call(
            weights, fixed, x, initial_state=initial, training=training, **kwargs
        )
        return keras.tree.flatten(out)

    def loss(weights, x, states):
        flat = results(weights, x, states)
        return sum(((k + 1.5) * r * r).sum() / 7 + r.sum() for k, r in enumerate(flat))

    value_and_grads = jax.jit(
        lambda w, x, s: (results(w, x, s), jax.grad(loss, (0, 1, 2))(w, x, s))
    )
    out, grads = value_and_grads(trainable, x, states)
    return [np.asarray(t) for t in (*out, *jax.tree.leaves(grads))]


@given(
    cls=st.sampled_from([PeepholeLSTMCell, keras.layers.LSTMCell]),
    batch=st.integers(1, 3),
    timesteps=st.integers(1, 5),
    features=st.integers(1, 3),
    units=st.integers(1, 4),
    masked=st.booleans(),
    training=st.booleans(),
    go_backwards=st.booleans(),
    data=st.data(),
)
def test_fused_lstm_equals_the_cells_own_step(
    cls, batch, timesteps, features, units, masked, training, go_backwards, data
):
    config = data.draw(config_space(cls), label="config")
    assume(config.get("proj_clip") is None or config.get("num_proj") is not None)
    fast_cell, slow_cell = make_pair(cls, config, units)
    options = dict(return_sequences=True, return_state=True, go_backwards=go_backwards)
    fast, slow = DynamicRNN(fast_cell, **options), DynamicRNN(slow_cell, **options)
    fast.build((None, timesteps, features))
    slow.build((None, timesteps, features))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    slow.set_weights([w * 2 for w in fast.get_weights()])  # larger: clips act
    fast.set_weights(slow.get_weights())
    # The dropout masks come from the cells' seed generators: the same state
    # in both, so that both draw the same masks (input dropout then runs on
    # the kit's loop, recurrent dropout on Keras's).
    pairs = zip(slow.non_trainable_variables, fast.non_trainable_variables, strict=True)
    for a, b in pairs:
        a.assign(b.value)
    x = rng.normal(size=(batch, timesteps, features)).astype("float32")
    states = [
        rng.normal(size=(batch, size)).astype("float32")
        for size in keras.tree.flatten(fast_cell.state_size)
    ]
    lengths = draw_lengths(data, batch, timesteps) if masked else None
    got = outputs_and_gradients(fast, x, states, lengths, training)
    want = outputs_and_gradients(slow, x, states, lengths, training)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize(
    "cls, config",
    [
        (PeepholeLSTMCell, {"dropout": 0.3}),  # the kit's loop, masked inputs
        (PeepholeLSTMCell, {"dropout": 0.3, "num_proj": 2, "cell_clip": 0.5}),
        (PeepholeLSTMCell, {"dropout": 0.3, "recurrent_dropout": 0.3}),  # Keras's
        (LayerNormLSTMCell, {"dropout": 0.3}),
    ],
)
def test_dropout_trains_with_the_cells_own_masks(cls, config):
    fast_cell, slow_cell = make_pair(cls, config, 3)
    fast = DynamicRNN(fast_cell, return_sequences=True, return_state=True)
    slow = DynamicRNN(slow_cell, return_sequences=True, return_state=True)
    fast.build((None, 4, 2))
    slow.build((None, 4, 2))
    slow.set_weights(fast.get_weights())
    pairs = zip(slow.non_trainable_variables, fast.non_trainable_variables, strict=True)
    for a, b in pairs:  # the same seed generator state: the same masks
        a.assign(b.value)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 4, 2)).astype("float32")
    states = [
        rng.normal(size=(3, size)).astype("float32")
        for size in keras.tree.flatten(fast_cell.state_size)
    ]
    lengths = np.array([4, 1, 3])
    got = outputs_and_gradients(fast, x, states, lengths, training=True)
    want = outputs_and_gradients(slow, x, states, lengths, training=True)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)
    inference = outputs_and_gradients(fast, x, states, lengths, training=False)
    assert not np.allclose(got[0], inference[0])  # the masks acted


@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
@pytest.mark.parametrize("training", [False, True])
def test_wrapped_lstm_runs_whole_sequences_with_the_same_numbers(wrapper, training):
    wrap = WRAPPERS[wrapper]
    units = 3
    fast = DynamicRNN(wrap(PeepholeLSTMCell(units, cell_clip=0.5), units))
    slow = DynamicRNN(wrap(REFERENCE[PeepholeLSTMCell](units, cell_clip=0.5), units))
    fast.build((None, 4, units))  # as many features as units: residual
    slow.build((None, 4, units))
    slow.set_weights(fast.get_weights())
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 4, units)).astype("float32")
    states = [
        rng.normal(size=(2, size)).astype("float32")
        for size in keras.tree.flatten(fast.cell.state_size)
    ]
    lengths = np.array([4, 1])
    if wrapper == "dropout" and training:
        # the masks are drawn from the layer's seed generators: give both
        # layers the same state
        pairs = zip(
            slow.non_trainable_variables, fast.non_trainable_variables, strict=True
        )
        for a, b in pairs:
            a.assign(b.value)
    got = outputs_and_gradients(fast, x, states, lengths, training)
    want = outputs_and_gradients(slow, x, states, lengths, training)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)


def test_lstm_cells_take_the_kits_loop_and_others_keras():
    from keras_rnnkit import _jax_loop

    x = np.ones((2, 4, 3), "float32")
    calls = []
    real = _jax_loop.form_runner

    def spy(*args):
        runner = real(*args)
        calls.append(runner is not None)
        return runner

    with mock.patch.object(_jax_loop, "form_runner", spy):
        DynamicRNN(PeepholeLSTMCell(3))(x, training=True)
        DynamicRNN(keras.layers.LSTMCell(3))(x, sequence_length=np.array([4, 1]))
        assert calls == [True, True]
        DynamicRNN(keras.layers.GRUCell(3))(x)  # no fused form
        DynamicRNN(LayerNormLSTMCell(3))(x)  # a form without a JAX runner
    assert calls == [True, True, False]
