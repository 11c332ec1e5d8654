// tests/test_gradcheck.cpp — gradcheck itself must be able to fail: it is fed ops with
// deliberately wrong backward passes and must reject each one.
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;

namespace {
// x³ with a backward that is wrong by `error` · x (a small wrong term, as a typo would make).
Tensor cube_with_wrong_term(const Tensor& x, double error) {
  Tensor out = x * x * x;
  Tensor result = out.detach();
  record(result, "bad_cube", {&x}, [x = x.detach(), error](const Tensor& g, GradSink& sink) {
    sink.add(0, g * (x * x * scalar_t(3) + x * static_cast<scalar_t>(error)));
  });
  return result;
}
}  // namespace

TEST_CASE("gradcheck accepts a correct backward") {
  CHECK(gradcheck([](const std::vector<Tensor>& in) { return in[0] * in[0] * in[0]; }, {param({4}, 1)}));
}

TEST_CASE("gradcheck rejects a wrong backward, with a report naming the element") {
  auto bad = [](const std::vector<Tensor>& in) { return cube_with_wrong_term(in[0], 1.0); };
  CHECK(throws_with([&] { gradcheck(bad, {param({4}, 1)}); }, "disagree with finite differences"));
  CHECK(throws_with([&] { gradcheck(bad, {param({4}, 1)}); }, "input 0 (shape [4]) element"));
}

TEST_CASE("in double precision a small wrong term (1e-4 relative) is caught") {
  if (!kDouble) return;  // float's rounding error would hide it: that is why the f64 build exists
  auto subtle = [](const std::vector<Tensor>& in) { return cube_with_wrong_term(in[0], 1e-4); };
  CHECK(throws_with([&] { gradcheck(subtle, {param({4}, 2, 0.5, 1.5)}); }, "disagree"));
}

TEST_CASE("the projection mode (large outputs) catches a wrong backward too") {
  GradcheckOptions opt;
  opt.max_full_outputs = 4;
  auto bad = [](const std::vector<Tensor>& in) { return cube_with_wrong_term(in[0], 1.0); };
  CHECK(throws_with([&] { gradcheck(bad, {param({10}, 3)}, opt); }, "projection"));
  CHECK(gradcheck([](const std::vector<Tensor>& in) { return tanh(in[0]) * in[1]; },
                  {param({10}, 3), param({10}, 4)}, opt));
}

TEST_CASE("gradcheck needs something to check") {
  CHECK(throws_with([] { gradcheck([](const std::vector<Tensor>& in) { return in[0]; }, {ones({2})}); },
                    "no input requires grad"));
}

TEST_CASE("inputs that do not require grad are held constant") {
  Tensor c = from_vector({2, 3});
  CHECK_GRAD([](const std::vector<Tensor>& in) { return in[0] * in[1]; }, {param({2}, 5), c});
}
