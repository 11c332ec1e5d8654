// tessera/nn/interpret.cpp — saliency, integrated gradients, attention entropy (interpret.h).
#include "nn/interpret.h"

#include <cmath>
#include <numbers>

namespace tessera::nn {

std::vector<Tensor> input_gradients(const Tensor& scalar, const std::vector<Tensor>& inputs, bool retain_graph) {
  TS_CHECK(scalar.defined() && scalar.numel() == 1,
           "input_gradients: the output must be one number (a logit, a log-probability, a weight), got shape {}",
           scalar.defined() ? scalar.shape() : Shape{});
  return tessera::grad(scalar, inputs, Tensor(), retain_graph);
}

Tensor gradient_times_input(const Tensor& gradient, const Tensor& input) {
  TS_CHECK(gradient.shape() == input.shape(), "gradient_times_input: gradient {} and input {} differ in shape",
           gradient.shape(), input.shape());
  NoGradGuard no_grad;
  return gradient.detach() * input.detach();
}

Tensor token_saliency(const Tensor& gradient) {
  TS_CHECK(gradient.dim() >= 1, "token_saliency: the gradient needs an embedding dimension, got shape {}",
           gradient.shape());
  NoGradGuard no_grad;
  const Tensor g = gradient.detach();
  return sqrt(sum(g * g, {-1}));  // ‖g_t‖₂ = √(Σ_d g_td²)
}

// ---- quadrature ----
void quadrature_points(int steps, Quadrature rule, std::vector<double>& alphas, std::vector<double>& weights) {
  TS_CHECK(steps >= 2, "integrated gradients: steps must be at least 2, got {}", steps);
  alphas.assign(steps, 0);
  weights.assign(steps, 0);
  if (rule == Quadrature::Trapezoid) {
    // α_i = i / (n − 1); weights 1/(n − 1), halved at both ends
    for (int i = 0; i < steps; ++i) {
      alphas[i] = static_cast<double>(i) / (steps - 1);
      weights[i] = (i == 0 || i == steps - 1 ? 0.5 : 1.0) / (steps - 1);
    }
    return;
  }
  // Gauss–Legendre: the roots x_i of the Legendre polynomial P_n on [−1, 1] (Newton's method from
  // the usual cos guess, P_n and P_n' from the three-term recurrence) and weights
  // 2 / ((1 − x²) P_n'(x)²); mapped to [0, 1]: α = (x + 1)/2, w/2.
  const int n = steps;
  for (int i = 0; i < (n + 1) / 2; ++i) {
    double x = std::cos(std::numbers::pi * (i + 0.75) / (n + 0.5)), dp = 0;
    for (int iteration = 0; iteration < 100; ++iteration) {
      double p0 = 1, p1 = x;  // P_0, P_1
      for (int k = 2; k <= n; ++k) {
        const double p2 = ((2.0 * k - 1) * x * p1 - (k - 1.0) * p0) / k;
        p0 = p1, p1 = p2;
      }
      dp = n * (x * p1 - p0) / (x * x - 1);  // P_n'(x)
      const double step = p1 / dp;
      x -= step;
      if (std::abs(step) < 1e-15) break;
    }
    const double w = 2 / ((1 - x * x) * dp * dp);
    alphas[i] = (1 - x) / 2, weights[i] = w / 2;           // x > 0 first: α near 0
    alphas[n - 1 - i] = (1 + x) / 2, weights[n - 1 - i] = w / 2;
  }
}

double IntegratedGradients::completeness_error() const { return std::abs(total - (output - baseline_output)); }

double IntegratedGradients::relative_completeness_error() const {
  const double change = std::abs(output - baseline_output);
  return completeness_error() / (change > 1e-12 ? change : 1.0);
}

IntegratedGradients integrated_gradients(const std::function<Tensor(const Tensor&)>& f, const Tensor& input,
                                         const Tensor& baseline, const IntegratedGradientsOptions& options) {
  TS_CHECK(input.defined() && baseline.defined(), "integrated_gradients: input and baseline must be defined");
  TS_CHECK(input.shape() == baseline.shape(), "integrated_gradients: input {} and baseline {} differ in shape",
           input.shape(), baseline.shape());
  std::vector<double> alphas, weights;
  quadrature_points(options.steps, options.rule, alphas, weights);
  const Tensor x = input.detach(), x0 = baseline.detach();
  const Tensor delta = [&] {
    NoGradGuard no_grad;
    return x - x0;
  }();
  auto value = [&](const Tensor& at) {
    NoGradGuard no_grad;
    const Tensor y = f(at);
    TS_CHECK(y.numel() == 1, "integrated_gradients: f must return one number, got shape {}", y.shape());
    return static_cast<double>(y.item());
  };
  IntegratedGradients result;
  result.output = value(x);
  result.baseline_output = value(x0);
  // average gradient along the path x′ + α (x − x′)
  Tensor average = zeros(x.shape());
  for (size_t i = 0; i < alphas.size(); ++i) {
    Tensor point;
    {
      NoGradGuard no_grad;
      point = (x0 + delta * static_cast<scalar_t>(alphas[i])).detach();
    }
    point.requires_grad_();
    const Tensor y = f(point);
    TS_CHECK(y.numel() == 1, "integrated_gradients: f must return one number, got shape {}", y.shape());
    TS_CHECK(y.requires_grad(), "integrated_gradients: f's output does not depend on its input (no graph to it)");
    const Tensor g = tessera::grad(y, {point}, Tensor(), false, true)[0];
    if (!g.defined()) continue;  // f does not use its input: its gradient is 0
    NoGradGuard no_grad;
    average = average + g * static_cast<scalar_t>(weights[i]);
  }
  NoGradGuard no_grad;
  result.attributions = delta * average;
  result.total = static_cast<double>(sum(result.attributions).item());
  return result;
}

Tensor attention_entropy(const Tensor& weights) {
  TS_CHECK(weights.dim() >= 2, "attention_entropy: weights must be [..., Lq, Lk], got {}", weights.shape());
  // H = −Σ_k p_k log p_k; log's argument is clamped so p = 0 gives 0·log(tiny) = 0
  return neg(sum(weights * log(clamp(weights, static_cast<scalar_t>(1e-30), 1)), {-1}));
}

std::unordered_map<const TensorImpl*, std::string> parameter_names(const Module& module) {
  std::unordered_map<const TensorImpl*, std::string> names;
  for (const auto& [name, p] : module.named_parameters()) names.emplace(&p.impl(), name);  // tied: first name
  return names;
}

}  // namespace tessera::nn
