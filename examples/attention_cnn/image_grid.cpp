// examples/attention_cnn/image_grid.cpp — see image_grid.h.
#include "examples/attention_cnn/image_grid.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "engine/error.h"
#include "examples/common/base64.h"
#include "examples/common/svg.h"
#include "examples/common/utf8.h"

namespace attention_cnn {

namespace {

constexpr double kFontSize = 11;
constexpr double kCharWidth = 0.6 * kFontSize;
constexpr double kTitleFontSize = 14, kLineHeight = 16, kCaptionLineHeight = 13;
constexpr double kCaptionHeight = 18, kGap = 12, kTitleHeight = 26, kMargin = 10;

void put_be32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xFF));
}

// One PNG chunk: length, type, data, CRC-32 of type + data.
void put_chunk(std::string& out, const char* type, const std::string& data) {
  put_be32(out, static_cast<uint32_t>(data.size()));
  const std::string body = std::string(type, 4) + data;
  out += body;
  put_be32(out, static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(body.data()),
                                            static_cast<uInt>(body.size()))));
}

void check_panel(const ImagePanel& p, size_t index) {
  TS_CHECK(p.rows > 0 && p.cols > 0 && static_cast<int64_t>(p.pixels.size()) == p.rows * p.cols,
           "svg_image_grid: panel {} ('{}') has {} pixels for a {} x {} image", index, p.caption, p.pixels.size(),
           p.rows, p.cols);
  TS_CHECK(p.overlay.empty() || static_cast<int64_t>(p.overlay.size()) == p.overlay_rows * p.overlay_cols,
           "svg_image_grid: panel {} ('{}') has {} heatmap values for a {} x {} grid", index, p.caption,
           p.overlay.size(), p.overlay_rows, p.overlay_cols);
  TS_CHECK(p.overlay.empty() || (p.overlay_rows > 0 && p.overlay_cols > 0),
           "svg_image_grid: panel {} ('{}') has a heatmap but no grid size", index, p.caption);
  for (const ImagePanel::Marker& m : p.markers)
    TS_CHECK(m.row >= 0 && m.row < p.overlay_rows && m.col >= 0 && m.col < p.overlay_cols,
             "svg_image_grid: panel {} ('{}') marks cell ({}, {}) outside its {} x {} grid", index, p.caption, m.row,
             m.col, p.overlay_rows, p.overlay_cols);
}

// A PNG of rows x cols 8-bit samples, `channels` per pixel (1: grey, 3: RGB), row-major.
std::string png_file(const std::string& samples, int64_t rows, int64_t cols, int channels) {
  // The image data: each row is a filter byte (0 = none) and cols·channels bytes; zlib-compressed.
  const auto row_bytes = static_cast<size_t>(cols * channels);
  std::string raw;
  raw.reserve(static_cast<size_t>(rows) * (row_bytes + 1));
  for (int64_t r = 0; r < rows; ++r) {
    raw.push_back(0);
    raw.append(samples, static_cast<size_t>(r) * row_bytes, row_bytes);
  }
  uLongf size = compressBound(static_cast<uLong>(raw.size()));
  std::string compressed(size, '\0');
  const int status = compress2(reinterpret_cast<Bytef*>(compressed.data()), &size,
                               reinterpret_cast<const Bytef*>(raw.data()), static_cast<uLong>(raw.size()), 9);
  TS_CHECK(status == Z_OK, "png: zlib compression failed (error {})", status);
  compressed.resize(size);

  std::string png("\x89PNG\r\n\x1a\n", 8);
  std::string header;
  put_be32(header, static_cast<uint32_t>(cols));
  put_be32(header, static_cast<uint32_t>(rows));
  header.push_back(8);                                       // 8 bits per sample
  header.push_back(static_cast<char>(channels == 3 ? 2 : 0));  // colour type: 2 = RGB, 0 = grey
  header += std::string("\x00\x00\x00", 3);                 // deflate, filter 0, no interlace
  put_chunk(png, "IHDR", header);
  put_chunk(png, "IDAT", compressed);
  put_chunk(png, "IEND", "");
  return png;
}

// "a\nb" -> {"a", "b"}
std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  for (size_t start = 0;;) {
    const size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return lines;
}

}  // namespace

std::string grey_png(const std::vector<double>& pixels, int64_t rows, int64_t cols) {
  TS_CHECK(rows > 0 && cols > 0 && static_cast<int64_t>(pixels.size()) == rows * cols,
           "grey_png: {} values for a {} x {} image", pixels.size(), rows, cols);
  std::string samples;
  samples.reserve(pixels.size());
  for (const double v : pixels) samples.push_back(static_cast<char>(std::lround(std::clamp(v, 0.0, 1.0) * 255)));
  return png_file(samples, rows, cols, 1);
}

std::string viridis_png(const std::vector<double>& values, int64_t rows, int64_t cols) {
  TS_CHECK(rows > 0 && cols > 0 && static_cast<int64_t>(values.size()) == rows * cols,
           "viridis_png: {} values for a {} x {} image", values.size(), rows, cols);
  std::string samples;
  samples.reserve(3 * values.size());
  for (const double v : values)
    for (const int channel : examples::viridis(std::isfinite(v) ? v : 0)) samples.push_back(static_cast<char>(channel));
  return png_file(samples, rows, cols, 3);
}

std::vector<double> scaled_to_max(std::vector<double> values) {
  if (values.empty()) return values;
  const double top = *std::max_element(values.begin(), values.end());
  if (top > 0)
    for (double& v : values) v /= top;
  return values;
}

std::string svg_image_grid(const std::vector<ImagePanel>& panels, int columns, const std::string& title,
                           double pixel_size) {
  TS_CHECK(columns > 0 && pixel_size > 0, "svg_image_grid: columns {} and pixel size {} must be positive", columns,
           pixel_size);
  for (size_t i = 0; i < panels.size(); ++i) check_panel(panels[i], i);
  // Every cell is as wide as the widest image or caption line and as tall as the tallest image;
  // the captions of a row take as many lines as the longest caption has.
  double cell_w = 0, cell_h = 0;
  size_t caption_lines = 1;
  for (const ImagePanel& p : panels) {
    cell_w = std::max(cell_w, static_cast<double>(p.cols) * pixel_size);
    const std::vector<std::string> lines = split_lines(p.caption);
    caption_lines = std::max(caption_lines, lines.size());
    for (const std::string& line : lines)
      cell_w = std::max(cell_w, static_cast<double>(examples::utf8_length(line)) * kCharWidth * 0.9);
    cell_h = std::max(cell_h, static_cast<double>(p.rows) * pixel_size);
  }
  const double caption_height = kCaptionHeight + static_cast<double>(caption_lines - 1) * kCaptionLineHeight;
  // The title: one line per '\n'-separated part, the first one larger.
  const std::vector<std::string> title_lines = split_lines(title);
  double title_width = 0;
  for (size_t i = 0; i < title_lines.size(); ++i)
    title_width = std::max(title_width, static_cast<double>(examples::utf8_length(title_lines[i])) * kCharWidth *
                                            (i == 0 ? kTitleFontSize / kFontSize : 1.0));
  const double title_height = kTitleHeight + static_cast<double>(title_lines.size() - 1) * kLineHeight;
  const int64_t n = static_cast<int64_t>(panels.size());
  const int64_t grid_rows = (n + columns - 1) / columns;
  const int64_t grid_cols = std::min<int64_t>(columns, std::max<int64_t>(n, 1));
  const double width =
      std::max(2 * kMargin + static_cast<double>(grid_cols) * (cell_w + kGap) - kGap, 2 * kMargin + title_width);
  const double height = kMargin + title_height + static_cast<double>(grid_rows) * (caption_height + cell_h + kGap);

  std::string svg = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" width=\"{0:.0f}\" "
      "height=\"{1:.0f}\" viewBox=\"0 0 {0:.0f} {1:.0f}\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      width, height);
  for (size_t i = 0; i < title_lines.size(); ++i)
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"{}\" text-anchor=\"middle\">{}</text>\n", width / 2,
                       kMargin + kTitleFontSize + static_cast<double>(i) * kLineHeight,
                       i == 0 ? kTitleFontSize : kFontSize, examples::xml_escape(title_lines[i]));
  // A bitmap scaled up without smoothing, so every pixel stays a crisp square.
  auto image_element = [](double x, double y, double w, double h, const std::string& png, const std::string& extra) {
    return fmt::format(
        "<image x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" preserveAspectRatio=\"none\" "
        "image-rendering=\"pixelated\" style=\"image-rendering:pixelated;image-rendering:crisp-edges\"{} "
        "xlink:href=\"data:image/png;base64,{}\"/>\n",
        x, y, w, h, extra, examples::base64_encode(png));
  };
  for (int64_t i = 0; i < n; ++i) {
    const ImagePanel& p = panels[static_cast<size_t>(i)];
    const double x = kMargin + static_cast<double>(i % columns) * (cell_w + kGap);
    const double y = kMargin + title_height + static_cast<double>(i / columns) * (caption_height + cell_h + kGap);
    const double w = static_cast<double>(p.cols) * pixel_size, h = static_cast<double>(p.rows) * pixel_size;
    const double ix = x + (cell_w - w) / 2, iy = y + caption_height;
    // The caption's lines sit on the image: the last one just above it.
    const std::vector<std::string> lines = split_lines(p.caption);
    for (size_t k = 0; k < lines.size(); ++k)
      svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"{}\" text-anchor=\"middle\">{}</text>\n",
                         x + cell_w / 2, iy - 5 - static_cast<double>(lines.size() - 1 - k) * kCaptionLineHeight,
                         kFontSize, examples::xml_escape(lines[k]));
    svg += image_element(ix, iy, w, h, grey_png(p.pixels, p.rows, p.cols), "");
    if (p.overlay_rows > 0 && p.overlay_cols > 0) {
      const double cw = w / static_cast<double>(p.overlay_cols), ch = h / static_cast<double>(p.overlay_rows);
      const double opacity = std::clamp(p.overlay_opacity, 0.0, 1.0);
      if (!p.overlay.empty() && p.overlay_bitmap) {
        svg += image_element(ix, iy, w, h, viridis_png(p.overlay, p.overlay_rows, p.overlay_cols),
                             fmt::format(" opacity=\"{:.2f}\"", opacity));
      } else if (!p.overlay.empty()) {
        svg += fmt::format("<g fill-opacity=\"{:.2f}\" shape-rendering=\"crispEdges\">\n", opacity);
        for (int64_t r = 0; r < p.overlay_rows; ++r)
          for (int64_t c = 0; c < p.overlay_cols; ++c) {
            const double v = p.overlay[static_cast<size_t>(r * p.overlay_cols + c)];
            const std::array<int, 3> rgb = examples::viridis(std::isfinite(v) ? v : 0);
            svg += fmt::format(
                "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"#{:02x}{:02x}{:02x}\"/>\n",
                ix + static_cast<double>(c) * cw, iy + static_cast<double>(r) * ch, cw, ch, rgb[0], rgb[1], rgb[2]);
          }
        svg += "</g>\n";
      }
      for (const ImagePanel::Marker& m : p.markers)
        svg += fmt::format(
            "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"none\" stroke=\"{}\" "
            "stroke-width=\"2\"/>\n",
            ix + static_cast<double>(m.col) * cw, iy + static_cast<double>(m.row) * ch, cw, ch,
            examples::xml_escape(m.colour));
    }
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace attention_cnn
