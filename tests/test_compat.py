"""Fails loudly when Keras moves the private piece keras_rnnkit relies on."""

import keras
import numpy as np

from keras_rnnkit import PeepholeLSTMCell, _compat


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


def test_rnn_layer_draws_masks_before_its_loop_and_clears_them_after():
    # The mechanism that keeps random draws out of the scanned step (JAX jit).
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


def test_the_hook_dynamic_rnn_overrides_is_still_keras_rnn_s():
    # DynamicRNN draws masks only when training by overriding this hook.
    import inspect

    from keras_rnnkit import DynamicRNN

    hook = keras.layers.RNN._maybe_config_dropout_masks
    assert list(inspect.signature(hook).parameters) == [
        "self",
        "cell",
        "input_sequence",
        "input_state",
    ]
    assert "_maybe_config_dropout_masks" in inspect.getsource(keras.layers.RNN.call)
    assert DynamicRNN._maybe_config_dropout_masks is not hook


def test_masks_are_kept_per_thread():
    import threading

    cell = PeepholeLSTMCell(3, dropout=0.5)
    cell._dropout_mask = "main"
    seen = []
    thread = threading.Thread(target=lambda: seen.append(cell._dropout_mask))
    thread.start()
    thread.join()
    assert seen == [None] and cell._dropout_mask == "main"
    cell.reset_dropout_mask()
    assert cell._dropout_mask is None
