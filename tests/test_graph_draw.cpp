// tests/test_graph_draw.cpp — the autograd graph as DOT: nodes, shapes, leaves, edges, depth cut.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;

namespace {
int count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}
}  // namespace

TEST_CASE("graph_to_dot: a three-op graph, with named leaves, shapes and data-flow edges") {
  // L = sum(relu(x @ w + b)): ops matmul, add, relu, sum; leaves x (input), w and b (parameters)
  Tensor x = param({2, 3}, 1), w = param({3, 4}, 2), b = param({4}, 3);
  Tensor loss = sum(relu(matmul(x, w) + b));
  GraphDrawOptions o;
  o.name(w, "linear.weight");
  o.name(b, "linear.bias");
  const std::string dot = graph_to_dot(loss, o);
  CHECK(dot.rfind("digraph tessera {", 0) == 0);
  CHECK(count(dot, "[shape=box, style=\"rounded,filled\"") == 4);  // four ops
  for (const char* label : {"label=\"sum\\n[]\"", "label=\"relu\\n[2, 4]\"", "label=\"add\\n[2, 4]\"",
                            "label=\"matmul\\n[2, 4]\"", "label=\"linear.weight\\n[3, 4]\"",
                            "label=\"linear.bias\\n[4]\"", "label=\"leaf\\n[2, 3]\""}) {
    INFO(label);
    CHECK(dot.find(label) != std::string::npos);
  }
  // edges: x -> matmul, w -> matmul, matmul -> add, b -> add, add -> relu, relu -> sum, sum -> output
  CHECK(count(dot, " -> ") == 7);
  CHECK(dot.find("op0 -> output") != std::string::npos);
  // leaves first reached from the output are numbered in a fixed order, so the text is stable
  CHECK(graph_to_dot(loss, o) == dot);
}

TEST_CASE("graph_to_dot: a tensor used twice is one node with two edges out") {
  Tensor x = param({3}, 4);
  Tensor a = exp(x);
  Tensor y = sum(a * a);
  const std::string dot = graph_to_dot(y);
  CHECK(count(dot, "label=\"exp") == 1);
  CHECK(count(dot, "[shape=box, style=filled") == 1);  // one leaf
  // exp feeds mul twice (both inputs of a * a): two edges from exp's node into mul's
  CHECK(count(dot, "op2 -> op1;") == 2);
}

TEST_CASE("graph_to_dot: max_depth collapses the ops below into one node that counts them") {
  Tensor x = param({4}, 5);
  Tensor h = x;
  for (int i = 0; i < 10; ++i) h = tanh(h);  // a chain of 10 ops, then sum
  Tensor y = sum(h);
  GraphDrawOptions o;
  o.max_depth = 3;  // sum (0), tanh (1, 2, 3) drawn; 7 tanh collapsed, with the leaf
  const std::string dot = graph_to_dot(y, o);
  CHECK(count(dot, "style=\"rounded,filled\"") == 4);
  CHECK(dot.find("… 7 more ops, 1 leaves") != std::string::npos);
  CHECK(dot.find("more -> op3;") != std::string::npos);
  CHECK(count(graph_to_dot(y), "style=\"rounded,filled\"") == 11);
}

TEST_CASE("graph_to_dot: errors for a tensor without a graph; labels are escaped") {
  CHECK(throws_with([] { graph_to_dot(ones({2})); }, "no autograd graph"));
  Tensor x = param({2}, 6);
  Tensor y;
  {
    NoGradGuard no_grad;
    y = sum(x * x);
  }
  CHECK(throws_with([&] { graph_to_dot(y); }, "NoGradGuard"));
  GraphDrawOptions o;
  o.name(x, "a \"quoted\" name");
  o.title = "back\\slash";
  const std::string dot = graph_to_dot(sum(x * x), o);
  CHECK(dot.find("a \\\"quoted\\\" name") != std::string::npos);
  CHECK(dot.find("back\\\\slash") != std::string::npos);
  o.rankdir = "sideways";
  CHECK(throws_with([&] { graph_to_dot(sum(x), o); }, "rankdir"));
}

TEST_CASE("draw_graph writes the DOT file whole, and an SVG when Graphviz is installed") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("tessera_graph_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  Tensor x = param({2, 2}, 7);
  const GraphDrawing d = draw_graph(sum(x * x), (dir / "g").string());
  CHECK(d.ops == 2);
  CHECK(d.leaves == 1);
  std::ifstream f(d.dot_path);
  std::stringstream text;
  text << f.rdbuf();
  CHECK(text.str() == graph_to_dot(sum(x * x)));
  if (graphviz_available()) {
    REQUIRE(!d.svg_path.empty());
    std::ifstream s(d.svg_path);
    std::stringstream svg;
    svg << s.rdbuf();
    CHECK(svg.str().find("<svg") != std::string::npos);
    CHECK(svg.str().find("mul") != std::string::npos);
  } else {
    CHECK(d.svg_path.empty());
    CHECK(d.message.find("apt-get install graphviz") != std::string::npos);
  }
  for (const auto& entry : fs::directory_iterator(dir)) CHECK(entry.path().string().find(".tmp") == std::string::npos);
  CHECK(throws_with([&] { draw_graph(sum(x), (dir / "missing" / "g").string()); }, "cannot write"));
  fs::remove_all(dir);
}
