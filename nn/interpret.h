// tessera/nn/interpret.h — what did the model's answer rest on? Gradient saliency, gradient ×
// input, integrated gradients, attention entropy, and the names that label a drawn graph.
//
// Every tool here starts from a scalar s computed by the model (one output logit, a token's
// log-probability, one attention weight, a head's entropy …) and a tensor x it was computed from
// (the input, or an intermediate such as the embedded tokens), and asks how s moves with x:
//
//   gradient            ∂s/∂x                         — input_gradients (tessera::grad underneath:
//                                                        no parameter's .grad() is touched)
//   gradient × input    x ⊙ ∂s/∂x                     — first-order Taylor term of s at x
//   token saliency      ‖∂s/∂x_t‖₂ over the embedding — one number per token
//   integrated grads    (x − x′) ⊙ ∫₀¹ ∂s/∂x(x′ + α(x − x′)) dα   (Sundararajan et al., 2017)
//
// Integrated gradients satisfy completeness: the attributions sum to s(x) − s(x′), the change
// of the output between the baseline x′ and the input. The integral is a quadrature over
// `steps` points; how far the sum is from s(x) − s(x′) says whether there were enough points
// (IntegratedGradients::completeness_error). Gauss–Legendre points (Captum's default) are exact
// for polynomials of degree 2·steps − 1 along the path; the trapezoid rule is the textbook one.
//
// Limits (docs/interpretability.md): gradients are local and noisy (a saturated unit has zero
// gradient however much it matters), gradient × input and integrated gradients depend on the
// baseline, and attention weights are not explanations: compare them with these.
#pragma once

#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/tessera.h"
#include "nn/module.h"

namespace tessera::nn {

// ---- gradients ----

// ∂scalar/∂x for each x in inputs, each of x's shape. The inputs must require grad: leaves
// (x.requires_grad_()) or intermediate tensors of scalar's graph. retain_graph (default on) keeps
// the graph so that the next scalar of the same forward (the next output token) can be asked.
std::vector<Tensor> input_gradients(const Tensor& scalar, const std::vector<Tensor>& inputs,
                                     bool retain_graph = true);

// x ⊙ g, elementwise (shapes must match).
Tensor gradient_times_input(const Tensor& gradient, const Tensor& input);

// [..., L, D] gradient -> [..., L]: the L2 norm over the last (embedding) dimension.
Tensor token_saliency(const Tensor& gradient);

// ---- integrated gradients ----

enum class Quadrature { GaussLegendre, Trapezoid };

struct IntegratedGradientsOptions {
  int steps = 32;  // points on the path from the baseline to the input (>= 2)
  Quadrature rule = Quadrature::GaussLegendre;
};

struct IntegratedGradients {
  Tensor attributions;           // the input's shape
  double output = 0;             // f(input)
  double baseline_output = 0;    // f(baseline)
  double total = 0;              // Σ attributions
  // |Σ attributions − (f(x) − f(x′))|: completeness says 0; the quadrature's error is this
  double completeness_error() const;
  // the same divided by |f(x) − f(x′)| (or by 1 when that is below 1e-12)
  double relative_completeness_error() const;
};

// f maps a tensor of input's shape to a one-element tensor (it is called with a tensor that
// requires grad and must keep the graph to it). Runs f steps + 2 times.
IntegratedGradients integrated_gradients(const std::function<Tensor(const Tensor&)>& f, const Tensor& input,
                                         const Tensor& baseline, const IntegratedGradientsOptions& options = {});

// The quadrature's points α_i in [0, 1] and weights w_i (Σ w_i = 1): ∫₀¹ g ≈ Σ w_i g(α_i).
void quadrature_points(int steps, Quadrature rule, std::vector<double>& alphas, std::vector<double>& weights);

// ---- attention ----

// [..., Lq, Lk] attention weights (rows sum to 1) -> [..., Lq]: −Σ_k p log p, in nats (0 for a
// one-hot row, log Lk for a uniform one). Differentiable; p = 0 contributes 0.
Tensor attention_entropy(const Tensor& weights);

// ---- labels for graph drawings ----

// Every parameter of the module by its TensorImpl, named as in named_parameters()
// ("encoder.layers.0.self_attn.in_proj_weight"): pass to GraphDrawOptions::names.
std::unordered_map<const TensorImpl*, std::string> parameter_names(const Module& module);

}  // namespace tessera::nn
