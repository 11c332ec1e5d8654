// examples/interpret_demo — the pictures of docs/interpretability.md and docs/internals.md that
// need no trained model: the autograd graph drawn (engine/graph_draw.h) on three examples, and
// d2l's first two show_heatmaps examples (examples/common/svg.h).
//
//   interpret_demo [OUT_DIR]    (default: .)
//
//   micrograd.dot/.svg      L = sum(relu(x·w + b)) — four ops, the graph micrograd's draw_dot shows
//   attention.dot/.svg      softmax(Q Kᵀ / √d) V — the worked example of docs/internals.md
//   encoder_layer.dot/.svg  the loss of one Transformer encoder layer (d_model 16, 2 heads), every
//                           parameter labelled with its module name
//   heatmaps_eye.svg        show_heatmaps(eye(10) as [1, 1, 10, 10], "Keys", "Queries"), Reds
//   heatmaps_random.svg     a uniform random [1, 1, 10, 10], the same call
// SVGs of graphs need Graphviz (apt-get install graphviz); the .dot files are written either way.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "engine/tessera.h"
#include "examples/common/files.h"
#include "examples/common/svg.h"
#include "nn/interpret.h"
#include "nn/transformer.h"

using namespace tessera;

namespace {
void report(const GraphDrawing& d) { std::printf("%d ops, %d leaves: %s\n", d.ops, d.leaves, d.message.c_str()); }
}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {  // --help, or anything it does not take
      std::printf("usage: %s [OUTPUT_DIR]   (default: the current directory)\n"
                  "draws three autograd graphs and two attention heatmaps into OUTPUT_DIR\n", argv[0]);
      return argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) ? 0 : 2;
    }
    const std::filesystem::path out = argc > 1 ? argv[1] : ".";
    std::filesystem::create_directories(out);
    manual_seed(0);
    {  // micrograd's example, as tensors
      Tensor x = randn({2, 3}).requires_grad_(), w = randn({3, 4}).requires_grad_(), b = zeros({4}).requires_grad_();
      Tensor loss = sum(relu(matmul(x, w) + b));
      GraphDrawOptions o;
      o.name(x, "x");
      o.name(w, "w");
      o.name(b, "b");
      o.title = "L = sum(relu(x·w + b))";
      report(draw_graph(loss, (out / "micrograd").string(), o));
    }
    {  // docs/internals.md's worked example
      Tensor q = from_vector({1, 0}, {1, 2}).requires_grad_();
      Tensor k = from_vector({1, 2, 0, 1}, {2, 2}).requires_grad_();
      Tensor v = from_vector({2, 3}, {2, 1}).requires_grad_();
      Tensor out_ = matmul(softmax(matmul(q, k, false, true) / std::sqrt(scalar_t(2)), -1), v);
      GraphDrawOptions o;
      o.name(q, "Q");
      o.name(k, "K");
      o.name(v, "V");
      o.title = "softmax(Q Kᵀ / √2) V";
      report(draw_graph(out_, (out / "attention").string(), o));
    }
    {  // one Transformer encoder layer, its parameters named
      nn::TransformerOptions options;
      options.d_model = 16;
      options.nhead = 2;
      options.dim_feedforward = 32;
      options.dropout = 0;
      nn::TransformerEncoderLayer layer(options);
      Tensor x = randn({2, 5, 16});
      Tensor loss = mean(pow(layer.forward(x), 2));
      GraphDrawOptions o;
      o.names = nn::parameter_names(layer);
      o.title = "mean(TransformerEncoderLayer(x)²): d_model 16, 2 heads, post-norm";
      report(draw_graph(loss, (out / "encoder_layer").string(), o));
    }
    {  // d2l's show_heatmaps, first two examples
      Tensor eye10 = zeros({1, 1, 10, 10});
      for (int i = 0; i < 10; ++i) eye10.data()[i * 10 + i] = 1;
      examples::write_file_atomically((out / "heatmaps_eye.svg").string(),
                                      examples::show_heatmaps(eye10, "Keys", "Queries"));
      examples::write_file_atomically((out / "heatmaps_random.svg").string(),
                                      examples::show_heatmaps(uniform({1, 1, 10, 10}, 0, 1), "Keys", "Queries"));
      std::printf("wrote %s and %s\n", (out / "heatmaps_eye.svg").c_str(), (out / "heatmaps_random.svg").c_str());
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
