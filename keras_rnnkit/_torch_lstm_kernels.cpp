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
    for (int64_t r = begin; r < end; ++r) {
      const float* zr = zp + r * 4 * U;
      const float* cr = cp + r * U;
      float* gi = gif + r * 2 * U;
      float* gf = gi + U;
      float* gr = gp + r * U;
      float* orow = op + r * U;
      float* cnr = cn + r * U;
      float* tcr = tc + r * U;
      float* mr = mp + r * U;
      float* pcr = pc ? pc + r * U : nullptr;
#pragma omp simd
      for (int64_t u = 0; u < U; ++u) {
        const float c_old = cr[u];
        const float i = sigmoid(zr[u] + (wi ? wi[u] * c_old : 0.0f));
        const float f = sigmoid(zr[U + u] + (wi ? wi[U + u] * c_old : 0.0f));
        const float gg = tanh_of(zr[2 * U + u]);
        float cc = f * c_old + i * gg;
        if (pcr) pcr[u] = cc;
        if (clip > 0.0f) cc = std::fmin(std::fmax(cc, -clip), clip);
        const float oo = sigmoid(zr[3 * U + u] + (wo ? wo[u] * cc : 0.0f));
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
  });
}

// The step's backward pass from the saved values: dm (n, U), the gradient
// reaching m = o * tanh_c (plus d_out if not empty); dc (n, U), the
// gradient reaching the step's cell from later steps, replaced by the one
// reaching the cell before the step. Writes dz (n, 4U): the gradient of
// the pre-activations (i, f, c, o).
void backward_step(const torch::Tensor& dm, const torch::Tensor& d_out,
                   const torch::Tensor& gates_if, const torch::Tensor& g,
                   const torch::Tensor& o, const torch::Tensor& tanh_c,
                   const torch::Tensor& c_prev, const torch::Tensor& pre_clip,
                   const torch::Tensor& w_if, const torch::Tensor& w_o,
                   double cell_clip, torch::Tensor dc, torch::Tensor dz) {
  const int64_t n = dm.size(0), U = dm.size(1);
  const float* dmp = dm.data_ptr<float>();
  const float* dop = data_or_null(d_out);
  const float* gif = gates_if.data_ptr<float>();
  const float* gp = g.data_ptr<float>();
  const float* op = o.data_ptr<float>();
  const float* tc = tanh_c.data_ptr<float>();
  const float* cpp = c_prev.data_ptr<float>();
  const float* pc = data_or_null(pre_clip);
  const float* wi = data_or_null(w_if);
  const float* wo = data_or_null(w_o);
  float* dcp = dc.data_ptr<float>();
  float* dzp = dz.data_ptr<float>();
  const float clip = static_cast<float>(cell_clip);
  at::parallel_for(0, n, 8, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* dmr = dmp + r * U;
      const float* dor = dop ? dop + r * U : nullptr;
      const float* gi = gif + r * 2 * U;
      const float* gf = gi + U;
      const float* gr = gp + r * U;
      const float* orow = op + r * U;
      const float* tcr = tc + r * U;
      const float* cpr = cpp + r * U;
      const float* pcr = pc ? pc + r * U : nullptr;
      float* dcr = dcp + r * U;
      float* dzr = dzp + r * 4 * U;
#pragma omp simd
      for (int64_t u = 0; u < U; ++u) {
        const float d_m = dmr[u] + (dor ? dor[u] : 0.0f);
        const float oo = orow[u], t = tcr[u];
        const float dz_o = d_m * t * oo * (1.0f - oo);
        float d_c = dcr[u] + d_m * oo * (1.0f - t * t);
        if (wo) d_c += dz_o * wo[u];
        if (pcr && (pcr[u] < -clip || pcr[u] > clip)) d_c = 0.0f;
        const float i = gi[u], f = gf[u], gg = gr[u];
        const float dz_i = d_c * gg * i * (1.0f - i);
        const float dz_f = d_c * cpr[u] * f * (1.0f - f);
        const float dz_c = d_c * i * (1.0f - gg * gg);
        float d_prev = d_c * f;
        if (wi) d_prev += dz_i * wi[u] + dz_f * wi[U + u];
        dcr[u] = d_prev;
        dzr[u] = dz_i;
        dzr[U + u] = dz_f;
        dzr[2 * U + u] = dz_c;
        dzr[3 * U + u] = dz_o;
      }
    }
  });
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, module) {
  module.def("forward_step", &forward_step, "One LSTM step, element-wise part");
  module.def("backward_step", &backward_step, "Its backward pass");
}
