// examples/common/report.h — one self-contained HTML page per training run
// (runs/<name>/index.html): settings, curves, scores, samples, and every picture of the run.
//
// The page is a single file with nothing to fetch: SVG figures are inlined (their ids are
// renamed per figure, so two heatmaps' colour-bar gradients cannot collide in one document),
// bitmaps inside them are already data: URIs, and the style is a short <style> block. No
// JavaScript. Open it with any browser, mail it, or keep it beside the checkpoint.
//
//   examples::Report page("translator — runs/demo");
//   page.add_table("Settings", {"setting", "value"}, {{"d_model", "128"}, {"epochs", "8"}});
//   page.add_svg_file("Training curve", "runs/demo/training_curve.svg", "loss and BLEU per epoch");
//   page.add_text("Test score", "BLEU 99.9 (greedy)");
//   page.write("runs/demo/index.html");   // atomically
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace examples {

class Report {
 public:
  explicit Report(std::string title);

  // A paragraph of plain text (escaped; blank lines start new paragraphs).
  void add_text(const std::string& heading, const std::string& text);
  // Plain text in a monospaced block (escaped), e.g. a program's printed table.
  void add_preformatted(const std::string& heading, const std::string& text);
  // A table; every row has header.size() cells (throws tessera::Error otherwise).
  void add_table(const std::string& heading, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows, const std::string& caption = "");
  // An SVG document (as svg.h and image_grid.h write them) inlined as a figure.
  void add_svg(const std::string& heading, const std::string& svg, const std::string& caption = "");
  // The same from a file; a missing or unreadable file becomes a note saying so, not an error
  // (a report is still worth having without one picture).
  void add_svg_file(const std::string& heading, const std::string& path, const std::string& caption = "");

  std::string html() const;
  // write_file_atomically(path, html()), creating the directory if needed.
  void write(const std::string& path) const;

  size_t sections() const { return sections_.size(); }

 private:
  std::string title_;
  std::vector<std::pair<std::string, std::string>> sections_;  // heading, HTML body
  int figures_ = 0;
};

}  // namespace examples
