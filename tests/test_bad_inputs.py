"""Bad inputs end as a clear error naming the argument, or a correct result.

The reproductions of issue 13 that this module covers, on every backend:
helper functions' arguments, a `DynamicRNN` built from something that is
not a cell, inputs without time steps, integer inputs to `AttentionPooling`,
a NaN `forget_bias`, cells and layers given states that do not fit, an
empty batch. And those of issue 24: string lengths (torch's conversion named
neither the argument nor what it takes), documents with no sentence or no
word slot. (NaN in padded steps: tests/test_dynamic_rnn.py and
tests/test_torch_loop.py.)
"""

import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from keras_rnnkit import (
    AttentionPooling,
    BidirectionalEncoder,
    DropoutWrapper,
    DynamicRNN,
    HierarchicalEncoder,
    MultiRNNCell,
    OutputProjectionWrapper,
    PeepholeLSTM,
    PeepholeLSTMCell,
    ResidualWrapper,
    lengths_to_mask,
    reverse_valid,
    tf1,
)


@pytest.mark.parametrize(
    "lengths, maxlen, error, words",
    [
        ([-1, 2], 3, ValueError, "`lengths` must hold lengths >= 0"),
        ([1.5, 2], 3, TypeError, "`lengths` must hold integers"),
        (["5", "2"], 3, TypeError, r"`lengths` must hold integers.*dtype=str32"),
        ([[1, 2]], 3, ValueError, r"`lengths` must be of shape \(batch,\)"),
        ([1, 2], -1, ValueError, "`maxlen` must be an integer >= 0"),
        ([1, 2], 2.5, TypeError, "`maxlen` must be an integer >= 0"),
        ([1, 2], None, TypeError, "maxlen=None"),
        ([1, 2], True, TypeError, "maxlen=True"),
    ],
)
def test_lengths_to_mask_refuses_bad_arguments(lengths, maxlen, error, words):
    with pytest.raises(error, match=words):
        lengths_to_mask(np.array(lengths), maxlen)


@pytest.mark.parametrize("dtype", ["uint8", "int16", "int32", "int64"])
def test_lengths_to_mask_takes_every_integer_dtype(dtype):
    mask = lengths_to_mask(np.array([0, 2, 3], dtype), np.int64(3))
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(mask),
        [[False, False, False], [True, True, False], [True, True, True]],
    )


@pytest.mark.parametrize("mask_shape", [(2, 4), (1, 5), (2, 6), (2, 5, 1), (5,)])
def test_reverse_valid_refuses_a_mask_of_another_shape(mask_shape):
    x = np.zeros((2, 5, 1), "float32")
    with pytest.raises(ValueError, match=r"`mask` must be of shape \(batch, time\)"):
        reverse_valid(x, np.ones(mask_shape, bool))


def test_reverse_valid_refuses_inputs_without_a_time_axis():
    with pytest.raises(ValueError, match="`x` must have a batch and a time axis"):
        reverse_valid(np.zeros((2,), "float32"), np.ones((2, 1), bool))


@given(
    lengths=st.lists(st.integers(0, 7), min_size=1, max_size=4),
    seed=st.integers(0, 100),
)
def test_reverse_valid_mirrors_each_prefix_and_keeps_padding(lengths, seed):
    x = np.random.default_rng(seed).normal(size=(len(lengths), 7, 2))
    x = x.astype("float32")
    mask = np.arange(7)[None, :] < np.array(lengths)[:, None]
    got = keras.ops.convert_to_numpy(reverse_valid(x, mask))
    for row, length in enumerate(lengths):
        np.testing.assert_array_equal(got[row, :length], x[row, :length][::-1])
        np.testing.assert_array_equal(got[row, length:], x[row, length:])


@pytest.mark.parametrize(
    "cell, words",
    [
        ([], "non-empty list of cells"),
        (keras.layers.LSTM(4), "must be a cell, not a recurrent layer"),
        ([keras.layers.GRUCell(3), keras.layers.GRU(3)], r"`cell\[1\]` must be"),
        (keras.layers.Dense(3), "must be a Keras RNN cell"),
    ],
    ids=["empty list", "LSTM layer", "layer in a list", "dense"],
)
def test_dynamic_rnn_refuses_what_is_not_a_cell_when_built(cell, words):
    with pytest.raises(ValueError, match=words):
        DynamicRNN(cell)


@pytest.mark.parametrize(
    "make",
    [
        lambda: DynamicRNN(keras.layers.GRUCell(4)),
        lambda: PeepholeLSTM(4),
        lambda: BidirectionalEncoder(keras.layers.GRUCell(4)),
    ],
    ids=["dynamic_rnn", "peephole_lstm", "bidirectional"],
)
def test_no_time_steps_is_a_clear_error(make):
    with pytest.raises(ValueError, match="needs at least one time step"):
        make()(np.zeros((2, 0, 3), "float32"))


@pytest.mark.parametrize(
    "make",
    [
        lambda: DynamicRNN(keras.layers.GRUCell(4)),
        lambda: PeepholeLSTM(4),
        lambda: BidirectionalEncoder(keras.layers.GRUCell(4)),
        lambda: AttentionPooling(4),
    ],
    ids=["dynamic_rnn", "peephole_lstm", "bidirectional", "attention_pooling"],
)
@pytest.mark.parametrize(
    "lengths", [np.array(["5", "2"]), ["5", "2"]], ids=["array", "list"]
)
def test_string_lengths_are_a_named_error_on_every_backend(make, lengths):
    # torch's conversion (in Keras's Layer.__call__) said only "Invalid
    # dtype: str32"; the layers check before it.
    layer = make()
    words = r"expects integer `sequence_length`.*sequence_length\.dtype=str32"
    with pytest.raises(TypeError, match=words):
        layer(np.zeros((2, 5, 3), "float32"), sequence_length=lengths)


def _hierarchical():
    return HierarchicalEncoder(
        DynamicRNN(keras.layers.GRUCell(3), return_sequences=True),
        DynamicRNN(keras.layers.GRUCell(3), return_sequences=True),
    )


@pytest.mark.parametrize(
    "shape",
    [(2, 3, 0, 5), (2, 0, 4, 5), (0, 3, 0, 5)],
    ids=["words", "sentences", "empty batch"],
)
@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("built", [False, True])
def test_hierarchical_encoder_needs_a_sentence_and_a_word_slot(shape, with_mask, built):
    # Like DynamicRNN given no time step, on every backend (JAX raised
    # ZeroDivisionError, torch a reshape error, TensorFlow the word encoder's
    # error; with a mask, "Cannot compute the max of an empty tensor").
    encoder = _hierarchical()
    if built:
        encoder(np.zeros((2, 3, 4, 5), "float32"))
    kwargs = {"mask": np.ones(shape[:3], bool)} if with_mask else {}
    with pytest.raises(ValueError, match=r"needs at least one time step at each"):
        encoder(np.zeros(shape, "float32"), **kwargs)


def test_attention_pooling_refuses_integer_inputs():
    with pytest.raises(TypeError, match="expects floating-point `inputs`"):
        AttentionPooling(4)(np.arange(30).reshape(2, 5, 3).astype("int32"))


@pytest.mark.parametrize("forget_bias", [float("nan"), float("inf"), "1"])
def test_tf1_weights_refuse_a_forget_bias_that_is_not_a_finite_number(forget_bias):
    cell = PeepholeLSTMCell(2, use_peepholes=False)
    variables = {"kernel": np.zeros((5, 8)), "bias": np.zeros(8)}
    with pytest.raises(ValueError, match="`forget_bias` must be a finite number"):
        tf1.set_lstm_weights(cell, variables, forget_bias=forget_bias)
    tf1.set_lstm_weights(cell, variables)
    with pytest.raises(ValueError, match="`forget_bias` must be a finite number"):
        tf1.get_lstm_weights(cell, forget_bias=forget_bias)
    assert np.isfinite(keras.ops.convert_to_numpy(cell.bias)).all()


@pytest.mark.parametrize(
    "states, words",
    [
        (
            lambda z: [z(2, 7), z(2, 4)],
            r"widths \[4, 4\].*Received 2 of widths \[7, 4\]",
        ),
        (lambda z: [z(2, 4)], r"Received 1 of widths \[4\]"),
        (lambda z: [z(2, 4)] * 3, "Received 3"),
    ],
    ids=["wrong width", "one state", "three states"],
)
def test_cells_called_directly_check_their_states(states, words):
    def zeros(*shape):
        return np.zeros(shape, "float32")

    x = zeros(2, 3)
    for cell in (
        PeepholeLSTMCell(4),
        DropoutWrapper(keras.layers.LSTMCell(4), 0.1),
        ResidualWrapper(keras.layers.LSTMCell(3)),
    ):
        size = cell.state_size[0]
        got = [s[:, :size] if s.shape[-1] == 4 else s for s in states(zeros)]
        words_for = words.replace("4", str(size)) if size != 4 else words
        with pytest.raises(ValueError, match=words_for):
            cell(x, got)


def test_wrappers_refuse_a_sequence_as_one_step():
    cell = OutputProjectionWrapper(keras.layers.LSTMCell(4), 2)
    states = [np.zeros((2, 4), "float32")] * 2
    with pytest.raises(ValueError, match=r"one step of inputs, shaped \(batch"):
        cell(np.zeros((2, 5, 3), "float32"), states)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ResidualWrapper(keras.layers.LSTMCell(3)),
        lambda: OutputProjectionWrapper(keras.layers.LSTMCell(3), 2),
        lambda: DropoutWrapper(keras.layers.LSTMCell(3), input_rate=0.5),
        lambda: MultiRNNCell([keras.layers.LSTMCell(3)], state_is_tuple=False),
        lambda: PeepholeLSTMCell(3),
    ],
    ids=["residual", "projection", "dropout", "multi", "peephole"],
)
@pytest.mark.parametrize("training", [False, True])
def test_cells_refuse_integer_steps_by_their_own_name(make, training):
    cell = make()
    states = [np.zeros((2, 3), "float32")] * 2
    if isinstance(cell, MultiRNNCell):
        states = np.zeros((2, 6), "float32")
    with pytest.raises(
        TypeError, match=f"'{cell.name}'.*floating-point `inputs`.*int32"
    ):
        cell(np.ones((2, 3), "int32"), states, training=training)
    # and through a recurrent layer
    layer = keras.layers.RNN(make())
    with pytest.raises(TypeError, match="floating-point `inputs`.*int32"):
        layer(np.ones((2, 4, 3), "int32"), training=training)


def test_multi_rnn_cell_checks_the_number_of_layer_states():
    cell = MultiRNNCell([keras.layers.GRUCell(3), keras.layers.GRUCell(3)])
    with pytest.raises(ValueError, match=r"one entry per cell \(2\)\. Received 1"):
        cell(np.zeros((2, 3), "float32"), [[np.zeros((2, 3), "float32")]])


@pytest.mark.parametrize(
    "initial_state",
    [
        [np.zeros((2, 4), "float32")],
        [np.zeros((2, 7), "float32"), np.zeros((2, 4), "float32")],
        [np.zeros((3, 4), "float32"), np.zeros((3, 4), "float32")],
    ],
    ids=["one state", "wrong width", "wrong batch"],
)
def test_initial_state_is_checked_against_the_cell(initial_state):
    layer = PeepholeLSTM(4)
    with pytest.raises(ValueError, match=r"expects `initial_state` with 2 tensor"):
        layer(np.zeros((2, 5, 3), "float32"), initial_state=initial_state)


@pytest.mark.parametrize(
    "make, shapes",
    [
        (
            lambda: PeepholeLSTM(4, num_proj=2, return_state=True),
            [(0, 2), (0, 2), (0, 4)],
        ),
        (
            lambda: DynamicRNN(keras.layers.GRUCell(4), return_sequences=True),
            [(0, 5, 4)],
        ),
        (
            lambda: BidirectionalEncoder(
                keras.layers.GRUCell(4), return_sequences=False, return_state=True
            ),
            [(0, 8), (0, 8)],
        ),
    ],
    ids=["peephole", "dynamic_rnn", "bidirectional"],
)
@pytest.mark.parametrize("with_lengths", [False, True])
def test_an_empty_batch_gives_empty_results(make, shapes, with_lengths):
    x = np.zeros((0, 5, 3), "float32")
    kwargs = {"sequence_length": np.zeros((0,), "int32")} if with_lengths else {}
    got = keras.tree.flatten(make()(x, **kwargs))
    assert [tuple(t.shape) for t in got] == shapes


def test_pooling_layers_take_an_empty_batch():
    assert tuple(AttentionPooling(4)(np.zeros((0, 5, 3), "float32")).shape) == (0, 3)
    encoder = HierarchicalEncoder(
        BidirectionalEncoder(keras.layers.GRUCell(3)),
        BidirectionalEncoder(keras.layers.GRUCell(3)),
        word_pooling="max",
    )
    documents = np.zeros((0, 2, 5, 3), "float32")
    assert tuple(encoder(documents).shape) == (0, 6)
    mask = np.zeros((0, 2, 5), bool)
    assert tuple(encoder(documents, mask=mask).shape) == (0, 6)


@pytest.mark.parametrize("kind", ["wrapper", "peephole"])
def test_two_threads_train_one_layer_at_different_batch_sizes(kind):
    # Dropout masks are drawn per call and kept per thread, not on the cell.
    import threading

    if kind == "wrapper":
        cell = DropoutWrapper(
            keras.layers.GRUCell(6), input_rate=0.3, state_rate=0.3, output_rate=0.3
        )
        layer = DynamicRNN(cell)
    else:
        layer = PeepholeLSTM(6, dropout=0.3, recurrent_dropout=0.3)
    layer(np.ones((2, 5, 4), "float32"))
    errors, barrier = [], threading.Barrier(3)

    def train(batch):
        barrier.wait()
        try:
            for _ in range(10):
                out = layer(np.ones((batch, 5, 4), "float32"), training=True)
                assert tuple(out.shape) == (batch, 6)
        except Exception as e:  # collected: a thread's error must fail the test
            errors.append(f"batch {batch}: {e!r}"[:300])

    threads = [threading.Thread(target=train, args=(b,)) for b in (8, 3, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
