// tessera/engine/gradcheck.h — check backward against central finite differences, like
// torch.autograd.gradcheck.
//
// For f: inputs -> output, every element x_j of every input that requires grad is nudged by ±eps
// and the numeric Jacobian column (f(x + eps e_j) − f(x − eps e_j)) / 2eps is compared with what
// backward computes: the full Jacobian (one backward per output element) when the output is
// small, otherwise `projections` vector–Jacobian products uᵀJ with random u. An entry passes when
// |analytic − numeric| ≤ atol + rtol · |numeric|.
//
// Strength comes from precision: in the double build (-Dscalar=double) the defaults are eps 1e-6,
// rtol 1e-6, atol 1e-8, which catches a wrong term in any backward; the float build can only use
// loose tolerances (eps 1e-3, 1e-2), so the test suite runs in both builds (docs/design.md).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "engine/tensor.h"

namespace tessera {

struct GradcheckOptions {
  double eps = sizeof(scalar_t) == 8 ? 1e-6 : 1e-3;
  double atol = sizeof(scalar_t) == 8 ? 1e-8 : 1e-2;
  double rtol = sizeof(scalar_t) == 8 ? 1e-6 : 1e-2;
  int64_t max_full_outputs = 64;  // above this, compare random projections uᵀJ instead
  int projections = 3;
  uint64_t seed = 1234;
};

using GradcheckFunction = std::function<Tensor(const std::vector<Tensor>&)>;

// Returns true when every checked entry agrees; otherwise throws tessera::Error naming the input,
// the element and both values of the worst mismatches.
bool gradcheck(const GradcheckFunction& fn, const std::vector<Tensor>& inputs,
               const GradcheckOptions& options = {});

}  // namespace tessera
