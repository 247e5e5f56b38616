"""The recurrent loop of `DynamicRNN` (and every kit layer) on torch.

Keras's generic torch loop (`keras.backend.rnn`) tiles the mask and runs
bookkeeping around every step; its own LSTM indexes the precomputed input
projection step by step, which makes training quadratic in the length. This
module owns the loop on the torch backend instead:

- A cell that describes its math (`fused_form`, see
  `keras_rnnkit.cell_protocol`) runs through the runner registered here for
  that form (`runs`): an `LSTMForm` (`PeepholeLSTMCell`,
  `keras.layers.LSTMCell`; sigmoid gates, tanh activations, no dropout
  while training) as one autograd function (`_torch_lstm.LSTMSequence`)
  with a hand-written backward pass, or as PyTorch's own LSTM when it
  computes exactly what that computes; a `LayerNormLSTMForm`
  (`LayerNormLSTMCell`) as another such function
  (`_torch_layer_norm_lstm.LayerNormLSTMSequence`); the forms of wrappers
  whose step is a fixed function of their cell's step (output projection,
  residual, dropout with per-sequence masks, stacks) run their cell's whole
  sequence, then their own part on all steps at once.
- With no mask or a right-padded one (`sequence_length`,
  `Embedding(mask_zero=True)` on right-padded ids) rows are sorted by length
  and each step runs only the rows that are still valid: padding costs
  nothing.
- Every other cell (GRU, SimpleRNN, a user's own, or any mask that is not
  right padding) runs in a plain loop over `unbind`-ed steps; masked steps
  keep their states through `where`.

`DynamicRNN.call` zeroes masked inputs before any loop, so whatever the
padding holds (NaN included) reaches neither the outputs nor the gradients.

All of them return the outputs of every step in processing order;
`DynamicRNN` derives its outputs (zeros or the last valid output past a
row's end, the last valid output) from the valid steps alone, as on the
other backends.
"""

import warnings

import keras
import torch

from keras_rnnkit import cell_protocol
from keras_rnnkit._cell_wrapper import call_cell
from keras_rnnkit._compat import torch_lstm
from keras_rnnkit._torch_layer_norm_lstm import LayerNormLSTMSequence
from keras_rnnkit._torch_lstm import LSTMSequence
from keras_rnnkit.cell_protocol import (
    LayerNormLSTMForm,
    LSTMForm,
    MaskedForm,
    ProjectionForm,
    ResidualForm,
    StackForm,
)


def run(cell, sequences, initial_state, mask, training, go_backwards=False):
    """Runs `cell` over `sequences` `(batch, time, features)`.

    Returns `(outputs, states)`: the outputs `(batch, time, ...)` of every
    step in processing order (finite, but meaningless, at masked steps) and
    the final states, nested like `initial_state`.
    """
    if go_backwards:
        sequences = torch.flip(sequences, (1,))
        mask = None if mask is None else torch.flip(mask, (1,))
    runner = sequence_runner(cell, training, sequences.dtype)
    if runner is not None:
        if mask is None:
            return runner(sequences, initial_state, None, None)
        lengths = _right_padded_lengths(mask)
        if lengths is not None:
            return _by_length(runner, sequences, initial_state, lengths)
    return _run_cell(cell, sequences, initial_state, mask, training)


# form type -> function(form, dtype) returning a runner, or None when the
# form's settings are outside what the runner computes
_RUNNERS = {}


def runs(form_type):
    """Registers the decorated function as the runner factory of
    `form_type` (a form of `keras_rnnkit.cell_protocol`)."""

    def register(factory):
        _RUNNERS[form_type] = factory
        return factory

    return register


def sequence_runner(cell, training, dtype):
    """A function `(sequences, state, batch_sizes, order) -> (outputs,
    states)` that runs `cell` over whole sequences at once, or None.

    The cell describes its math (`cell_protocol.fused_form`); the runner
    registered for that form runs it. `batch_sizes` and `order` describe
    rows sorted by length (`_by_length`).
    """
    form = cell_protocol.fused_form(cell, training)
    return None if form is None else form_runner(form, dtype)


def form_runner(form, dtype):
    """The runner of `form`, or None when none is registered or it cannot
    compute the form in `dtype`."""
    factory = _RUNNERS.get(type(form))
    return None if factory is None else factory(form, dtype)


def _value(variable, dtype):
    return None if variable is None else variable.value.to(dtype)


def _peepholes(form, dtype):
    """`(w_if, w_o)`: the input and forget peepholes stacked `(2, units)`
    and the output one, as the LSTM functions take them (None, None
    without peepholes)."""
    if form.peepholes is None:
        return None, None
    w_i, w_f, w_o = (_value(w, dtype) for w in form.peepholes)
    return torch.stack([w_i, w_f]), w_o


def _needs_gradients(*tensors):
    """Whether a backward pass may come (the function then keeps what it
    needs): grad mode is on and a tensor (None: absent) requires grad."""
    return torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in tensors
    )


@runs(LSTMForm)
def _lstm(form, dtype):
    """`LSTMSequence` (or PyTorch's own LSTM) for sigmoid gates and tanh."""
    if dtype not in (torch.float32, torch.float64) or (
        form.activation is not keras.activations.tanh
        or form.recurrent_activation is not keras.activations.sigmoid
    ):
        return None

    def run_lstm(x, state, batch_sizes, order):
        kernel, recurrent_kernel = (
            _value(form.kernel, dtype),
            _value(form.recurrent_kernel, dtype),
        )
        bias = _value(form.bias, dtype)
        w_if, w_o = _peepholes(form, dtype)
        projection = _value(form.projection, dtype)
        if form.is_standard():
            if form.forget_bias:  # TF1's: a constant on the forget gate's bias
                units = recurrent_kernel.shape[0]
                offset = torch.zeros(4 * units, dtype=dtype, device=x.device)
                offset[units : 2 * units] = form.forget_bias
                bias = offset if bias is None else bias + offset
            return _run_torch_lstm(
                kernel, recurrent_kernel, bias, x, state, batch_sizes
            )
        h_mask = form.recurrent_mask
        if h_mask is not None:
            h_mask = h_mask.to(dtype)
            if order is not None:  # rows sorted by length
                h_mask = h_mask.index_select(0, order)
        tensors = (kernel, recurrent_kernel, bias, w_if, w_o, projection, h_mask)
        keep = _needs_gradients(x, *state, *tensors)
        config = (batch_sizes, form.forget_bias, form.cell_clip, form.proj_clip, keep)
        outputs, h, c = LSTMSequence.apply(
            x.transpose(0, 1), state[0], state[1], *tensors, config
        )
        return outputs.transpose(0, 1), [h, c]

    return run_lstm


@runs(LayerNormLSTMForm)
def _layer_norm_lstm(form, dtype):
    """`LayerNormLSTMSequence` (hand-written backward) for sigmoid gates and
    tanh; the input projection (with its normalisation, `input_norm`) runs
    once for all steps, under autograd."""
    if dtype not in (torch.float32, torch.float64) or (
        form.activation is not keras.activations.tanh
        or form.recurrent_activation is not keras.activations.sigmoid
    ):
        return None

    def run(x, state, batch_sizes, order):
        kernel = _value(form.kernel, dtype)
        projected = torch.matmul(x, kernel)
        if form.input_norm is not None:
            gamma, beta = (_value(w, dtype) for w in form.input_norm)
            projected = torch.nn.functional.layer_norm(
                projected, gamma.shape, gamma, beta, form.epsilon
            )
        per_gate = form.gate_norm is not None
        gamma, beta = (
            _value(w, dtype) for w in (form.gate_norm or form.recurrent_norm)
        )
        w_if, w_o = _peepholes(form, dtype)
        state_gamma, state_beta = (_value(w, dtype) for w in form.state_norm)
        tensors = (
            _value(form.recurrent_kernel, dtype), _value(form.bias, dtype),
            gamma, beta, w_if, w_o, state_gamma, state_beta,
        )  # fmt: skip
        keep = _needs_gradients(projected, *state, *tensors)
        config = (batch_sizes, per_gate, form.epsilon, form.forget_bias, keep)
        outputs, h, c = LayerNormLSTMSequence.apply(
            projected.transpose(0, 1), state[0], state[1], *tensors, config
        )
        return outputs.transpose(0, 1), [h, c]

    return run


@runs(StackForm)
def _stack(form, dtype):
    runners = [form_runner(inner, dtype) for inner in form.cells]
    if None in runners:
        return None

    def stack(x, states, batch_sizes, order):
        new_states = []
        for runner, state in zip(runners, states, strict=True):
            x, state = runner(x, state, batch_sizes, order)
            new_states.append(state)
        return x, new_states

    return stack


@runs(ProjectionForm)
def _projection(form, dtype):
    inner = form_runner(form.cell, dtype)
    if inner is None:
        return None

    def project(x, state, batch_sizes, order):
        outputs, state = inner(x, state, batch_sizes, order)
        outputs = torch.matmul(outputs, _value(form.kernel, dtype))
        if form.bias is not None:
            outputs = outputs + _value(form.bias, dtype)
        return form.activation(outputs), state

    return project


@runs(ResidualForm)
def _residual(form, dtype):
    inner = form_runner(form.cell, dtype)
    if inner is None:
        return None

    def residual(x, state, batch_sizes, order):
        outputs, state = inner(x, state, batch_sizes, order)
        return x + outputs, state

    return residual


@runs(MaskedForm)
def _masked(form, dtype):
    inner = form_runner(form.cell, dtype)
    if inner is None:
        return None

    def masked(x, state, batch_sizes, order):
        def per_step(kept):
            if order is not None:
                kept = kept.index_select(0, order)
            return kept[:, None, :]

        if form.input_mask is not None:
            x = x * per_step(form.input_mask)
        outputs, state = inner(x, state, batch_sizes, order)
        if form.output_mask is not None:
            outputs = outputs * per_step(form.output_mask)
        return outputs, state

    return masked


def _right_padded_lengths(mask):
    """Each row's length if every row of `mask` is valid steps followed by
    padding, else None."""
    lengths = mask.sum(1)
    steps = torch.arange(mask.shape[1], device=mask.device)
    if torch.equal(mask, steps[None, :] < lengths[:, None]):
        return lengths
    return None


def _by_length(runner, sequences, initial_state, lengths):
    """Runs `runner` with rows sorted by length, longest first, and the
    number of rows still valid at each step; returns rows in their order."""
    if bool((lengths == sequences.shape[1]).all()):
        return runner(sequences, initial_state, None, None)
    order = torch.argsort(lengths, descending=True, stable=True)
    steps = torch.arange(sequences.shape[1], device=lengths.device)
    batch_sizes = (steps[:, None] < lengths[order][None, :]).sum(1).tolist()
    outputs, states = runner(
        sequences.index_select(0, order),
        keras.tree.map_structure(lambda s: s.index_select(0, order), initial_state),
        batch_sizes,
        order,
    )
    inverse = torch.argsort(order)
    return outputs.index_select(0, inverse), keras.tree.map_structure(
        lambda s: s.index_select(0, inverse), states
    )


def _pytorch_lstm(*args):
    """`torch._VF.lstm(*args)`. On CUDA, cuDNN warns at every call that the
    weights are not one contiguous buffer (it copies them into one: cheap
    next to the LSTM); `torch.nn.LSTM` keeps them so, the kit's cells keep
    Keras's variables."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", "RNN module weights are not part of single contiguous"
        )
        return torch_lstm()(*args)


def _run_torch_lstm(kernel, recurrent_kernel, bias, sequences, state, batch_sizes):
    """PyTorch's own LSTM (the function behind `torch.nn.LSTM`), for cells
    that compute exactly what it computes: same gate order (i, f, c, o),
    sigmoid gates, tanh, no peepholes, clip or projection (TF1's forget
    bias is in `bias`). On a GPU it runs cuDNN's kernels. Rows sorted by
    length run as a packed sequence."""
    weights = [kernel.t(), recurrent_kernel.t()]
    if bias is not None:
        weights += [bias, torch.zeros_like(bias)]
    h0, c0 = state[0][None], state[1][None]
    # cuDNN keeps what its backward pass needs only in training mode (no
    # dropout here either way)
    train = torch.is_grad_enabled()
    if batch_sizes is None:
        outputs, h, c = _pytorch_lstm(
            sequences, (h0, c0), weights, bias is not None, 1, 0.0, train, False, True
        )
        return outputs, [h[0], c[0]]
    running = batch_sizes[0]  # rows of length 0 never run
    if running == 0:
        outputs = sequences.new_zeros(*sequences.shape[:2], recurrent_kernel.shape[0])
        return outputs, [state[0], state[1]]
    steps = sum(n > 0 for n in batch_sizes)
    sizes = torch.tensor(batch_sizes[:steps], dtype=torch.int64)
    lengths = (sizes[:, None] > torch.arange(running)[None, :]).sum(0)
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        sequences[:running], lengths, batch_first=True
    )
    data, h, c = _pytorch_lstm(
        packed.data,
        packed.batch_sizes,
        (h0[:, :running], c0[:, :running]),
        weights,
        bias is not None,
        1,
        0.0,
        train,
        False,
    )
    outputs, _ = torch.nn.utils.rnn.pad_packed_sequence(
        packed._replace(data=data), batch_first=True, total_length=sequences.shape[1]
    )
    batch = sequences.shape[0]
    if running < batch:
        outputs = torch.cat(
            [outputs, outputs.new_zeros(batch - running, *outputs.shape[1:])]
        )
        h = torch.cat([h[0], state[0][running:]])
        c = torch.cat([c[0], state[1][running:]])
        return outputs, [h, c]
    return outputs, [h[0], c[0]]


def _run_cell(cell, sequences, initial_state, mask, training):
    states = initial_state
    masks = None if mask is None else torch.unbind(mask[..., None], 1)
    outputs = []
    for t, inputs in enumerate(torch.unbind(sequences, 1)):
        output, new_states = call_cell(cell, inputs, states, training)
        if not keras.tree.is_nested(new_states):
            new_states = [new_states]
        if masks is not None:
            kept = [
                torch.where(masks[t], new, old)
                for new, old in zip(
                    keras.tree.flatten(new_states),
                    keras.tree.flatten(states),
                    strict=True,
                )
            ]
            new_states = keras.tree.pack_sequence_as(new_states, kept)
        states = new_states
        outputs.append(output)
    return torch.stack(outputs, 1), states
