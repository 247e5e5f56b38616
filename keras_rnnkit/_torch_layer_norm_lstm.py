"""The layer-normalised LSTM recurrence as one PyTorch autograd function.

Imported by `_torch_loop.py` on the torch backend alone, for
`LayerNormLSTMCell` (`cell_protocol.LayerNormLSTMForm`). As
`_torch_lstm.LSTMSequence` does for the plain LSTM, the forward pass runs
the time loop without recording an autograd graph and keeps what the
backward pass needs; the backward pass carries only `dh` and `dc` through
time and computes every weight gradient after the loop as one matmul or
reduction. Each normalisation is one call of torch's own layer-norm kernel
forward (`native_layer_norm`, which also returns the mean and the inverse
standard deviation) and one backward (`native_layer_norm_backward`), both
reached through `_compat.layer_norm_ops`.

The input projection `x @ kernel` (and, for `norm="fused"`, its
normalisation) is computed for all steps at once by the caller, under
autograd; this function starts from it (`projected`) and returns its
gradient.

Rows may end at different steps: as in `LSTMSequence`, rows come sorted by
length, longest first, with the number of rows still running at each step
(`batch_sizes`); padded steps are never computed.
"""

import torch

from keras_rnnkit import _compat, _torch_gemm
from keras_rnnkit._torch_lstm import (
    backward_steps,
    carry_update,
    first_order,
    forward_steps,
    keep_final_states,
    stack_steps,
)

# What the forward pass keeps of every step, in its order.
_SAVED = ("pre", "mean", "rstd", "if", "g", "o", "pre_c", "state_mean",
          "state_rstd", "c", "tanh_c", "h")  # fmt: skip


class LayerNormLSTMSequence(torch.autograd.Function):
    """`apply(projected, h0, c0, recurrent_kernel, bias, gamma, beta, w_if,
    w_o, state_gamma, state_beta, config)` -> `(outputs, h, c)`.

    `projected` is time-major `(time, batch, 4 * units)`. `gamma` and
    `beta` are the recurrent normalisation's (`norm="fused"`: `z =
    projected + LN(h @ recurrent_kernel) + bias`) or the per-gate one's
    (`norm="per_gate"`: each gate's block of `projected + h @
    recurrent_kernel` normalised alone, then `+ bias`). `bias`, `w_if` (the
    input and forget peepholes stacked, `(2, units)`) and `w_o` may be
    None. `config` is `(batch_sizes, per_gate, epsilon, forget_bias,
    keep)`, `keep` False when no gradient is needed. `outputs` is
    time-major, zero where a row has ended.
    """

    @staticmethod
    def forward(
        ctx, projected, h0, c0, recurrent_kernel, bias, gamma, beta, w_if, w_o,
        state_gamma, state_beta, config,
    ):  # fmt: skip
        batch_sizes, per_gate, epsilon, forget_bias, keep = config
        norm, _ = _compat.layer_norm_ops()
        steps, batch, _ = projected.shape
        units = c0.shape[-1]
        # What is added after the normalisation, once for all steps.
        shift = beta if bias is None else beta + bias
        if forget_bias:
            shift = shift.clone()
            shift[units : 2 * units] += forget_bias
        if per_gate:
            gamma_blocks, shift = gamma.view(4, units), shift.view(4, units)
            xs = projected
        else:
            xs = projected + shift
        saved = {name: [] for name in _SAVED}
        h_final, c_final = h0.clone(), c0.clone()
        h, c = h0, c0
        product, product_plus = _torch_gemm.multiplier(recurrent_kernel, batch, steps)
        for t, x_t in forward_steps(xs, batch_sizes):
            n = len(x_t)
            if n < len(h):  # rows have ended
                h, c = h[:n], c[:n]
            if per_gate:
                pre = product_plus(x_t, h).view(n, 4, units)
                normal, mean, rstd = norm(pre, (units,), None, None, epsilon)
                z = torch.addcmul(shift, normal, gamma_blocks).view(n, 4 * units)
            else:
                pre = product(h)
                normal, mean, rstd = norm(pre, (4 * units,), None, None, epsilon)
                z = torch.addcmul(x_t, normal, gamma)
            gates_if, g, pre_c, z_o = carry_update(z, c, w_if)
            c, state_mean, state_rstd = norm(
                pre_c, (units,), state_gamma, state_beta, epsilon
            )
            if w_o is not None:
                z_o = torch.addcmul(z_o, w_o, c)
            o = torch.sigmoid(z_o)
            tanh_c = torch.tanh(c)
            h = o * tanh_c
            if keep:
                step = (pre, mean, rstd, gates_if, g, o, pre_c, state_mean,
                        state_rstd, c, tanh_c, h)  # fmt: skip
                for name, value in zip(_SAVED, step, strict=True):
                    saved[name].append(value)
            else:
                saved["h"].append(h)
            keep_final_states((h_final, c_final), (h, c), batch_sizes, t)

        def assemble(name, *tail, first=None):
            return stack_steps(
                saved[name], projected.new_zeros, (steps, batch, *tail),
                batch_sizes, first,
            )  # fmt: skip

        h_all = assemble("h", units, first=h0)
        if batch_sizes is None:
            h_final, c_final = h, c
        ctx.config = config
        ctx.has_bias = bias is not None
        if keep:
            blocks = (4, units) if per_gate else (4 * units,)
            stats = (4, 1) if per_gate else (1,)
            ctx.save_for_backward(
                h0, c0, recurrent_kernel, gamma, w_if, w_o, state_gamma,
                assemble("pre", *blocks), assemble("mean", *stats),
                assemble("rstd", *stats), assemble("if", 2, units),
                assemble("g", units), assemble("o", units),
                assemble("pre_c", units), assemble("state_mean", 1),
                assemble("state_rstd", 1), assemble("c", units, first=c0),
                assemble("tanh_c", units), h_all,
            )  # fmt: skip
        return h_all[1:], h_final, c_final

    @staticmethod
    @first_order
    def backward(ctx, d_outputs, d_h, d_c):
        (
            h0, c0, recurrent_kernel, gamma, w_if, w_o, state_gamma,
            pre, mean, rstd, gates_if, g, o, pre_c, state_mean, state_rstd,
            c_all, tanh_c, h_all,
        ) = ctx.saved_tensors  # fmt: skip
        batch_sizes, per_gate, _, _, _ = ctx.config
        _, norm_backward = _compat.layer_norm_ops()
        only_input = [True, False, False]
        steps, batch = pre.shape[:2]
        units = c0.shape[-1]
        i, f = gates_if[:, :, 0], gates_if[:, :, 1]
        c_prev = c_all[:-1]
        # Per-step factors for all steps at once (s - s*s is the sigmoid's
        # derivative, 1 - t*t the tanh's), the peepholes folded in as in
        # `LSTMSequence`.
        one = pre.new_ones(())
        d_zo_factor = tanh_c * torch.addcmul(o, o, o, value=-1)  # dh / dz_o
        d_c_factor = o * torch.addcmul(one, tanh_c, tanh_c, value=-1)  # dh / dc
        if w_o is not None:
            d_c_factor = torch.addcmul(d_c_factor, d_zo_factor, w_o)
        d_zifg = pre.new_empty(steps, batch, 3, units)  # d pre_c / d z_{i,f,c}
        torch.mul(g, torch.addcmul(i, i, i, value=-1), out=d_zifg[:, :, 0])
        torch.mul(c_prev, torch.addcmul(f, f, f, value=-1), out=d_zifg[:, :, 1])
        torch.mul(i, torch.addcmul(one, g, g, value=-1), out=d_zifg[:, :, 2])
        carry = f  # d pre_c / d c_{t-1}, through the forget gate
        if w_if is not None:
            carry = carry + (d_zifg[:, :, :2] * w_if).sum(2)
        # Every step writes all rows unless rows end early.
        new = pre.new_empty if batch_sizes is None else pre.new_zeros
        d_z = new(steps, batch, 4 * units)  # after the normalisation
        d_pres = []  # before it, per step (backwards)
        d_state = new(steps, batch, units)  # the normalised state's
        dh = torch.zeros_like(h0) if d_h is None else d_h.clone()
        dc = torch.zeros_like(c0) if d_c is None else d_c.clone()
        back_recurrent, _ = _torch_gemm.multiplier(recurrent_kernel.t(), batch, steps)
        gamma_blocks = gamma.view(4, units)

        for views, dh_n, dc_n in backward_steps(
            (
                d_outputs, d_z, d_z[..., 3 * units :],
                d_z[..., : 3 * units].view(steps, batch, 3, units), d_state,
                d_zo_factor, d_c_factor, d_zifg, carry, pre, mean, rstd, pre_c,
                state_mean, state_rstd,
            ),
            batch_sizes, dh, dc,
        ):  # fmt: skip
            (
                d_out, dz, dz_o, dz_ifg, dstate, zo_factor, c_factor,
                zifg, carry_t, pre_t, mean_t, rstd_t, pre_c_t, state_mean_t,
                state_rstd_t,
            ) = views  # fmt: skip
            n = len(dh_n)
            if d_out is not None:
                dh_n += d_out
            torch.mul(dh_n, zo_factor, out=dz_o)
            dc_n.addcmul_(dh_n, c_factor)
            dstate.copy_(dc_n)
            (d_pre_c, _, _) = norm_backward(
                dc_n, pre_c_t, (units,), state_mean_t, state_rstd_t, state_gamma,
                None, only_input,
            )  # fmt: skip
            torch.mul(d_pre_c.unsqueeze(1), zifg, out=dz_ifg)
            torch.mul(d_pre_c, carry_t, out=dc_n)
            if per_gate:  # each gate's block has its own part of gamma
                (d_pre_t, _, _) = norm_backward(
                    dz.view(n, 4, units) * gamma_blocks, pre_t, (units,), mean_t,
                    rstd_t, None, None, only_input,
                )  # fmt: skip
            else:
                (d_pre_t, _, _) = norm_backward(
                    dz, pre_t, (4 * units,), mean_t, rstd_t, gamma, None, only_input
                )
            d_pre_t = d_pre_t.view(n, 4 * units)
            d_pres.append(d_pre_t)
            back_recurrent(d_pre_t, out=dh_n)
        d_pre = stack_steps(
            d_pres[::-1], pre.new_zeros, (steps, batch, 4 * units), batch_sizes
        )
        return _weight_gradients(ctx, d_z, d_pre, d_state, dh, dc)


def _weight_gradients(ctx, d_z, d_pre, d_state, dh, dc):
    """`backward`'s result from every step's gradients after (`d_z`) and
    before (`d_pre`) the gates' normalisation and the normalised state's
    (`d_state`): every weight gradient as one matmul or reduction."""
    (
        h0, c0, recurrent_kernel, gamma, w_if, w_o, state_gamma,
        pre, mean, rstd, gates_if, g, o, pre_c, state_mean, state_rstd,
        c_all, tanh_c, h_all,
    ) = ctx.saved_tensors  # fmt: skip
    per_gate = ctx.config[1]
    steps, batch = pre.shape[:2]
    units = c0.shape[-1]
    needs = ctx.needs_input_grad
    # The normalised values, recomputed for all steps at once (zero on
    # padded rows, whose gradients are zero).
    normal = ((pre - mean) * rstd).view(steps, batch, 4 * units)
    state_normal = (pre_c - state_mean) * state_rstd
    d_projected = d_pre if per_gate else d_z
    drec = dbias = dgamma = dbeta = dw_if = dw_o = dstate_gamma = dstate_beta = None
    if needs[3]:
        drec = torch.mm(
            h_all[:-1].reshape(steps * batch, units).t(),
            d_pre.view(steps * batch, 4 * units),
        )
    if ctx.has_bias and needs[4]:
        dbias = d_z.sum((0, 1))
    if needs[5]:
        dgamma = (d_z * normal).sum((0, 1))
    if needs[6]:
        dbeta = d_z.sum((0, 1)) if dbias is None else dbias
    if w_if is not None and needs[7]:
        d_zif = d_z[..., : 2 * units].view(steps, batch, 2, units)
        dw_if = (d_zif * c_all[:-1].unsqueeze(2)).sum((0, 1))
    if w_o is not None and needs[8]:
        dw_o = (d_z[..., 3 * units :] * c_all[1:]).sum((0, 1))
    if needs[9]:
        dstate_gamma = (d_state * state_normal).sum((0, 1))
    if needs[10]:
        dstate_beta = d_state.sum((0, 1))
    return (
        d_projected, dh, dc, drec, dbias, dgamma, dbeta, dw_if, dw_o,
        dstate_gamma, dstate_beta, None,
    )  # fmt: skip
