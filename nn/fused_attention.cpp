// tessera/nn/fused_attention.cpp — blocked attention with the online softmax, forward and
// backward (the model is in fused_attention.h; the math in docs/long_attention.md).
#include "nn/fused_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "engine/blas.h"
#include "engine/kernels.h"
#include "engine/parallel.h"
#include "engine/random.h"

namespace tessera::nn {

namespace {

constexpr scalar_t kNegInf = -std::numeric_limits<scalar_t>::infinity();

// A mask or bias broadcast to the scores' shape [batch..., Lq, Lk] without materialising it:
// element (t, i, j) — t the flattened batch index — is data[offset[t] + i·si + j·sj], with
// stride 0 along every broadcast dim.
struct ScoreView {
  Tensor tensor;  // keeps the data alive (detached)
  const scalar_t* data = nullptr;
  std::vector<int64_t> offset;
  int64_t si = 0, sj = 0;

  ScoreView() = default;
  ScoreView(const Tensor& m, const Shape& scores) {
    if (!m.defined()) return;
    tensor = m.detach();
    data = tensor.data();
    const int rank = scores.rank(), r = m.dim();
    std::vector<int64_t> stride(rank, 0);
    int64_t contiguous = 1;
    for (int d = r - 1; d >= 0; --d) {
      const int full = d + (rank - r);
      stride[full] = m.shape()[d] == 1 ? 0 : contiguous;
      contiguous *= m.shape()[d];
    }
    si = stride[rank - 2], sj = stride[rank - 1];
    int64_t batches = 1;
    for (int d = 0; d < rank - 2; ++d) batches *= scores[d];
    offset.assign(static_cast<size_t>(batches), 0);
    for (int64_t t = 0; t < batches; ++t) {
      int64_t rem = t, off = 0;
      for (int d = rank - 3; d >= 0; --d) {
        off += (rem % scores[d]) * stride[d];
        rem /= scores[d];
      }
      offset[t] = off;
    }
  }
  bool defined() const { return data != nullptr; }
  const scalar_t* row(int64_t t, int64_t i) const { return data + offset[t] + i * si; }
};

// Everything both passes need to know about one call.
struct Problem {
  int64_t batches = 0, lq = 0, lk = 0, d = 0, dv = 0;
  scalar_t scale = 1;
  bool causal = false;
  int64_t window = -1;  // −1: none; else query i sees keys |i − j| ≤ window
  ScoreView mask, bias;
  double dropout = 0;
  uint64_t rng_start = 0;
  Generator gen;  // a copy: the bits depend only on its seed and rng_start

  // The keys [lo, hi) that queries [i0, i1) may see at all (causal and window only; masks are
  // arbitrary and are applied element by element).
  std::pair<int64_t, int64_t> key_range(int64_t i0, int64_t i1) const {
    int64_t lo = 0, hi = lk;
    if (causal) hi = std::min(hi, i1);  // j ≤ i ≤ i1 − 1
    if (window >= 0) lo = std::max<int64_t>(0, i0 - window), hi = std::min(hi, i1 + window);
    return {lo, std::max(lo, hi)};
  }

  // S = scale · Q[i0 : i0+ni] K[j0 : j0+nj]ᵀ (+ bias), −∞ where attention is not allowed.
  // S is [ni, nj], row-major.
  void scores(int64_t t, const scalar_t* q, const scalar_t* k, int64_t i0, int64_t ni, int64_t j0, int64_t nj,
              scalar_t* s) const {
    gemm(false, true, ni, nj, d, scale, q + i0 * d, d, k + j0 * d, d, 0, s, nj);
    for (int64_t r = 0; r < ni; ++r) {
      const int64_t i = i0 + r;
      scalar_t* row = s + r * nj;
      if (bias.defined()) {
        const scalar_t* b = bias.row(t, i) + j0 * bias.sj;
        for (int64_t c = 0; c < nj; ++c) row[c] += b[c * bias.sj];
      }
      if (mask.defined()) {
        const scalar_t* m = mask.row(t, i) + j0 * mask.sj;
        for (int64_t c = 0; c < nj; ++c)
          if (m[c * mask.sj] == 0) row[c] = kNegInf;
      }
      if (causal)  // keys j > i
        for (int64_t c = std::max<int64_t>(0, i + 1 - j0); c < nj; ++c) row[c] = kNegInf;
      if (window >= 0) {  // keys j < i − w and j > i + w
        for (int64_t c = 0; c < std::min(nj, i - window - j0); ++c) row[c] = kNegInf;
        for (int64_t c = std::max<int64_t>(0, i + window + 1 - j0); c < nj; ++c) row[c] = kNegInf;
      }
    }
  }

  // keep[r·nj + c] = 1 / (1 − p) for the kept weights of rows i0 .. i0+ni−1, keys j0 .. j0+nj−1,
  // else 0: element (t, i, j) of the [batch..., Lq, Lk] weights, exactly as dropout on the
  // reference's weights. When the tile spans whole rows their elements are consecutive, and one
  // call draws them all (short rows would otherwise waste most of each Philox batch).
  void keep_scale(int64_t t, int64_t i0, int64_t ni, int64_t j0, int64_t nj, uint8_t* bits, scalar_t* keep) const {
    if (nj == lk) {
      gen.bernoulli_at(rng_start, (t * lq + i0) * lk, ni * nj, 1 - dropout, bits);
    } else {
      for (int64_t r = 0; r < ni; ++r) gen.bernoulli_at(rng_start, (t * lq + i0 + r) * lk + j0, nj, 1 - dropout, bits + r * nj);
    }
    const scalar_t inv = static_cast<scalar_t>(1 / (1 - dropout));
    for (int64_t c = 0; c < ni * nj; ++c) keep[c] = static_cast<scalar_t>(bits[c]) * inv;
  }
};

// Forward for the query rows [i0, i0+ni) of batch t: out rows and their log-sum-exp.
void forward_block(const Problem& p, int64_t t, const scalar_t* q, const scalar_t* k, const scalar_t* v,
                   int64_t i0, int64_t ni, scalar_t* out, scalar_t* lse) {
  constexpr int64_t BK = kAttentionBlockK;
  std::vector<scalar_t> s(static_cast<size_t>(ni * BK)), acc(static_cast<size_t>(ni * p.dv), 0);
  std::vector<scalar_t> m(static_cast<size_t>(ni), kNegInf), l(static_cast<size_t>(ni), 0);
  std::vector<scalar_t> keep(p.dropout > 0 ? static_cast<size_t>(ni * BK) : 0);
  std::vector<uint8_t> bits(keep.size());
  const auto [lo, hi] = p.key_range(i0, i0 + ni);
  for (int64_t j0 = lo; j0 < hi; j0 += BK) {
    const int64_t nj = std::min(BK, hi - j0);
    p.scores(t, q, k, i0, ni, j0, nj, s.data());
    if (p.dropout > 0) p.keep_scale(t, i0, ni, j0, nj, bits.data(), keep.data());
    for (int64_t r = 0; r < ni; ++r) {
      scalar_t* row = s.data() + r * nj;
      scalar_t mx = m[r];
#pragma omp simd reduction(max : mx)
      for (int64_t c = 0; c < nj; ++c) mx = row[c] > mx ? row[c] : mx;
      if (mx == kNegInf) {  // no allowed key in this row yet: nothing to add
        std::fill(row, row + nj, scalar_t(0));
        continue;
      }
      // online softmax: rescale what was summed under the old maximum m to the new one mx
      const scalar_t alpha = kernels::exp_kernel(m[r] - mx);  // exp(−∞) = 0 on the first block
      scalar_t sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int64_t c = 0; c < nj; ++c) {
        const scalar_t e = kernels::exp_kernel(row[c] - mx);  // 0 where masked (row[c] = −∞)
        row[c] = e;
        sum += e;
      }
      l[r] = l[r] * alpha + sum;
      m[r] = mx;
      if (alpha != 1) {
        scalar_t* a = acc.data() + r * p.dv;
        for (int64_t c = 0; c < p.dv; ++c) a[c] *= alpha;
      }
      if (p.dropout > 0) {  // the sum l is the softmax's; only what reaches the output is dropped
        const scalar_t* z = keep.data() + r * nj;
        for (int64_t c = 0; c < nj; ++c) row[c] *= z[c];
      }
    }
    // acc += P V[j0 : j0+nj]
    gemm(false, false, ni, p.dv, nj, 1, s.data(), nj, v + j0 * p.dv, p.dv, 1, acc.data(), p.dv);
  }
  for (int64_t r = 0; r < ni; ++r) {
    scalar_t* o = out + (i0 + r) * p.dv;
    const scalar_t* a = acc.data() + r * p.dv;
    if (l[r] > 0) {
      const scalar_t inv = 1 / l[r];
      for (int64_t c = 0; c < p.dv; ++c) o[c] = a[c] * inv;
      lse[i0 + r] = m[r] + std::log(l[r]);
    } else {  // every key blocked: zeros, and −∞ marks the row for the backward
      std::fill(o, o + p.dv, scalar_t(0));
      lse[i0 + r] = kNegInf;
    }
  }
}

// Backward for all of batch t: dq, dk, dv (zeroed by the caller) receive their gradients.
void backward_batch(const Problem& p, int64_t t, const scalar_t* q, const scalar_t* k, const scalar_t* v,
                    const scalar_t* out, const scalar_t* lse, const scalar_t* dout, scalar_t* dq, scalar_t* dk,
                    scalar_t* dv) {
  constexpr int64_t BQ = kAttentionBlockQ, BK = kAttentionBlockK;
  // D_i = dO_i · O_i  (= Σ_j P_ij dP_ij: the softmax backward's row term, also with dropout)
  std::vector<scalar_t> dsum(static_cast<size_t>(p.lq));
  for (int64_t i = 0; i < p.lq; ++i) {
    scalar_t acc = 0;
    for (int64_t c = 0; c < p.dv; ++c) acc += dout[i * p.dv + c] * out[i * p.dv + c];
    dsum[i] = acc;
  }
  std::vector<scalar_t> pm(static_cast<size_t>(BQ * BK)), pd(static_cast<size_t>(BQ * BK)),
      dp(static_cast<size_t>(BQ * BK)), keep(static_cast<size_t>(BQ * BK));
  std::vector<uint8_t> bits(static_cast<size_t>(BQ * BK));
  for (int64_t j0 = 0; j0 < p.lk; j0 += BK) {
    const int64_t nj = std::min(BK, p.lk - j0);
    for (int64_t i0 = 0; i0 < p.lq; i0 += BQ) {
      const int64_t ni = std::min(BQ, p.lq - i0);
      const auto [lo, hi] = p.key_range(i0, i0 + ni);
      if (hi <= j0 || lo >= j0 + nj) continue;  // the forward never looked at this block
      // P = exp(S − lse): the forward's weights, recomputed
      p.scores(t, q, k, i0, ni, j0, nj, pm.data());
      for (int64_t r = 0; r < ni; ++r) {
        scalar_t* row = pm.data() + r * nj;
        const scalar_t ls = lse[i0 + r];
        if (ls == kNegInf) {
          std::fill(row, row + nj, scalar_t(0));
          continue;
        }
#pragma omp simd
        for (int64_t c = 0; c < nj; ++c) row[c] = kernels::exp_kernel(row[c] - ls);
      }
      // with dropout the output saw P ∘ Z (Z = keep / (1 − p)); without, Z = 1
      const scalar_t* pz = pm.data();
      if (p.dropout > 0) {
        p.keep_scale(t, i0, ni, j0, nj, bits.data(), keep.data());
        for (int64_t c = 0; c < ni * nj; ++c) pd[c] = pm[c] * keep[c];
        pz = pd.data();
      }
      // dV[j0:] += (P∘Z)ᵀ dO[i0:]
      gemm(true, false, nj, p.dv, ni, 1, pz, nj, dout + i0 * p.dv, p.dv, 1, dv + j0 * p.dv, p.dv);
      // dP = dO[i0:] V[j0:]ᵀ, then dS = P ∘ (dP ∘ Z − D)
      gemm(false, true, ni, nj, p.dv, 1, dout + i0 * p.dv, p.dv, v + j0 * p.dv, p.dv, 0, dp.data(), nj);
      for (int64_t r = 0; r < ni; ++r) {
        scalar_t* g = dp.data() + r * nj;
        const scalar_t* pr = pm.data() + r * nj;
        const scalar_t di = dsum[i0 + r];
        if (p.dropout > 0) {
          const scalar_t* z = keep.data() + r * nj;
          for (int64_t c = 0; c < nj; ++c) g[c] = pr[c] * (g[c] * z[c] - di);
        } else {
#pragma omp simd
          for (int64_t c = 0; c < nj; ++c) g[c] = pr[c] * (g[c] - di);
        }
      }
      // dQ[i0:] += scale · dS K[j0:],   dK[j0:] += scale · dSᵀ Q[i0:]
      gemm(false, false, ni, p.d, nj, p.scale, dp.data(), nj, k + j0 * p.d, p.d, 1, dq + i0 * p.d, p.d);
      gemm(true, false, nj, p.d, ni, p.scale, dp.data(), nj, q + i0 * p.d, p.d, 1, dk + j0 * p.d, p.d);
    }
  }
}

// t as [batch..., L, D] with its batch dims broadcast to `batch` (a copy, in the graph, only when
// they differ).
Tensor to_batch(const Tensor& t, const Shape& batch) {
  Shape full = batch;
  full.push_back(t.shape()[t.dim() - 2]);
  full.push_back(t.shape()[t.dim() - 1]);
  return t.shape() == full ? t : expand(t, full);
}

}  // namespace

Tensor fused_attention(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, const SdpaOptions& o) {
  const Shape score_shape = attention_scores_shape(q_in, k_in, v_in, o);
  TS_CHECK(!(o.attn_bias.defined() && o.attn_bias.requires_grad() && grad_enabled()),
           "fused_attention: attn_bias of shape {} requires grad, and its gradient would be an [..., Lq, Lk] "
           "tensor, which the fused kernel never forms; call scaled_dot_product_attention, which takes the "
           "reference path then",
           o.attn_bias.shape());
  TS_CHECK(o.dropout_p >= 0 && o.dropout_p < 1, "fused_attention: dropout probability {} is outside [0, 1)",
           o.dropout_p);
  const int rank = score_shape.rank();
  Shape batch;
  for (int i = 0; i < rank - 2; ++i) batch.push_back(score_shape[i]);
  const Tensor q = to_batch(q_in, batch), k = to_batch(k_in, batch), v = to_batch(v_in, batch);

  auto p = std::make_shared<Problem>();
  p->batches = batch.numel();
  p->lq = score_shape[rank - 2], p->lk = score_shape[rank - 1];
  p->d = q.shape().back(), p->dv = v.shape().back();
  p->scale = static_cast<scalar_t>(o.scale ? *o.scale : 1 / std::sqrt(static_cast<double>(p->d)));
  p->causal = o.is_causal;
  p->window = o.window;
  p->mask = ScoreView(o.attn_mask, score_shape);
  p->bias = ScoreView(o.attn_bias, score_shape);
  if (o.dropout_p > 0) {
    Generator& gen = o.generator ? *o.generator : default_generator();
    p->dropout = o.dropout_p;
    p->gen = gen;
    p->rng_start = gen.reserve(p->batches * p->lq * p->lk);
  }

  Shape out_shape = batch;
  out_shape.push_back(p->lq);
  out_shape.push_back(p->dv);
  Tensor out = empty(out_shape);
  Tensor lse = empty(Shape{p->batches, p->lq});
  const int64_t q_blocks = (p->lq + kAttentionBlockQ - 1) / kAttentionBlockQ;
  {
    const scalar_t *qd = q.data(), *kd = k.data(), *vd = v.data();
    scalar_t *od = out.data(), *ld = lse.data();
    const Problem& pr = *p;
    parallel_for(p->batches * q_blocks, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t task = b0; task < b1; ++task) {
        const int64_t t = task / q_blocks, i0 = (task % q_blocks) * kAttentionBlockQ;
        forward_block(pr, t, qd + t * pr.lq * pr.d, kd + t * pr.lk * pr.d, vd + t * pr.lk * pr.dv, i0,
                      std::min(kAttentionBlockQ, pr.lq - i0), od + t * pr.lq * pr.dv, ld + t * pr.lq);
      }
    });
  }

  record(out, "fused_attention", {&q, &k, &v},
         [p, qs = q.detach(), ks = k.detach(), vs = v.detach(), os = out.detach(), lse](const Tensor& g,
                                                                                        GradSink& sink) {
           const Problem& pr = *p;
           Tensor dq = zeros(qs.shape()), dk = zeros(ks.shape()), dv = zeros(vs.shape());
           const scalar_t *qd = qs.data(), *kd = ks.data(), *vd = vs.data(), *od = os.data(), *ld = lse.data(),
                          *gd = g.data();
           scalar_t *dqd = dq.data(), *dkd = dk.data(), *dvd = dv.data();
           parallel_for(pr.batches, 1, [&](int64_t t0, int64_t t1) {
             for (int64_t t = t0; t < t1; ++t)
               backward_batch(pr, t, qd + t * pr.lq * pr.d, kd + t * pr.lk * pr.d, vd + t * pr.lk * pr.dv,
                              od + t * pr.lq * pr.dv, ld + t * pr.lq, gd + t * pr.lq * pr.dv, dqd + t * pr.lq * pr.d,
                              dkd + t * pr.lk * pr.d, dvd + t * pr.lk * pr.dv);
           });
           sink.add(0, dq);
           sink.add(1, dk);
           sink.add(2, dv);
         });
  return out;
}

}  // namespace tessera::nn
