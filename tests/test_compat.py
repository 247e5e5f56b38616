"""Fails loudly when Keras or torch moves a private piece keras_rnnkit relies on.

`keras_rnnkit/_compat.py` is the only module of the package that touches
private Keras or torch code; each piece it names has a test here, down to
the attribute names. `test_no_other_module_touches_private_code` keeps it
the only one.
"""

import ast
import inspect
import pathlib
import threading

import keras
import numpy as np
import pytest

from keras_rnnkit import PeepholeLSTMCell, _compat

PACKAGE = pathlib.Path(_compat.__file__).parent


def test_dropout_rnn_cell_is_where_compat_expects_it():
    from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

    assert _compat.DropoutRNNCell is DropoutRNNCell
    for method in (
        "get_dropout_mask",
        "get_recurrent_dropout_mask",
        "reset_dropout_mask",
        "reset_recurrent_dropout_mask",
    ):
        assert callable(getattr(DropoutRNNCell, method)), method


def test_the_mixin_caches_masks_under_the_names_compat_keeps_per_thread():
    # ThreadLocalMasks shadows these two names; if Keras renamed them, masks
    # would again be shared between threads (and this would pass silently).
    source = inspect.getsource(_compat.DropoutRNNCell)
    for name in ("_dropout_mask", "_recurrent_dropout_mask"):
        assert f"self.{name} = " in source, name
        assert isinstance(vars(_compat.ThreadLocalMasks)[name], property), name


def test_rnn_layer_draws_masks_before_its_loop_and_clears_them_after():
    # The mechanism that keeps random draws out of the scanned step (JAX jit)
    # when kit cells run in keras.layers.RNN.
    calls = []

    class Spy(PeepholeLSTMCell):
        def get_dropout_mask(self, step_input):
            calls.append(("input", tuple(step_input.shape)))
            return super().get_dropout_mask(step_input)

        def get_recurrent_dropout_mask(self, step_input):
            calls.append(("recurrent", tuple(step_input.shape)))
            return super().get_recurrent_dropout_mask(step_input)

    cell = Spy(3, num_proj=2, dropout=0.5, recurrent_dropout=0.5)
    keras.layers.RNN(cell)(np.ones((4, 6, 5), "float32"), training=True)
    # Once each before the loop, with a step input and the h state; none
    # inside the loop, which only reads the cached masks.
    assert calls[:2] == [("input", (4, 5)), ("recurrent", (4, 2))]
    assert cell._dropout_mask is None and cell._recurrent_dropout_mask is None


def test_backend_rnn_takes_the_arguments_dynamic_rnn_passes():
    from keras.src.backend import rnn

    assert _compat.backend_rnn is rnn
    parameters = inspect.signature(rnn).parameters
    for name in (
        "step_function",
        "inputs",
        "initial_states",
        "go_backwards",
        "mask",
        "unroll",
        "input_length",
        "zero_output_for_mask",
        "return_all_outputs",
    ):
        assert name in parameters, name
    # A nest of inputs (sequences, per-step numbers) runs step by step.
    x = np.arange(12, dtype="float32").reshape(2, 3, 2)
    tensors = keras.ops.convert_to_tensor(x), keras.ops.ones((2, 3, 1))

    def step(inputs, states):
        step_input, number = inputs
        total = states[0] + keras.ops.sum(step_input, -1, keepdims=True) * number
        return total, [total]

    last, outputs, states = rnn(
        step,
        tensors,
        [keras.ops.zeros((2, 1))],
        input_length=3,
        return_all_outputs=True,
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(last)[:, 0], x.sum((1, 2)), rtol=1e-6
    )
    assert tuple(outputs.shape) == (2, 3, 1)


def test_torch_lstm_computes_what_torch_nn_lstm_computes():
    if keras.backend.backend() != "torch":
        pytest.skip("torch._VF.lstm is used on the torch backend only")
    import torch

    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 4, batch_first=True)
    x = torch.randn(2, 5, 3)
    h0, c0 = torch.zeros(1, 2, 4), torch.zeros(1, 2, 4)
    want, (h_want, c_want) = lstm(x, (h0, c0))
    weights = [lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0]
    got, h, c = _compat.torch_lstm()(
        x, (h0, c0), weights, True, 1, 0.0, False, False, True
    )
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(h, h_want)
    torch.testing.assert_close(c, c_want)


def test_onednn_linear_multiplies_by_a_packed_weight():
    if keras.backend.backend() != "torch":
        pytest.skip("oneDNN's linear operations are used on the torch backend only")
    import torch

    if not torch.backends.mkldnn.is_available():
        pytest.skip("this torch is built without oneDNN: torch.mm runs instead")
    reorder, linear = _compat.onednn_linear()
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(24, 40, generator=generator)  # (out, in)
    a = torch.randn(6, 40, generator=generator)
    c = torch.randn(6, 24, generator=generator)
    bias = torch.randn(24, generator=generator)
    packed = reorder(weight, 6)
    want = a @ weight.t()
    torch.testing.assert_close(linear(a, packed, None, "none", [], ""), want)
    torch.testing.assert_close(linear(a, packed, bias, "none", [], ""), want + bias)
    torch.testing.assert_close(linear.binary(a, c, packed, None, "add"), want + c)
    torch.testing.assert_close(linear(a[:2], packed, None, "none", [], ""), want[:2])


def test_layer_norm_ops_return_and_take_the_statistics():
    if keras.backend.backend() != "torch":
        pytest.skip("torch's layer-norm kernels are used on the torch backend only")
    import torch

    forward, backward = _compat.layer_norm_ops()
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(5, 3, 8, generator=generator, dtype=torch.float64)
    weight = torch.randn(8, generator=generator, dtype=torch.float64)
    bias = torch.randn(8, generator=generator, dtype=torch.float64)
    d_out = torch.randn(5, 3, 8, generator=generator, dtype=torch.float64)
    out, mean, rstd = forward(x, (8,), weight, bias, 1e-3)
    torch.testing.assert_close(mean, x.mean(-1, keepdim=True))
    variance = x.var(-1, unbiased=False, keepdim=True)
    torch.testing.assert_close(rstd, torch.rsqrt(variance + 1e-3))
    leaf = x.clone().requires_grad_()
    want = torch.nn.functional.layer_norm(leaf, (8,), weight, bias, 1e-3)
    torch.testing.assert_close(out, want)
    want.backward(d_out)
    d_x, d_weight, d_bias = backward(
        d_out, x, (8,), mean, rstd, weight, None, [True, False, False]
    )
    torch.testing.assert_close(d_x, leaf.grad)
    assert d_weight is None and d_bias is None
    # without a weight, over two trailing axes
    _, mean, rstd = forward(x, (3, 8), None, None, 1e-5)
    leaf = x.clone().requires_grad_()
    torch.nn.functional.layer_norm(leaf, (3, 8), eps=1e-5).backward(d_out)
    d_x, _, _ = backward(d_out, x, (3, 8), mean, rstd, None, None, [True, False, False])
    torch.testing.assert_close(d_x, leaf.grad)


def test_masks_are_kept_per_thread():
    cell = PeepholeLSTMCell(3, dropout=0.5)
    cell._dropout_mask = "main"
    seen = []
    thread = threading.Thread(target=lambda: seen.append(cell._dropout_mask))
    thread.start()
    thread.join()
    assert seen == [None] and cell._dropout_mask == "main"
    cell.reset_dropout_mask()
    assert cell._dropout_mask is None


def _private_uses(path):
    """`keras.src` imports and `torch._...` / `keras...._...` attribute chains
    in the module at `path`."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "keras.src"
        ):
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("keras.src")]
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in ("keras", "torch"):
                found.append(ast.unparse(node))
    return found


def test_get_keras_mask_reads_the_mask_keras_attaches():
    from keras_rnnkit._compat import get_keras_mask

    x = keras.ops.ones((2, 3, 4))
    assert get_keras_mask(x) is None
    masked = keras.layers.Masking()(np.array([[[0.0], [1.0]]], "float32"))
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(get_keras_mask(masked)), [[False, True]]
    )


def test_no_other_module_touches_private_code():
    modules = [
        p
        for p in PACKAGE.rglob("*.py")
        if p.name != "_compat.py" and "recipes" not in p.parts
    ]
    assert len(modules) > 20
    offenders = {
        str(p.relative_to(PACKAGE)): uses for p in modules if (uses := _private_uses(p))
    }
    assert offenders == {}
    assert "keras.src.backend" in _private_uses(PACKAGE / "_compat.py")
    assert "torch._VF" in _private_uses(PACKAGE / "_compat.py")
    assert "torch.ops.mkldnn._linear_pointwise" in _private_uses(PACKAGE / "_compat.py")


def test_first_call_arguments_gives_the_tensors_of_the_first_call_in_place():
    from keras_rnnkit._compat import first_call_arguments

    class Two(keras.layers.Layer):
        def call(self, a, b, scale=None, flag=True):
            return a + b if scale is None else (a + b) * scale

    layer = Two()
    assert first_call_arguments(layer) is None
    a, b, s = keras.Input((3,)), keras.Input((3,)), keras.Input((1,))
    layer(a, b, scale=s, flag=False)
    layer(b, a)
    args, kwargs = first_call_arguments(layer)
    assert args[0] is a and args[1] is b
    assert kwargs["scale"] is s and kwargs["flag"] is False


def test_variable_values_are_never_autocast():
    """Piece 7: inside a mixed-precision layer's autocast scope, `v.value`
    is float16; `variable_values` gives the float32 value (the scope's,
    inside a StatelessScope)."""
    from keras_rnnkit._compat import AutocastScope, variable_values

    variable = keras.Variable(np.full((2,), 1 / 3, "float32"))
    replaced = keras.ops.full((2,), 0.25, "float32")
    with AutocastScope("float16"):
        assert keras.backend.standardize_dtype(variable.value.dtype) == "float16"
        (value,) = variable_values([variable])
        assert keras.backend.standardize_dtype(value.dtype) == "float32"
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(value), 1 / np.float32(3)
        )
        with keras.StatelessScope(state_mapping=[(variable, replaced)]):
            (value,) = variable_values([variable])
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(value), 0.25)


def test_a_loss_added_in_a_collecting_scope_is_recorded_by_id():
    """Piece 8: `layer.losses` picks a scope's losses by the ids in the
    adding layer's `_loss_ids`; `forget_losses` removes them (from inner
    layers too)."""
    from keras_rnnkit._compat import forget_losses

    class Adds(keras.layers.Layer):
        def call(self, x):
            self.add_loss(keras.ops.sum(x))
            return x

    inner = Adds()
    outer = keras.Sequential([inner])
    outer.build((None, 2))
    with keras.StatelessScope(collect_losses=True) as scope:
        outer(np.ones((1, 2), "float32"))
        (loss,) = scope.losses
        assert id(loss) in inner._loss_ids
        assert len(outer.losses) == 1
        forget_losses([outer], scope.losses)
        assert id(loss) not in inner._loss_ids
        assert outer.losses == []
