// tessera/nn/analysis.cpp — see analysis.h.
#include "nn/analysis.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace tessera::nn {

namespace {

// The points as doubles, row-major [N, F], after checking what every function here needs.
std::vector<double> checked_points(const Tensor& points, const char* op) {
  TS_CHECK(points.defined(), "{}: points is an undefined tensor", op);
  TS_CHECK(points.dim() == 2, "{}: points must be [N, F] (one row per point), got {}", op, points.shape());
  TS_CHECK(points.size(0) >= 1 && points.size(1) >= 1, "{}: points {} is empty", op, points.shape());
  std::vector<double> x(points.data(), points.data() + points.numel());
  for (size_t i = 0; i < x.size(); ++i)
    TS_CHECK(std::isfinite(x[i]), "{}: point {} feature {} is {}: remove or replace non-finite values first", op,
             static_cast<int64_t>(i) / points.size(1), static_cast<int64_t>(i) % points.size(1), x[i]);
  return x;
}

// ‖a − b‖² over f features.
double squared_distance(const double* a, const double* b, int64_t f) {
  double d = 0;
  for (int64_t i = 0; i < f; ++i) d += (a[i] - b[i]) * (a[i] - b[i]);
  return d;
}

struct LloydRun {
  std::vector<int64_t> labels;
  std::vector<double> centroids;  // [k, F]
  double inertia = 0;
  int64_t iterations = 0;
  std::vector<double> history;
};

// Lloyd's iterations from the given starting centroids (see analysis.h for the two steps).
LloydRun lloyd(const std::vector<double>& x, int64_t n, int64_t f, std::vector<double> centroids, int64_t k,
               int64_t max_iterations) {
  LloydRun run;
  run.labels.assign(n, -1);
  std::vector<double> distance(n);  // ‖x_n − c_{label(n)}‖²
  for (int64_t iteration = 1; iteration <= max_iterations; ++iteration) {
    // assign: label(n) = argmin_j ‖x_n − c_j‖², the lowest j on ties (strict <)
    bool changed = false;
    double inertia = 0;
    for (int64_t p = 0; p < n; ++p) {
      int64_t best = 0;
      double best_distance = squared_distance(&x[p * f], &centroids[0], f);
      for (int64_t j = 1; j < k; ++j) {
        const double d = squared_distance(&x[p * f], &centroids[j * f], f);
        if (d < best_distance) best = j, best_distance = d;
      }
      if (run.labels[p] != best) changed = true, run.labels[p] = best;
      distance[p] = best_distance;
      inertia += best_distance;
    }
    run.history.push_back(inertia);
    run.inertia = inertia;
    run.iterations = iteration;
    if (!changed) break;  // the centroids are already the means of these labels
    // update: c_j = (1 / |S_j|) Σ_{n ∈ S_j} x_n
    std::vector<double> sums(k * f, 0.0);
    std::vector<int64_t> counts(k, 0);
    for (int64_t p = 0; p < n; ++p) {
      ++counts[run.labels[p]];
      for (int64_t i = 0; i < f; ++i) sums[run.labels[p] * f + i] += x[p * f + i];
    }
    for (int64_t j = 0; j < k; ++j) {
      if (counts[j] == 0) continue;
      for (int64_t i = 0; i < f; ++i) centroids[j * f + i] = sums[j * f + i] / static_cast<double>(counts[j]);
    }
    // An empty cluster takes the point farthest from its (updated) centroid, the lowest index on
    // ties; no point is labelled with the empty cluster, so J does not change until the next
    // assignment lowers it. Nothing to move to when every point sits on its centroid.
    if (std::find(counts.begin(), counts.end(), 0) == counts.end()) continue;
    for (int64_t p = 0; p < n; ++p) distance[p] = squared_distance(&x[p * f], &centroids[run.labels[p] * f], f);
    for (int64_t j = 0; j < k; ++j) {
      if (counts[j] > 0) continue;
      const int64_t far = std::max_element(distance.begin(), distance.end()) - distance.begin();
      if (distance[far] <= 0) break;
      std::copy(&x[far * f], &x[far * f] + f, &centroids[j * f]);
      distance[far] = 0;
    }
  }
  run.centroids = std::move(centroids);
  return run;
}

}  // namespace

std::vector<int64_t> kmeans_plus_plus(const Tensor& points, int64_t k, Generator& generator) {
  const std::vector<double> x = checked_points(points, "kmeans_plus_plus");
  const int64_t n = points.size(0), f = points.size(1);
  TS_CHECK(k >= 1 && k <= n, "kmeans_plus_plus: k = {} must be between 1 and the number of points {}", k, n);
  std::vector<int64_t> seeds{generator.randint(n)};
  // D(x)²: squared distance from each point to its nearest seed so far
  std::vector<double> nearest(n);
  for (int64_t p = 0; p < n; ++p) nearest[p] = squared_distance(&x[p * f], &x[seeds[0] * f], f);
  while (static_cast<int64_t>(seeds.size()) < k) {
    const double total = std::accumulate(nearest.begin(), nearest.end(), 0.0);
    int64_t chosen = -1;
    if (total > 0) {
      // P(p) = D(p)² / Σ D²: walk the cumulative sum to a uniform draw in [0, Σ D²); points
      // with D = 0 (the seeds themselves and their duplicates) are never chosen.
      const double target = generator.next_double() * total;
      double cumulative = 0;
      for (int64_t p = 0; p < n; ++p) {
        if (nearest[p] <= 0) continue;
        cumulative += nearest[p];
        chosen = p;
        if (cumulative > target) break;
      }
    } else {  // fewer than k distinct points: the lowest index not chosen yet
      for (int64_t p = 0; p < n && chosen < 0; ++p)
        if (std::find(seeds.begin(), seeds.end(), p) == seeds.end()) chosen = p;
    }
    seeds.push_back(chosen);
    for (int64_t p = 0; p < n; ++p)
      nearest[p] = std::min(nearest[p], squared_distance(&x[p * f], &x[chosen * f], f));
  }
  return seeds;
}

KMeansResult kmeans(const Tensor& points, int64_t k, uint64_t seed, int64_t max_iterations, int64_t restarts) {
  const std::vector<double> x = checked_points(points, "kmeans");
  const int64_t n = points.size(0), f = points.size(1);
  TS_CHECK(k >= 1, "kmeans: k = {} clusters; ask for at least 1", k);
  TS_CHECK(k <= n, "kmeans: k = {} clusters but only {} points: ask for at most {}", k, n, n);
  TS_CHECK(max_iterations >= 1, "kmeans: max_iterations = {} must be at least 1", max_iterations);
  TS_CHECK(restarts >= 1, "kmeans: restarts = {} must be at least 1", restarts);
  Generator generator(seed);
  LloydRun best;
  best.inertia = std::numeric_limits<double>::infinity();
  for (int64_t run = 0; run < restarts; ++run) {
    std::vector<double> centroids(k * f);
    const std::vector<int64_t> seeds = kmeans_plus_plus(points, k, generator);
    for (int64_t j = 0; j < k; ++j) std::copy(&x[seeds[j] * f], &x[seeds[j] * f] + f, &centroids[j * f]);
    LloydRun candidate = lloyd(x, n, f, std::move(centroids), k, max_iterations);
    if (candidate.inertia < best.inertia) best = std::move(candidate);  // ties: the earlier run stays
  }
  KMeansResult result;
  result.labels = std::move(best.labels);
  std::vector<scalar_t> centroids(best.centroids.begin(), best.centroids.end());
  result.centroids = from_vector(centroids, Shape{k, f});
  result.inertia = best.inertia;
  result.iterations = best.iterations;
  result.inertia_history = std::move(best.history);
  return result;
}

SymmetricEigen symmetric_eigen(std::vector<double> a, int64_t n) {
  TS_CHECK(n >= 1 && static_cast<int64_t>(a.size()) == n * n, "symmetric_eigen: {} values for a {} x {} matrix",
           a.size(), n, n);
  // V accumulates the rotations: A = V diag(λ) Vᵀ at the end (eigenvectors in V's columns).
  std::vector<double> v(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i) v[i * n + i] = 1;
  auto at = [&](int64_t r, int64_t c) -> double& { return a[r * n + c]; };
  double scale = 0;  // ‖A‖_F, for the stopping rule
  for (const double value : a) scale += value * value;
  scale = std::sqrt(scale);
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0;  // Σ_{p≠q} a_pq²: each rotation lowers it by 2·a_pq², so sweeps converge (quadratically)
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = p + 1; q < n; ++q) off += 2 * at(p, q) * at(p, q);
    if (std::sqrt(off) <= 1e-15 * scale) break;
    for (int64_t p = 0; p < n; ++p) {
      for (int64_t q = p + 1; q < n; ++q) {
        if (at(p, q) == 0) continue;
        // The rotation J (J_pp = J_qq = c, J_pq = s, J_qp = −s) with a'_pq = 0 in A' = Jᵀ A J:
        //   θ = (a_qq − a_pp) / (2 a_pq),  t = tan φ = sign(θ) / (|θ| + √(θ² + 1))  (the smaller root),
        //   c = 1 / √(t² + 1),  s = t c.
        const double theta = (at(q, q) - at(p, p)) / (2 * at(p, q));
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (int64_t r = 0; r < n; ++r) {  // A J: columns p and q
          const double arp = at(r, p), arq = at(r, q);
          at(r, p) = c * arp - s * arq;
          at(r, q) = s * arp + c * arq;
        }
        for (int64_t r = 0; r < n; ++r) {  // Jᵀ (A J): rows p and q
          const double apr = at(p, r), aqr = at(q, r);
          at(p, r) = c * apr - s * aqr;
          at(q, r) = s * apr + c * aqr;
        }
        at(p, q) = at(q, p) = 0;  // zero by construction; drop the rounding residue
        for (int64_t r = 0; r < n; ++r) {  // V J
          const double vrp = v[r * n + p], vrq = v[r * n + q];
          v[r * n + p] = c * vrp - s * vrq;
          v[r * n + q] = s * vrp + c * vrq;
        }
      }
    }
  }
  // Eigenvalues in descending order (stable: equal ones keep their index order), vectors as rows.
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return at(i, i) > at(j, j); });
  SymmetricEigen result;
  result.vectors.resize(n * n);
  for (int64_t r = 0; r < n; ++r) {
    const int64_t column = order[r];
    result.values.push_back(at(column, column));
    for (int64_t i = 0; i < n; ++i) result.vectors[r * n + i] = v[i * n + column];
  }
  return result;
}

PCAResult pca(const Tensor& points, int64_t components) {
  checked_points(points, "pca");
  const int64_t n = points.size(0), f = points.size(1);
  TS_CHECK(n >= 2, "pca: {} point: the variance needs at least 2 points", n);
  TS_CHECK(components >= 1 && components <= f, "pca: components = {} must be between 1 and the number of features {}",
           components, f);
  NoGradGuard no_grad;
  const Tensor x = points.detach();
  PCAResult result;
  // X̃ = X − mean over the points;  C = X̃ᵀ X̃ / (N − 1)   [F, F]
  const Tensor mean_row = mean(x, {0}, true);  // [1, F]
  const Tensor centred = x - mean_row;
  const Tensor covariance = matmul(centred, centred, true, false) / static_cast<scalar_t>(n - 1);
  std::vector<double> c(covariance.data(), covariance.data() + f * f);
  for (int64_t i = 0; i < f; ++i)  // symmetrise the rounding: C = (C + Cᵀ) / 2
    for (int64_t j = i + 1; j < f; ++j) c[i * f + j] = c[j * f + i] = (c[i * f + j] + c[j * f + i]) / 2;
  const SymmetricEigen eigen = symmetric_eigen(c, f);
  double total = 0;  // trace(C) = Σ λ, the total variance
  for (int64_t i = 0; i < f; ++i) total += c[i * f + i];
  std::vector<scalar_t> rows(components * f);
  for (int64_t r = 0; r < components; ++r) {
    const double* vector = &eigen.vectors[r * f];
    // sign: make the largest |loading| positive (the first of those within 1e-4 of it)
    double largest = 0;
    for (int64_t i = 0; i < f; ++i) largest = std::max(largest, std::abs(vector[i]));
    int64_t pivot = 0;
    while (std::abs(vector[pivot]) < largest * (1 - 1e-4)) ++pivot;
    const double sign = vector[pivot] < 0 ? -1.0 : 1.0;
    for (int64_t i = 0; i < f; ++i) rows[r * f + i] = static_cast<scalar_t>(sign * vector[i]);
    const double variance = std::max(0.0, eigen.values[r]);  // C is positive semi-definite: clip rounding below 0
    result.explained_variance.push_back(variance);
    result.explained_variance_ratio.push_back(total > 0 ? variance / total : 0.0);
  }
  result.components = from_vector(rows, Shape{components, f});
  result.mean = mean_row.reshape({f});
  result.projected = matmul(centred, result.components, false, true);  // X̃ Vᵀ  [N, c]
  return result;
}

}  // namespace tessera::nn
