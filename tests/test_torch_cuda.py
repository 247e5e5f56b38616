"""The torch loop on a GPU (skipped without one).

On CUDA the cells that compute exactly PyTorch's LSTM run `torch._VF.lstm`,
i.e. cuDNN's kernels, and the other LSTMs the kit's own autograd function
on GPU tensors. Outputs, final states and every gradient must equal those
of the cell's own `call` in Keras's loop, TF32 switched off on both paths.
"""

import keras
import numpy as np
import pytest
from test_torch_loop import FUSED_CONFIGS, REFERENCE, make_pair, random_states

from keras_rnnkit import DynamicRNN, LayerNormLSTMCell, PeepholeLSTMCell


def _cuda():
    if keras.backend.backend() != "torch":
        return False
    import torch

    return torch.cuda.is_available()


pytestmark = pytest.mark.skipif(
    not _cuda(), reason="tests the torch loop on CUDA: no torch backend with a GPU"
)


@pytest.fixture(autouse=True)
def _no_tf32():
    import torch

    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def run_on_gpu(layer, x, states, lengths):
    import torch

    x = torch.tensor(x, device="cuda", requires_grad=True)
    states = [torch.tensor(s, device="cuda", requires_grad=True) for s in states]
    kwargs = {}
    if lengths is not None:
        kwargs["sequence_length"] = torch.tensor(lengths, device="cuda")
    initial = keras.tree.pack_sequence_as(layer.cell.state_size, states)
    results = layer(x, initial_state=initial, training=True, **kwargs)
    flat = keras.tree.flatten(results)
    assert all(r.device.type == "cuda" for r in flat)
    loss = sum((r * (k + 1.5)).sum() for k, r in enumerate(flat))
    weights = [w.value for w in layer.trainable_weights]
    grads = torch.autograd.grad(
        loss, [x, *states, *weights], allow_unused=True, materialize_grads=True
    )
    return [t.detach().cpu().numpy() for t in (*flat, *grads)]


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("config", [*FUSED_CONFIGS, "keras LSTMCell", "layer norm"])
def test_fused_lstm_on_cuda_equals_the_cells_own_step(config, masked):
    if config == "keras LSTMCell":
        cls, settings = keras.layers.LSTMCell, {}
    elif config == "layer norm":
        cls, settings = LayerNormLSTMCell, {}
    else:
        cls, settings = PeepholeLSTMCell, FUSED_CONFIGS[config]
    assert cls in REFERENCE
    fast_cell, slow_cell = make_pair(cls, settings, 6)
    options = dict(return_sequences=True, return_state=True)
    fast, slow = DynamicRNN(fast_cell, **options), DynamicRNN(slow_cell, **options)
    fast.build((None, 7, 5))
    slow.build((None, 7, 5))
    rng = np.random.default_rng(2)
    fast.set_weights([rng.normal(size=w.shape) for w in fast.get_weights()])
    slow.set_weights(fast.get_weights())
    x = rng.normal(size=(3, 7, 5)).astype("float32")
    states = random_states(rng, fast_cell, 3)
    lengths = np.array([7, 3, 0]) if masked else None
    got = run_on_gpu(fast, x, states, lengths)
    want = run_on_gpu(slow, x, states, lengths)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
