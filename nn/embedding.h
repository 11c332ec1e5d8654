// tessera/nn/embedding.h — a lookup table of vectors, like torch.nn.Embedding.
#pragma once

#include <optional>

#include "nn/module.h"

namespace tessera::nn {

// ids: any shape of indices in [0, num_embeddings) -> [*ids.shape, embedding_dim].
// The backward adds each output row's gradient into its id's row (repeated ids sum); the row
// of padding_idx gets no gradient, so it stays as it is (zeros by default). A negative
// padding_idx counts from the end (-1 = the last row), as in PyTorch.
Tensor embedding(const IndexTensor& ids, const Tensor& weight, std::optional<int64_t> padding_idx = std::nullopt);

class Embedding : public Module {
 public:
  // weight ~ N(0, 1), the padding row zeroed — PyTorch's default.
  Embedding(int64_t num_embeddings, int64_t embedding_dim, std::optional<int64_t> padding_idx = std::nullopt);
  Tensor forward(const IndexTensor& ids) const { return embedding(ids, weight, padding_idx); }
  Tensor operator()(const IndexTensor& ids) const { return forward(ids); }

  int64_t num_embeddings, embedding_dim;
  std::optional<int64_t> padding_idx;
  Tensor weight;  // [num_embeddings, embedding_dim]

 protected:
  std::string extra_repr() const override;
};

}  // namespace tessera::nn
