#include "engine/gradcheck.h"

#include <algorithm>
#include <cmath>

#include "engine/autograd.h"
#include "engine/random.h"

namespace tessera {

namespace {
std::vector<double> evaluate(const GradcheckFunction& fn, const std::vector<Tensor>& inputs) {
  NoGradGuard no_grad;
  const Tensor out = fn(inputs);
  return std::vector<double>(out.data(), out.data() + out.numel());
}
}  // namespace

bool gradcheck(const GradcheckFunction& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& opt) {
  // which inputs are checked, and where their columns start in the Jacobian
  std::vector<int> checked;
  int64_t columns = 0;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].defined() && inputs[i].requires_grad()) {
      TS_CHECK(inputs[i].is_leaf(), "gradcheck: input {} requires grad but is not a leaf; pass leaf tensors", i);
      checked.push_back(static_cast<int>(i));
      columns += inputs[i].numel();
    }
  TS_CHECK(!checked.empty(), "gradcheck: no input requires grad; call requires_grad_() on the inputs to check");

  const std::vector<double> base = evaluate(fn, inputs);
  const int64_t rows = static_cast<int64_t>(base.size());

  // numeric Jacobian, column by column: J[o][c]
  std::vector<double> numeric(rows * columns);
  int64_t column = 0;
  for (int i : checked) {
    Tensor x = inputs[i];
    for (int64_t j = 0; j < x.numel(); ++j, ++column) {
      scalar_t* p = x.data() + j;
      const scalar_t original = *p;
      *p = static_cast<scalar_t>(original + opt.eps);
      const double up = static_cast<double>(*p);
      const std::vector<double> plus = evaluate(fn, inputs);
      *p = static_cast<scalar_t>(original - opt.eps);
      const double down = static_cast<double>(*p);
      const std::vector<double> minus = evaluate(fn, inputs);
      *p = original;
      for (int64_t o = 0; o < rows; ++o) numeric[o * columns + column] = (plus[o] - minus[o]) / (up - down);
    }
  }

  // analytic rows: one backward per seed vector u, giving uᵀJ
  auto analytic = [&](const std::vector<scalar_t>& u) {
    for (int i : checked) inputs[i].zero_grad();
    Tensor out = fn(inputs);
    TS_CHECK(out.requires_grad(), "gradcheck: the function's output does not depend on any checked input");
    out.backward(from_vector(u, out.shape()));
    std::vector<double> row(columns, 0.0);
    int64_t c = 0;
    for (int i : checked) {
      const Tensor g = inputs[i].grad();
      for (int64_t j = 0; j < inputs[i].numel(); ++j, ++c) row[c] = g.defined() ? g.data()[j] : 0.0;
    }
    return row;
  };

  struct Mismatch {
    int64_t seed_row, column;
    double analytic, numeric, excess;
  };
  std::vector<Mismatch> bad;
  auto compare = [&](int64_t seed_row, const std::vector<double>& got, const std::vector<double>& want) {
    for (int64_t c = 0; c < columns; ++c) {
      const double diff = std::abs(got[c] - want[c]);
      const double allowed = opt.atol + opt.rtol * std::abs(want[c]);
      if (!(diff <= allowed)) bad.push_back({seed_row, c, got[c], want[c], diff - allowed});
    }
  };

  const bool full = rows <= opt.max_full_outputs;
  Generator gen(opt.seed);
  const int seeds = full ? static_cast<int>(rows) : opt.projections;
  for (int s = 0; s < seeds; ++s) {
    std::vector<scalar_t> u(rows, 0);
    std::vector<double> want(columns, 0.0);
    if (full) {
      u[s] = 1;
      for (int64_t c = 0; c < columns; ++c) want[c] = numeric[s * columns + c];
    } else {
      gen.fill_uniform(u.data(), rows, -1, 1);
      for (int64_t o = 0; o < rows; ++o)
        for (int64_t c = 0; c < columns; ++c) want[c] += u[o] * numeric[o * columns + c];
    }
    compare(s, analytic(u), want);
  }
  for (int i : checked) inputs[i].zero_grad();
  if (bad.empty()) return true;

  std::sort(bad.begin(), bad.end(), [](const Mismatch& a, const Mismatch& b) { return a.excess > b.excess; });
  std::string report = fmt::format("gradcheck: {} of {} gradient entries disagree with finite differences "
                                   "(eps {}, atol {}, rtol {}); worst:",
                                   bad.size(), static_cast<int64_t>(seeds) * columns, opt.eps, opt.atol, opt.rtol);
  for (size_t b = 0; b < std::min<size_t>(bad.size(), 5); ++b) {
    int64_t c = bad[b].column;
    size_t which = 0;
    while (c >= inputs[checked[which]].numel()) c -= inputs[checked[which++]].numel();
    report += fmt::format("\n  input {} (shape {}) element {}, {} {}: analytic {:.10g}, numeric {:.10g}",
                          checked[which], inputs[checked[which]].shape(), c, full ? "output" : "projection",
                          bad[b].seed_row, bad[b].analytic, bad[b].numeric);
  }
  throw Error(report);
}

}  // namespace tessera
