// examples/common/svg.h — plots as standalone SVG files, without a plotting library.
//
// svg_heatmaps draws a grid of heatmaps like d2l's show_heatmaps: one map per (row, column) of
// the grid — e.g. decoder layers x attention heads — each with its row labels (queries) on the
// left and column labels (keys) rotated under it, all sharing one colour scale shown as a colour
// bar with ticks on the right. Colours come from a perceptual sequential map (viridis,
// interpolated from nine anchors), dark for small values and yellow for large ones.
//
// svg_line_plot draws series against a common x axis (e.g. loss per epoch), with round-number
// ticks, a legend and optionally the last series on a right-hand axis (BLEU beside the loss).
//
// All text is XML-escaped (labels such as <bos> or "rock & roll"); UTF-8 passes through and
// malformed bytes become U+FFFD, so the output is always well-formed XML. Write the result with
// write_file_atomically (files.h).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tensor.h"

namespace examples {

struct Heatmap {
  std::string title;                                     // e.g. "layer 1, head 3"
  std::vector<std::string> row_labels, column_labels;    // empty, or rows / cols entries
  std::vector<double> values;                            // row-major, rows x cols
  int64_t rows = 0, cols = 0;
};

// Colour maps: Viridis (perceptually uniform, dark → yellow), Reds (d2l's default, white → dark
// red; good for weights in [0, 1]) and RedBlue (diverging: blue < 0 < red, white at 0, for signed
// values such as gradient × input; its scale is made symmetric around 0).
enum class ColourMap { Viridis, Reds, RedBlue };

struct HeatmapStyle {
  ColourMap colours = ColourMap::Viridis;
  std::string x_label, y_label;  // one axis label for the whole grid (e.g. "keys", "queries")
  bool fixed_range = false;      // use [low, high] instead of the data's range (e.g. 0..1 weights)
  double low = 0, high = 1;
};

// maps.size() maps laid out `columns` to a row. NaN values are drawn grey and do not affect the
// colour scale. Throws tessera::Error when values or labels do not match rows x cols.
std::string svg_heatmaps(const std::vector<Heatmap>& maps, int columns, const std::string& title,
                         const HeatmapStyle& style = {});

// The colour of t in [0, 1] (clamped) under a map, as {r, g, b} in 0..255.
std::array<int, 3> colour_of(ColourMap map, double t);

// d2l's show_heatmaps: matrices [rows, cols, n, m] drawn as a rows × cols grid of n × m maps
// with one shared colour bar, x_label under the grid and y_label beside it. titles: one per map
// (rows·cols, row-major), one per grid column (cols, as d2l's), or none.
//   show_heatmaps(reshape(eye(10), {1, 1, 10, 10}), "Keys", "Queries")
std::string show_heatmaps(const tessera::Tensor& matrices, const std::string& x_label, const std::string& y_label,
                          const std::vector<std::string>& titles = {}, ColourMap colours = ColourMap::Reds,
                          const std::string& title = "");

struct Series {
  std::string name;
  std::vector<double> x, y;  // same length; non-finite y values break the line
};

struct LinePlot {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  bool second_axis_for_last = false;  // the last series gets its own scale on the right
};

std::string svg_line_plot(const LinePlot& plot);

// Several SVG documents (from the functions above) side by side, `columns` to a row, as one SVG
// with a title: each becomes a nested <svg> with its ids prefixed so they cannot collide.
std::string svg_compose(const std::vector<std::string>& figures, int columns, const std::string& title);

// The start of an SVG document of the given size, on a white background, in the font every
// figure here uses; close it with "</svg>\n".
std::string svg_document_open(double width, double height);

// An SVG document made fit to nest or inline in HTML: the XML declaration removed and every
// id="x" (with its url(#x) / href="#x" references) renamed to prefix + x.
std::string svg_prefix_ids(const std::string& svg, const std::string& prefix);

// Helpers, exposed for tests and other plots.

// Text for XML content and attribute values: & < > " ' escaped, control characters other than
// tab/newline dropped, malformed UTF-8 replaced by U+FFFD.
std::string xml_escape(std::string_view text);

// Round tick values (steps of 1, 2 or 5 times a power of ten) covering [low, high] with at most
// about max_ticks ticks; the first tick is <= low and the last >= high.
std::vector<double> nice_ticks(double low, double high, int max_ticks = 6);

// The sequential colour map at t in [0, 1] (clamped) as {r, g, b} in 0..255.
std::array<int, 3> viridis(double t);

}  // namespace examples
