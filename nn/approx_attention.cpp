// tessera/nn/approx_attention.cpp — Performer's random features and the causal linear-attention
// op (the model is in approx_attention.h; Linformer's projections live in MultiHeadAttention).
#include "nn/approx_attention.h"

#include <cmath>
#include <vector>

#include "engine/parallel.h"
#include "engine/random.h"

namespace tessera::nn {

Tensor orthogonal_random_features(int64_t m, int64_t d, uint64_t seed) {
  TS_CHECK(m > 0 && d > 0, "orthogonal_random_features: need m > 0 features of dim d > 0, got m = {}, d = {}", m, d);
  Generator gen(seed);
  Tensor omega = empty({m, d});
  scalar_t* w = omega.data();
  std::vector<double> block(static_cast<size_t>(d * d));
  for (int64_t r0 = 0; r0 < m; r0 += d) {
    // d Gaussian rows, made orthonormal by modified Gram–Schmidt (in double)
    const Tensor g = randn({d, d}, &gen);
    for (int64_t i = 0; i < d * d; ++i) block[i] = g.data()[i];
    for (int64_t i = 0; i < d; ++i) {
      double* row = block.data() + i * d;
      for (int64_t j = 0; j < i; ++j) {
        const double* prev = block.data() + j * d;
        double dot = 0;
        for (int64_t c = 0; c < d; ++c) dot += row[c] * prev[c];
        for (int64_t c = 0; c < d; ++c) row[c] -= dot * prev[c];
      }
      double norm = 0;
      for (int64_t c = 0; c < d; ++c) norm += row[c] * row[c];
      norm = std::sqrt(norm);
      for (int64_t c = 0; c < d; ++c) row[c] /= norm;
    }
    // each row's length: that of an independent Gaussian d-vector (a chi_d draw)
    const Tensor lengths = randn({d, d}, &gen);
    for (int64_t i = 0; i < d && r0 + i < m; ++i) {
      double len = 0;
      for (int64_t c = 0; c < d; ++c) len += static_cast<double>(lengths.data()[i * d + c]) * lengths.data()[i * d + c];
      len = std::sqrt(len);
      for (int64_t c = 0; c < d; ++c) w[(r0 + i) * d + c] = static_cast<scalar_t>(block[i * d + c] * len);
    }
  }
  return omega;
}

// φ(x) = exp(x ωᵀ − |x|²/2 − c) / √m
Tensor performer_features(const Tensor& x, const Tensor& omega, bool per_row) {
  TS_CHECK(omega.dim() == 2 && x.dim() >= 2 && x.shape().back() == omega.shape()[1],
           "performer_features: x of shape {} does not fit features {} ([m, d] with d = x's last dim)", x.shape(),
           omega.shape());
  const int64_t m = omega.shape()[0];
  const Tensor projected = matmul(x, omega, false, /*transpose_b=*/true);  // [..., L, m]
  const Tensor half_norm = mul(sum(mul(x, x), {-1}, /*keepdim=*/true), scalar_t(0.5));  // [..., L, 1]
  Tensor c;  // a stabiliser: a constant in the graph (it cancels in the attention's ratio)
  {
    NoGradGuard no_grad;
    c = max(projected.detach(), -1, /*keepdim=*/true).values;     // per row: [..., L, 1]
    if (!per_row) c = max(c, -2, /*keepdim=*/true).values;        // per batch entry: [..., 1, 1]
  }
  return mul(exp(sub(sub(projected, half_norm), c)), static_cast<scalar_t>(1 / std::sqrt(static_cast<double>(m))));
}

// out_i = Σ_{j≤i} (a_i · b_j) v_j = a_iᵀ S_i,   S_i = S_{i−1} + b_i v_iᵀ          (S: [m, dv])
// backward, with g_i = dL/d(out_i) and the reverse running sum R_i = Σ_{t≥i} a_t g_tᵀ:
//   dL/da_i = S_i g_i,   dL/db_i = R_i v_i,   dL/dv_i = R_iᵀ b_i
Tensor causal_linear_attention(const Tensor& a, const Tensor& b, const Tensor& v) {
  TS_CHECK(a.dim() >= 2 && a.shape() == b.shape() && v.dim() == a.dim(),
           "causal_linear_attention: a {} and b {} need the same shape [..., L, m], and v [..., L, dv], got v {}",
           a.shape(), b.shape(), v.shape());
  const int r = a.dim();
  for (int i = 0; i < r - 1; ++i)
    TS_CHECK(v.shape()[i] == a.shape()[i], "causal_linear_attention: v {} does not match a {} outside the last dim",
             v.shape(), a.shape());
  const int64_t l = a.shape()[r - 2], m = a.shape()[r - 1], dv = v.shape()[r - 1];
  const int64_t batches = l * m == 0 ? 0 : a.numel() / (l * m);
  Tensor out = zeros(v.shape());
  {
    const scalar_t *ad = a.data(), *bd = b.data(), *vd = v.data();
    scalar_t* od = out.data();
    parallel_for(batches, 1, [&](int64_t t0, int64_t t1) {
      std::vector<scalar_t> s(static_cast<size_t>(m * dv));
      for (int64_t t = t0; t < t1; ++t) {
        std::fill(s.begin(), s.end(), scalar_t(0));
        for (int64_t i = 0; i < l; ++i) {
          const scalar_t* ai = ad + (t * l + i) * m;
          const scalar_t* bi = bd + (t * l + i) * m;
          const scalar_t* vi = vd + (t * l + i) * dv;
          scalar_t* oi = od + (t * l + i) * dv;
          for (int64_t p = 0; p < m; ++p) {
            scalar_t* sp = s.data() + p * dv;
            const scalar_t bp = bi[p], ap = ai[p];
            for (int64_t c = 0; c < dv; ++c) {
              sp[c] += bp * vi[c];  // S_i = S_{i−1} + b_i v_iᵀ
              oi[c] += ap * sp[c];  // out_i = a_iᵀ S_i
            }
          }
        }
      }
    });
  }
  record(out, "causal_linear_attention", {&a, &b, &v},
         [as = a.detach(), bs = b.detach(), vs = v.detach(), batches, l, m, dv](const Tensor& g, GradSink& sink) {
           Tensor da = zeros(as.shape()), db = zeros(bs.shape()), dvv = zeros(vs.shape());
           const scalar_t *ad = as.data(), *bd = bs.data(), *vd = vs.data(), *gd = g.data();
           scalar_t *dad = da.data(), *dbd = db.data(), *dvd = dvv.data();
           parallel_for(batches, 1, [&](int64_t t0, int64_t t1) {
             std::vector<scalar_t> s(static_cast<size_t>(m * dv)), rs(static_cast<size_t>(m * dv));
             for (int64_t t = t0; t < t1; ++t) {
               // forward order again for dL/da_i = S_i g_i
               std::fill(s.begin(), s.end(), scalar_t(0));
               for (int64_t i = 0; i < l; ++i) {
                 const int64_t row = t * l + i;
                 for (int64_t p = 0; p < m; ++p) {
                   scalar_t* sp = s.data() + p * dv;
                   scalar_t acc = 0;
                   for (int64_t c = 0; c < dv; ++c) {
                     sp[c] += bd[row * m + p] * vd[row * dv + c];
                     acc += sp[c] * gd[row * dv + c];
                   }
                   dad[row * m + p] = acc;
                 }
               }
               // reverse order for R_i = R_{i+1} + a_i g_iᵀ: dL/db_i = R_i v_i, dL/dv_i = R_iᵀ b_i
               std::fill(rs.begin(), rs.end(), scalar_t(0));
               for (int64_t i = l - 1; i >= 0; --i) {
                 const int64_t row = t * l + i;
                 for (int64_t p = 0; p < m; ++p) {
                   scalar_t* rp = rs.data() + p * dv;
                   const scalar_t ap = ad[row * m + p], bp = bd[row * m + p];
                   scalar_t acc = 0;
                   for (int64_t c = 0; c < dv; ++c) {
                     rp[c] += ap * gd[row * dv + c];
                     acc += rp[c] * vd[row * dv + c];
                     dvd[row * dv + c] += rp[c] * bp;
                   }
                   dbd[row * m + p] = acc;
                 }
               }
             }
           });
           sink.add(0, da);
           sink.add(1, db);
           sink.add(2, dvv);
         });
  return out;
}

Tensor performer_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& omega, bool causal,
                           double scale, const Tensor& key_mask) {
  TS_CHECK(q.dim() >= 2 && k.dim() == q.dim() && v.dim() == q.dim() && q.shape().back() == k.shape().back() &&
               k.shape()[k.dim() - 2] == v.shape()[v.dim() - 2],
           "performer_attention: q {}, k {}, v {} need shapes [..., Lq, d], [..., Lk, d], [..., Lk, dv]", q.shape(),
           k.shape(), v.shape());
  const int r = q.dim();
  const int64_t d = q.shape().back(), lq = q.shape()[r - 2], lk = k.shape()[r - 2];
  TS_CHECK(!causal || lq == lk, "performer_attention: causal needs as many queries as keys, got {} and {}", lq, lk);
  const double s = scale > 0 ? scale : 1 / std::sqrt(static_cast<double>(d));
  // q·k·s = (q √s)·(k √s): the features estimate exp of the scaled score
  const scalar_t root = static_cast<scalar_t>(std::sqrt(s));
  const Tensor fq = performer_features(mul(q, root), omega, /*per_row=*/true);    // [..., Lq, m]
  Tensor fk = performer_features(mul(k, root), omega, /*per_row=*/false);         // [..., Lk, m]
  if (key_mask.defined()) fk = mul(fk, unsqueeze(key_mask, -1));                   // padded keys weigh 0
  // [v, 1]: the numerator and the denominator in one product
  Shape ones_shape = v.shape();
  ones_shape[r - 1] = 1;
  const Tensor v1 = cat({v, ones(ones_shape)}, -1);                               // [..., Lk, dv + 1]
  Tensor both;
  if (causal) {
    both = causal_linear_attention(fq, fk, v1);                                    // [..., L, dv + 1]
  } else {
    both = matmul(fq, matmul(fk, v1, /*transpose_a=*/true));                       // φ(Q) (φ(K)ᵀ [V, 1])
  }
  const int64_t dv = v.shape().back();
  const Tensor numerator = narrow(both, -1, 0, dv), denominator = narrow(both, -1, dv, 1);
  return div(numerator, add(denominator, scalar_t(1e-12)));
}

}  // namespace tessera::nn
