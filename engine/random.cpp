// tessera/engine/random.cpp — Philox4x32-10 and the distributions built on it.
#include "engine/random.h"

#include <cmath>

#include "engine/parallel.h"

namespace tessera {

namespace {
constexpr uint32_t kMul0 = 0xD2511F53, kMul1 = 0xCD9E8D57;
constexpr uint32_t kWeyl0 = 0x9E3779B9, kWeyl1 = 0xBB67AE85;

inline uint32_t mulhilo(uint32_t a, uint32_t b, uint32_t* hi) {
  const uint64_t p = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(p >> 32);
  return static_cast<uint32_t>(p);
}

// uniform in [0, 1) from 24 random bits (exactly representable in float)
inline double to_unit(uint32_t x) { return (x >> 8) * (1.0 / 16777216.0); }
}  // namespace

void Generator::block(uint64_t counter, uint32_t out[4]) const {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32);
  uint32_t c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed_), k1 = static_cast<uint32_t>(seed_ >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, hi1;
    const uint32_t lo0 = mulhilo(kMul0, c0, &hi0);
    const uint32_t lo1 = mulhilo(kMul1, c2, &hi1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

uint32_t Generator::next_u32() {
  uint32_t r[4];
  block(offset_++, r);
  return r[0];
}

double Generator::next_double() {
  uint32_t r[4];
  block(offset_++, r);
  return ((static_cast<uint64_t>(r[0]) << 21) ^ (r[1] >> 11)) * (1.0 / 9007199254740992.0);
}

int64_t Generator::randint(int64_t n) {
  TS_CHECK(n > 0, "randint: upper bound must be positive, got {}", n);
  return static_cast<int64_t>(next_double() * static_cast<double>(n)) % n;
}

std::vector<int64_t> Generator::permutation(int64_t n) {
  std::vector<int64_t> p(n);
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[randint(i + 1)]);
  return p;
}

// Element i uses block (offset + i/4), word i%4: a pure function of (seed, counter), so the
// threads of parallel_for produce exactly the numbers one thread would.
void Generator::fill_uniform(scalar_t* out, int64_t n, scalar_t low, scalar_t high) {
  const uint64_t base = offset_;
  const double scale = static_cast<double>(high) - static_cast<double>(low);
  parallel_for((n + 3) / 4, 4096, [&](int64_t b0, int64_t b1) {
    uint32_t r[4];
    for (int64_t b = b0; b < b1; ++b) {
      block(base + b, r);
      for (int j = 0; j < 4 && b * 4 + j < n; ++j)
        out[b * 4 + j] = static_cast<scalar_t>(low + scale * to_unit(r[j]));
    }
  });
  offset_ += (n + 3) / 4;
}

// Box–Muller: two uniforms u1, u2 give two independent normals
// sqrt(-2 ln u1) cos(2π u2) and sqrt(-2 ln u1) sin(2π u2).
void Generator::fill_normal(scalar_t* out, int64_t n, scalar_t mean, scalar_t stddev) {
  const uint64_t base = offset_;
  parallel_for((n + 3) / 4, 2048, [&](int64_t b0, int64_t b1) {
    uint32_t r[4];
    for (int64_t b = b0; b < b1; ++b) {
      block(base + b, r);
      for (int pair = 0; pair < 2; ++pair) {
        const double u1 = 1.0 - to_unit(r[2 * pair]);  // (0, 1]: log is finite
        const double u2 = to_unit(r[2 * pair + 1]);
        const double radius = std::sqrt(-2.0 * std::log(u1));
        const double angle = 6.283185307179586 * u2;
        const int64_t i = b * 4 + 2 * pair;
        if (i < n) out[i] = static_cast<scalar_t>(mean + stddev * radius * std::cos(angle));
        if (i + 1 < n) out[i + 1] = static_cast<scalar_t>(mean + stddev * radius * std::sin(angle));
      }
    }
  });
  offset_ += (n + 3) / 4;
}

void Generator::fill_bernoulli(scalar_t* out, int64_t n, scalar_t p) {
  TS_CHECK(p >= 0 && p <= 1, "bernoulli: probability {} is outside [0, 1]", p);
  const uint64_t base = offset_;
  // compare raw 32-bit words with a threshold: no float conversion per element
  const double threshold = static_cast<double>(p) * 4294967296.0;
  parallel_for((n + 3) / 4, 4096, [&](int64_t b0, int64_t b1) {
    uint32_t r[4];
    for (int64_t b = b0; b < b1; ++b) {
      block(base + b, r);
      for (int j = 0; j < 4 && b * 4 + j < n; ++j)
        out[b * 4 + j] = static_cast<double>(r[j]) < threshold ? scalar_t(1) : scalar_t(0);
    }
  });
  offset_ += (n + 3) / 4;
}

Generator& default_generator() {
  static Generator gen(0);
  return gen;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

std::vector<int64_t> randperm(int64_t n, Generator* gen) {
  return (gen ? *gen : default_generator()).permutation(n);
}

}  // namespace tessera
