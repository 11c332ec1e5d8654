#include "nn/embedding.h"

#include <cstring>

#include "nn/init.h"

namespace tessera::nn {

// out[i, :] = weight[ids[i], :]
// dL/dweight[r, :] = Σ_{i : ids[i] = r} g[i, :]   (skipping r = padding_idx)
Tensor embedding(const IndexTensor& ids, const Tensor& weight, std::optional<int64_t> padding_idx) {
  TS_CHECK(weight.dim() == 2, "embedding: weight must be [num_embeddings, dim], got {}", weight.shape());
  const int64_t rows = weight.shape()[0], dim = weight.shape()[1], n = ids.numel();
  if (padding_idx) {
    TS_CHECK(*padding_idx >= -rows && *padding_idx < rows,
             "embedding: padding_idx {} is out of range for a table of {} rows", *padding_idx, rows);
    if (*padding_idx < 0) *padding_idx += rows;  // -1 = the last row, as in PyTorch
  }
  const int64_t* ix = ids.data();
  for (int64_t i = 0; i < n; ++i)
    TS_CHECK(ix[i] >= 0 && ix[i] < rows,
             "embedding: id {} at position {} is out of range for a table of {} rows (valid ids 0..{})", ix[i], i,
             rows, rows - 1);
  Shape out_shape = ids.shape();
  out_shape.push_back(dim);
  Tensor out = empty(out_shape);
  for (int64_t i = 0; i < n; ++i) std::memcpy(out.data() + i * dim, weight.data() + ix[i] * dim, sizeof(scalar_t) * dim);
  record(out, "embedding", {&weight}, [ids, rows, dim, padding_idx](const Tensor& g, GradSink& sink) {
    Tensor grad = zeros({rows, dim});
    const int64_t* ix = ids.data();
    for (int64_t i = 0; i < ids.numel(); ++i) {
      if (padding_idx && ix[i] == *padding_idx) continue;
      scalar_t* dst = grad.data() + ix[i] * dim;
      const scalar_t* src = g.data() + i * dim;
#pragma omp simd
      for (int64_t j = 0; j < dim; ++j) dst[j] += src[j];
    }
    sink.add(0, grad);
  });
  return out;
}

Embedding::Embedding(int64_t num, int64_t dim, std::optional<int64_t> pad)
    : Module("Embedding"), num_embeddings(num), embedding_dim(dim), padding_idx(pad) {
  TS_CHECK(num > 0 && dim > 0, "Embedding: num_embeddings ({}) and embedding_dim ({}) must be positive", num, dim);
  if (pad) {
    TS_CHECK(*pad >= -num && *pad < num, "Embedding: padding_idx {} is out of range for {} embeddings", *pad, num);
    if (*pad < 0) padding_idx = *pad + num;
  }
  weight = empty({num, dim});
  init::normal_(weight, 0, 1);
  if (padding_idx) std::fill(weight.data() + *padding_idx * dim, weight.data() + (*padding_idx + 1) * dim, 0);
  weight = register_parameter("weight", weight);
}

std::string Embedding::extra_repr() const {
  return fmt::format("{}, {}{}", num_embeddings, embedding_dim,
                     padding_idx ? fmt::format(", padding_idx={}", *padding_idx) : "");
}

}  // namespace tessera::nn
