// One LSTM step's element-wise work, forward and backward, as single
// kernels for keras_rnnkit's torch loop (keras_rnnkit/_torch_lstm.py).
//
// Compiled on first use by torch.utils.cpp_extension when the user opts in
// (KERAS_RNNKIT_TORCH_KERNELS=1, see keras_rnnkit/_torch_kernels.py). The
// Python loop does the same work in about ten torch operations per step,
// each a pass over memory plus Python and dispatch overhead; here it is
// one pass. float32, contiguous rows; gate order i, f, c, o (Keras's).

#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <cmath>

namespace {

inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }
inline float tanh_of(float x) { return 1.0f - 2.0f / (std::exp(2.0f * x) + 1.0f); }

const float* data_or_null(const torch::Tensor& t) {
  return t.numel() ? t.data_ptr<float>() : nullptr;
}
float* out_or_null(torch::Tensor& t) {
  return t.numel() ? t.data_ptr<float>() : nullptr;
}

}  // namespace

// z: (n, 4U) pre-activations without peepholes (input and recurrent
// products, bias, forget bias); c: (n, U), the cell before the step.
// w_if: (2, U) input and forget peepholes, w_o: (U,), or empty.
// cell_clip: 0 for none. Writes gates_if (n, 2, U), g, o, c_new, tanh_c,
// m = o * tanh_c, and pre_clip (the cell before clipping) if not empty.
// One loop per combination of the options (vectorized, no branches).
template <bool PEEPHOLES, bool CLIP>
void forward_rows(int64_t begin, int64_t end, int64_t U, const float* zp,
                  const float* cp, const float* wi, const float* wo, float clip,
                  float* gif, float* gp, float* op, float* cn, float* tc,
                  float* mp, float* pc) {
  for (int64_t r = begin; r < end; ++r) {
    const float* zi = zp + r * 4 * U;
    const float* zf = zi + U;
    const float* zc = zi + 2 * U;
    const float* zo = zi + 3 * U;
    const float* cr = cp + r * U;
    float* gi = gif + r * 2 * U;
    float* gf = gi + U;
    float* gr = gp + r * U;
    float* orow = op + r * U;
    float* cnr = cn + r * U;
    float* tcr = tc + r * U;
    float* mr = mp + r * U;
    float* pcr = CLIP ? pc + r * U : nullptr;
#pragma omp simd
    for (int64_t u = 0; u < U; ++u) {
      const float c_old = cr[u];
      const float i = sigmoid(PEEPHOLES ? zi[u] + wi[u] * c_old : zi[u]);
      const float f = sigmoid(PEEPHOLES ? zf[u] + wi[U + u] * c_old : zf[u]);
      const float gg = tanh_of(zc[u]);
      float cc = f * c_old + i * gg;
      if (CLIP) {
        pcr[u] = cc;
        cc = std::fmin(std::fmax(cc, -clip), clip);
      }
      const float oo = sigmoid(PEEPHOLES ? zo[u] + wo[u] * cc : zo[u]);
      const float t = tanh_of(cc);
      gi[u] = i;
      gf[u] = f;
      gr[u] = gg;
      orow[u] = oo;
      cnr[u] = cc;
      tcr[u] = t;
      mr[u] = oo * t;
    }
  }
}

void forward_step(const torch::Tensor& z, const torch::Tensor& c,
                  const torch::Tensor& w_if, const torch::Tensor& w_o,
                  double cell_clip, torch::Tensor gates_if, torch::Tensor g,
                  torch::Tensor o, torch::Tensor c_new, torch::Tensor tanh_c,
                  torch::Tensor m, torch::Tensor pre_clip) {
  const int64_t n = z.size(0), U = c.size(1);
  const float* zp = z.data_ptr<float>();
  const float* cp = c.data_ptr<float>();
  const float* wi = data_or_null(w_if);
  const float* wo = data_or_null(w_o);
  float* gif = gates_if.data_ptr<float>();
  float* gp = g.data_ptr<float>();
  float* op = o.data_ptr<float>();
  float* cn = c_new.data_ptr<float>();
  float* tc = tanh_c.data_ptr<float>();
  float* mp = m.data_ptr<float>();
  float* pc = out_or_null(pre_clip);
  const float clip = static_cast<float>(cell_clip);
  at::parallel_for(0, n, 8, [&](int64_t begin, int64_t end) {
#define KERAS_RNNKIT_FORWARD(P, C)                                           \
  forward_rows<P, C>(begin, end, U, zp, cp, wi, wo, clip, gif, gp, op, cn, tc, \
                     mp, pc)
    if (wi && pc) KERAS_RNNKIT_FORWARD(true, true);
    else if (wi) KERAS_RNNKIT_FORWARD(true, false);
    else if (pc) KERAS_RNNKIT_FORWARD(false, true);
    else KERAS_RNNKIT_FORWARD(false, false);
#undef KERAS_RNNKIT_FORWARD
  });
}

// The step's backward pass from the saved values: dm (n, U), the gradient
// reaching m = o * tanh_c (plus d_out if not empty); dc (n, U), the
// gradient reaching the step's cell from later steps, replaced by the one
// reaching the cell before the step. Writes dz (n, 4U): the gradient of
// the pre-activations (i, f, c, o). One loop per combination of the
// options, without branches inside, so that the compiler vectorizes it.
template <bool WITH_D_OUT, bool PEEPHOLES, bool CLIP>
void backward_rows(int64_t begin, int64_t end, int64_t U, const float* dmp,
                   const float* dop, const float* gif, const float* gp,
                   const float* op, const float* tc, const float* cpp,
                   const float* pc, const float* wi, const float* wo, float clip,
                   float* dcp, float* dzp) {
  for (int64_t r = begin; r < end; ++r) {
    const float* dmr = dmp + r * U;
    const float* dor = WITH_D_OUT ? dop + r * U : nullptr;
    const float* gi = gif + r * 2 * U;
    const float* gf = gi + U;
    const float* gr = gp + r * U;
    const float* orow = op + r * U;
    const float* tcr = tc + r * U;
    const float* cpr = cpp + r * U;
    const float* pcr = CLIP ? pc + r * U : nullptr;
    float* dcr = dcp + r * U;
    float* dzi = dzp + r * 4 * U;
    float* dzf = dzi + U;
    float* dzc = dzi + 2 * U;
    float* dzo = dzi + 3 * U;
#pragma omp simd
    for (int64_t u = 0; u < U; ++u) {
      float d_m = dmr[u];
      if (WITH_D_OUT) d_m += dor[u];
      const float oo = orow[u], t = tcr[u];
      const float dz_o = d_m * t * oo * (1.0f - oo);
      float d_c = dcr[u] + d_m * oo * (1.0f - t * t);
      if (PEEPHOLES) d_c += dz_o * wo[u];
      if (CLIP) d_c = (pcr[u] < -clip || pcr[u] > clip) ? 0.0f : d_c;
      const float i = gi[u], f = gf[u], gg = gr[u];
      const float dz_i = d_c * gg * i * (1.0f - i);
      const float dz_f = d_c * cpr[u] * f * (1.0f - f);
      float d_prev = d_c * f;
      if (PEEPHOLES) d_prev += dz_i * wi[u] + dz_f * wi[U + u];
      dcr[u] = d_prev;
      dzi[u] = dz_i;
      dzf[u] = dz_f;
      dzc[u] = d_c * i * (1.0f - gg * gg);
      dzo[u] = dz_o;
    }
  }
}

void backward_step(const torch::Tensor& dm, const torch::Tensor& d_out,
                   const torch::Tensor& gates_if, const torch::Tensor& g,
                   const torch::Tensor& o, const torch::Tensor& tanh_c,
                   const torch::Tensor& c_prev, const torch::Tensor& pre_clip,
                   const torch::Tensor& w_if, const torch::Tensor& w_o,
                   double cell_clip, torch::Tensor dc, torch::Tensor dz) {
  const int64_t n = dm.size(0), U = dm.size(1);
  const float* dop = data_or_null(d_out);
  const float* pc = data_or_null(pre_clip);
  const float* wi = data_or_null(w_if);
  const float* wo = data_or_null(w_o);
  const float clip = static_cast<float>(cell_clip);
  const float* args_in[] = {dm.data_ptr<float>(), dop, gates_if.data_ptr<float>(),
                            g.data_ptr<float>(), o.data_ptr<float>(),
                            tanh_c.data_ptr<float>(), c_prev.data_ptr<float>(),
                            pc, wi, wo};
  float* dcp = dc.data_ptr<float>();
  float* dzp = dz.data_ptr<float>();
  const int kind = (dop ? 4 : 0) + (wi ? 2 : 0) + (pc ? 1 : 0);
  at::parallel_for(0, n, 8, [&](int64_t begin, int64_t end) {
#define KERAS_RNNKIT_BACKWARD(D, P, C)                                        \
  backward_rows<D, P, C>(begin, end, U, args_in[0], args_in[1], args_in[2], \
                         args_in[3], args_in[4], args_in[5], args_in[6],    \
                         args_in[7], args_in[8], args_in[9], clip, dcp, dzp)
    switch (kind) {
      case 0: KERAS_RNNKIT_BACKWARD(false, false, false); break;
      case 1: KERAS_RNNKIT_BACKWARD(false, false, true); break;
      case 2: KERAS_RNNKIT_BACKWARD(false, true, false); break;
      case 3: KERAS_RNNKIT_BACKWARD(false, true, true); break;
      case 4: KERAS_RNNKIT_BACKWARD(true, false, false); break;
      case 5: KERAS_RNNKIT_BACKWARD(true, false, true); break;
      case 6: KERAS_RNNKIT_BACKWARD(true, true, false); break;
      default: KERAS_RNNKIT_BACKWARD(true, true, true); break;
    }
#undef KERAS_RNNKIT_BACKWARD
  });
}

namespace {

torch::Tensor rows(const torch::Tensor& t, int64_t step, int64_t n) {
  return t.select(0, step).narrow(0, 0, n);
}

torch::Tensor maybe_rows(const torch::Tensor& t, int64_t step, int64_t n) {
  return t.numel() ? rows(t, step, n) : t;
}

// a @ W (+ plus, if defined) through oneDNN, W packed by
// torch.ops.mkldnn._reorder_linear_weight (keras_rnnkit/_torch_gemm.py):
// the operations torch.compile's CPU backend calls, found by name in
// PyTorch's dispatcher and called boxed (no dependence on their C++
// signatures).
torch::Tensor packed_product(const torch::Tensor& a, const torch::Tensor& packed,
                             const torch::Tensor& plus) {
  static const c10::OperatorHandle plain =
      c10::Dispatcher::singleton().findSchemaOrThrow("mkldnn::_linear_pointwise", "");
  static const c10::OperatorHandle binary = c10::Dispatcher::singleton()
      .findSchemaOrThrow("mkldnn::_linear_pointwise", "binary");
  std::vector<c10::IValue> stack;
  if (plus.defined()) {
    stack = {a, plus, packed, c10::IValue(), std::string("add")};
    binary.callBoxed(&stack);
  } else {
    stack = {a, packed, c10::IValue(), std::string("none"),
             c10::List<std::optional<c10::Scalar>>(), std::string("")};
    plain.callBoxed(&stack);
  }
  return stack[0].toTensor();
}

}  // namespace

// The whole forward loop: per step one matmul (the recurrent product added
// to the precomputed input projection `xp` (T, B, 4U)), the element-wise
// kernel, and the projection's matmul (and clip) if any. `packed` and
// `packed_proj` are the recurrent kernel and the projection packed for
// oneDNN, or empty (torch.mm). `batch_sizes`
// (non-increasing, or empty: every row every step): step t runs rows
// [0, batch_sizes[t]), later rows stay zero. With `keep`, every step's
// values are kept for the backward pass, else one step's room is reused.
// Returns h_all (T+1, B, P) with h0 first, c_all (T+1, B, U) (2 rows
// without keep), gates_if, g, o, tanh_c, pre_clip, m, pre_proj (empty when
// not needed), h_final, c_final (each row's state after its last step).
std::vector<torch::Tensor> forward_sequence(
    const torch::Tensor& xp, const torch::Tensor& h0, const torch::Tensor& c0,
    const torch::Tensor& recurrent, const torch::Tensor& w_if,
    const torch::Tensor& w_o, const torch::Tensor& proj, double cell_clip,
    double proj_clip, const std::vector<int64_t>& batch_sizes, bool keep,
    const torch::Tensor& packed, const torch::Tensor& packed_proj) {
  const int64_t T = xp.size(0), B = xp.size(1), U = c0.size(1), P = h0.size(1);
  const bool padded = !batch_sizes.empty();
  const auto options = xp.options();
  auto alloc = [&](std::vector<int64_t> shape) {
    return padded ? torch::zeros(shape, options) : torch::empty(shape, options);
  };
  const torch::Tensor none = torch::empty({0}, options);
  const int64_t L = keep ? T : 1;
  torch::Tensor gates_if = alloc({L, B, 2, U}), g = alloc({L, B, U});
  torch::Tensor o = alloc({L, B, U}), tanh_c = alloc({L, B, U});
  torch::Tensor pre_clip = cell_clip > 0 ? alloc({L, B, U}) : none;
  torch::Tensor m = proj.numel() ? alloc({L, B, U}) : none;
  torch::Tensor pre_proj = proj_clip > 0 ? alloc({L, B, P}) : none;
  torch::Tensor h_all = alloc({T + 1, B, P});
  torch::Tensor c_all = alloc({keep ? T + 1 : 2, B, U});
  h_all.select(0, 0).copy_(h0);
  c_all.select(0, 0).copy_(c0);
  torch::Tensor h_final = h0.clone(), c_final = c0.clone();
  torch::Tensor z = packed.numel() ? none : torch::empty({B, 4 * U}, options);
  const torch::Tensor no_input;  // packed_product without an added input
  int64_t last_c = 0;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t n = padded ? batch_sizes[t] : B;
    if (n == 0) break;
    const int64_t k = keep ? t : 0;
    const int64_t c_in = keep ? t : t % 2, c_out = keep ? t + 1 : (t + 1) % 2;
    torch::Tensor z_t;
    if (packed.numel()) {
      z_t = packed_product(rows(h_all, t, n), packed, rows(xp, t, n));
    } else {
      z_t = z.narrow(0, 0, n);
      at::addmm_out(z_t, rows(xp, t, n), rows(h_all, t, n), recurrent);
    }
    torch::Tensor h_t = rows(h_all, t + 1, n), c_t = rows(c_all, c_out, n);
    torch::Tensor m_t = proj.numel() ? rows(m, k, n) : h_t;
    forward_step(z_t, rows(c_all, c_in, n), w_if, w_o, cell_clip,
                 rows(gates_if, k, n), rows(g, k, n), rows(o, k, n), c_t,
                 rows(tanh_c, k, n), m_t, maybe_rows(pre_clip, k, n));
    if (proj.numel()) {
      if (proj_clip > 0) {
        torch::Tensor p_t = rows(pre_proj, k, n);
        if (packed_proj.numel()) {
          p_t.copy_(packed_product(m_t, packed_proj, no_input));
        } else {
          at::mm_out(p_t, m_t, proj);
        }
        at::clamp_out(h_t, p_t, c10::Scalar(-proj_clip), c10::Scalar(proj_clip));
      } else if (packed_proj.numel()) {
        h_t.copy_(packed_product(m_t, packed_proj, no_input));
      } else {
        at::mm_out(h_t, m_t, proj);
      }
    }
    last_c = c_out;
    if (padded) {
      const int64_t ending = t + 1 < T ? batch_sizes[t + 1] : 0;
      if (ending < n) {  // rows [ending, n) have run their last step
        h_final.narrow(0, ending, n - ending).copy_(h_t.narrow(0, ending, n - ending));
        c_final.narrow(0, ending, n - ending).copy_(c_t.narrow(0, ending, n - ending));
      }
    }
  }
  if (!padded && T > 0) {
    h_final.copy_(h_all.select(0, T));
    c_final.copy_(c_all.select(0, last_c));
  }
  return {h_all, c_all, gates_if, g, o, tanh_c, pre_clip, m, pre_proj,
          h_final, c_final};
}

// The whole backward loop over the steps, from the last: `dh`, `dc` (B, P)
// and (B, U) hold the gradients reaching the final states and are replaced
// by those reaching the initial ones. `d_outputs` (T, B, P) or empty;
// `proj_inside` (T, B, P), where the projection was not clipped, or empty.
// `packed_t`, `packed_proj_t`: the recurrent kernel's and the projection's
// transposes packed for oneDNN, or empty.
// Returns d_z (T, B, 4U), the pre-activations' gradients, and d_proj_out
// (T, B, P), the projection's output gradients (empty without one).
std::vector<torch::Tensor> backward_sequence(
    const torch::Tensor& d_outputs, torch::Tensor dh, torch::Tensor dc,
    const torch::Tensor& gates_if, const torch::Tensor& g,
    const torch::Tensor& o, const torch::Tensor& tanh_c,
    const torch::Tensor& c_all, const torch::Tensor& pre_clip,
    const torch::Tensor& recurrent, const torch::Tensor& w_if,
    const torch::Tensor& w_o, const torch::Tensor& proj,
    const torch::Tensor& proj_inside, double cell_clip,
    const std::vector<int64_t>& batch_sizes, const torch::Tensor& packed_t,
    const torch::Tensor& packed_proj_t) {
  const int64_t T = gates_if.size(0), B = gates_if.size(1), U = g.size(2);
  const int64_t P = dh.size(1);
  const bool padded = !batch_sizes.empty();
  const auto options = g.options();
  auto alloc = [&](std::vector<int64_t> shape) {
    return padded ? torch::zeros(shape, options) : torch::empty(shape, options);
  };
  const torch::Tensor none = torch::empty({0}, options);
  torch::Tensor d_z = alloc({T, B, 4 * U});
  torch::Tensor d_proj_out = proj.numel() ? alloc({T, B, P}) : none;
  torch::Tensor dm_room = proj.numel() ? torch::empty({B, U}, options) : none;
  const torch::Tensor recurrent_t = recurrent.t();
  const torch::Tensor proj_t = proj.numel() ? proj.t() : none;
  for (int64_t t = T - 1; t >= 0; --t) {
    const int64_t n = padded ? batch_sizes[t] : B;
    if (n == 0) continue;
    torch::Tensor dh_n = dh.narrow(0, 0, n), dc_n = dc.narrow(0, 0, n);
    torch::Tensor d_out = maybe_rows(d_outputs, t, n);
    torch::Tensor dm = dh_n;
    if (proj.numel()) {
      if (d_out.numel()) dh_n.add_(d_out);
      torch::Tensor d_pout = rows(d_proj_out, t, n);
      if (proj_inside.numel()) {
        at::mul_out(d_pout, dh_n, rows(proj_inside, t, n));
      } else {
        d_pout.copy_(dh_n);
      }
      dm = dm_room.narrow(0, 0, n);
      if (packed_proj_t.numel()) {
        dm.copy_(packed_product(d_pout, packed_proj_t, torch::Tensor()));
      } else {
        at::mm_out(dm, d_pout, proj_t);
      }
      d_out = none;
    }
    torch::Tensor dz = rows(d_z, t, n);
    backward_step(dm, d_out, rows(gates_if, t, n), rows(g, t, n), rows(o, t, n),
                  rows(tanh_c, t, n), rows(c_all, t, n),
                  maybe_rows(pre_clip, t, n), w_if, w_o, cell_clip, dc_n, dz);
    if (packed_t.numel()) {
      dh_n.copy_(packed_product(dz, packed_t, torch::Tensor()));
    } else {
      at::mm_out(dh_n, dz, recurrent_t);
    }
  }
  return {d_z, d_proj_out};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, module) {
  module.def("forward_sequence", &forward_sequence, "The LSTM forward loop");
  module.def("backward_sequence", &backward_sequence, "Its backward loop");
}
