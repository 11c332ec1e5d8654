// tessera/engine/random.h — seeded random numbers: same seed -> bit-identical results.
//
// The generator is Philox4x32-10 (Salmon et al., 2011; the one PyTorch uses on GPUs): a
// counter-based generator, so element i of a random tensor is a pure function of (seed, counter
// + i). That lets large fills run on several threads and still give the same numbers for any
// thread count.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace tessera {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) { manual_seed(seed); }
  void manual_seed(uint64_t seed) {
    seed_ = seed;
    offset_ = 0;
  }
  uint64_t seed() const { return seed_; }
  // The whole state is (seed, offset): a checkpoint taken in the middle of an epoch saves both and
  // set_state puts them back, so the draws continue exactly where they stopped.
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }

  // Fill n values; each call advances the generator so the next call gives new numbers.
  void fill_uniform(scalar_t* out, int64_t n, scalar_t low, scalar_t high);  // [low, high)
  void fill_normal(scalar_t* out, int64_t n, scalar_t mean, scalar_t stddev);
  // out[i] = 1 with probability p, else 0. The byte version (dropout's keep mask) draws the same
  // numbers as the scalar one from the same state.
  void fill_bernoulli(scalar_t* out, int64_t n, scalar_t p);
  void fill_bernoulli(uint8_t* out, int64_t n, double p);

  // Random access, for kernels that must draw the same numbers twice (fused attention's dropout
  // regenerates its mask in the backward instead of storing it). reserve(n) advances the
  // generator past n elements exactly as a fill of n does and returns where they start;
  // bernoulli_at(start, i0, count, p, out) then writes elements i0 .. i0+count-1 of that fill:
  // the bytes fill_bernoulli(out, n, p) would have written there. Any thread, any number of times.
  uint64_t reserve(int64_t n);
  void bernoulli_at(uint64_t start, int64_t i0, int64_t count, double p, uint8_t* out) const;

  uint32_t next_u32();
  double next_double();  // uniform [0, 1) with 53 random bits
  int64_t randint(int64_t n);  // uniform in [0, n)
  std::vector<int64_t> permutation(int64_t n);  // a random order of 0..n-1 (Fisher–Yates)

 private:
  // Four 32-bit random words for counter value c.
  void block(uint64_t counter, uint32_t out[4]) const;
  static constexpr int kLanes = 16;
  void blocks(uint64_t first_counter, uint32_t* words) const;  // kLanes blocks: 4·kLanes words
  template <class F>
  void for_each_words(int64_t n, F&& f);
  uint64_t seed_ = 0;
  uint64_t offset_ = 0;  // counter blocks consumed so far
};

// The global generator that random ops use when none is passed.
Generator& default_generator();
void manual_seed(uint64_t seed);

// Fisher–Yates permutation from the global generator.
std::vector<int64_t> randperm(int64_t n, Generator* gen = nullptr);

}  // namespace tessera
