// Tests for examples/common/report.h: a self-contained page, escaped text, figures whose ids
// cannot collide.
#include <doctest/doctest.h>

#include "examples/common/files.h"
#include "examples/common/report.h"
#include "examples/common/svg.h"
#include "tests/examples_helpers.h"
#include "tests/helpers.h"

using namespace examples;

namespace {
size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}
}  // namespace

TEST_CASE("report: sections, escaping, tables and inlined figures with distinct ids") {
  Report page("run <demo> & co");
  page.add_text("Score", "BLEU 99.9\n\nsecond paragraph");
  page.add_table("Settings", {"setting", "value"}, {{"d_model", "128"}, {"note", "a < b"}});
  Heatmap m;
  m.rows = 1, m.cols = 2, m.values = {0, 1};
  const std::string svg = svg_heatmaps({m}, 1, "");
  page.add_svg("First", svg);
  page.add_svg("Second", svg, "the same again");
  page.add_svg_file("Missing", "/nonexistent/picture.svg");
  page.add_preformatted("Log", "epoch 1  <loss> 0.5");
  const std::string html = page.html();
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(html.find("<title>run &lt;demo&gt; &amp; co</title>") != std::string::npos);
  CHECK(count(html, "<section") == 6);
  CHECK(count(html, "<p>") == 2 + 0);  // two paragraphs of text (the missing figure's note has a class)
  CHECK(html.find("<td class=\"num\">128</td>") != std::string::npos);
  CHECK(html.find("a &lt; b") != std::string::npos);
  CHECK(html.find("&lt;loss&gt;") != std::string::npos);
  CHECK(html.find("<?xml") == std::string::npos);  // declarations stripped from inlined SVG
  CHECK(html.find("id=\"f1-colour-scale\"") != std::string::npos);
  CHECK(html.find("id=\"f2-colour-scale\"") != std::string::npos);
  CHECK(html.find("url(#f2-colour-scale)") != std::string::npos);
  CHECK(html.find("id=\"colour-scale\"") == std::string::npos);
  CHECK(html.find("no picture") != std::string::npos);
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("http://") == html.find("http://www.w3.org/2000/svg"));  // nothing fetched
  using tessera::testing::throws_with;
  CHECK(throws_with([&] { page.add_table("Bad", {"a", "b"}, {{"1"}}); }, "row 0 has 1 cells for 2 columns"));
}

TEST_CASE("report: write creates the directory and replaces the page whole") {
  tessera::testing::TempDir dir;
  Report page("t");
  page.add_text("a", "b");
  page.write((dir.path / "run" / "index.html").string());
  CHECK(read_file((dir.path / "run" / "index.html").string()) == page.html());
}
