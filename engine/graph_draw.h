// tessera/engine/graph_draw.h — the autograd graph behind a tensor, drawn (like micrograd's
// draw_dot or torchviz's make_dot).
//
// graph_to_dot walks the graph that produced `output` (its grad_fn and everything below it) and
// writes it in Graphviz's DOT language: one box per op with the op's name and its output's shape,
// one node per leaf that requires grad — a parameter (green, with its name when you give one, e.g.
// from nn::parameter_names(module)) or an input (blue) — and edges in data-flow order, from
// inputs to the output at the bottom. Tensors that do not require grad (data, masks, constants)
// are not part of the graph autograd records, so they are not drawn.
//
// draw_graph writes <stem>.dot and, when Graphviz's `dot` program is installed (Debian:
// apt-get install graphviz), renders <stem>.svg with it. A big graph can be cut at a depth: ops
// farther from the output than max_depth collapse into one "… N more ops" node.
//
//   Tensor loss = mse_loss(model.forward(x), y);
//   GraphDrawOptions o;
//   o.names = nn::parameter_names(model);   // leaves labelled "encoder.layers.0.linear1.weight"
//   auto drawn = draw_graph(loss, "loss_graph", o);   // loss_graph.dot (+ .svg)
//   std::cout << drawn.message << "\n";
#pragma once

#include <string>
#include <unordered_map>

#include "engine/tensor.h"

namespace tessera {

struct GraphDrawOptions {
  // names of leaves (parameters, named inputs) by their TensorImpl
  std::unordered_map<const TensorImpl*, std::string> names;
  int max_depth = -1;          // >= 0: ops deeper than this (edges from the output) are collapsed
  std::string title;           // drawn above the graph
  std::string rankdir = "TB";  // "TB": inputs at the top, output at the bottom; "LR": left to right
  void name(const Tensor& t, const std::string& label) { names[&t.impl()] = label; }
};

// The graph as DOT text (deterministic: the same graph gives the same text). Throws when the
// tensor has no graph (it does not require grad, or was computed under a NoGradGuard).
std::string graph_to_dot(const Tensor& output, const GraphDrawOptions& options = {});

struct GraphDrawing {
  std::string dot_path, svg_path;  // svg_path is empty when Graphviz is missing or failed
  int ops = 0, leaves = 0;         // nodes drawn
  std::string message;             // what was written, or why there is no SVG and how to get one
};

// Writes <stem>.dot, then <stem>.svg via `dot -Tsvg` when it is on PATH. Both files are written
// whole or not at all (a temporary file renamed into place).
GraphDrawing draw_graph(const Tensor& output, const std::string& stem, const GraphDrawOptions& options = {});

// Is Graphviz's `dot` on PATH?
bool graphviz_available();

}  // namespace tessera
