// tessera/engine/graph_draw.cpp — the autograd graph as Graphviz DOT (and SVG through `dot`).
//
// The walk: breadth-first from the output's grad_fn over Node::inputs(), so every node gets its
// shortest distance (depth) from the output and a number in the order it was first reached —
// the DOT text depends only on the graph. A node's output shape is not stored on the node; every
// edge into it carries it (Edge::shape is the shape of the input it stands for), and the root's is
// the output's.
#include "engine/graph_draw.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

#include "engine/autograd.h"
#include "engine/error.h"

extern char** environ;

namespace tessera {

namespace {

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string shape_text(const Shape& s) { return fmt::format("{}", s); }

}  // namespace

namespace {
// graph_to_dot, also counting what it drew into `counts`
std::string build_dot(const Tensor& output, const GraphDrawOptions& o, GraphDrawing& counts) {
  TS_CHECK(output.defined(), "draw_graph: the tensor is undefined");
  TS_CHECK(output.requires_grad(),
           "draw_graph: this tensor has no autograd graph (it does not require grad, or it was computed under "
           "a NoGradGuard); compute it from tensors that require grad, with grad mode on");
  TS_CHECK(o.rankdir == "TB" || o.rankdir == "LR" || o.rankdir == "BT" || o.rankdir == "RL",
           "draw_graph: rankdir must be TB, LR, BT or RL, got '{}'", o.rankdir);

  struct OpInfo {
    const Node* node;
    int depth;
    Shape shape;
  };
  std::vector<OpInfo> ops;                       // in breadth-first order from the output
  std::unordered_map<const Node*, int> op_index;
  std::vector<const TensorImpl*> leaves;         // in the order first reached
  std::unordered_map<const TensorImpl*, int> leaf_index;
  std::vector<Shape> leaf_shapes;
  // edges (from, to) as DOT ids, in a fixed order
  std::vector<std::pair<std::string, std::string>> edges;
  int collapsed_ops = 0, collapsed_leaves = 0;
  std::vector<int> collapsed_targets;            // drawn ops fed by collapsed ones (for the "more" node)

  if (!output.grad_fn()) {  // the output is itself a leaf
    leaves.push_back(&output.impl());
    leaf_index[&output.impl()] = 0;
    leaf_shapes.push_back(output.shape());
  } else {
    std::deque<const Node*> queue{output.grad_fn().get()};
    op_index[output.grad_fn().get()] = 0;
    ops.push_back({output.grad_fn().get(), 0, output.shape()});
    std::unordered_map<const Node*, bool> collapsed_seen;
    while (!queue.empty()) {
      const Node* n = queue.front();
      queue.pop_front();
      const int here = op_index.at(n);
      const int depth = ops[here].depth;
      for (const Edge& e : n->inputs()) {
        if (e.node) {
          const Node* in = e.node.get();
          if (o.max_depth >= 0 && depth + 1 > o.max_depth) {
            if (!collapsed_seen.count(in)) {
              collapsed_seen[in] = true;
              ++collapsed_ops;
            }
            if (collapsed_targets.empty() || collapsed_targets.back() != here) collapsed_targets.push_back(here);
            continue;
          }
          auto it = op_index.find(in);
          if (it == op_index.end()) {
            it = op_index.emplace(in, static_cast<int>(ops.size())).first;
            ops.push_back({in, depth + 1, e.shape});
            queue.push_back(in);
          }
          edges.emplace_back("op" + std::to_string(it->second), "op" + std::to_string(here));
        } else if (e.leaf) {
          const TensorImpl* leaf = e.leaf.get();
          auto it = leaf_index.find(leaf);
          if (it == leaf_index.end()) {
            it = leaf_index.emplace(leaf, static_cast<int>(leaves.size())).first;
            leaves.push_back(leaf);
            leaf_shapes.push_back(e.shape);
          }
          edges.emplace_back("leaf" + std::to_string(it->second), "op" + std::to_string(here));
        }
      }
    }
    // leaves below the cut are not counted in `leaves`; count them for the "more" node's label
    if (collapsed_ops > 0) {
      std::unordered_map<const Node*, bool> seen;
      std::unordered_map<const TensorImpl*, bool> seen_leaves;
      std::deque<const Node*> below;
      for (auto& [n, _] : collapsed_seen) below.push_back(n), seen[n] = true;
      collapsed_ops = 0;
      while (!below.empty()) {
        const Node* n = below.front();
        below.pop_front();
        ++collapsed_ops;
        for (const Edge& e : n->inputs()) {
          if (e.node && !op_index.count(e.node.get()) && !seen.count(e.node.get())) {
            seen[e.node.get()] = true;
            below.push_back(e.node.get());
          } else if (e.leaf && !leaf_index.count(e.leaf.get()) && !seen_leaves.count(e.leaf.get())) {
            seen_leaves[e.leaf.get()] = true;
            ++collapsed_leaves;
          }
        }
      }
    }
  }

  std::string dot = "digraph tessera {\n";
  dot += fmt::format("  graph [rankdir={}, fontname=\"Helvetica\", fontsize=12, nodesep=0.25, ranksep=0.3", o.rankdir);
  if (!o.title.empty()) dot += fmt::format(", label=\"{}\", labelloc=t", escape(o.title));
  dot += "];\n";
  dot += "  node [fontname=\"Helvetica\", fontsize=10, penwidth=0.8];\n";
  dot += "  edge [color=\"#555555\", arrowsize=0.6];\n";
  for (size_t i = 0; i < leaves.size(); ++i) {
    auto named = o.names.find(leaves[i]);
    const bool is_named = named != o.names.end();
    const std::string label = (is_named ? named->second : std::string("leaf")) + "\n" + shape_text(leaf_shapes[i]);
    // named leaves: parameters (green); unnamed leaves: inputs that require grad (blue)
    dot += fmt::format("  leaf{} [shape=box, style=filled, fillcolor=\"{}\", label=\"{}\"];\n", i,
                       is_named ? "#cdeccd" : "#d5e5f7", escape(label));
  }
  for (size_t i = 0; i < ops.size(); ++i) {
    const std::string label = std::string(ops[i].node->name()) + "\n" + shape_text(ops[i].shape);
    dot += fmt::format("  op{} [shape=box, style=\"rounded,filled\", fillcolor=\"{}\"{}, label=\"{}\"];\n", i,
                       i == 0 ? "#f9d29c" : "#fdf0dc", i == 0 ? ", penwidth=2" : "", escape(label));
  }
  if (collapsed_ops > 0) {
    dot += fmt::format("  more [shape=note, style=filled, fillcolor=\"#eeeeee\", label=\"… {} more op{}{}\"];\n",
                       collapsed_ops, collapsed_ops == 1 ? "" : "s",
                       collapsed_leaves > 0 ? fmt::format(", {} leaves", collapsed_leaves) : "");
    for (int target : collapsed_targets) edges.emplace_back("more", "op" + std::to_string(target));
  }
  // the output itself, below its op
  if (!ops.empty()) {
    dot += fmt::format("  output [shape=ellipse, style=filled, fillcolor=\"#ffffff\", label=\"output\\n{}\"];\n",
                       escape(shape_text(output.shape())));
    edges.emplace_back("op0", "output");
  }
  for (const auto& [from, to] : edges) dot += "  " + from + " -> " + to + ";\n";
  dot += "}\n";
  counts.ops = static_cast<int>(ops.size());
  counts.leaves = static_cast<int>(leaves.size());
  return dot;
}
}  // namespace

std::string graph_to_dot(const Tensor& output, const GraphDrawOptions& options) {
  GraphDrawing counts;
  return build_dot(output, options, counts);
}

bool graphviz_available() {
  const char* path = std::getenv("PATH");
  if (!path) return false;
  std::string dirs = path;
  size_t start = 0;
  while (start <= dirs.size()) {
    const size_t end = dirs.find(':', start);
    const std::string dir = dirs.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!dir.empty() && ::access((dir + "/dot").c_str(), X_OK) == 0) return true;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return false;
}

namespace {

// Writes text to path through a temporary file in the same directory, renamed into place.
void write_whole(const std::string& path, const std::string& text) {
  const std::string temp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream f(temp, std::ios::binary | std::ios::trunc);
    TS_CHECK(f.good(), "draw_graph: cannot write {}: {}", temp, std::strerror(errno));
    f << text;
    f.flush();
    if (!f.good()) {
      std::filesystem::remove(temp);
      fail("draw_graph: writing {} failed (disk full?)", temp);
    }
  }
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    std::filesystem::remove(temp);
    fail("draw_graph: cannot move {} to {}: {}", temp, path, ec.message());
  }
}

// Runs `dot -Tsvg -o out in`; returns "" on success, else what went wrong.
std::string run_dot(const std::string& in, const std::string& out) {
  std::vector<std::string> args = {"dot", "-Tsvg", "-o", out, in};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int spawned = ::posix_spawnp(&pid, "dot", nullptr, nullptr, argv.data(), environ);
  if (spawned != 0) return fmt::format("could not start dot: {}", std::strerror(spawned));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return fmt::format("waiting for dot failed: {}", std::strerror(errno));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "dot failed on the graph (its message is above)";
  return "";
}

}  // namespace

GraphDrawing draw_graph(const Tensor& output, const std::string& stem, const GraphDrawOptions& options) {
  TS_CHECK(!stem.empty(), "draw_graph: the output path is empty");
  GraphDrawing result;
  const std::string dot = build_dot(output, options, result);
  result.dot_path = stem + ".dot";
  write_whole(result.dot_path, dot);
  if (!graphviz_available()) {
    result.message = fmt::format("wrote {} (Graphviz's `dot` is not installed, so no SVG: apt-get install graphviz, "
                                 "then dot -Tsvg -o {}.svg {})", result.dot_path, stem, result.dot_path);
    return result;
  }
  const std::string svg = stem + ".svg", temp = svg + ".tmp" + std::to_string(::getpid());
  const std::string error = run_dot(result.dot_path, temp);
  std::error_code ec;
  if (!error.empty()) {
    std::filesystem::remove(temp, ec);
    result.message = fmt::format("wrote {}; no SVG: {}", result.dot_path, error);
    return result;
  }
  std::filesystem::rename(temp, svg, ec);
  if (ec) {
    std::filesystem::remove(temp, ec);
    result.message = fmt::format("wrote {}; could not move the SVG into place: {}", result.dot_path, ec.message());
    return result;
  }
  result.svg_path = svg;
  result.message = fmt::format("wrote {} and {}", result.dot_path, svg);
  return result;
}

}  // namespace tessera
