// examples/common/svg.cpp — see svg.h.
#include "examples/common/svg.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "engine/error.h"
#include "examples/common/utf8.h"

namespace examples {

namespace {

constexpr double kFontSize = 11;
constexpr double kCharWidth = 0.6 * kFontSize;  // a fair average for sans-serif text
constexpr const char* kFont = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\"";
constexpr int kMaxTooltipCells = 20000;  // beyond this, per-cell tooltips make files too large
constexpr std::array<const char*, 10> kPalette = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                                  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

// viridis (matplotlib) sampled at t = 0, 1/8, ..., 1.
constexpr std::array<std::array<int, 3>, 9> kViridisAnchors = {{{68, 1, 84},
                                                                {71, 45, 123},
                                                                {59, 82, 139},
                                                                {44, 114, 142},
                                                                {33, 145, 140},
                                                                {40, 174, 128},
                                                                {94, 201, 98},
                                                                {173, 220, 48},
                                                                {253, 231, 37}}};

// Reds (ColorBrewer, as matplotlib's "Reds") at t = 0, 1/8, ..., 1.
constexpr std::array<std::array<int, 3>, 9> kRedsAnchors = {{{255, 245, 240},
                                                             {254, 224, 210},
                                                             {252, 187, 161},
                                                             {252, 146, 114},
                                                             {251, 106, 74},
                                                             {239, 59, 44},
                                                             {203, 24, 29},
                                                             {165, 15, 21},
                                                             {103, 0, 13}}};
// RdBu reversed (ColorBrewer): blue for t < 0.5, white at 0.5, red above.
constexpr std::array<std::array<int, 3>, 9> kRedBlueAnchors = {{{33, 102, 172},
                                                                {67, 147, 195},
                                                                {146, 197, 222},
                                                                {209, 229, 240},
                                                                {247, 247, 247},
                                                                {253, 219, 199},
                                                                {244, 165, 130},
                                                                {214, 96, 77},
                                                                {178, 24, 43}}};

const std::array<std::array<int, 3>, 9>& anchors_of(ColourMap map) {
  switch (map) {
    case ColourMap::Reds: return kRedsAnchors;
    case ColourMap::RedBlue: return kRedBlueAnchors;
    default: return kViridisAnchors;
  }
}

double text_width(std::string_view text) { return static_cast<double>(utf8_length(text)) * kCharWidth; }

std::string hex_colour(const std::array<int, 3>& rgb) { return fmt::format("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2]); }

// Enough decimals to tell ticks `step` apart, and no "-0".
std::string tick_label(double value, double step) {
  const int decimals = step > 0 ? std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9))) : 2;
  std::string label = fmt::format("{:.{}f}", value, decimals);
  if (label.find_first_not_of("-0.") == std::string::npos && label[0] == '-') label.erase(0, 1);
  return label;
}

std::string text_element(double x, double y, std::string_view text, const char* anchor, double size = kFontSize,
                         const std::string& extra = "") {
  return fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"{}\" text-anchor=\"{}\"{}>{}</text>\n", x, y,
                     size, anchor, extra, xml_escape(text));
}

}  // namespace

std::string svg_document_open(double width, double height) {
  return fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0:.0f}\" height=\"{1:.0f}\" "
      "viewBox=\"0 0 {0:.0f} {1:.0f}\" {2}>\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      width, height, kFont);
}

namespace {

void check_heatmap(const Heatmap& map, size_t index) {
  TS_CHECK(map.rows >= 0 && map.cols >= 0, "svg_heatmaps: map {} ('{}') has a negative size {} x {}", index,
           map.title, map.rows, map.cols);
  TS_CHECK(static_cast<int64_t>(map.values.size()) == map.rows * map.cols,
           "svg_heatmaps: map {} ('{}') has {} values for {} x {} = {} cells", index, map.title, map.values.size(),
           map.rows, map.cols, map.rows * map.cols);
  TS_CHECK(map.row_labels.empty() || static_cast<int64_t>(map.row_labels.size()) == map.rows,
           "svg_heatmaps: map {} ('{}') has {} row labels for {} rows", index, map.title, map.row_labels.size(),
           map.rows);
  TS_CHECK(map.column_labels.empty() || static_cast<int64_t>(map.column_labels.size()) == map.cols,
           "svg_heatmaps: map {} ('{}') has {} column labels for {} columns", index, map.title,
           map.column_labels.size(), map.cols);
}

}  // namespace

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    char32_t c = decode_utf8(text, pos);
    if (c == kInvalidCodePoint) c = kReplacementCharacter;
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // XML 1.0 allows tab, newline, carriage return and everything from U+0020 except U+FFFE/U+FFFF.
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0xFFFE || c == 0xFFFF) break;
        append_utf8(out, c);
    }
  }
  return out;
}

std::vector<double> nice_ticks(double low, double high, int max_ticks) {
  if (!std::isfinite(low) || !std::isfinite(high)) return {0.0, 1.0};
  if (low > high) std::swap(low, high);
  if (high - low < 1e-12 * std::max(1.0, std::abs(low))) {  // one value: a unit-wide range around it
    const double half = low == 0 ? 0.5 : std::abs(low) * 0.1;
    low -= half;
    high += half;
  }
  const double raw_step = (high - low) / std::max(1, max_ticks - 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw_step)));
  double step = 10 * magnitude;
  for (const double factor : {1.0, 2.0, 5.0, 10.0}) {
    if (factor * magnitude >= raw_step * (1 - 1e-9)) {
      step = factor * magnitude;
      break;
    }
  }
  const double first = std::floor(low / step + 1e-9);
  const double last = std::ceil(high / step - 1e-9);
  std::vector<double> ticks;
  for (double k = first; k <= last + 0.5; k += 1) {
    double tick = k * step;
    if (std::abs(tick) < step * 1e-9) tick = 0;  // no -0 or 1e-17
    ticks.push_back(tick);
  }
  return ticks;
}

std::array<int, 3> colour_of(ColourMap map, double t) {
  const auto& anchors = anchors_of(map);
  if (!(t >= 0)) t = 0;  // also NaN
  if (t > 1) t = 1;
  // linear interpolation between the two anchors around t
  const double position = t * (anchors.size() - 1);
  const size_t i = std::min(static_cast<size_t>(position), anchors.size() - 2);
  const double f = position - static_cast<double>(i);
  std::array<int, 3> rgb{};
  for (int c = 0; c < 3; ++c) rgb[c] = static_cast<int>(std::lround(anchors[i][c] * (1 - f) + anchors[i + 1][c] * f));
  return rgb;
}

std::array<int, 3> viridis(double t) { return colour_of(ColourMap::Viridis, t); }

std::string svg_heatmaps(const std::vector<Heatmap>& maps, int columns, const std::string& title,
                         const HeatmapStyle& style) {
  TS_CHECK(columns > 0, "svg_heatmaps: columns must be positive, got {}", columns);
  TS_CHECK(!maps.empty(), "svg_heatmaps: no maps to draw");
  int64_t max_rows = 1, max_cols = 1, total_cells = 0;
  double row_label_width = 0, column_label_height = 0, title_width = 0;
  double low = std::numeric_limits<double>::infinity(), high = -low;
  for (size_t i = 0; i < maps.size(); ++i) {
    const Heatmap& map = maps[i];
    check_heatmap(map, i);
    max_rows = std::max(max_rows, map.rows);
    max_cols = std::max(max_cols, map.cols);
    total_cells += map.rows * map.cols;
    for (const auto& label : map.row_labels) row_label_width = std::max(row_label_width, text_width(label));
    for (const auto& label : map.column_labels) column_label_height = std::max(column_label_height, text_width(label));
    title_width = std::max(title_width, text_width(map.title));
    for (const double v : map.values) {
      if (!std::isfinite(v)) continue;
      low = std::min(low, v);
      high = std::max(high, v);
    }
  }
  if (!(low <= high)) low = 0, high = 1;  // no finite value at all
  if (style.fixed_range) {
    TS_CHECK(std::isfinite(style.low) && std::isfinite(style.high) && style.low < style.high,
             "svg_heatmaps: the fixed colour range [{}, {}] is empty or not finite", style.low, style.high);
    low = style.low, high = style.high;
  } else if (style.colours == ColourMap::RedBlue) {  // diverging: white at 0
    const double m = std::max(std::abs(low), std::abs(high));
    low = -m, high = m;
  }
  if (high == low) high = low + 1;
  const bool tooltips = total_cells <= kMaxTooltipCells;

  // Geometry: every panel gets the same box, sized for the largest map.
  const double cell = std::clamp(std::floor(320.0 / static_cast<double>(std::max(max_rows, max_cols))), 6.0, 28.0);
  if (row_label_width > 0) row_label_width += 6;
  if (column_label_height > 0) column_label_height += 6;
  const double map_width = static_cast<double>(max_cols) * cell, map_height = static_cast<double>(max_rows) * cell;
  const double panel_width = std::max(row_label_width + map_width, title_width) + 24;
  const double panel_height = 20 + map_height + column_label_height + 16;
  const int grid_columns = std::min<int>(columns, static_cast<int>(maps.size()));
  const int grid_rows = static_cast<int>((maps.size() + grid_columns - 1) / grid_columns);
  const double top = title.empty() ? 12 : 40;
  const double margin = style.y_label.empty() ? 12 : 30;  // left: room for the rotated y label
  const double grid_width = grid_columns * panel_width, grid_height = grid_rows * panel_height;
  const double bar_x = margin + grid_width + 8, bar_width = 14;
  const double bar_height = std::clamp(grid_height - 40, 120.0, 360.0), bar_top = top + 20;
  const double width = std::max(bar_x + bar_width + 60, text_width(title) * 15 / kFontSize + 24);  // room for the title
  const double x_label_height = style.x_label.empty() ? 0 : 18;
  const double height = std::max(top + grid_height + x_label_height, bar_top + bar_height + 24) + 12;

  std::string svg = svg_document_open(width, height);
  if (!title.empty()) svg += text_element(width / 2, 24, title, "middle", 15, " font-weight=\"bold\"");
  if (!style.x_label.empty())
    svg += text_element(margin + grid_width / 2, top + grid_height + 10, style.x_label, "middle", 12);
  if (!style.y_label.empty()) {
    const double x = 16, y = top + grid_height / 2;
    svg += text_element(x, y, style.y_label, "middle", 12, fmt::format(" transform=\"rotate(-90 {:.1f} {:.1f})\"", x, y));
  }

  for (size_t i = 0; i < maps.size(); ++i) {
    const Heatmap& map = maps[i];
    const double panel_x = margin + static_cast<double>(static_cast<int>(i) % grid_columns) * panel_width;
    const double panel_y = top + static_cast<double>(static_cast<int>(i) / grid_columns) * panel_height;
    const double x0 = panel_x + row_label_width, y0 = panel_y + 20;
    svg += "<g>\n";
    if (!map.title.empty())
      svg += text_element(x0 + static_cast<double>(map.cols) * cell / 2, panel_y + 13, map.title, "middle", 12);
    for (int64_t r = 0; r < map.rows; ++r) {
      for (int64_t c = 0; c < map.cols; ++c) {
        const double v = map.values[r * map.cols + c];
        const std::string fill =
            std::isfinite(v) ? hex_colour(colour_of(style.colours, (v - low) / (high - low))) : "#cccccc";
        svg += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"",
                           x0 + static_cast<double>(c) * cell, y0 + static_cast<double>(r) * cell, cell, cell, fill);
        if (tooltips) {
          const std::string row = map.row_labels.empty() ? std::to_string(r) : map.row_labels[r];
          const std::string col = map.column_labels.empty() ? std::to_string(c) : map.column_labels[c];
          svg += fmt::format("><title>{} \u2192 {}: {:.4g}</title></rect>\n", xml_escape(row), xml_escape(col), v);
        } else {
          svg += "/>\n";
        }
      }
    }
    for (int64_t r = 0; r < static_cast<int64_t>(map.row_labels.size()); ++r)
      svg += text_element(x0 - 4, y0 + (static_cast<double>(r) + 0.5) * cell + kFontSize * 0.35, map.row_labels[r], "end");
    // Column labels read upwards, ending just under the map.
    for (int64_t c = 0; c < static_cast<int64_t>(map.column_labels.size()); ++c) {
      const double x = x0 + (static_cast<double>(c) + 0.5) * cell + kFontSize * 0.35;
      const double y = y0 + static_cast<double>(map.rows) * cell + 4;
      svg += text_element(x, y, map.column_labels[c], "end", kFontSize,
                          fmt::format(" transform=\"rotate(-90 {:.1f} {:.1f})\"", x, y));
    }
    svg += "</g>\n";
  }

  // The shared colour bar: a gradient from low (bottom) to high (top) with round ticks.
  svg += "<defs><linearGradient id=\"colour-scale\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">\n";
  const auto& anchors = anchors_of(style.colours);
  for (size_t k = 0; k < anchors.size(); ++k)
    svg += fmt::format("<stop offset=\"{:.3f}\" stop-color=\"{}\"/>\n", static_cast<double>(k) / (anchors.size() - 1),
                       hex_colour(anchors[k]));
  svg += "</linearGradient></defs>\n";
  svg += fmt::format(
      "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"url(#colour-scale)\" "
      "stroke=\"#444\" stroke-width=\"0.5\"/>\n",
      bar_x, bar_top, bar_width, bar_height);
  std::vector<double> ticks = nice_ticks(low, high, 6);
  const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : high - low;
  std::erase_if(ticks, [&](double t) { return t < low - 1e-12 * std::abs(low) || t > high + 1e-12 * std::abs(high); });
  if (ticks.size() < 2) ticks = {low, high};
  for (const double t : ticks) {
    const double y = bar_top + bar_height * (1 - (t - low) / (high - low));
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"#444\"/>\n",
                       bar_x + bar_width, y, bar_x + bar_width + 4);
    svg += text_element(bar_x + bar_width + 7, y + kFontSize * 0.35, tick_label(t, step), "start");
  }
  svg += "</svg>\n";
  return svg;
}

std::string show_heatmaps(const tessera::Tensor& matrices, const std::string& x_label, const std::string& y_label,
                          const std::vector<std::string>& titles, ColourMap colours, const std::string& title) {
  TS_CHECK(matrices.defined() && matrices.dim() == 4,
           "show_heatmaps: matrices must be [rows, cols, n, m] (reshape a single map to [1, 1, n, m]), got {}",
           matrices.defined() ? matrices.shape() : tessera::Shape{});
  const int64_t grid_rows = matrices.shape()[0], grid_cols = matrices.shape()[1];
  const int64_t n = matrices.shape()[2], m = matrices.shape()[3];
  const auto count = static_cast<size_t>(grid_rows * grid_cols);
  TS_CHECK(titles.empty() || titles.size() == count || titles.size() == static_cast<size_t>(grid_cols),
           "show_heatmaps: {} titles for a {} x {} grid (give one per map, one per column, or none)", titles.size(),
           grid_rows, grid_cols);
  TS_CHECK(count > 0, "show_heatmaps: the grid is empty ({} x {})", grid_rows, grid_cols);
  const tessera::Tensor& values = matrices;  // tensors are contiguous, row-major
  std::vector<Heatmap> maps(count);
  for (size_t i = 0; i < count; ++i) {
    Heatmap& map = maps[i];
    map.rows = n, map.cols = m;
    map.values.assign(values.data() + i * n * m, values.data() + (i + 1) * n * m);
    if (titles.size() == count) map.title = titles[i];
    else if (!titles.empty()) map.title = titles[i % static_cast<size_t>(grid_cols)];
  }
  HeatmapStyle style;
  style.colours = colours;
  style.x_label = x_label;
  style.y_label = y_label;
  return svg_heatmaps(maps, static_cast<int>(grid_cols), title, style);
}

namespace {

struct Axis {
  double low = 0, high = 1;
  std::vector<double> ticks;
};

Axis make_axis(const std::vector<const Series*>& series, bool use_x, int max_ticks) {
  double low = std::numeric_limits<double>::infinity(), high = -low;
  for (const Series* s : series)
    for (size_t i = 0; i < s->x.size(); ++i) {
      const double x = s->x[i], y = s->y[i];
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      const double v = use_x ? x : y;
      low = std::min(low, v);
      high = std::max(high, v);
    }
  if (!(low <= high)) low = 0, high = 1;
  Axis axis;
  axis.ticks = nice_ticks(low, high, max_ticks);
  // Whole-number data (epochs, steps) gets whole-number ticks.
  const bool whole = std::all_of(series.begin(), series.end(), [&](const Series* s) {
    const auto& values = use_x ? s->x : s->y;
    return std::all_of(values.begin(), values.end(), [](double v) { return !std::isfinite(v) || v == std::round(v); });
  });
  if (whole && axis.ticks.size() > 1 && axis.ticks[1] - axis.ticks[0] < 1 && high > low)
    axis.ticks = nice_ticks(low, high, static_cast<int>(high - low) + 1);
  axis.low = axis.ticks.front();
  axis.high = axis.ticks.back();
  return axis;
}

}  // namespace

std::string svg_line_plot(const LinePlot& plot) {
  for (const Series& s : plot.series)
    TS_CHECK(s.x.size() == s.y.size(), "svg_line_plot: series '{}' has {} x values and {} y values", s.name,
             s.x.size(), s.y.size());
  const bool right_axis = plot.second_axis_for_last && plot.series.size() >= 2;
  std::vector<const Series*> all, left, right;
  for (const Series& s : plot.series) all.push_back(&s);
  left = all;
  if (right_axis) {
    right.push_back(left.back());
    left.pop_back();
  }

  const double width = 720, height = 440;
  const double margin_left = 72, margin_right = right_axis ? 72 : 24, margin_top = 40, margin_bottom = 56;
  const double plot_width = width - margin_left - margin_right, plot_height = height - margin_top - margin_bottom;
  const Axis x_axis = make_axis(all, true, 8);
  const Axis y_axis = make_axis(left, false, 6);
  const Axis y2_axis = right_axis ? make_axis(right, false, 6) : Axis{};
  auto px = [&](double x) { return margin_left + plot_width * (x - x_axis.low) / (x_axis.high - x_axis.low); };
  auto py = [&](double y, const Axis& axis) {
    return margin_top + plot_height * (1 - (y - axis.low) / (axis.high - axis.low));
  };

  std::string svg = svg_document_open(width, height);
  if (!plot.title.empty()) svg += text_element(width / 2, 24, plot.title, "middle", 15, " font-weight=\"bold\"");

  // Grid and ticks.
  const double x_step = x_axis.ticks.size() > 1 ? x_axis.ticks[1] - x_axis.ticks[0] : 1;
  for (const double t : x_axis.ticks) {
    const double x = px(t);
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#e4e4e4\"/>\n", x,
                       margin_top, margin_top + plot_height);
    svg += text_element(x, margin_top + plot_height + 16, tick_label(t, x_step), "middle");
  }
  const double y_step = y_axis.ticks.size() > 1 ? y_axis.ticks[1] - y_axis.ticks[0] : 1;
  for (const double t : y_axis.ticks) {
    const double y = py(t, y_axis);
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"#e4e4e4\"/>\n",
                       margin_left, y, margin_left + plot_width);
    svg += text_element(margin_left - 6, y + kFontSize * 0.35, tick_label(t, y_step), "end");
  }
  if (right_axis) {
    const double step = y2_axis.ticks.size() > 1 ? y2_axis.ticks[1] - y2_axis.ticks[0] : 1;
    for (const double t : y2_axis.ticks) {
      const double y = py(t, y2_axis);
      svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"#444\"/>\n",
                         margin_left + plot_width, y, margin_left + plot_width + 4);
      svg += text_element(margin_left + plot_width + 7, y + kFontSize * 0.35, tick_label(t, step), "start");
    }
  }
  svg += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"none\" stroke=\"#444\"/>\n",
                     margin_left, margin_top, plot_width, plot_height);

  // Axis labels.
  if (!plot.x_label.empty()) svg += text_element(margin_left + plot_width / 2, height - 14, plot.x_label, "middle", 12);
  if (!plot.y_label.empty()) {
    const double x = 18, y = margin_top + plot_height / 2;
    svg += text_element(x, y, plot.y_label, "middle", 12, fmt::format(" transform=\"rotate(-90 {:.1f} {:.1f})\"", x, y));
  }
  if (right_axis) {
    const double x = width - 16, y = margin_top + plot_height / 2;
    svg += text_element(x, y, right.back()->name, "middle", 12,
                        fmt::format(" transform=\"rotate(90 {:.1f} {:.1f})\"", x, y));
  }

  // The series: polylines broken at non-finite values, with markers when there are few points.
  for (size_t k = 0; k < all.size(); ++k) {
    const Series& s = *all[k];
    const Axis& axis = right_axis && k + 1 == all.size() ? y2_axis : y_axis;
    const char* colour = kPalette[k % kPalette.size()];
    std::vector<std::string> segments(1);
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) {
        if (!segments.back().empty()) segments.emplace_back();
        continue;
      }
      segments.back() += fmt::format("{:.1f},{:.1f} ", px(s.x[i]), py(s.y[i], axis));
      if (s.x.size() <= 60)
        svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"2.5\" fill=\"{}\"/>\n", px(s.x[i]),
                           py(s.y[i], axis), colour);
    }
    for (const std::string& points : segments)
      if (!points.empty())
        svg += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.8\"/>\n", points,
                           colour);
  }

  // Legend, in the corner of the plot that hides the fewest points.
  if (!all.empty()) {
    double legend_width = 0;
    std::vector<std::string> names;
    for (size_t k = 0; k < all.size(); ++k) {
      names.push_back(all[k]->name + (right_axis && k + 1 == all.size() ? " (right axis)" : ""));
      legend_width = std::max(legend_width, text_width(names.back()));
    }
    legend_width += 40;
    const double legend_height = 18.0 * static_cast<double>(names.size()) + 6;
    double legend_x = 0, legend_y = 0;
    size_t fewest = std::numeric_limits<size_t>::max();
    for (const bool right : {true, false}) {
      for (const bool top : {true, false}) {
        const double x = right ? margin_left + plot_width - legend_width - 8 : margin_left + 8;
        const double y = top ? margin_top + 8 : margin_top + plot_height - legend_height - 8;
        size_t hidden = 0;
        for (size_t k = 0; k < all.size(); ++k) {
          const Axis& axis = right_axis && k + 1 == all.size() ? y2_axis : y_axis;
          for (size_t i = 0; i < all[k]->x.size(); ++i) {
            const double px_i = px(all[k]->x[i]), py_i = py(all[k]->y[i], axis);
            hidden += px_i >= x - 4 && px_i <= x + legend_width + 4 && py_i >= y - 4 && py_i <= y + legend_height + 4;
          }
        }
        if (hidden < fewest) fewest = hidden, legend_x = x, legend_y = y;
      }
    }
    svg += fmt::format(
        "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"white\" fill-opacity=\"0.85\" "
        "stroke=\"#bbb\"/>\n",
        legend_x, legend_y, legend_width, legend_height);
    for (size_t k = 0; k < names.size(); ++k) {
      const double y = legend_y + 14 + 18.0 * static_cast<double>(k);
      svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" stroke-width=\"2\"/>\n",
                         legend_x + 6, y - 4, legend_x + 28, y - 4, kPalette[k % kPalette.size()]);
      svg += text_element(legend_x + 34, y, names[k], "start");
    }
  }
  svg += "</svg>\n";
  return svg;
}

std::string svg_prefix_ids(const std::string& svg, const std::string& prefix) {
  std::string out = svg;
  if (out.rfind("<?xml", 0) == 0) {
    const size_t end = out.find("?>");
    out.erase(0, end == std::string::npos ? 0 : end + 2);
    out.erase(0, out.find_first_not_of("\n"));
  }
  auto replace_all = [&](const std::string& from, const std::string& to) {
    for (size_t at = out.find(from); at != std::string::npos; at = out.find(from, at + to.size()))
      out.replace(at, from.size(), to);
  };
  replace_all(" id=\"", " id=\"" + prefix);
  replace_all("url(#", "url(#" + prefix);
  replace_all("href=\"#", "href=\"#" + prefix);
  return out;
}

namespace {
// The width and height attributes of an SVG document's root element.
std::pair<double, double> svg_size(const std::string& svg) {
  const size_t root = svg.find("<svg");
  TS_CHECK(root != std::string::npos, "svg_compose: a figure is not an SVG document");
  auto attribute = [&](const char* name) {
    const std::string key = std::string(" ") + name + "=\"";
    const size_t at = svg.find(key, root);
    TS_CHECK(at != std::string::npos && at < svg.find('>', root), "svg_compose: a figure's <svg> has no {}", name);
    return std::stod(svg.substr(at + key.size()));
  };
  return {attribute("width"), attribute("height")};
}
}  // namespace

std::string svg_compose(const std::vector<std::string>& figures, int columns, const std::string& title) {
  TS_CHECK(!figures.empty(), "svg_compose: no figures");
  TS_CHECK(columns > 0, "svg_compose: columns must be positive, got {}", columns);
  std::vector<std::pair<double, double>> sizes;
  for (const std::string& f : figures) sizes.push_back(svg_size(f));
  const size_t rows = (figures.size() + columns - 1) / columns;
  std::vector<double> column_width(columns, 0), row_height(rows, 0);
  for (size_t i = 0; i < figures.size(); ++i) {
    column_width[i % columns] = std::max(column_width[i % columns], sizes[i].first);
    row_height[i / columns] = std::max(row_height[i / columns], sizes[i].second);
  }
  const double top = title.empty() ? 0 : 34;
  double width = 0, height = top;
  for (double w : column_width) width += w;
  for (double h : row_height) height += h;
  std::string svg = svg_document_open(width, height);
  if (!title.empty()) svg += text_element(width / 2, 22, title, "middle", 15, " font-weight=\"bold\"");
  double y = top;
  for (size_t r = 0; r < rows; ++r) {
    double x = 0;
    for (int c = 0; c < columns && r * columns + c < figures.size(); ++c) {
      const size_t i = r * columns + c;
      std::string nested = svg_prefix_ids(figures[i], fmt::format("c{}-", i));
      // place it: the nested root gets x and y
      const size_t root = nested.find("<svg");
      nested.insert(root + 4, fmt::format(" x=\"{:.0f}\" y=\"{:.0f}\"", x, y));
      svg += nested;
      x += column_width[c];
    }
    y += row_height[r];
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace examples
