// Fused CPU kernels of normact's normalized activations and SELU family (see _fused.py).
//
// One pass that reads the input gives every statistic a normalized activation needs (moments) and
// stores f(x) in the output, one pass rescales the output in place once the statistics are known (in
// eval, with running statistics, one pass writes the output from the input), one pass the input
// gradient together with the per-row sum(grad * (f(x) - shift)) (backward). The statistics pass is
// bound by its arithmetic (SiLU's sigmoid, ELU's exp), so storing f there is almost free, and the
// in-place rescale costs less than evaluating f a second time. The operators normalized_activation
// and selu_family run the whole layer, their autograd included, in C++.
// Compiled at first use by normact.functional._fused.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/full_like.h>
#include <ATen/ops/zeros.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/functions/basic_ops.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <vector>

namespace {

// exp(x) for float: Cephes' polynomial (max relative error about 2 ulp), written without branches
// or calls so that the loops below vectorise; double uses std::exp. fexp_nonpositive skips the
// upper clamp, for x <= 0.
inline float fexp_nonpositive(float x) {
  x = x < -87.3365447505531f ? -87.3365447505531f : x;
  const float n = __builtin_floorf(x * 1.44269504088896341f + 0.5f);
  x = x - n * 0.693359375f + n * 2.12194440e-4f;
  const float z = x * x;
  float y = ((((1.9875691500e-4f * x + 1.3981999507e-3f) * x + 8.3334519073e-3f) * x + 4.1665795894e-2f) * x +
             1.6666665459e-1f) * x + 5.0000001201e-1f;
  y = y * z + x + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return y * scale;
}
inline float fexp(float x) { return fexp_nonpositive(x > 88.3762626647949f ? 88.3762626647949f : x); }
inline double fexp(double x) { return std::exp(x); }
inline double fexp_nonpositive(double x) { return std::exp(x); }

// exp(x) - 1 without the cancellation of fexp(x) - 1 near 0: a Taylor polynomial for |x| < 1/2
// (relative error below 4e-9 there), fexp(x) - 1 elsewhere.
inline float fexpm1(float x) {
  float p = ((x * (1.0f / 40320) + 1.0f / 5040) * x + 1.0f / 720) * x + 1.0f / 120;
  p = ((p * x + 1.0f / 24) * x + 1.0f / 6) * x + 0.5f;
  p = p * x * x + x;
  return (x < 0.5f && x > -0.5f) ? p : fexp(x) - 1.0f;
}
inline double fexpm1(double x) { return std::expm1(x); }

enum Kind : int64_t { LEAKY = 0, SILU = 1, ELU = 2, LSELU = 3 };

// f = lam * g(x) and f' for each kind:
//   LEAKY  g = x > 0 ? x : p0 x                       (ReLU: p0 = 0)
//   SILU   g = x sigmoid(x)
//   ELU    g = x > 0 ? x : p0 (exp(p1 x) - 1)          (ELU, SELU, dSELU, sSELU)
//   LSELU  g = x > 0 ? x : p0 (exp(x) - 1) + p1 x
template <typename T, int64_t K> struct Act;
template <typename T> struct Act<T, LEAKY> {
  T p0, p1, lam;
  inline void eval(T x, T& f, T& df) const {
    const bool pos = x > T(0);
    f = lam * (pos ? x : p0 * x);
    df = lam * (pos ? T(1) : p0);
  }
};
template <typename T> struct Act<T, SILU> {
  T p0, p1, lam;
  inline void eval(T x, T& f, T& df) const {
    // e^-|x| never overflows: sigmoid(x) = 1 / (1 + e^-|x|) for x >= 0, e^x / (1 + e^x) below
    const bool neg = x < T(0);
    const T e = fexp_nonpositive(neg ? x : -x), r = T(1) / (T(1) + e);
    const T s = neg ? e * r : r;
    f = lam * x * s;
    df = lam * s * (T(1) + x * (T(1) - s));
  }
};
template <typename T> struct Act<T, ELU> {
  T p0, p1, lam;
  inline void eval(T x, T& f, T& df) const {
    const bool pos = x > T(0);
    const T z = p1 * (pos ? T(0) : x);
    const T e = fexp(z);
    f = lam * (pos ? x : p0 * fexpm1(z));
    df = lam * (pos ? T(1) : p0 * p1 * e);
  }
};
template <typename T> struct Act<T, LSELU> {
  T p0, p1, lam;
  inline void eval(T x, T& f, T& df) const {
    const bool pos = x > T(0);
    const T z = pos ? T(0) : x;
    const T e = fexp(z);
    f = lam * (pos ? x : p0 * fexpm1(z) + p1 * x);
    df = lam * (pos ? T(1) : p0 * e + p1);
  }
};

constexpr int64_t BLOCK = 16384;  // elements per parallel task and per partial sum
constexpr int64_t INNER = 4096;   // elements summed in T (vectorised) before adding into double

// x, y: (G, M) contiguous. Calls body(g, offset, n) for every block, in parallel.
template <typename F>
void for_blocks(int64_t G, int64_t M, const F& body) {
  const int64_t nb = (M + BLOCK - 1) / BLOCK;
  at::parallel_for(0, G * nb, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t g = b / nb, j = (b % nb) * BLOCK;
      body(b, g, g * M + j, std::min(BLOCK, M - j));
    }
  });
}

// per-row sums of per-block partials, in block order
void reduce_rows(const std::vector<double>& part, int64_t G, int64_t nb, int64_t width, double* out) {
  for (int64_t g = 0; g < G; ++g)
    for (int64_t k = 0; k < width; ++k) {
      double s = 0;
      for (int64_t b = 0; b < nb; ++b) s += part[(g * nb + b) * width + k];
      out[g * width + k] = s;
    }
}

// sums of x, x^2, f, f^2, f'^2 over n elements, and f into y when STORE. Each statistic is summed
// in LANES partial sums (two AVX-512 vectors of floats), enough independent additions to hide their
// latency: one accumulator per statistic made the pass latency-bound, 1.3-1.4x slower for SiLU and ELU.
constexpr int LANES = 32;
template <typename T, int64_t K, bool STORE>
void moments_block(const Act<T, K> act, const T* x, T* y, int64_t n, double* out) {
  double acc[5] = {0, 0, 0, 0, 0};
  for (int64_t j = 0; j < n; j += INNER) {
    const int64_t m = std::min(INNER, n - j), full = m - m % LANES;
    const T* xj = x + j;
    T a[LANES] = {}, b[LANES] = {}, c[LANES] = {}, d[LANES] = {}, e[LANES] = {};
    T* yj = STORE ? y + j : nullptr;
    auto add = [&](int64_t l, int64_t i) {
      T f, df;
      const T v = xj[i];
      act.eval(v, f, df);
      if (STORE) yj[i] = f;
      a[l] += v;
      b[l] += v * v;
      c[l] += f;
      d[l] += f * f;
      e[l] += df * df;
    };
    // a fixed trip count keeps the accumulators in registers (a variable one kept them on the stack)
    for (int64_t i = 0; i < full; i += LANES) {
#pragma omp simd
      for (int64_t l = 0; l < LANES; ++l) add(l, i + l);
    }
    for (int64_t i = full; i < m; ++i) add(i - full, i);
    for (int l = 0; l < LANES; ++l) {
      acc[0] += a[l]; acc[1] += b[l]; acc[2] += c[l]; acc[3] += d[l]; acc[4] += e[l];
    }
  }
  std::copy(acc, acc + 5, out);
}

// px: G rows of M values, one after the other
template <typename T, int64_t K>
void moments_impl(const T* px, T* py, int64_t G, int64_t M, const Act<T, K>& act, double* out) {
  const int64_t nb = (M + BLOCK - 1) / BLOCK;
  std::vector<double> part(G * nb * 5);
  for_blocks(G, M, [&](int64_t b, int64_t, int64_t off, int64_t n) {
    if (py) moments_block<T, K, true>(act, px + off, py + off, n, &part[b * 5]);
    else moments_block<T, K, false>(act, px + off, py, n, &part[b * 5]);
  });
  std::vector<double> sums(G * 5);
  reduce_rows(part, G, nb, 5, sums.data());
  for (int64_t g = 0; g < G; ++g) {
    out[g * 6] = double(M);
    std::copy(&sums[g * 5], &sums[g * 5] + 5, out + g * 6 + 1);
  }
}

// yi = a * f(xi) - c
template <typename T, int64_t K>
void forward_block(const Act<T, K> act, const T* xi, T* yi, int64_t n, T a, T c) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    T f, df;
    act.eval(xi[i], f, df);
    yi[i] = a * f - c;
  }
}

template <typename T, int64_t K>
void forward_impl(const T* px, T* py, int64_t G, int64_t M, const Act<T, K>& act, const double* scale,
                  const double* shift) {
  for_blocks(G, M, [&](int64_t, int64_t g, int64_t off, int64_t n) {
    forward_block<T, K>(act, px + off, py + off, n, T(scale[g]), T(scale[g] * shift[g]));
  });
}

// y = a * y - c in place: the output from the f(x) that the moments pass stored
template <typename T>
void rescale_impl(T* py, int64_t G, int64_t M, const double* scale, const double* shift) {
  for_blocks(G, M, [&](int64_t, int64_t g, int64_t off, int64_t n) {
    const T a = T(scale[g]), c = T(scale[g] * shift[g]);
    T* yi = py + off;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) yi[i] = a * yi[i] - c;
  });
}

// oi = a * gi * f'(xi); returns sum(gi * (f(xi) - c)) when DOT
template <typename T, int64_t K, bool DOT>
double backward_block(const Act<T, K> act, const T* xi, const T* gi, T* oi, int64_t n, T a, T c) {
  double s = 0;
  for (int64_t j = 0; j < n; j += INNER) {
    const int64_t m = std::min(INNER, n - j);
    const T* xj = xi + j;
    const T* gj = gi + j;
    T* oj = oi + j;
    T t = 0;
#pragma omp simd reduction(+ : t)
    for (int64_t i = 0; i < m; ++i) {
      T f, df;
      act.eval(xj[i], f, df);
      oj[i] = a * gj[i] * df;
      if (DOT) t += gj[i] * (f - c);
    }
    s += t;
  }
  return s;
}

template <typename T, int64_t K>
void backward_impl(const T* pg, const T* px, T* po, int64_t G, int64_t M, const Act<T, K>& act,
                   const double* scale, const double* shift, bool dot, double* out) {
  const int64_t nb = (M + BLOCK - 1) / BLOCK;
  std::vector<double> part(G * nb, 0.0);
  for_blocks(G, M, [&](int64_t b, int64_t g, int64_t off, int64_t n) {
    const T a = T(scale[g]), c = T(shift[g]);
    if (dot) part[b] = backward_block<T, K, true>(act, px + off, pg + off, po + off, n, a, c);
    else backward_block<T, K, false>(act, px + off, pg + off, po + off, n, a, c);
  });
  reduce_rows(part, G, nb, 1, out);
}

void check(const at::Tensor& t, const char* name, int64_t G = -1, int64_t M = -1) {
  TORCH_CHECK(t.device().is_cpu() && t.dim() == 2 && t.is_contiguous(), name, ": contiguous 2-D CPU only");
  TORCH_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble, name, ": float32/64 only");
  TORCH_CHECK(G < 0 || (t.size(0) == G && t.size(1) == M), name, " has the wrong shape");
}

const double* rows(const at::Tensor& t, int64_t G, const char* name) {
  TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == at::kDouble && t.is_contiguous() && t.numel() == G,
              name, " must be a contiguous float64 CPU tensor with one value per row");
  return t.data_ptr<double>();
}

template <typename T, typename F>
void dispatch(int64_t kind, double p0, double p1, double lam, const F& fn) {
  switch (kind) {
    case LEAKY: fn(Act<T, LEAKY>{T(p0), T(p1), T(lam)}); break;
    case SILU: fn(Act<T, SILU>{T(p0), T(p1), T(lam)}); break;
    case ELU: fn(Act<T, ELU>{T(p0), T(p1), T(lam)}); break;
    case LSELU: fn(Act<T, LSELU>{T(p0), T(p1), T(lam)}); break;
    default: TORCH_CHECK(false, "unknown activation kind ", kind);
  }
}

// The activation f = lam g(x) of the kernels: its kind and parameters.
struct Activation {
  int64_t kind;
  double p0, p1, lam;
};

// The three passes on G rows of M values of a float32/float64 tensor's memory.
// y (when defined) gets f(x)
void moments_rows(const at::Tensor& x, at::Tensor y, int64_t G, int64_t M, const Activation& k, double* out) {
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "moments", [&] {
    dispatch<scalar_t>(k.kind, k.p0, k.p1, k.lam, [&](const auto& act) {
      moments_impl(x.data_ptr<scalar_t>(), y.defined() ? y.data_ptr<scalar_t>() : nullptr, G, M, act, out);
    });
  });
}

void forward_rows(const at::Tensor& x, at::Tensor& y, int64_t G, int64_t M, const Activation& k, const double* scale,
                  const double* shift) {
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "forward", [&] {
    dispatch<scalar_t>(k.kind, k.p0, k.p1, k.lam, [&](const auto& act) {
      forward_impl(x.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), G, M, act, scale, shift);
    });
  });
}

void rescale_rows(at::Tensor& y, int64_t G, int64_t M, const double* scale, const double* shift) {
  AT_DISPATCH_FLOATING_TYPES(y.scalar_type(), "rescale", [&] {
    rescale_impl(y.data_ptr<scalar_t>(), G, M, scale, shift);
  });
}

void backward_rows(const at::Tensor& grad, const at::Tensor& x, at::Tensor& gx, int64_t G, int64_t M,
                   const Activation& k, const double* scale, const double* shift, bool dot, double* out) {
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "backward", [&] {
    dispatch<scalar_t>(k.kind, k.p0, k.p1, k.lam, [&](const auto& act) {
      backward_impl(grad.data_ptr<scalar_t>(), x.data_ptr<scalar_t>(), gx.data_ptr<scalar_t>(), G, M, act,
                    scale, shift, dot, out);
    });
  });
}

// The statistics of normalized_activation: the rules of normalized.py's _batch_statistics,
// _instance_statistics and update_running_statistics (tests/functional/test_fused.py checks that
// the two agree on random sequences of batches).
struct Gate {
  bool instance;
  double momentum, lower, upper, tol, b_tanh_alpha;  // momentum < 0: the cumulative average
};
struct Statistics {
  std::vector<double> mean, rho, rho_prime, scale;
  double count;
};

// Per row (mean, rho, rho', scale) and the new batch count from the (G, 6) moments (null in eval) and
// the running values (mean, rho, rho', count; unused with instance statistics).
Statistics statistics_of(const double* moments, int64_t G, const double* running, const Gate& gate) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Statistics out{std::vector<double>(G), std::vector<double>(G), std::vector<double>(G), std::vector<double>(G),
                 gate.instance ? 0.0 : running[3]};
  double& c = out.count;
  for (int64_t g = 0; g < G; ++g) {
    double m_new = 0, r_new = nan, p_new = nan;
    if (moments) {
      const double* s = moments + g * 6;
      const double n = s[0], mean_x = s[1] / n, ex2 = s[2] / n, var_x = ex2 - mean_x * mean_x;
      m_new = s[3] / n;
      const double var_y = std::max(s[4] / n - m_new * m_new, 0.0);
      r_new = var_x > gate.tol * ex2 && var_y > 0 ? var_y / var_x : nan;
      p_new = s[5] / n > 0 ? s[5] / n : nan;
    }
    double& pm = out.mean[g];
    double& pr = out.rho[g];
    double& pp = out.rho_prime[g];
    if (gate.instance) {
      pm = m_new;
      pr = std::isfinite(r_new) ? r_new : 1.0;
      pp = std::isfinite(p_new) ? p_new : 1.0;
    } else {
      const double m_old = running[0], r_old = running[1], p_old = running[2];
      pm = m_old, pr = r_old, pp = p_old;
      if (moments) {
        const bool first = c == 0;
        const double w = gate.momentum < 0 ? 1.0 / (c + 1) : gate.momentum;
        auto take = [&](double old, double now, bool gated) {
          const bool ok = std::isfinite(now) && (!gated || first || (now > gate.lower * old && now < gate.upper * old));
          return ok ? (first ? now : old + w * (now - old)) : old;
        };
        pm = take(m_old, m_new, false);
        pr = take(r_old, r_new, true);
        pp = take(p_old, p_new, true);
        c += (!first || (std::isfinite(r_new) && std::isfinite(p_new))) ? 1 : 0;
      }
    }
    out.scale[g] = std::sqrt(0.5 * (1.0 / pr + 1.0 / pp)) + gate.b_tanh_alpha;
  }
  return out;
}

at::Tensor doubles(const std::vector<double>& v) {
  at::Tensor t = at::empty({int64_t(v.size())}, at::TensorOptions().dtype(at::kDouble));
  std::copy(v.begin(), v.end(), t.data_ptr<double>());
  return t;
}

// x as it is when its memory holds the samples one after the other (contiguous or channels-last),
// else a contiguous copy: the passes then read it as rows of whole samples.
at::Tensor dense(const at::Tensor& x) {
  if (x.is_contiguous() || (x.dim() == 4 && x.is_contiguous(at::MemoryFormat::ChannelsLast)) ||
      (x.dim() == 5 && x.is_contiguous(at::MemoryFormat::ChannelsLast3d)))
    return x;
  return x.contiguous();
}

// grad with the memory layout of x (a dense tensor of the same shape)
at::Tensor like(const at::Tensor& grad, const at::Tensor& x) {
  if (grad.strides() == x.strides()) return grad;
  if (x.is_contiguous()) return grad.contiguous();
  return grad.contiguous(x.dim() == 4 ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::ChannelsLast3d);
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Python's once_differentiable: under create_graph=True the gradients are returned, and raise only
// if they are differentiated in turn (the backward passes are not differentiable themselves).
variable_list once_differentiable(variable_list grads, const at::Tensor& grad_out) {
  if (!at::GradMode::is_enabled() || !grad_out.requires_grad()) return grads;
  for (auto& g : grads)
    if (g.defined()) g = g.detach().requires_grad_(true);
  const auto error = std::make_shared<torch::autograd::DelayedError>(
      "trying to differentiate twice a function that was marked with @once_differentiable (normact's fused "
      "CPU kernels)",
      int64_t(grads.size()));
  return error->apply(std::move(grads));
}

// scale * (f(x) - mean) from batch, instance or running statistics, updating the running buffers in
// training: statistics, running update, output and backward without Python in between.
struct NormalizedActivation : public torch::autograd::Function<NormalizedActivation> {
  struct Config {
    Activation kind;
    Gate gate;
    double b;
    bool training;
  };

  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& alpha,
                            const std::optional<at::Tensor>& mean, const std::optional<at::Tensor>& rho,
                            const std::optional<at::Tensor>& rho_prime, const std::optional<at::Tensor>& count,
                            Config c) {
    const at::Tensor x = dense(input);
    const int64_t G = c.gate.instance ? x.size(0) : 1, M = x.numel() / std::max<int64_t>(G, 1);
    std::vector<double> moments;
    at::Tensor y = at::empty_like(x);
    if (c.training || c.gate.instance) {
      moments.resize(G * 6);
      moments_rows(x, y, G, M, c.kind, moments.data());  // y = f(x), rescaled below
      double total = 0;
      for (const double v : moments) total += v;  // the float64 sums of finite inputs are finite
      TORCH_CHECK_VALUE(!c.training || std::isfinite(total), "non-finite batch statistics");
    }
    double running[4] = {0, 1, 1, 0};
    if (!c.gate.instance)
      running[0] = mean->item<double>(), running[1] = rho->item<double>(),
      running[2] = rho_prime->item<double>(), running[3] = count->item<double>();
    c.gate.b_tanh_alpha = c.b * std::tanh(alpha.item<double>());
    const Statistics s = statistics_of(moments.empty() ? nullptr : moments.data(), G, running, c.gate);
    if (moments.empty()) forward_rows(x, y, G, M, c.kind, s.scale.data(), s.mean.data());
    else rescale_rows(y, G, M, s.scale.data(), s.mean.data());
    if (c.training && !c.gate.instance) {
      mean->fill_(s.mean[0]);
      rho->fill_(s.rho[0]);
      rho_prime->fill_(s.rho_prime[0]);
      count->fill_(s.count);
    }
    ctx->save_for_backward({x, alpha});
    ctx->saved_data["scale"] = s.scale;
    ctx->saved_data["shift"] = s.mean;
    ctx->saved_data["kind"] = std::vector<double>{double(c.kind.kind), c.kind.p0, c.kind.p1, c.kind.lam, c.b};
    return y;
  }

  // x: scale grad f'(x); alpha: b (1 - tanh^2 alpha) sum(grad (f(x) - mean)) (ANAct eq. 36)
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &alpha = saved[1];
    const auto scale = ctx->saved_data["scale"].toDoubleVector();
    const auto shift = ctx->saved_data["shift"].toDoubleVector();
    const auto k = ctx->saved_data["kind"].toDoubleVector();
    const int64_t G = int64_t(scale.size()), M = x.numel() / G;
    const bool dot = ctx->needs_input_grad(1);
    at::Tensor gx = at::empty_like(x);
    std::vector<double> sums(G);
    backward_rows(like(grads[0], x), x, gx, G, M, Activation{int64_t(k[0]), k[1], k[2], k[3]}, scale.data(),
                  shift.data(), dot, sums.data());
    at::Tensor grad_alpha;
    if (dot) {
      const double t = std::tanh(alpha.item<double>());
      double total = 0;
      for (const double v : sums) total += v;
      grad_alpha = at::full_like(alpha, k[4] * (1 - t * t) * total);
    }
    const at::Tensor grad_x = ctx->needs_input_grad(0) ? gx : at::Tensor();
    const variable_list out = once_differentiable({grad_x, grad_alpha}, grads[0]);
    return {out[0], out[1], {}, {}, {}, {}, {}};
  }
};

// lam g(x), lam a float or a tensor that gets sum(grad g(x)).
struct SELUFamily : public torch::autograd::Function<SELUFamily> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, const std::optional<at::Tensor>& lam_t,
                            double lam, Activation k) {
    const at::Tensor x = dense(input);
    const double scale = lam_t ? lam_t->item<double>() : lam, shift = 0;
    at::Tensor y = at::empty_like(x);
    forward_rows(x, y, 1, x.numel(), k, &scale, &shift);
    ctx->save_for_backward({x, lam_t.value_or(at::Tensor())});
    ctx->saved_data["kind"] = std::vector<double>{double(k.kind), k.p0, k.p1, k.lam, scale};
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &lam_t = saved[1];
    const auto k = ctx->saved_data["kind"].toDoubleVector();
    const bool dot = lam_t.defined() && ctx->needs_input_grad(1);
    const double scale = k[4], shift = 0;
    double sum = 0;
    at::Tensor gx = at::empty_like(x);
    backward_rows(like(grads[0], x), x, gx, 1, x.numel(), Activation{int64_t(k[0]), k[1], k[2], k[3]}, &scale,
                  &shift, dot, &sum);
    const at::Tensor grad_x = ctx->needs_input_grad(0) ? gx : at::Tensor();
    const variable_list out = once_differentiable({grad_x, dot ? at::full_like(lam_t, sum) : at::Tensor()}, grads[0]);
    return {out[0], out[1], {}, {}};
  }
};

}  // namespace

// (G, 6) float64 per-row n and sums of x, x^2, f, f^2, f'^2.
at::Tensor moments(const at::Tensor& x, int64_t kind, double p0, double p1, double lam) {
  check(x, "x");
  auto out = at::empty({x.size(0), 6}, x.options().dtype(at::kDouble));
  moments_rows(x, at::Tensor(), x.size(0), x.size(1), Activation{kind, p0, p1, lam}, out.data_ptr<double>());
  return out;
}

// Per row (mean, rho, rho', scale) and the new batch count, as float64 tensors (statistics_of). moments
// is None in eval; instance takes each row's own statistics; otherwise the running values are updated.
std::vector<at::Tensor> statistics(std::optional<at::Tensor> moments, std::optional<at::Tensor> mean,
                                   std::optional<at::Tensor> rho, std::optional<at::Tensor> rho_prime,
                                   std::optional<at::Tensor> count, bool instance, double momentum,
                                   double lower, double upper, double tol, double b_tanh_alpha) {
  const int64_t G = moments ? moments->size(0) : 1;
  if (moments)
    TORCH_CHECK(moments->scalar_type() == at::kDouble && moments->is_contiguous() && moments->size(1) == 6,
                "moments: (G, 6) float64");
  double running[4] = {0, 1, 1, 0};
  if (!instance)
    running[0] = mean->item<double>(), running[1] = rho->item<double>(), running[2] = rho_prime->item<double>(),
    running[3] = count->item<double>();
  const Statistics s = statistics_of(moments ? moments->data_ptr<double>() : nullptr, G, running,
                                     Gate{instance, momentum, lower, upper, tol, b_tanh_alpha});
  return {doubles(s.mean), doubles(s.rho), doubles(s.rho_prime), doubles(s.scale), doubles({s.count})};
}

// y = scale[g] * (f(x) - shift[g]) row by row.
void forward(const at::Tensor& x, at::Tensor y, const at::Tensor& scale, const at::Tensor& shift,
             int64_t kind, double p0, double p1, double lam) {
  check(x, "x");
  check(y, "y", x.size(0), x.size(1));
  TORCH_CHECK(y.scalar_type() == x.scalar_type(), "y dtype");
  const double* sc = rows(scale, x.size(0), "scale");
  const double* sh = rows(shift, x.size(0), "shift");
  forward_rows(x, y, x.size(0), x.size(1), Activation{kind, p0, p1, lam}, sc, sh);
}

// gx = scale[g] * grad * f'(x); returns per-row sum(grad * (f(x) - shift[g])) when dot (else zeros).
at::Tensor backward(const at::Tensor& grad, const at::Tensor& x, at::Tensor gx, const at::Tensor& scale,
                    const at::Tensor& shift, int64_t kind, double p0, double p1, double lam, bool dot) {
  check(x, "x");
  check(grad, "grad", x.size(0), x.size(1));
  check(gx, "gx", x.size(0), x.size(1));
  TORCH_CHECK(grad.scalar_type() == x.scalar_type() && gx.scalar_type() == x.scalar_type(), "grad dtype");
  const double* sc = rows(scale, x.size(0), "scale");
  const double* sh = rows(shift, x.size(0), "shift");
  auto out = at::zeros({x.size(0)}, x.options().dtype(at::kDouble));
  backward_rows(grad, x, gx, x.size(0), x.size(1), Activation{kind, p0, p1, lam}, sc, sh, dot, out.data_ptr<double>());
  return out;
}

// The whole normalized activation on a float32/float64 CPU tensor, autograd included (normalized.py's
// _NormalizedActivation and the running update of normalized_activation in one call); momentum < 0 is
// the cumulative average; a non-finite training batch raises ValueError before any buffer changes.
at::Tensor normalized_activation(const at::Tensor& x, const at::Tensor& alpha, const std::optional<at::Tensor>& mean,
                                 const std::optional<at::Tensor>& rho, const std::optional<at::Tensor>& rho_prime,
                                 const std::optional<at::Tensor>& count, int64_t kind, double p0, double p1,
                                 double lam, double b, double momentum, double lower, double upper, double tol,
                                 bool training, bool instance) {
  TORCH_CHECK(x.device().is_cpu() && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble),
              "normalized_activation: float32/64 CPU tensors only");
  TORCH_CHECK(instance ? x.dim() >= 1 && x.size(0) > 0 : mean && rho && rho_prime && count,
              "normalized_activation: instance statistics need samples, batch statistics the running buffers");
  const NormalizedActivation::Config c{Activation{kind, p0, p1, lam}, Gate{instance, momentum, lower, upper, tol, 0.0}, b,
                                       training};
  return NormalizedActivation::apply(x, alpha, mean, rho, rho_prime, count, c);
}

// The SELU family's lam g(x) on a float32/float64 CPU tensor, autograd included; lam_t (when given) is
// the trainable lam, else lam.
at::Tensor selu_family(const at::Tensor& x, const std::optional<at::Tensor>& lam_t, double lam, int64_t kind,
                       double p0, double p1) {
  TORCH_CHECK(x.device().is_cpu() && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble),
              "selu_family: float32/64 CPU tensors only");
  return SELUFamily::apply(x, lam_t, lam, Activation{kind, p0, p1, 1.0});
}

// The operator namespace is the build's name (passed as -DNORMACT_NAMESPACE=...), so that builds for
// different environments never clash; the extra macro level expands it before TORCH_LIBRARY pastes it.
#define NORMACT_LIBRARY(ns, m) TORCH_LIBRARY(ns, m)
NORMACT_LIBRARY(NORMACT_NAMESPACE, m) {
  m.def("moments(Tensor x, int kind, float p0, float p1, float lam) -> Tensor", &moments);
  m.def("statistics(Tensor? moments, Tensor? mean, Tensor? rho, Tensor? rho_prime, Tensor? count, "
        "bool instance, float momentum, float lower, float upper, float tol, float b_tanh_alpha) -> Tensor[]",
        &statistics);
  m.def("forward(Tensor x, Tensor(a!) y, Tensor scale, Tensor shift, int kind, float p0, float p1, "
        "float lam) -> ()", &forward);
  m.def("backward(Tensor grad, Tensor x, Tensor(a!) gx, Tensor scale, Tensor shift, int kind, float p0, "
        "float p1, float lam, bool dot) -> Tensor", &backward);
  // with their autograd (CompositeImplicitAutograd kernels: eager calls only, never traced)
  m.def("normalized_activation(Tensor x, Tensor alpha, Tensor(a!)? mean, Tensor(b!)? rho, "
        "Tensor(c!)? rho_prime, Tensor(d!)? count, int kind, float p0, float p1, float lam, float b, "
        "float momentum, float lower, float upper, float tol, bool training, bool instance) -> Tensor",
        &normalized_activation);
  m.def("selu_family(Tensor x, Tensor? lam_t, float lam, int kind, float p0, float p1) -> Tensor", &selu_family);
}
