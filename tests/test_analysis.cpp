// tests/test_analysis.cpp — nn/analysis.cpp: k-means (k-means++ seeding, Lloyd) and PCA.
//
// k-means on blobs far apart must recover them exactly (up to the names of the clusters), the
// same seed must give the same labels, and Lloyd's two steps must never raise the inertia. PCA
// on points lying on a known line and a known plane must find those directions and the
// variances worked out by hand below.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <set>
#include <vector>

#include "nn/analysis.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;

namespace {

// Three blobs of `per_blob` points each around (0, 0), (10, 0) and (0, 10), noise in ±0.5,
// interleaved (point i belongs to blob i % 3) so that the order gives nothing away.
Tensor three_blobs(int64_t per_blob, uint64_t seed) {
  const double centres[3][2] = {{0, 0}, {10, 0}, {0, 10}};
  Generator gen(seed);
  std::vector<scalar_t> values;
  for (int64_t i = 0; i < 3 * per_blob; ++i)
    for (int d = 0; d < 2; ++d) values.push_back(static_cast<scalar_t>(centres[i % 3][d] + gen.next_double() - 0.5));
  return from_vector(values, Shape{3 * per_blob, 2});
}

// Σ_n ‖x_n − c_{label(n)}‖², recomputed from a result.
double inertia_of(const Tensor& points, const nn::KMeansResult& r) {
  const int64_t f = points.size(1);
  double total = 0;
  for (int64_t p = 0; p < points.size(0); ++p)
    for (int64_t i = 0; i < f; ++i) {
      const double d = points.data()[p * f + i] - r.centroids.data()[r.labels[p] * f + i];
      total += d * d;
    }
  return total;
}

}  // namespace

TEST_CASE("kmeans: well-separated blobs are recovered exactly, and the same seed gives the same labels") {
  const Tensor points = three_blobs(10, 7);
  for (uint64_t seed : {0, 1, 2, 3}) {
    const nn::KMeansResult r = nn::kmeans(points, 3, seed);
    REQUIRE(r.labels.size() == 30);
    // one label per blob, three different labels: the partition is the blobs'
    std::set<int64_t> blob_labels;
    for (int64_t blob = 0; blob < 3; ++blob) {
      for (int64_t i = blob; i < 30; i += 3) CHECK(r.labels[i] == r.labels[blob]);
      blob_labels.insert(r.labels[blob]);
    }
    CHECK(blob_labels.size() == 3);
    // each centroid is its blob's mean, within the noise
    for (int64_t blob = 0; blob < 3; ++blob) {
      const int64_t j = r.labels[blob];
      CHECK(std::abs(r.centroids.at({j, 0}) - (blob == 1 ? 10 : 0)) < 0.5);
      CHECK(std::abs(r.centroids.at({j, 1}) - (blob == 2 ? 10 : 0)) < 0.5);
    }
    CHECK(r.inertia == doctest::Approx(inertia_of(points, r)).epsilon(1e-5));
    CHECK(nn::kmeans(points, 3, seed).labels == r.labels);  // deterministic for a seed
  }
}

TEST_CASE("kmeans: k = 1 gives the mean and the total squared deviation; k = N puts each point alone") {
  const Tensor points = from_vector({0, 0, 2, 0, 1, 3}, Shape{3, 2});
  const nn::KMeansResult one = nn::kmeans(points, 1, 5);
  CHECK(all_close(one.centroids, {1, 1}));
  // (1 + 1) + (1 + 1) + (0 + 4) = 8
  CHECK(one.inertia == doctest::Approx(8));
  const nn::KMeansResult all = nn::kmeans(points, 3, 5);
  CHECK(std::set<int64_t>(all.labels.begin(), all.labels.end()).size() == 3);
  CHECK(all.inertia == doctest::Approx(0));
}

TEST_CASE("kmeans++ picks distinct seeds, never a duplicate of a chosen one") {
  // three distinct points, each repeated four times: the seeds must be the three values
  std::vector<scalar_t> values;
  for (int repeat = 0; repeat < 4; ++repeat)
    for (const scalar_t v : {scalar_t(0), scalar_t(1), scalar_t(5)}) values.insert(values.end(), {v, -v});
  const Tensor points = from_vector(values, Shape{12, 2});
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Generator gen(seed);
    const std::vector<int64_t> seeds = nn::kmeans_plus_plus(points, 3, gen);
    std::set<scalar_t> chosen;
    for (const int64_t s : seeds) chosen.insert(points.at({s, 0}));
    CHECK(chosen.size() == 3);
  }
  // random points: k distinct indices, the same ones for the same seed
  Generator draw(3);
  const Tensor random_points = randn(Shape{40, 3}, &draw);
  Generator a(9), b(9);
  const std::vector<int64_t> seeds = nn::kmeans_plus_plus(random_points, 10, a);
  CHECK(std::set<int64_t>(seeds.begin(), seeds.end()).size() == 10);
  CHECK(nn::kmeans_plus_plus(random_points, 10, b) == seeds);
}

TEST_CASE("kmeans: the inertia never increases from one Lloyd iteration to the next") {
  Generator gen(11);
  const Tensor points = randn(Shape{200, 4}, &gen);
  for (uint64_t seed = 0; seed < 5; ++seed) {
    const nn::KMeansResult r = nn::kmeans(points, 8, seed, 100, 1);
    REQUIRE(!r.inertia_history.empty());
    CHECK(static_cast<int64_t>(r.inertia_history.size()) == r.iterations);
    for (size_t i = 1; i < r.inertia_history.size(); ++i)
      CHECK(r.inertia_history[i] <= r.inertia_history[i - 1] * (1 + 1e-12));
    CHECK(r.inertia == doctest::Approx(r.inertia_history.back()));
    CHECK(r.inertia == doctest::Approx(inertia_of(points, r)).epsilon(1e-5));
  }
  // more restarts can only find an equal or lower minimum (the first run is the same draw)
  CHECK(nn::kmeans(points, 8, 0, 100, 4).inertia <= nn::kmeans(points, 8, 0, 100, 1).inertia);
}

TEST_CASE("kmeans: clear errors for k < 1, k > N, non-finite values and a wrong shape") {
  const Tensor points = from_vector({0, 1, 2, 3}, Shape{2, 2});
  CHECK(throws_with([&] { nn::kmeans(points, 0, 1); }, "at least 1"));
  CHECK(throws_with([&] { nn::kmeans(points, 3, 1); }, "only 2 points"));
  const Tensor bad = from_vector({0, std::numeric_limits<scalar_t>::quiet_NaN(), 2, 3}, Shape{2, 2});
  CHECK(throws_with([&] { nn::kmeans(bad, 1, 1); }, "point 0 feature 1"));
  const Tensor infinite = from_vector({0, 1, std::numeric_limits<scalar_t>::infinity(), 3}, Shape{2, 2});
  CHECK(throws_with([&] { nn::kmeans(infinite, 1, 1); }, "non-finite"));
  CHECK(throws_with([&] { nn::kmeans(from_vector({1, 2, 3}), 1, 1); }, "[N, F]"));
}

TEST_CASE("symmetric_eigen: a 2 x 2 and a diagonal matrix by hand") {
  // [[2, 1], [1, 2]]: eigenvalues 3 (along (1, 1)/√2) and 1 (along (1, −1)/√2)
  const nn::SymmetricEigen e = nn::symmetric_eigen({2, 1, 1, 2}, 2);
  CHECK(e.values[0] == doctest::Approx(3));
  CHECK(e.values[1] == doctest::Approx(1));
  CHECK(std::abs(e.vectors[0]) == doctest::Approx(std::sqrt(0.5)));
  CHECK(e.vectors[0] * e.vectors[1] == doctest::Approx(0.5));
  CHECK(e.vectors[2] * e.vectors[3] == doctest::Approx(-0.5));
  const nn::SymmetricEigen d = nn::symmetric_eigen({1, 0, 0, 0, 4, 0, 0, 0, 2}, 3);
  CHECK(d.values == std::vector<double>{4, 2, 1});
}

TEST_CASE("pca: points on a line give its direction, the variance along it, and nothing across") {
  // x = (1, 2) + t (0.6, 0.8), t = −2 … 2: the variance along the line is Σt² / (N − 1) = 10 / 4
  std::vector<scalar_t> values;
  for (int t = -2; t <= 2; ++t) values.insert(values.end(), {scalar_t(1 + 0.6 * t), scalar_t(2 + 0.8 * t)});
  const nn::PCAResult r = nn::pca(from_vector(values, Shape{5, 2}), 2);
  CHECK(all_close(r.components.narrow(0, 0, 1), {0.6, 0.8}, 1e-5));  // largest loading (0.8) positive
  CHECK(r.explained_variance[0] == doctest::Approx(2.5).epsilon(1e-5));
  CHECK(r.explained_variance[1] == doctest::Approx(0).epsilon(1e-5));
  CHECK(r.explained_variance_ratio[0] == doctest::Approx(1).epsilon(1e-5));
  CHECK(all_close(r.mean, {1, 2}, 1e-5));
  // the projection onto the first component is t itself; onto the second, 0
  for (int64_t i = 0; i < 5; ++i) {
    CHECK(r.projected.at({i, 0}) == doctest::Approx(i - 2).epsilon(1e-5));
    CHECK(std::abs(r.projected.at({i, 1})) < 1e-5);
  }
}

TEST_CASE("pca: points on a plane in 3-D give its two directions and variances worked out by hand") {
  // x = a u + b v with u = (1, 2, 2)/3, v = (2, 1, −2)/3 (orthonormal), (a, b) ∈ {−3, 3} × {−1, 1}.
  // The mean is 0 and Σ a b = 0, so the variances are Σa²/(N−1) = 4·9/3 = 12 along u and
  // Σb²/(N−1) = 4/3 along v; their shares of the total 40/3 are 0.9 and 0.1.
  const double u[3] = {1.0 / 3, 2.0 / 3, 2.0 / 3}, v[3] = {2.0 / 3, 1.0 / 3, -2.0 / 3};
  std::vector<scalar_t> values;
  std::vector<std::pair<double, double>> coefficients = {{-3, -1}, {-3, 1}, {3, -1}, {3, 1}};
  for (const auto& [a, b] : coefficients)
    for (int i = 0; i < 3; ++i) values.push_back(static_cast<scalar_t>(a * u[i] + b * v[i]));
  const nn::PCAResult r = nn::pca(from_vector(values, Shape{4, 3}), 2);
  // sign: u's largest loadings tie (2/3, 2/3), the first is made positive; v's too (2/3, −2/3)
  CHECK(all_close(r.components, {u[0], u[1], u[2], v[0], v[1], v[2]}, 1e-5));
  CHECK(r.explained_variance[0] == doctest::Approx(12).epsilon(1e-5));
  CHECK(r.explained_variance[1] == doctest::Approx(4.0 / 3).epsilon(1e-5));
  CHECK(r.explained_variance_ratio[0] == doctest::Approx(0.9).epsilon(1e-5));
  CHECK(r.explained_variance_ratio[1] == doctest::Approx(0.1).epsilon(1e-5));
  for (size_t n = 0; n < coefficients.size(); ++n) {
    CHECK(r.projected.at({static_cast<int64_t>(n), 0}) == doctest::Approx(coefficients[n].first).epsilon(1e-5));
    CHECK(r.projected.at({static_cast<int64_t>(n), 1}) == doctest::Approx(coefficients[n].second).epsilon(1e-5));
  }
}

TEST_CASE("pca: the components are orthonormal and the variances descending, summing to the total") {
  Generator gen(4);
  // correlated features: x = z A for a random A, so every direction has a different variance
  const Tensor points = matmul(randn(Shape{60, 5}, &gen), randn(Shape{5, 5}, &gen));
  const nn::PCAResult r = nn::pca(points, 5);
  const Tensor gram = matmul(r.components, r.components, false, true);  // V Vᵀ = I
  CHECK(all_close(gram, {1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1}, 1e-4));
  double ratio_sum = 0;
  for (size_t i = 0; i < 5; ++i) {
    ratio_sum += r.explained_variance_ratio[i];
    if (i > 0) CHECK(r.explained_variance[i] <= r.explained_variance[i - 1]);
  }
  CHECK(ratio_sum == doctest::Approx(1).epsilon(1e-4));
  // the variance of the projected points along each component is its eigenvalue
  const Tensor column_variance = var(r.projected, {0});
  for (int64_t i = 0; i < 5; ++i)
    CHECK(column_variance.data()[i] == doctest::Approx(r.explained_variance[i]).epsilon(1e-3));
  // the same input gives the same signs
  CHECK(all_close(nn::pca(points, 5).components, r.components, 0, 0));
}

TEST_CASE("pca: clear errors for too few points, a bad number of components and non-finite values") {
  CHECK(throws_with([] { nn::pca(from_vector({1, 2}, Shape{1, 2}), 1); }, "at least 2 points"));
  const Tensor points = from_vector({0, 1, 2, 3}, Shape{2, 2});
  CHECK(throws_with([&] { nn::pca(points, 0); }, "between 1 and the number of features 2"));
  CHECK(throws_with([&] { nn::pca(points, 3); }, "between 1 and the number of features 2"));
  const Tensor bad = from_vector({0, 1, std::numeric_limits<scalar_t>::quiet_NaN(), 3}, Shape{2, 2});
  CHECK(throws_with([&] { nn::pca(bad, 1); }, "non-finite"));
}
