// tessera/nn/analysis.h — grouping and flattening sets of vectors: k-means and PCA.
//
// Interpretability tools describe each unit of a network (an attention head, a channel) by a
// feature vector; these two functions then answer "which units do the same job?" (k-means) and
// "how do they lie relative to each other?" (PCA, for a 2-D picture). Points are the rows of a
// [N, F] tensor: N points with F features each. Neither function records an autograd graph.
//
// k-means (Lloyd, 1957/1982) looks for k centroids c_1 … c_k minimising the inertia
//     J = Σ_n ‖x_n − c_{label(n)}‖²,
// alternating two steps that each can only lower J:
//     assign  label(n) = argmin_j ‖x_n − c_j‖²          (ties: the lowest j)
//     update  c_j = mean of the points labelled j       (an empty cluster is moved to the point
//                                                        farthest from its centroid)
// until no label changes. It finds a local minimum that depends on the starting centroids, which
// k-means++ (Arthur & Vassilvitskii, 2007) draws well: the first uniformly among the points, each
// next one with probability proportional to D(x)², the squared distance from x to the nearest
// centroid chosen so far (so a point equal to a chosen centroid is never chosen again). The
// draws come from tessera's Generator: the same seed gives the same labels. With restarts > 1
// the whole procedure runs that many times from consecutive draws and the lowest J wins
// (ties: the earliest run).
//
// PCA finds the orthonormal directions of largest variance. With the centred points
// X̃ = X − mean(X) and the covariance C = X̃ᵀX̃ / (N − 1) [F, F], C = V Λ Vᵀ (symmetric, so V is
// orthogonal and Λ real); the components are the columns of V with the largest eigenvalues λ,
// λ is the variance of the points along that direction (explained_variance) and λ / trace(C)
// its share of the total (explained_variance_ratio). The centring, the covariance and the
// projection X̃ Vᵀ are engine ops (matmul); the eigen-decomposition is cyclic Jacobi in double
// precision (rotations that zero one off-diagonal entry at a time; Golub & Van Loan §8.5).
// An eigenvector's sign is arbitrary, so each component is flipped to make its largest loading
// (the first, among loadings equal to the largest within 1e-4 relative) positive.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/tessera.h"

namespace tessera::nn {

struct KMeansResult {
  std::vector<int64_t> labels;          // [N]: the cluster of each point, 0 … k−1
  Tensor centroids;                     // [k, F]
  double inertia = 0;                   // Σ_n ‖x_n − c_{label(n)}‖² of the returned labels and centroids
  int64_t iterations = 0;               // Lloyd iterations of the winning run (assign + update)
  std::vector<double> inertia_history;  // the winning run's inertia after each assignment step
};

// points [N, F]; 1 ≤ k ≤ N; finite values. Deterministic for a seed.
KMeansResult kmeans(const Tensor& points, int64_t k, uint64_t seed, int64_t max_iterations = 100,
                    int64_t restarts = 4);

// The k-means++ starting centroids: k row indices of points, drawn as described above. With
// fewer than k distinct points the remaining seeds are the lowest unused indices.
std::vector<int64_t> kmeans_plus_plus(const Tensor& points, int64_t k, Generator& generator);

struct PCAResult {
  Tensor projected;                               // [N, c]: (x − mean) · componentsᵀ
  Tensor components;                              // [c, F]: orthonormal rows, largest variance first
  Tensor mean;                                    // [F]
  std::vector<double> explained_variance;         // [c]: λ_i, with the 1/(N − 1) normalisation
  std::vector<double> explained_variance_ratio;   // [c]: λ_i / Σ_all λ (0 when every point is equal)
};

// points [N, F] with N ≥ 2; 1 ≤ components ≤ F; finite values.
PCAResult pca(const Tensor& points, int64_t components);

// Eigenvalues (descending) and eigenvectors (rows of `vectors`, row-major [n, n]) of the
// symmetric n × n matrix `a` (row-major), by cyclic Jacobi. Exposed for the tests.
struct SymmetricEigen {
  std::vector<double> values;
  std::vector<double> vectors;
};
SymmetricEigen symmetric_eigen(std::vector<double> a, int64_t n);

}  // namespace tessera::nn
