"""The whole LSTM recurrence as one PyTorch autograd function (torch only).

Imported by `_torch_loop.py` on the torch backend alone. The forward pass
runs the time loop without recording an autograd graph and keeps what the
backward pass needs in preallocated `(time, batch, ...)` buffers; the
backward pass propagates only `dh` and `dc` through time and computes every
weight gradient after the loop as one large matmul or reduction. This does
per step about a third of the small element-wise operations that autograd
would record for the same loop, which is where a recurrent step's time goes
on the torch backend.

One function covers `PeepholeLSTMCell` (peepholes, `cell_clip`, `num_proj`,
`proj_clip`, `forget_bias`) and `keras.layers.LSTMCell`, with sigmoid gates
and tanh activations, in the Keras gate order i, f, c, o.

Rows may end at different steps (right padding, `dynamic_rnn` semantics):
the caller sorts them by length, longest first, and passes the number of
rows still running at each step (`batch_sizes`, non-increasing). Step `t`
then computes only rows `[:batch_sizes[t]]`: padded steps cost nothing,
their inputs are never read (NaN or not), their outputs are zeros, and each
row's final state is its state after its last valid step.

On the CPU the products by fixed matrices go through oneDNN where that
pays (`_torch_gemm.py`). With ``KERAS_RNNKIT_TORCH_KERNELS=1`` (float32),
both time loops run in C++ instead (`_torch_kernels.py`), keeping the same
buffers for `_weight_gradients`, which both paths share.
"""

import functools

import torch

from keras_rnnkit import _torch_gemm, _torch_kernels


def first_order(backward):
    """Decorates a hand-written `backward`: it runs without recording a
    graph, and raises where it would itself be differentiated
    (`create_graph=True`, gradient penalties), since a second-order
    gradient would silently miss the recurrence."""

    @functools.wraps(backward)
    def run(ctx, *grads):
        if torch.is_grad_enabled():
            raise RuntimeError(
                "keras_rnnkit's fused recurrent loop on torch computes "
                "first-order gradients only, and this backward pass is being "
                "differentiated (`create_graph=True`, e.g. a gradient penalty). "
                "For second-order gradients run the cell step by step: wrap it "
                "in `keras.layers.RNN(cell)`, or subclass it with its own `call`."
            )
        with torch.no_grad():
            return backward(ctx, *grads)

    return run


class LSTMSequence(torch.autograd.Function):
    """`apply(x, h0, c0, kernel, recurrent_kernel, bias, w_if, w_o,
    projection, h_mask, config)` -> `(outputs, h, c)`.

    `x` is time-major `(time, batch, features)`; `bias`, `w_if` (the input
    and forget peepholes stacked, `(2, units)`), `w_o`, `projection` and
    `h_mask` may be None. `h_mask` `(batch, h size)` multiplies `h` on its
    way into the recurrent product (recurrent dropout; the compiled kernels
    do not take it, the Python loop runs). `config` is `(batch_sizes,
    forget_bias, cell_clip, proj_clip, keep)` with `batch_sizes` None when
    every row runs every step, and `keep` False when no gradient is needed
    (nothing is kept for a backward pass). `outputs` is time-major, zero
    where a row has ended.
    """

    @staticmethod
    def forward(
        ctx, x, h0, c0, kernel, recurrent_kernel, bias, w_if, w_o, proj, h_mask,
        config,
    ):  # fmt: skip
        batch_sizes, forget_bias, cell_clip, proj_clip, keep = config
        steps, batch, _ = x.shape
        units = c0.shape[-1]
        flat = x.reshape(steps * batch, -1)
        project_inputs, _ = _torch_gemm.multiplier(kernel, steps * batch)
        xp = project_inputs(flat, bias).view(steps, batch, -1)
        if forget_bias:
            xp[..., units : 2 * units] += forget_bias
        on_cpu = x.dtype == torch.float32 and x.device.type == "cpu"
        kernels = None
        if on_cpu and h_mask is None:
            kernels = _torch_kernels.load()  # CPU code
        ctx.kernels = kernels
        ctx.h_mask = h_mask
        if kernels is not None:
            return _forward_with_kernels(
                ctx, kernels, xp, x, h0, c0, kernel, recurrent_kernel, bias,
                w_if, w_o, proj, config,
            )  # fmt: skip
        # Each step makes new tensors (writing into preallocated buffers
        # measured slower); they are assembled once after the loop.
        saved = {name: [] for name in ("if", "g", "o", "c", "tanh_c", "h")}
        if cell_clip:
            saved["pre_clip"] = []
        if proj is not None:
            saved["m"] = []
        if proj_clip:
            saved["pre_proj"] = []
        keep_if, keep_g, keep_o, keep_c, keep_tanh_c, keep_h = (
            saved[name].append for name in ("if", "g", "o", "c", "tanh_c", "h")
        )
        h_final, c_final = h0.clone(), c0.clone()
        h, c = h0, c0
        _, recur = _torch_gemm.multiplier(recurrent_kernel, batch, steps)
        if proj is not None:
            project, _ = _torch_gemm.multiplier(proj, batch, steps)
        for t, x_t in forward_steps(xp, batch_sizes):
            if len(x_t) < len(h):  # rows have ended
                h, c = h[: len(x_t)], c[: len(x_t)]
            if h_mask is None:
                z = recur(x_t, h)  # x_t + h @ recurrent_kernel
            else:
                z = recur(x_t, h * h_mask[: len(h)])
            gates_if, g, c, z_o = carry_update(z, c, w_if)
            if cell_clip:
                saved["pre_clip"].append(c)
                c = torch.clamp(c, -cell_clip, cell_clip)
            if w_o is not None:
                z_o = torch.addcmul(z_o, w_o, c)
            o = torch.sigmoid(z_o)
            tanh_c = torch.tanh(c)
            h = o * tanh_c
            if proj is not None:
                saved["m"].append(h)
                h = project(h)
                if proj_clip:
                    saved["pre_proj"].append(h)
                    h = torch.clamp(h, -proj_clip, proj_clip)
            keep_if(gates_if), keep_g(g), keep_o(o), keep_c(c), keep_tanh_c(tanh_c)
            keep_h(h)
            keep_final_states((h_final, c_final), (h, c), batch_sizes, t)

        def assemble(name, *tail, first=None):
            return stack_steps(
                saved[name], x.new_zeros, (steps, batch, *tail), batch_sizes, first
            )

        h_all = assemble("h", h0.shape[-1], first=h0)
        if batch_sizes is None:
            h_final, c_final = h, c
        ctx.config = config
        ctx.has_bias = bias is not None
        if keep:
            optional = [
                assemble(name, size) if name in saved else None
                for name, size in (
                    ("pre_clip", units), ("m", units), ("pre_proj", h0.shape[-1])
                )
            ]  # fmt: skip
            ctx.save_for_backward(
                x, h0, c0, kernel, recurrent_kernel, w_if, w_o, proj,
                assemble("if", 2, units), assemble("g", units), assemble("o", units),
                assemble("c", units, first=c0), assemble("tanh_c", units), h_all,
                *optional,
            )  # fmt: skip
        return h_all[1:], h_final, c_final

    @staticmethod
    @first_order
    def backward(ctx, d_outputs, d_h, d_c):
        (
            x, h0, c0, kernel, recurrent_kernel, w_if, w_o, proj,
            gates_if, g, o, c_all, tanh_c, h_all, pre_clip, m_all, pre_proj,
        ) = ctx.saved_tensors  # fmt: skip
        batch_sizes, _, cell_clip, proj_clip, _ = ctx.config
        steps, batch, _ = x.shape
        units = c0.shape[-1]
        if ctx.kernels is not None:
            d_z, d_proj_out, dh, dc = _backward_steps_with_kernels(
                ctx.kernels, ctx.config, d_outputs, d_h, d_c, ctx.saved_tensors
            )
            return _weight_gradients(ctx, d_z, d_proj_out, dh, dc)
        i, f = gates_if[:, :, 0], gates_if[:, :, 1]
        c_prev = c_all[:-1]
        # Per-step factors, computed for all steps at once (s - s*s is the
        # sigmoid's derivative, 1 - t*t the tanh's).
        one = x.new_ones(())
        d_zo_factor = tanh_c * torch.addcmul(o, o, o, value=-1)  # d z_o / d m
        d_c_factor = o * torch.addcmul(one, tanh_c, tanh_c, value=-1)  # d c / d m
        d_zifg = x.new_empty(steps, batch, 3, units)  # d z_{i,f,c} / d c
        torch.mul(g, torch.addcmul(i, i, i, value=-1), out=d_zifg[:, :, 0])
        torch.mul(c_prev, torch.addcmul(f, f, f, value=-1), out=d_zifg[:, :, 1])
        torch.mul(i, torch.addcmul(one, g, g, value=-1), out=d_zifg[:, :, 2])
        carry = f  # d c_{t-1} / d c_t, through the forget gate
        if cell_clip:
            inside = ((pre_clip >= -cell_clip) & (pre_clip <= cell_clip)).to(x.dtype)
            d_zifg = d_zifg * inside.unsqueeze(2)
            carry = f * inside
        # The peepholes' paths folded into the factors: the output gate's
        # into d c / d m, the input and forget gates' into the carry.
        if w_o is not None:
            d_c_factor = torch.addcmul(d_c_factor, d_zo_factor, w_o)
        if w_if is not None:
            carry = carry + (d_zifg[:, :, :2] * w_if).sum(2)
        proj_inside = None
        if proj_clip:
            proj_inside = ((pre_proj >= -proj_clip) & (pre_proj <= proj_clip)).to(
                x.dtype
            )
        # Every step writes all of d_z's rows unless rows end early.
        new = x.new_empty if batch_sizes is None else x.new_zeros
        d_z = new(steps, batch, 4 * units)
        d_proj_out = new(steps, batch, h0.shape[-1]) if proj is not None else None
        dh = torch.zeros_like(h0) if d_h is None else d_h.clone()
        dc = torch.zeros_like(c0) if d_c is None else d_c.clone()
        back_recurrent, _ = _torch_gemm.multiplier(recurrent_kernel.t(), batch, steps)
        if proj is not None:
            back_project, _ = _torch_gemm.multiplier(proj.t(), batch, steps)

        for views, dh_n, dc_n in backward_steps(
            (
                d_outputs,
                d_z,
                d_z[..., 3 * units :],
                d_z[..., : 3 * units].view(steps, batch, 3, units),
                d_zo_factor,
                d_c_factor,
                d_zifg,
                carry,
                d_proj_out,
                proj_inside,
            ),
            batch_sizes,
            dh,
            dc,
        ):
            (
                d_out,
                dz,
                dz_o,
                dz_ifg,
                zo_factor,
                c_factor,
                zifg,
                carry_t,
                d_pout,
                p_in,
            ) = views
            if d_out is not None:
                dh_n += d_out
            dm = dh_n
            if proj is not None:
                if p_in is not None:
                    torch.mul(dh_n, p_in, out=d_pout)
                else:
                    d_pout.copy_(dh_n)
                dm = back_project(d_pout)
            torch.mul(dm, zo_factor, out=dz_o)
            dc_n.addcmul_(dm, c_factor)
            torch.mul(dc_n.unsqueeze(1), zifg, out=dz_ifg)
            dc_n.mul_(carry_t)
            back_recurrent(dz, out=dh_n)
            if ctx.h_mask is not None:
                dh_n.mul_(ctx.h_mask[: len(dh_n)])
        return _weight_gradients(ctx, d_z, d_proj_out, dh, dc)


def forward_steps(xs, batch_sizes):
    """Yields `(t, x_t)` for each step that some row runs: the rows of the
    time-major `xs` still running at step `t` (`batch_sizes[t]`, or all
    when `batch_sizes` is None). Each step's slice is a view made once
    (`unbind`): an index per step and tensor costs as much as a small
    operation."""
    batch = xs.shape[1]
    for t, x_t in enumerate(xs.unbind(0)):
        n = batch if batch_sizes is None else batch_sizes[t]
        if n == 0:
            return
        yield t, x_t if n == batch else x_t[:n]


def carry_update(z, c, w_if):
    """`(gates_if, g, f * c + i * g, z_o)`: an LSTM step's input and forget
    gates `(n, 2, units)` (`w_if`, the stacked peepholes, included when not
    None), candidate, new carry and output gate's pre-activation from the
    pre-activations `z` `(n, 4 * units)` (gates i, f, c, o) and the carry
    `c`."""
    n, units = c.shape
    z_if, z_c, z_o = z.split((2 * units, units, units), 1)
    gates_if = z_if.view(n, 2, units)
    if w_if is not None:
        gates_if = torch.addcmul(gates_if, w_if, c.unsqueeze(1))
    gates_if = torch.sigmoid(gates_if)
    i, f = gates_if.unbind(1)
    g = torch.tanh(z_c)
    return gates_if, g, torch.addcmul(f * c, i, g), z_o


def keep_final_states(finals, states, batch_sizes, t):
    """Writes into `finals` the rows of `states` that ran their last step
    at step `t` (none when `batch_sizes` is None: every row runs to the
    end)."""
    if batch_sizes is None:
        return
    n = batch_sizes[t]
    ending = batch_sizes[t + 1] if t + 1 < len(batch_sizes) else 0
    if ending < n:  # rows [ending:n] have run their last step
        for final, state in zip(finals, states, strict=True):
            final[ending:n] = state[ending:n]


def backward_steps(tensors, batch_sizes, dh, dc):
    """Yields `(views, dh_n, dc_n)` for each step, last step first: the
    rows still running at that step (`batch_sizes`) of each time-major
    tensor of `tensors` at that step (None for None), and of `dh` and `dc`
    (views: writing them writes `dh` and `dc`). Steps that no row runs are
    skipped."""
    batch = dh.shape[0]
    per_step = [t if t is None else t.unbind(0) for t in tensors]  # made once
    steps = next(len(t) for t in per_step if t is not None)
    for t in reversed(range(steps)):
        n = batch if batch_sizes is None else batch_sizes[t]
        if n == 0:
            continue
        views = [None if v is None else v[t] for v in per_step]
        if n < batch:  # the rows still running at this step
            yield [None if v is None else v[:n] for v in views], dh[:n], dc[:n]
        else:
            yield views, dh, dc


def stack_steps(values, new_zeros, shape, batch_sizes, first=None):
    """`values`, one `(rows, *tail)` tensor per step run (`batch_sizes[t]`
    rows at step `t`), as one `shape` `(time, batch, *tail)` tensor made by
    `new_zeros`, zero after a row's end; `first` (`(batch, *tail)`, the
    initial state) prepended as step -1."""
    if batch_sizes is None:
        return torch.stack(values if first is None else [first, *values])
    start = 0 if first is None else 1
    full = new_zeros(start + shape[0], *shape[1:])
    if first is not None:
        full[0] = first
    if values:
        padded = torch.nn.utils.rnn.pad_sequence(values, batch_first=True)
        full[start : start + len(values), : padded.shape[1]] = padded
    return full


def _weight_gradients(ctx, d_z, d_proj_out, dh, dc):
    """`backward`'s result from the pre-activation gradients of every step
    `d_z` `(time, batch, 4 * units)` (and `d_proj_out`, the projection's
    output gradients): every weight gradient as one matmul or reduction."""
    (
        x, h0, c0, kernel, recurrent_kernel, w_if, w_o, proj,
        gates_if, g, o, c_all, tanh_c, h_all, pre_clip, m_all, pre_proj,
    ) = ctx.saved_tensors  # fmt: skip
    steps, batch, _ = x.shape
    units = c0.shape[-1]
    c_prev, cells = c_all[:-1], c_all[1:]
    flat_dz = d_z.view(steps * batch, 4 * units)
    h_prev = h_all[:-1] if ctx.h_mask is None else h_all[:-1] * ctx.h_mask
    h_prev = h_prev.reshape(steps * batch, -1)
    needs = ctx.needs_input_grad
    dx = dkernel = drec = dbias = dw_if = dw_o = dproj = None
    if needs[0]:
        back_project_inputs, _ = _torch_gemm.multiplier(kernel.t(), steps * batch)
        dx = back_project_inputs(flat_dz).view(x.shape)
    if needs[3]:
        dkernel = torch.mm(x.reshape(steps * batch, -1).t(), flat_dz)
    if needs[4]:
        drec = torch.mm(h_prev.t(), flat_dz)
    if ctx.has_bias and needs[5]:
        dbias = flat_dz.sum(0)
    if w_if is not None and needs[6]:
        d_zif = d_z[..., : 2 * units].view(steps, batch, 2, units)
        dw_if = (d_zif * c_prev.unsqueeze(2)).sum((0, 1))
    if w_o is not None and needs[7]:
        dw_o = (d_z[..., 3 * units :] * cells).sum((0, 1))
    if proj is not None and needs[8]:
        dproj = torch.mm(
            m_all.view(steps * batch, units).t(),
            d_proj_out.view(steps * batch, -1),
        )
    return dx, dh, dc, dkernel, drec, dbias, dw_if, dw_o, dproj, None, None


def _forward_with_kernels(
    ctx, kernels, xp, x, h0, c0, kernel, recurrent_kernel, bias, w_if, w_o, proj,
    config,
):  # fmt: skip
    """`LSTMSequence.forward` as one call of the compiled loop
    (`_torch_kernels`): per step one matmul and one element-wise kernel
    (plus the projection's matmul), no Python."""
    batch_sizes, _, cell_clip, proj_clip, keep = config
    none = x.new_empty(0)
    (
        h_all, c_all, gates_if, g, o, tanh_c, pre_clip, m, pre_proj,
        h_final, c_final,
    ) = kernels.forward_sequence(
        xp, h0.contiguous(), c0.contiguous(), recurrent_kernel.contiguous(),
        none if w_if is None else w_if.contiguous(),
        none if w_o is None else w_o.contiguous(),
        none if proj is None else proj.contiguous(),
        float(cell_clip or 0.0), float(proj_clip or 0.0),
        [] if batch_sizes is None else [int(n) for n in batch_sizes], keep,
        _packed_or_none(recurrent_kernel, x.shape[1], x.shape[0], none),
        _packed_or_none(proj, x.shape[1], x.shape[0], none),
    )  # fmt: skip
    ctx.config = config
    ctx.has_bias = bias is not None
    if keep:

        def optional(tensor):
            return tensor if tensor.numel() else None

        ctx.save_for_backward(
            x, h0, c0, kernel, recurrent_kernel, w_if, w_o, proj,
            gates_if, g, o, c_all, tanh_c, h_all,
            optional(pre_clip), optional(m), optional(pre_proj),
        )  # fmt: skip
    return h_all[1:], h_final, c_final


def _backward_steps_with_kernels(kernels, config, d_outputs, d_h, d_c, saved):
    """The backward pass's loop over the steps as one call of the compiled
    loop: `(d_z, d_proj_out, dh0, dc0)`."""
    (
        x, h0, c0, kernel, recurrent_kernel, w_if, w_o, proj,
        gates_if, g, o, c_all, tanh_c, h_all, pre_clip, m_all, pre_proj,
    ) = saved  # fmt: skip
    batch_sizes, _, cell_clip, proj_clip, _ = config
    none = x.new_empty(0)
    dh = torch.zeros_like(h0) if d_h is None else d_h.contiguous().clone()
    dc = torch.zeros_like(c0) if d_c is None else d_c.contiguous().clone()
    proj_inside = none
    if proj_clip:
        proj_inside = ((pre_proj >= -proj_clip) & (pre_proj <= proj_clip)).to(x.dtype)

    def given(tensor):
        return none if tensor is None else tensor.contiguous()

    d_z, d_proj_out = kernels.backward_sequence(
        given(d_outputs), dh, dc, gates_if, g, o, tanh_c, c_all, given(pre_clip),
        recurrent_kernel.contiguous(), given(w_if), given(w_o), given(proj),
        proj_inside, float(cell_clip or 0.0),
        [] if batch_sizes is None else [int(n) for n in batch_sizes],
        *(
            _packed_or_none(matrix, x.shape[1], x.shape[0], none)
            for matrix in (recurrent_kernel.t(), None if proj is None else proj.t())
        ),
    )  # fmt: skip
    return d_z, (d_proj_out if proj is not None else None), dh, dc


def _packed_or_none(matrix, rows, uses, none):
    """`matrix` packed for oneDNN (`_torch_gemm.pack`), or the empty
    tensor `none` that tells the compiled loop to use `torch.mm` (also for
    no matrix)."""
    packed = None if matrix is None else _torch_gemm.pack(matrix, rows, uses)
    return none if packed is None else packed
