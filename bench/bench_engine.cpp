// tessera/bench/bench_engine.cpp — tessera's half of the side-by-side benchmarks.
//
// bench/run_bench.py drives this binary and bench/bench_torch.py (the same cases in PyTorch) and
// prints the comparison. Two ways to run it:
//   bench_engine [--threads 2] [--reps 7] [--rep-seconds 0.1] [--warmup-seconds 0.05]
//                [--filter SUBSTRING] [--list]
//       runs every (matching) case and prints one JSON object per line on stdout:
//       {"meta": {...}}                                          first: threads, OpenBLAS build
//       {"case": "exp 1M fwd", "impl": "tessera", "median_s": 1.2e-4, "reps_s": [...], "iters": 800}
//   bench_engine --serve [--threads 2] [--rep-seconds ...] [--warmup-seconds ...]
//       answers commands on stdin, one JSON line per command, so run_bench.py can interleave
//       tessera's repetitions with PyTorch's (a busy machine then slows both sides alike):
//       "setup NAME" -> {"case": NAME, "iters": {"tessera": 800}}   builds inputs, warms up, calibrates
//       "rep"        -> {"case": NAME, "reps_s": {"tessera": 1.2e-4}}  one repetition of each variant
//       "quit"; a failure answers {"case": NAME, "error": "..."}.
// "impl"/variant is "tessera", or "sgemm" for cblas_sgemm called directly on preallocated buffers
// (the matmul cases' reference). A repetition makes one untimed call, then times a loop of
// `iters` calls (calibrated to about --rep-seconds after a warm-up) and reports seconds per call.
// Variants of one case take turns within each repetition.
//
// Case names are shared with bench_torch.py: keep the two lists in step.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "bench/blas_check.h"
#include "engine/tessera.h"

using namespace tessera;

namespace {

volatile scalar_t g_sink = 0;  // results land here so no call can be optimised away

struct Options {
  int threads = 2;
  int reps = 7;
  double rep_seconds = 0.1;      // target length of one repetition's timed loop
  double warmup_seconds = 0.05;  // warm-up before calibrating
  std::string filter;
  bool list = false;
  bool serve = false;
};

// One timed thing: a label ("tessera", "sgemm") and the body of one iteration.
struct Variant {
  std::string impl;
  std::function<void()> body;
};

// A case builds its inputs only when selected (16M-element tensors are 64 MB each).
struct Case {
  std::string name;
  std::function<std::vector<Variant>()> make;
};

double now_seconds() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

// Warms the body up, then picks how many calls make one repetition about rep_seconds long.
int64_t calibrate(const std::function<void()>& body, const Options& opt) {
  const double start = now_seconds();
  double last = 0;
  int64_t calls = 0;
  while (calls < 2 || now_seconds() - start < opt.warmup_seconds) {
    const double t0 = now_seconds();
    body();
    last = now_seconds() - t0;
    ++calls;
  }
  // one more short loop gives a steadier per-call estimate than the last single call
  const int64_t probe = std::max<int64_t>(1, static_cast<int64_t>(0.2 * opt.rep_seconds / std::max(last, 1e-9)));
  const double t0 = now_seconds();
  for (int64_t i = 0; i < probe; ++i) body();
  const double per_call = (now_seconds() - t0) / static_cast<double>(probe);
  return std::clamp<int64_t>(static_cast<int64_t>(std::llround(opt.rep_seconds / std::max(per_call, 1e-9))),
                             1, 10'000'000);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// A case with its inputs built and its loop lengths calibrated, ready to time.
struct Prepared {
  std::string name;
  std::vector<Variant> variants;
  std::vector<int64_t> iters;

  Prepared(const Case& c, const Options& opt) : name(c.name), variants(c.make()) {
    for (const Variant& v : variants) iters.push_back(calibrate(v.body, opt));
  }
  // One repetition: seconds per call of each variant, in variant order. Each timed loop starts
  // with one untimed call: in serve mode the other processes ran since this one last did, so
  // caches are cold and OpenMP threads asleep, and that first call must not land on one
  // variant only. The variants also take turns going first.
  std::vector<double> rep() {
    std::vector<double> seconds(variants.size());
    const size_t n = variants.size();
    for (size_t k = 0; k < n; ++k) {
      const size_t v = (k + turn) % n;
      variants[v].body();
      const double t0 = now_seconds();
      for (int64_t i = 0; i < iters[v]; ++i) variants[v].body();
      seconds[v] = (now_seconds() - t0) / static_cast<double>(iters[v]);
    }
    ++turn;
    return seconds;
  }
  size_t turn = 0;
};

std::string number(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6e", x);
  return buf;
}

void emit(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

std::string error_line(const std::string& name, const std::exception& e) {
  return "{\"case\": " + json_string(name) + ", \"impl\": \"tessera\", \"error\": " + json_string(e.what()) + "}";
}

// Standalone mode: every repetition of one case, then its median.
void run_case(const Case& c, const Options& opt) {
  Prepared p(c, opt);
  std::vector<std::vector<double>> reps(p.variants.size());
  for (int r = 0; r < opt.reps; ++r) {
    const std::vector<double> seconds = p.rep();
    for (size_t v = 0; v < seconds.size(); ++v) reps[v].push_back(seconds[v]);
  }
  for (size_t v = 0; v < p.variants.size(); ++v) {
    std::string line = "{\"case\": " + json_string(c.name) + ", \"impl\": " + json_string(p.variants[v].impl) +
                       ", \"median_s\": " + number(median(reps[v])) + ", \"reps_s\": [";
    for (size_t r = 0; r < reps[v].size(); ++r) line += (r ? ", " : "") + number(reps[v][r]);
    emit(line + "], \"iters\": " + std::to_string(p.iters[v]) + "}");
  }
}

// Serve mode: "setup NAME", "rep", "quit" on stdin (see the top of this file).
void serve(const std::vector<Case>& cases, const Options& opt) {
  std::unique_ptr<Prepared> current;
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line == "quit") break;
    if (line.rfind("setup ", 0) == 0) {
      const std::string name = line.substr(6);
      current.reset();  // free the previous case's tensors first
      const auto it = std::find_if(cases.begin(), cases.end(), [&](const Case& c) { return c.name == name; });
      if (it == cases.end()) {
        emit("{\"case\": " + json_string(name) + ", \"error\": \"no such case\"}");
        continue;
      }
      try {
        current = std::make_unique<Prepared>(*it, opt);
      } catch (const std::exception& e) {
        emit(error_line(name, e));
        continue;
      }
      std::string reply = "{\"case\": " + json_string(name) + ", \"iters\": {";
      for (size_t v = 0; v < current->variants.size(); ++v)
        reply += (v ? ", " : "") + json_string(current->variants[v].impl) + ": " + std::to_string(current->iters[v]);
      emit(reply + "}}");
    } else if (line == "rep") {
      if (!current) {
        emit("{\"error\": \"rep before a successful setup\"}");
        continue;
      }
      try {
        const std::vector<double> seconds = current->rep();
        std::string reply = "{\"case\": " + json_string(current->name) + ", \"reps_s\": {";
        for (size_t v = 0; v < seconds.size(); ++v)
          reply += (v ? ", " : "") + json_string(current->variants[v].impl) + ": " + number(seconds[v]);
        emit(reply + "}}");
      } catch (const std::exception& e) {
        emit(error_line(current->name, e));
      }
    } else {
      emit("{\"error\": " + json_string("unknown command: " + line) + "}");
    }
  }
}

// ---------------- the cases ----------------

// 1. Per-op overhead: 1,000 ops on one-element tensors (add and mul alternating, a constant as
//    the other operand) from a leaf that requires grad, then backward and dropping the gradient.
std::vector<Variant> overhead_case() {
  Tensor x = full({1}, 1).requires_grad_();
  Tensor c = full({1}, scalar_t(1e-3));
  Tensor d = full({1}, scalar_t(0.999));
  return {{"tessera", [=]() mutable {
             Tensor y = x;
             for (int i = 0; i < 500; ++i) {
               y = add(y, c);
               y = mul(y, d);
             }
             y.backward();
             g_sink = x.grad().data()[0];
             x.zero_grad();
           }}};
}

// 2. Square matmul C = A B (or A Bᵀ): tessera against cblas_sgemm into a preallocated C, on
//    OpenBLAS's own threads (as many as tessera's): tessera keeps OpenBLAS at one thread per call
//    and cuts products across its pool (engine/blas.cpp), so the raw call switches OpenBLAS to
//    `threads` for itself and back to one after.
std::vector<Variant> matmul_case(int64_t n, bool transpose_b, int threads) {
  Tensor a = randn({n, n}), b = randn({n, n});
  Tensor c = empty({n, n});  // 64-byte aligned like tessera's own output (a std::vector's is not)
  const int ni = static_cast<int>(n);
  return {{"tessera",
           [=] {
             Tensor out = matmul(a, b, false, transpose_b);
             g_sink = out.data()[0];
           }},
          {"sgemm", [=]() mutable {
             openblas_set_num_threads(threads);
             cblas_sgemm(CblasRowMajor, CblasNoTrans, transpose_b ? CblasTrans : CblasNoTrans, ni, ni, ni, 1.0f,
                         a.data(), ni, b.data(), ni, 0.0f, c.data(), ni);
             openblas_set_num_threads(1);
             g_sink = c.data()[0];
           }}};
}

// 3. Elementwise / reduction / softmax. Forward: the op on tensors that do not require grad.
//    Forward+backward: leaves that require grad, y = op(x); y.backward(g) with a preallocated g
//    of ones (a scalar output uses the implicit seed), then the leaves' gradients are dropped.
using Unary = Tensor (*)(const Tensor&);
using Binary = Tensor (*)(const Tensor&, const Tensor&);

std::vector<Variant> unary_case(Unary op, int64_t n, bool backward) {
  Tensor x = randn({n});
  if (!backward)
    return {{"tessera", [=] {
               Tensor y = op(x);
               g_sink = y.data()[0];
             }}};
  x.requires_grad_();
  Tensor g = ones({n});
  return {{"tessera", [=] {
             Tensor y = op(x);
             y.backward(y.numel() == 1 ? Tensor() : g);
             g_sink = x.grad().data()[0];
             x.zero_grad();
           }}};
}

std::vector<Variant> binary_case(Binary op, int64_t n, bool backward) {
  Tensor a = randn({n}), b = randn({n});
  if (!backward)
    return {{"tessera", [=] {
               Tensor y = op(a, b);
               g_sink = y.data()[0];
             }}};
  a.requires_grad_();
  b.requires_grad_();
  Tensor g = ones({n});
  return {{"tessera", [=] {
             Tensor y = op(a, b);
             y.backward(g);
             g_sink = a.grad().data()[0] + b.grad().data()[0];
             a.zero_grad();
             b.zero_grad();
           }}};
}

std::vector<Variant> softmax_case(bool log, int64_t rows, int64_t cols, bool backward) {
  Tensor x = randn({rows, cols});
  auto op = [log](const Tensor& t) { return log ? log_softmax(t, -1) : softmax(t, -1); };
  if (!backward)
    return {{"tessera", [=] {
               Tensor y = op(x);
               g_sink = y.data()[0];
             }}};
  x.requires_grad_();
  Tensor g = ones({rows, cols});
  return {{"tessera", [=] {
             Tensor y = op(x);
             y.backward(g);
             g_sink = x.grad().data()[0];
             x.zero_grad();
           }}};
}

Tensor add_op(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor mul_op(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor exp_op(const Tensor& a) { return tessera::exp(a); }
Tensor relu_op(const Tensor& a) { return relu(a); }
Tensor sum_op(const Tensor& a) { return sum(a); }
Tensor mean_op(const Tensor& a) { return mean(a); }

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  cases.push_back({"overhead 1000 tiny ops + backward", overhead_case});
  for (bool transpose_b : {false, true})
    for (int64_t n : {256, 512, 1024, 2048})
      cases.push_back({"matmul " + std::to_string(n) + (transpose_b ? " a@bT" : ""),
                       [=] { return matmul_case(n, transpose_b, get_num_threads()); }});
  const std::pair<const char*, int64_t> sizes[] = {{"1M", int64_t{1} << 20}, {"16M", int64_t{1} << 24}};
  for (const auto& [label, n] : sizes)
    for (bool backward : {false, true}) {
      const std::string suffix = std::string(" ") + label + (backward ? " fwd+bwd" : " fwd");
      cases.push_back({"add" + suffix, [=] { return binary_case(add_op, n, backward); }});
      cases.push_back({"mul" + suffix, [=] { return binary_case(mul_op, n, backward); }});
      cases.push_back({"exp" + suffix, [=] { return unary_case(exp_op, n, backward); }});
      cases.push_back({"relu" + suffix, [=] { return unary_case(relu_op, n, backward); }});
    }
  for (bool backward : {false, true}) {
    const std::string suffix = backward ? " 16M fwd+bwd" : " 16M fwd";
    cases.push_back({"sum" + suffix, [=] { return unary_case(sum_op, int64_t{1} << 24, backward); }});
    cases.push_back({"mean" + suffix, [=] { return unary_case(mean_op, int64_t{1} << 24, backward); }});
  }
  for (bool log : {false, true})
    for (bool backward : {false, true})
      cases.push_back({std::string(log ? "log_softmax" : "softmax") + " 4096x1024" + (backward ? " fwd+bwd" : " fwd"),
                       [=] { return softmax_case(log, 4096, 1024, backward); }});
  return cases;
}

[[noreturn]] void usage(const char* message) {
  std::fprintf(stderr,
               "bench_engine: %s\nusage: bench_engine [--threads N] [--reps N] [--rep-seconds S] "
               "[--warmup-seconds S] [--filter SUBSTRING] [--list] [--serve]\n",
               message);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value after " + arg).c_str());
      return argv[++i];
    };
    if (arg == "--threads") opt.threads = std::atoi(value().c_str());
    else if (arg == "--reps") opt.reps = std::atoi(value().c_str());
    else if (arg == "--rep-seconds") opt.rep_seconds = std::atof(value().c_str());
    else if (arg == "--warmup-seconds") opt.warmup_seconds = std::atof(value().c_str());
    else if (arg == "--filter") opt.filter = value();
    else if (arg == "--list") opt.list = true;
    else if (arg == "--serve") opt.serve = true;
    else usage(("unknown argument " + arg).c_str());
  }
  if (opt.threads < 1 || opt.reps < 1 || !(opt.rep_seconds > 0)) usage("threads, reps and rep-seconds must be positive");
  return opt;
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse(argc, argv);
  const std::vector<Case> cases = all_cases();
  if (opt.list) {
    for (const Case& c : cases) std::printf("%s\n", c.name.c_str());
    return 0;
  }
  set_num_threads(opt.threads);
  const char* wait_policy = std::getenv("OMP_WAIT_POLICY");
  const bench::BlasCheck blas = bench::check_blas();
  std::printf("{\"meta\": {\"threads\": %d, \"omp_wait_policy\": %s, \"openblas_config\": %s, "
              "\"openblas_parallel\": %d, \"reps\": %d, \"rep_seconds\": %g, %s}}\n",
              get_num_threads(), json_string(wait_policy ? wait_policy : "").c_str(),
              json_string(openblas_get_config()).c_str(), openblas_get_parallel(), opt.reps, opt.rep_seconds,
              blas.json_fields().c_str());
  std::fflush(stdout);
  if (opt.serve) {
    serve(cases, opt);
    return 0;
  }
  for (const Case& c : cases) {
    if (!opt.filter.empty() && c.name.find(opt.filter) == std::string::npos) continue;
    try {
      run_case(c, opt);
    } catch (const std::exception& e) {
      emit(error_line(c.name, e));
    }
  }
  return 0;
}
