// tessera/engine/random.cpp — Philox4x32-10 and the distributions built on it.
#include "engine/random.h"

#include <algorithm>
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

// The same Philox rounds for kLanes consecutive counters at once, laid out so the compiler
// vectorises across counters (32x32->64-bit multiplies are one instruction per 4-16 lanes).
// words[4 * l + j] = word j of block(first + l): exactly what block() gives, only faster.
void Generator::blocks(uint64_t first, uint32_t* words) const {
  uint32_t c0[kLanes], c1[kLanes], c2[kLanes], c3[kLanes];
  for (int l = 0; l < kLanes; ++l) {
    const uint64_t counter = first + static_cast<uint64_t>(l);
    c0[l] = static_cast<uint32_t>(counter), c1[l] = static_cast<uint32_t>(counter >> 32), c2[l] = 0, c3[l] = 0;
  }
  uint32_t k0 = static_cast<uint32_t>(seed_), k1 = static_cast<uint32_t>(seed_ >> 32);
  for (int round = 0; round < 10; ++round) {
#pragma omp simd
    for (int l = 0; l < kLanes; ++l) {
      const uint64_t p0 = static_cast<uint64_t>(kMul0) * c0[l];
      const uint64_t p1 = static_cast<uint64_t>(kMul1) * c2[l];
      const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1[l] ^ k0;
      const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3[l] ^ k1;
      c1[l] = static_cast<uint32_t>(p1);
      c3[l] = static_cast<uint32_t>(p0);
      c0[l] = n0;
      c2[l] = n2;
    }
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  for (int l = 0; l < kLanes; ++l)
    words[4 * l] = c0[l], words[4 * l + 1] = c1[l], words[4 * l + 2] = c2[l], words[4 * l + 3] = c3[l];
}

// Calls f(i0, words, count) with the random words of elements i0 .. i0+count-1 (element i is
// word i%4 of block offset + i/4), in parallel over chunks; then advances the generator.
template <class F>
void Generator::for_each_words(int64_t n, F&& f) {
  const uint64_t base = offset_;
  const int64_t chunks = (n + 4 * kLanes - 1) / (4 * kLanes);
  parallel_for(chunks, 64, [&](int64_t c0, int64_t c1) {
    uint32_t words[4 * kLanes];
    for (int64_t c = c0; c < c1; ++c) {
      blocks(base + static_cast<uint64_t>(c * kLanes), words);
      const int64_t i0 = c * 4 * kLanes;
      f(i0, words, std::min<int64_t>(4 * kLanes, n - i0));
    }
  });
  offset_ += static_cast<uint64_t>((n + 3) / 4);
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
  const double scale = static_cast<double>(high) - static_cast<double>(low);
  for_each_words(n, [&](int64_t i0, const uint32_t* words, int64_t count) {
    for (int64_t j = 0; j < count; ++j) out[i0 + j] = static_cast<scalar_t>(low + scale * to_unit(words[j]));
  });
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

namespace {
// A raw 32-bit word w is a success with probability p when w < p·2³², i.e. when
// w < ceil(p·2³²) for integer w. Compared as unsigned integers the loop vectorises (AVX2 has no
// unsigned-to-double conversion); p = 1 (a bound of 2³²) is the one case a 32-bit bound cannot hold.
struct BernoulliThreshold {
  explicit BernoulliThreshold(double p) {
    const double bound = std::ceil(p * 4294967296.0);
    always = bound >= 4294967296.0;
    limit = always ? 0 : static_cast<uint32_t>(bound);
  }
  bool hit(uint32_t w) const { return always || w < limit; }
  uint32_t limit;
  bool always;
};
}  // namespace

void Generator::fill_bernoulli(scalar_t* out, int64_t n, scalar_t p) {
  TS_CHECK(p >= 0 && p <= 1, "bernoulli: probability {} is outside [0, 1]", p);
  const BernoulliThreshold t(static_cast<double>(p));
  for_each_words(n, [&](int64_t i0, const uint32_t* words, int64_t count) {
#pragma omp simd
    for (int64_t j = 0; j < count; ++j) out[i0 + j] = t.hit(words[j]) ? scalar_t(1) : scalar_t(0);
  });
}

void Generator::fill_bernoulli(uint8_t* out, int64_t n, double p) {
  TS_CHECK(p >= 0 && p <= 1, "bernoulli: probability {} is outside [0, 1]", p);
  const BernoulliThreshold t(p);
  for_each_words(n, [&](int64_t i0, const uint32_t* words, int64_t count) {
#pragma omp simd
    for (int64_t j = 0; j < count; ++j) out[i0 + j] = t.hit(words[j]) ? 1 : 0;
  });
}

uint64_t Generator::reserve(int64_t n) {
  TS_CHECK(n >= 0, "random: cannot reserve {} numbers", n);
  const uint64_t start = offset_;
  offset_ += static_cast<uint64_t>((n + 3) / 4);
  return start;
}

// Element i of the fill that began at counter `start` is word i % 4 of block(start + i / 4), as in
// for_each_words; kLanes blocks are made at a time when the range is long enough.
void Generator::bernoulli_at(uint64_t start, int64_t i0, int64_t count, double p, uint8_t* out) const {
  const BernoulliThreshold t(p);
  uint32_t words[4 * kLanes];
  int64_t i = i0;
  const int64_t end = i0 + count;
  while (i < end) {
    const uint64_t counter = start + static_cast<uint64_t>(i / 4);
    const int64_t first_word = (i / 4) * 4;  // element index of word 0 of that block
    int64_t available;
    if (end - first_word > 8) {  // more than two blocks' worth: one vectorised batch of kLanes
      blocks(counter, words);
      available = 4 * kLanes;
    } else {
      block(counter, words);
      available = 4;
    }
    const int64_t stop = std::min<int64_t>(end, first_word + available);
    for (; i < stop; ++i) out[i - i0] = t.hit(words[i - first_word]) ? 1 : 0;
  }
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
