// examples/attention_cnn/image_grid.h — greyscale images with heatmap overlays, as one SVG file.
//
// svg_image_grid lays out panels `columns` to a row. A panel is a greyscale image (embedded as a
// small PNG, scaled up without smoothing so every pixel stays a crisp square), optionally covered
// by a heatmap grid drawn in viridis colours at a chosen opacity — a coarse one (e.g. a 7 x 7
// attention map over a 28 x 28 image) as one square per cell, a fine one (e.g. a 28 x 28 saliency
// map, one value per pixel) better as one embedded colour PNG (overlay_bitmap) — optionally with
// some of that grid's cells outlined (e.g. the query position an attention map belongs to), and a
// caption of one or more lines above. The figures of `attention_cnn attention` (each test image
// beside its attention maps for a few query positions) and `attention_cnn explain` (beside its
// saliency maps) are built from it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attention_cnn {

struct ImagePanel {
  std::string caption;  // lines separated by '\n'
  int64_t rows = 0, cols = 0;
  std::vector<double> pixels;  // rows·cols greys, row-major, 0 = black … 1 = white (clamped)

  // The heatmap grid: overlay_rows x overlay_cols cells covering the whole image.
  int64_t overlay_rows = 0, overlay_cols = 0;
  std::vector<double> overlay;    // empty (no heatmap) or one value per cell in [0, 1] → viridis
  double overlay_opacity = 0.75;  // 1 hides the image under the heatmap
  bool overlay_bitmap = false;    // draw the heatmap as one colour PNG rather than one square per
                                  // cell: the same picture, far smaller for pixel-level maps

  struct Marker {
    int64_t row, col;    // a cell of the overlay grid
    std::string colour;  // an SVG colour, e.g. "#e41a1c"
  };
  std::vector<Marker> markers;  // outlined cells (needs overlay_rows/overlay_cols even without a heatmap)
};

// `title` may have several lines, separated by '\n'. `pixel_size` screen units per image pixel.
// Throws tessera::Error when a panel's sizes and values disagree or a marker lies outside its grid.
std::string svg_image_grid(const std::vector<ImagePanel>& panels, int columns, const std::string& title,
                           double pixel_size = 4);

// An 8-bit greyscale PNG of rows x cols values in [0, 1] (clamped), row-major. Exposed for tests.
std::string grey_png(const std::vector<double>& pixels, int64_t rows, int64_t cols);

// An 8-bit RGB PNG of rows x cols values in [0, 1] coloured by viridis (non-finite values: 0).
std::string viridis_png(const std::vector<double>& values, int64_t rows, int64_t cols);

// The values divided by their maximum, so the largest becomes 1 (unchanged when no value is
// positive): each map of a figure then uses the whole colour scale.
std::vector<double> scaled_to_max(std::vector<double> values);

}  // namespace attention_cnn
