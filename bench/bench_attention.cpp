// bench/bench_attention.cpp — attention over long sequences, one configuration per process (so
// its peak RSS is its own): tessera's fused kernel, the composed reference, or cblas_sgemm at the
// block shapes as the physical anchor. run_attention_bench.py drives it beside
// bench_attention_torch.py and prints the table.
//
//   bench_attention --impl fused|reference|sgemm --length L [--batch 1] [--heads 8] [--dim 64]
//                   [--causal] [--backward] [--reps 3] [--threads 2]
//                   [--features M] [--error] [--input-std S]   (performer: M features; linformer: k = M;
//                                                                --error adds ‖out − exact‖/‖exact‖)
//
// Prints one JSON line: the median and every repetition's seconds, GFLOP/s (counting 4·B·H·L²·d
// for the forward, 2.5× that with the backward, halved when causal), the peak RSS and the RSS
// once the inputs exist (so "beyond the inputs" is the difference).
#include <cblas.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "engine/blas.h"
#include "engine/parallel.h"
#include "engine/tessera.h"
#include "nn/approx_attention.h"
#include "nn/attention.h"
#include "nn/fused_attention.h"

using namespace tessera;

namespace {

double rss_mb() {  // current resident set (VmRSS)
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  return 0;
}

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

[[noreturn]] void usage(const char* message) {
  std::fprintf(stderr,
               "bench_attention: %s\nusage: bench_attention --impl fused|reference|sgemm --length L [--batch B] "
               "[--heads H] [--dim D] [--causal] [--backward] [--reps N] [--threads N]\n",
               message);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string impl;
  int64_t length = 0, batch = 1, heads = 8, dim = 64;
  bool causal = false, backward = false;
  int reps = 3, threads = 2;
  int64_t features = 256;  // m for the Performer, k for the Linformer
  bool error = false;      // also print the relative error against exact attention
  double input_std = 1;    // q and k are N(0, input_std²)
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&] {
      if (i + 1 >= argc) usage(("missing value after " + a).c_str());
      return std::string(argv[++i]);
    };
    if (a == "--impl") impl = value();
    else if (a == "--length") length = std::atoll(value().c_str());
    else if (a == "--batch") batch = std::atoll(value().c_str());
    else if (a == "--heads") heads = std::atoll(value().c_str());
    else if (a == "--dim") dim = std::atoll(value().c_str());
    else if (a == "--causal") causal = true;
    else if (a == "--backward") backward = true;
    else if (a == "--reps") reps = std::atoi(value().c_str());
    else if (a == "--threads") threads = std::atoi(value().c_str());
    else if (a == "--features") features = std::atoll(value().c_str());
    else if (a == "--error") error = true;
    else if (a == "--input-std") input_std = std::atof(value().c_str());
    else usage(("unknown argument " + a).c_str());
  }
  if (impl != "fused" && impl != "reference" && impl != "sgemm" && impl != "performer" && impl != "linformer")
    usage("--impl must be fused, reference, performer, linformer or sgemm");
  if (length <= 0 || reps <= 0) usage("--length and --reps must be positive");
  set_num_threads(threads);
  const double flops = 4.0 * static_cast<double>(batch * heads) * static_cast<double>(length) *
                       static_cast<double>(length) * static_cast<double>(dim) * (backward ? 2.5 : 1.0) *
                       (causal ? 0.5 : 1.0);

  std::vector<double> times;
  double inputs_mb = 0;
  if (impl == "sgemm") {
    // The anchors: a large product through the engine's gemm (cut over the pool's threads, as
    // the Linear layers run it), and cblas_sgemm on one [64 x d] x [d x 64] tile pair per thread
    // (what the fused kernel's block products are made of).
    const int64_t n = 2048, tile = nn::kAttentionBlockQ, pairs = 256;
    const Tensor a = randn({n, n}), b = randn({n, n});
    Tensor c = empty({n, n});
    std::vector<double> large, small;
    for (int r = 0; r < reps + 1; ++r) {  // the first repetition warms up
      const double t0 = now();
      gemm(false, false, n, n, n, 1, a.data(), n, b.data(), n, 0, c.data(), n);
      if (r) large.push_back(now() - t0);
    }
    std::vector<scalar_t> ta(static_cast<size_t>(tile * dim), 0.5f), tb(static_cast<size_t>(tile * dim), 0.25f);
    std::vector<std::vector<scalar_t>> tc(static_cast<size_t>(threads), std::vector<scalar_t>(tile * tile));
    for (int r = 0; r < reps + 1; ++r) {
      const double t0 = now();
      parallel_for(threads, 1, [&](int64_t t0_, int64_t t1_) {
        for (int64_t t = t0_; t < t1_; ++t)
          for (int64_t p = 0; p < pairs; ++p)
            gemm(false, true, tile, tile, dim, 1, ta.data(), dim, tb.data(), dim, 0, tc[t].data(), tile);
      });
      if (r) small.push_back(now() - t0);
    }
    std::sort(large.begin(), large.end());
    std::sort(small.begin(), small.end());
    const double tile_flops = 2.0 * static_cast<double>(tile * tile * dim) * static_cast<double>(pairs * threads);
    std::printf("{\"impl\": \"sgemm\", \"gflops\": %.2f, \"tile\": %ld, \"tile_gflops\": %.2f, \"corename\": \"%s\"}\n",
                2.0 * static_cast<double>(n) * n * n / large[large.size() / 2] / 1e9, static_cast<long>(tile),
                tile_flops / small[small.size() / 2] / 1e9, openblas_get_corename());
    return 0;
  }

  Generator gen(1);
  const Tensor q = mul(randn({batch, heads, length, dim}, &gen), static_cast<scalar_t>(input_std)).requires_grad_(backward);
  const Tensor k = mul(randn({batch, heads, length, dim}, &gen), static_cast<scalar_t>(input_std)).requires_grad_(backward);
  const Tensor v = randn({batch, heads, length, dim}, &gen).requires_grad_(backward);
  const Tensor g = randn({batch, heads, length, dim}, &gen);
  inputs_mb = rss_mb();
  nn::SdpaOptions o;
  o.is_causal = causal;
  Tensor omega, proj_e, proj_f;
  if (impl == "performer") omega = nn::orthogonal_random_features(features, dim, 5);
  if (impl == "linformer") {  // projections as a Linformer layer starts (xavier), fixed here
    proj_e = uniform({features, length}, -1, 1, &gen);
    proj_f = uniform({features, length}, -1, 1, &gen);
    const scalar_t bound = static_cast<scalar_t>(std::sqrt(6.0 / static_cast<double>(features + length)));
    proj_e = mul(proj_e, bound), proj_f = mul(proj_f, bound);
    if (causal) usage("the Linformer has no causal form");
  }
  auto attend = [&] {
    if (impl == "fused") return nn::fused_attention(q, k, v, o);
    if (impl == "performer") return nn::performer_attention(q, k, v, omega, causal);
    if (impl == "linformer") return nn::fused_attention(q, matmul(proj_e, k), matmul(proj_f, v));
    return nn::scaled_dot_product_attention_reference(q, k, v, o).output;
  };
  for (int r = 0; r < reps; ++r) {
    const double t0 = now();
    {
      std::optional<NoGradGuard> no_grad;  // forward only: no graph, nothing saved
      if (!backward) no_grad.emplace();
      Tensor out = attend();
      if (backward) out.backward(g);
    }
    times.push_back(now() - t0);
    if (backward) q.zero_grad(), k.zero_grad(), v.zero_grad();
  }
  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2];
  std::printf("{\"impl\": \"%s\", \"length\": %ld, \"causal\": %s, \"backward\": %s, \"median_s\": %.6f, \"reps_s\": [",
              impl.c_str(), static_cast<long>(length), causal ? "true" : "false", backward ? "true" : "false", median);
  for (size_t i = 0; i < times.size(); ++i) std::printf("%s%.6f", i ? ", " : "", times[i]);
  std::printf("], \"gflops\": %.2f, \"peak_rss_mb\": %.1f, \"inputs_rss_mb\": %.1f", flops / median / 1e9,
              peak_rss_mb(), inputs_mb);
  if (error) {  // ‖approx − exact‖ / ‖exact‖ over the whole output
    NoGradGuard no_grad;
    const std::vector<scalar_t> a = attend().to_vector(), e = nn::fused_attention(q, k, v, o).to_vector();
    double num = 0, den = 0;
    for (size_t i = 0; i < a.size(); ++i) num += (a[i] - e[i]) * (a[i] - e[i]), den += e[i] * e[i];
    std::printf(", \"rel_error\": %.6f", std::sqrt(num / den));
  }
  std::printf("}\n");
  return 0;
}
