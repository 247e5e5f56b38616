"""The recurrent loop of `DynamicRNN` on JAX, for cells with a fused form.

Keras's JAX loop (`keras.backend.rnn`) scans the cell's `call`, and JAX's
automatic differentiation of that scan reduces every weight gradient at
every step (`h_t^T dz_t` for the recurrent kernel, a batch sum for each
peephole vector): many small reductions where one large one would do. For
a cell that describes its math (`fused_form`, see
`keras_rnnkit.cell_protocol`) this module runs a `lax.scan` of its own:

- `LSTMForm` (the kit's `PeepholeLSTMCell`, Keras's `LSTMCell`): in
  training the scan is a `jax.custom_vjp` function whose backward pass scans back over
  the steps carrying only `dh` and `dc`, and computes every weight gradient
  once after the loop, as one matmul or reduction over all steps (as the
  torch loop's `_torch_lstm.py` does). At inference it is a plain scan, so
  exporters see no custom rule (unless cuDNN runs it, below).
- On a GPU, an `LSTMForm` that is exactly cuDNN's LSTM (no peepholes,
  clipping or projection; float32; no mask) runs cuDNN's fused kernels
  instead (`_jax_cudnn.py`), as `keras.layers.LSTM` does: a GPU custom
  call in exported graphs (`KERAS_RNNKIT_CUDNN=0` exports the scan).
- The wrapper forms (projection, residual, per-sequence dropout masks,
  stacks) run their cell's whole sequence, then their own part on all steps
  at once.

A mask is applied per step: at a masked step the state is carried
unchanged (its gradient passes through), whatever the cell computed there.
`DynamicRNN` zeroes masked inputs before the loop, and derives its outputs
(zeros or repeated outputs past a row's end, the last valid output) from
the valid steps alone, as on the other backends.
"""

import functools

import jax
import jax.numpy as jnp
import keras

from keras_rnnkit import _jax_cudnn, cell_protocol
from keras_rnnkit.cell_protocol import (
    LSTMForm,
    MaskedForm,
    ProjectionForm,
    ResidualForm,
    StackForm,
)


def run(cell, sequences, initial_state, mask, training, go_backwards=False):
    """Runs `cell` over `sequences` `(batch, time, features)` if it has a
    fused form this module can run, else returns None.

    Returns `(outputs, states)`: every step's output `(batch, time, ...)`
    in processing order (meaningless at masked steps) and the final states,
    nested like `initial_state`.
    """
    form = cell_protocol.fused_form(cell, training)
    if form is None:
        return None
    runner = form_runner(form, sequences.dtype, training)
    if runner is None:
        return None
    if go_backwards:
        sequences = jnp.flip(sequences, 1)
        mask = None if mask is None else jnp.flip(mask, 1)
    # time-major inside: the scan's axis comes first
    x = jnp.swapaxes(sequences, 0, 1)
    steps_mask = None if mask is None else jnp.swapaxes(mask, 0, 1)[..., None]
    outputs, states = runner(x, initial_state, steps_mask)
    return jnp.swapaxes(outputs, 0, 1), states


# form type -> function(form, dtype, training) returning a runner
# `(x, state, mask) -> (outputs, states)` (x and outputs time-major, mask
# `(time, batch, 1)` or None), or None when it cannot compute the form
_RUNNERS = {}


def runs(form_type):
    """Registers the decorated function as the runner factory of `form_type`."""

    def register(factory):
        _RUNNERS[form_type] = factory
        return factory

    return register


def form_runner(form, dtype, training):
    factory = _RUNNERS.get(type(form))
    return None if factory is None else factory(form, dtype, training)


def _value(variable, dtype):
    return None if variable is None else jnp.asarray(variable.value, dtype)


@runs(LSTMForm)
def _lstm(form, dtype, training):
    if jnp.dtype(dtype) not in (jnp.float32, jnp.float64) or (
        form.recurrent_mask is not None  # recurrent dropout: Keras's loop
        or form.activation is not keras.activations.tanh
        or form.recurrent_activation is not keras.activations.sigmoid
    ):
        return None
    config = (form.forget_bias, form.cell_clip, form.proj_clip)
    sequence = _lstm_with_gradients(config) if training else _lstm_plain(config)
    cudnn = _jax_cudnn.enabled() and _jax_cudnn.is_cudnn_lstm(form, dtype)

    def run_lstm(x, state, mask):
        peepholes = form.peepholes or (None, None, None)
        weights = [
            _value(w, dtype)
            for w in (
                form.kernel,
                form.recurrent_kernel,
                form.bias,
                *peepholes,
                form.projection,
            )
        ]
        if cudnn and mask is None:
            result = _jax_cudnn.try_lstm(form, x, *state, *weights[:3])
            if result is not None:
                outputs, h, c = result
                return outputs, [h, c]
        outputs, h, c = sequence(x, state[0], state[1], mask, *weights)
        return outputs, [h, c]

    return run_lstm


def _forward(
    config, x, h0, c0, mask, kernel, recurrent, bias, w_i, w_f, w_o, proj, keep=False
):
    """The LSTM over time-major `x`: `(outputs, h, c, residuals)`, the
    residuals (with `keep`) being what the backward pass needs, per step."""
    forget_bias, cell_clip, proj_clip = config

    def step(carry, inputs):
        h, c = carry
        x_t, m_t = inputs if mask is not None else (inputs, None)
        # The input projection inside the step: computed for all steps at
        # once before the scan, it measured 2-3x slower on XLA's CPU scan.
        z = x_t @ kernel + h @ recurrent
        if bias is not None:
            z = z + bias
        z_i, z_f, z_c, z_o = jnp.split(z, 4, axis=-1)
        if w_i is not None:
            z_i = z_i + w_i * c
            z_f = z_f + w_f * c
        if forget_bias:
            z_f = z_f + forget_bias
        i, f, g = jax.nn.sigmoid(z_i), jax.nn.sigmoid(z_f), jnp.tanh(z_c)
        new_c = f * c + i * g
        pre_clip = new_c
        if cell_clip:
            new_c = jnp.clip(new_c, -cell_clip, cell_clip)
        if w_o is not None:
            z_o = z_o + w_o * new_c
        o = jax.nn.sigmoid(z_o)
        tanh_c = jnp.tanh(new_c)
        m = o * tanh_c
        new_h = m
        pre_proj = None
        if proj is not None:
            new_h = pre_proj = m @ proj
            if proj_clip:
                new_h = jnp.clip(new_h, -proj_clip, proj_clip)
        kept = (new_h, new_c)
        if m_t is not None:  # a masked step carries the state
            kept = (jnp.where(m_t, new_h, h), jnp.where(m_t, new_c, c))
        if not keep:
            return kept, (new_h, None)
        # only what the backward pass reads (None for what it will not)
        residual = (
            h,
            c,
            i,
            f,
            g,
            o,
            tanh_c,
            new_c if w_o is not None else None,
            pre_clip if cell_clip else None,
            m if proj is not None else None,
            pre_proj if proj_clip else None,
        )
        return kept, (new_h, residual)

    inputs = x if mask is None else (x, mask)
    (h, c), (outputs, residuals) = jax.lax.scan(step, (h0, c0), inputs)
    return outputs, h, c, residuals


@functools.cache
def _lstm_plain(config):
    def sequence(x, h0, c0, mask, *weights):
        outputs, h, c, _ = _forward(config, x, h0, c0, mask, *weights)
        return outputs, h, c

    return sequence


@functools.cache
def _lstm_with_gradients(config):
    """The LSTM as a `jax.custom_vjp` function for `config`."""
    _, cell_clip, proj_clip = config

    @jax.custom_vjp
    def sequence(x, h0, c0, mask, *weights):
        outputs, h, c, _ = _forward(config, x, h0, c0, mask, *weights)
        return outputs, h, c

    def forward(x, h0, c0, mask, *weights):
        outputs, h, c, residuals = _forward(
            config, x, h0, c0, mask, *weights, keep=True
        )
        return (outputs, h, c), (x, h0, c0, mask, weights, residuals)

    def backward(saved, cotangents):
        x, h0, c0, mask, weights, residuals = saved
        kernel, recurrent, bias, w_i, w_f, w_o, proj = weights
        d_outputs, d_h, d_c = cotangents
        steps_mask = (
            jnp.ones((*x.shape[:2], 1), x.dtype)
            if mask is None
            else mask.astype(x.dtype)
        )
        recurrent_t = recurrent.T
        proj_t = None if proj is None else proj.T

        def step(carry, inputs):
            dh_after, dc_after = carry
            d_out, m_t, res = inputs
            h_prev, c_prev, i, f, g, o, tanh_c, new_c, pre_clip, m, pre_proj = res
            # A masked step carried the state: its gradient passes through.
            dh = d_out + m_t * dh_after
            dc_new = m_t * dc_after
            d_pre_proj = None
            if proj is not None:
                d_pre_proj = dh
                if proj_clip:
                    inside = (pre_proj >= -proj_clip) & (pre_proj <= proj_clip)
                    d_pre_proj = d_pre_proj * inside
                dm = d_pre_proj @ proj_t
            else:
                dm = dh
            dz_o = dm * tanh_c * o * (1 - o)
            dc = dc_new + dm * o * (1 - tanh_c * tanh_c)
            if w_o is not None:
                dc = dc + dz_o * w_o
            if cell_clip:
                dc = dc * ((pre_clip >= -cell_clip) & (pre_clip <= cell_clip))
            dz_i = dc * g * i * (1 - i)
            dz_f = dc * c_prev * f * (1 - f)
            dz_c = dc * i * (1 - g * g)
            dz = jnp.concatenate([dz_i, dz_f, dz_c, dz_o], axis=-1)
            dc_prev = dc * f
            if w_i is not None:
                dc_prev = dc_prev + dz_i * w_i + dz_f * w_f
            dh_prev = dz @ recurrent_t
            keep = 1 - m_t
            carry = (dh_prev + keep * dh_after, dc_prev + keep * dc_after)
            return carry, (dz, d_pre_proj)

        (dh0, dc0), (dz, d_pre_proj) = jax.lax.scan(
            step,
            (jnp.zeros_like(h0) if d_h is None else d_h, d_c),
            (d_outputs, steps_mask, residuals),
            reverse=True,
        )
        h_prev, c_prev, *_, new_c, _, m, _ = residuals
        units = c0.shape[-1]
        dx = jnp.einsum("tbg,dg->tbd", dz, kernel)
        d_kernel = jnp.einsum("tbd,tbg->dg", x, dz)
        d_recurrent = jnp.einsum("tbu,tbg->ug", h_prev, dz)
        d_bias = None if bias is None else dz.sum((0, 1))
        d_w_i = d_w_f = d_w_o = None
        if w_i is not None:
            d_w_i = (dz[..., :units] * c_prev).sum((0, 1))
            d_w_f = (dz[..., units : 2 * units] * c_prev).sum((0, 1))
            d_w_o = (dz[..., 3 * units :] * new_c).sum((0, 1))
        d_proj = None
        if proj is not None:
            d_proj = jnp.einsum("tbu,tbp->up", m, d_pre_proj)
        d_mask = None
        return (
            dx,
            dh0,
            dc0,
            d_mask,
            d_kernel,
            d_recurrent,
            d_bias,
            d_w_i,
            d_w_f,
            d_w_o,
            d_proj,
        )

    sequence.defvjp(forward, backward)
    return sequence


@runs(StackForm)
def _stack(form, dtype, training):
    runners = [form_runner(inner, dtype, training) for inner in form.cells]
    if None in runners:
        return None

    def stack(x, states, mask):
        new_states = []
        for runner, state in zip(runners, states, strict=True):
            x, state = runner(x, state, mask)
            new_states.append(state)
        return x, new_states

    return stack


@runs(ProjectionForm)
def _projection(form, dtype, training):
    inner = form_runner(form.cell, dtype, training)
    if inner is None:
        return None

    def project(x, state, mask):
        outputs, state = inner(x, state, mask)
        outputs = outputs @ _value(form.kernel, dtype)
        if form.bias is not None:
            outputs = outputs + _value(form.bias, dtype)
        return form.activation(outputs), state

    return project


@runs(ResidualForm)
def _residual(form, dtype, training):
    inner = form_runner(form.cell, dtype, training)
    if inner is None:
        return None

    def residual(x, state, mask):
        outputs, state = inner(x, state, mask)
        return x + outputs, state

    return residual


@runs(MaskedForm)
def _masked(form, dtype, training):
    inner = form_runner(form.cell, dtype, training)
    if inner is None:
        return None

    def masked(x, state, mask):
        if form.input_mask is not None:
            x = x * form.input_mask[None]
        outputs, state = inner(x, state, mask)
        if form.output_mask is not None:
            outputs = outputs * form.output_mask[None]
        return outputs, state

    return masked
