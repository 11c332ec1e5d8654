// Tests for examples/common/svg.h: known values for the helpers, and well-formed XML out.
#include <doctest/doctest.h>

#include <cmath>
#include <string_view>

#include "examples/common/svg.h"
#include "tests/helpers.h"

using namespace examples;

namespace {

// A small structural XML check: tags balance, attribute values are quoted, and text holds only
// the five predefined entities or character references. Returns an empty string when fine.
std::string xml_problem(std::string_view xml) {
  std::vector<std::string> open;
  size_t i = 0;
  auto check_text = [](std::string_view text) -> std::string {
    for (size_t k = 0; k < text.size(); ++k) {
      if (text[k] == '<' || text[k] == '>') return "raw < or > in text";
      if (text[k] != '&') continue;
      const size_t semicolon = text.find(';', k);
      if (semicolon == std::string_view::npos) return "unterminated entity";
      const std::string_view entity = text.substr(k + 1, semicolon - k - 1);
      if (entity != "amp" && entity != "lt" && entity != "gt" && entity != "quot" && entity != "apos" &&
          !entity.starts_with("#"))
        return "unknown entity &" + std::string(entity) + ";";
    }
    return "";
  };
  while (i < xml.size()) {
    const size_t lt = xml.find('<', i);
    const std::string problem = check_text(xml.substr(i, lt == std::string_view::npos ? std::string_view::npos : lt - i));
    if (!problem.empty()) return problem;
    if (lt == std::string_view::npos) break;
    const size_t gt = xml.find('>', lt);
    if (gt == std::string_view::npos) return "unterminated tag";
    std::string_view tag = xml.substr(lt + 1, gt - lt - 1);
    i = gt + 1;
    if (tag.starts_with("?")) continue;  // the XML declaration
    if (tag.starts_with("/")) {
      const std::string name(tag.substr(1));
      if (open.empty() || open.back() != name) return "closing </" + name + "> does not match";
      open.pop_back();
      continue;
    }
    const bool self_closing = tag.ends_with("/");
    if (self_closing) tag.remove_suffix(1);
    const size_t name_end = tag.find_first_of(" \n");
    const std::string name(tag.substr(0, name_end));
    // Attributes: name="value" pairs, values escaped.
    std::string_view rest = name_end == std::string_view::npos ? "" : tag.substr(name_end);
    while (true) {
      const size_t start = rest.find_first_not_of(" \n");
      if (start == std::string_view::npos) break;
      const size_t equals = rest.find('=', start);
      if (equals == std::string_view::npos || equals + 1 >= rest.size() || rest[equals + 1] != '"')
        return "unquoted attribute in <" + name + ">";
      const size_t close = rest.find('"', equals + 2);
      if (close == std::string_view::npos) return "unterminated attribute in <" + name + ">";
      const std::string attribute_problem = check_text(rest.substr(equals + 2, close - equals - 2));
      if (!attribute_problem.empty()) return attribute_problem + " in an attribute of <" + name + ">";
      rest = rest.substr(close + 1);
    }
    if (!self_closing) open.push_back(name);
  }
  if (!open.empty()) return "<" + open.back() + "> is never closed";
  return "";
}

size_t count(std::string_view text, std::string_view needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string_view::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("svg: the XML checker catches broken documents") {
  CHECK(xml_problem("<a><b x=\"1\"/>t &amp; u</a>").empty());
  CHECK(!xml_problem("<a><b></a>").empty());
  CHECK(!xml_problem("<a>x & y</a>").empty());
  CHECK(!xml_problem("<a x=1></a>").empty());
  CHECK(!xml_problem("<a x=\"<\"></a>").empty());
}

TEST_CASE("svg: xml_escape") {
  CHECK(xml_escape("<bos> & \"x\" 'y'") == "&lt;bos&gt; &amp; &quot;x&quot; &apos;y&apos;");
  CHECK(xml_escape("élève œuf") == "élève œuf");  // UTF-8 passes through
  CHECK(xml_escape("a\x01" "b\xFF") == "ab\uFFFD");  // control characters dropped, bad bytes replaced
}

TEST_CASE("svg: nice_ticks picks 1, 2, 5 steps that cover the range") {
  CHECK(nice_ticks(0, 1, 6) == std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1});
  CHECK(nice_ticks(3, 97, 6) == std::vector<double>{0, 20, 40, 60, 80, 100});
  CHECK(nice_ticks(0.13, 0.87, 5) == std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1});
  CHECK(nice_ticks(-3.2, 1.1, 6) == std::vector<double>{-4, -3, -2, -1, 0, 1, 2});
  CHECK(nice_ticks(2.31, 2.31, 6).size() >= 2);  // one value: a small range around it
  CHECK(nice_ticks(1, 12034, 6) == std::vector<double>{0, 5000, 10000, 15000});
}

TEST_CASE("svg: viridis anchors") {
  CHECK(viridis(0) == std::array<int, 3>{68, 1, 84});
  CHECK(viridis(0.5) == std::array<int, 3>{33, 145, 140});
  CHECK(viridis(1) == std::array<int, 3>{253, 231, 37});
  CHECK(viridis(-1) == viridis(0));
  CHECK(viridis(NAN) == viridis(0));
  CHECK(viridis(1.0 / 16) == std::array<int, 3>{70, 23, 104});  // halfway between the first two anchors
}

TEST_CASE("svg: a grid of heatmaps with labels and one colour bar") {
  std::vector<Heatmap> maps;
  for (int layer = 0; layer < 2; ++layer)
    for (int head = 0; head < 3; ++head) {
      Heatmap map;
      map.title = "layer " + std::to_string(layer + 1) + ", head " + std::to_string(head + 1);
      map.rows = 2;
      map.cols = 3;
      map.row_labels = {"je", "l'élève"};
      map.column_labels = {"<bos>", "rock & roll", "\"hi\""};
      for (int i = 0; i < 6; ++i) map.values.push_back(0.1 * i + 0.01 * head);
      maps.push_back(map);
    }
  maps[5].values[0] = NAN;
  const std::string svg = svg_heatmaps(maps, 3, "Decoder <self> attention");
  CHECK(xml_problem(svg) == "");
  CHECK(svg.starts_with("<?xml"));
  CHECK(svg.find("Decoder &lt;self&gt; attention") != std::string::npos);
  CHECK(count(svg, "&lt;bos&gt;") >= 6);
  CHECK(svg.find("rock &amp; roll") != std::string::npos);
  CHECK(svg.find("l&apos;élève") != std::string::npos);
  CHECK(svg.find("layer 2, head 3") != std::string::npos);
  CHECK(count(svg, "<rect") == 6 * 6 + 2);  // cells, the background and the colour bar
  CHECK(svg.find("#cccccc") != std::string::npos);  // the NaN cell
  CHECK(svg.find("#440154") != std::string::npos);  // the smallest value gets the first anchor
  CHECK(svg.find("#fde725") != std::string::npos);  // the largest the last
  CHECK(svg.find("linearGradient") != std::string::npos);
  CHECK(svg.find(">0.2</text>") != std::string::npos);  // a colour bar tick

  using tessera::testing::throws_with;
  Heatmap bad = maps[0];
  bad.values.pop_back();
  CHECK(throws_with([&] { svg_heatmaps({bad}, 1, ""); }, "has 5 values for 2 x 3 = 6 cells"));
  bad = maps[0];
  bad.row_labels = {"one"};
  CHECK(throws_with([&] { svg_heatmaps({bad}, 1, ""); }, "1 row labels for 2 rows"));
  CHECK(throws_with([&] { svg_heatmaps({}, 1, ""); }, "no maps"));
  CHECK(throws_with([&] { svg_heatmaps(maps, 0, ""); }, "columns must be positive"));
}

TEST_CASE("svg: a line plot with a second axis and a broken line") {
  LinePlot plot;
  plot.title = "Training <loss> & BLEU";
  plot.x_label = "epoch";
  plot.y_label = "loss";
  plot.series.push_back({"train loss", {1, 2, 3, 4}, {4.2, 2.5, NAN, 1.1}});
  plot.series.push_back({"valid loss", {1, 2, 3, 4}, {4.5, 2.9, 2.0, 1.6}});
  plot.series.push_back({"BLEU", {1, 2, 3, 4}, {2, 15, 31, 47}});
  plot.second_axis_for_last = true;
  const std::string svg = svg_line_plot(plot);
  CHECK(xml_problem(svg) == "");
  CHECK(svg.find("Training &lt;loss&gt; &amp; BLEU") != std::string::npos);
  CHECK(svg.find("BLEU (right axis)") != std::string::npos);
  CHECK(count(svg, "<polyline") == 4);  // the NaN splits the first series in two
  CHECK(svg.find(">50</text>") != std::string::npos);  // a right-axis tick (0..50)
  CHECK(svg.find(">5</text>") != std::string::npos);    // a left-axis tick (1..5)
  CHECK(svg.find(">1.5</text>") == std::string::npos);  // whole epochs: no half ticks on x

  LinePlot empty;
  CHECK(xml_problem(svg_line_plot(empty)) == "");
  LinePlot bad;
  bad.series.push_back({"x", {1, 2}, {1}});
  CHECK(tessera::testing::throws_with([&] { svg_line_plot(bad); }, "series 'x' has 2 x values and 1 y values"));
}

TEST_CASE("svg: colour maps — Reds from white to dark red, RedBlue white at the middle") {
  CHECK(colour_of(ColourMap::Reds, 0) == std::array<int, 3>{255, 245, 240});
  CHECK(colour_of(ColourMap::Reds, 1) == std::array<int, 3>{103, 0, 13});
  CHECK(colour_of(ColourMap::RedBlue, 0.5) == std::array<int, 3>{247, 247, 247});
  CHECK(colour_of(ColourMap::RedBlue, 0)[2] > colour_of(ColourMap::RedBlue, 0)[0]);  // blue end
  CHECK(colour_of(ColourMap::Viridis, 0.3) == viridis(0.3));
}

TEST_CASE("svg: show_heatmaps reproduces d2l's first examples (identity and a random 10 x 10)") {
  using namespace tessera;
  // d2l: show_heatmaps(torch.eye(10).reshape((1, 1, 10, 10)), xlabel='Keys', ylabel='Queries')
  Tensor eye10 = zeros({1, 1, 10, 10});
  for (int i = 0; i < 10; ++i) eye10.data()[i * 10 + i] = 1;
  const std::string svg = show_heatmaps(eye10, "Keys", "Queries");
  CHECK(xml_problem(svg) == "");
  CHECK(count(svg, "<rect") == 100 + 2);
  CHECK(count(svg, "fill=\"#67000d\"") == 10);  // the diagonal in Reds' darkest colour
  CHECK(count(svg, "fill=\"#fff5f0\"") == 90);  // the rest white-ish
  CHECK(svg.find(">Keys</text>") != std::string::npos);
  CHECK(svg.find(">Queries</text>") != std::string::npos);
  // a 2 x 3 grid with one title per column, as d2l passes them
  Generator gen(3);
  const Tensor grid = uniform({2, 3, 4, 5}, 0, 1, &gen);
  const std::string six = show_heatmaps(grid, "Keys", "Queries", {"head 1", "head 2", "head 3"}, ColourMap::Viridis);
  CHECK(xml_problem(six) == "");
  CHECK(count(six, ">head 2</text>") == 2);
  CHECK(count(six, "<rect") == 6 * 20 + 2);
  using tessera::testing::throws_with;
  CHECK(throws_with([&] { show_heatmaps(zeros({10, 10}), "", ""); }, "[rows, cols, n, m]"));
  CHECK(throws_with([&] { show_heatmaps(grid, "", "", {"a", "b"}); }, "2 titles for a 2 x 3 grid"));
}

TEST_CASE("svg: a fixed range and a diverging map centred at zero") {
  Heatmap m;
  m.rows = 1, m.cols = 3;
  m.values = {-0.5, 0, 2};
  HeatmapStyle diverging;
  diverging.colours = ColourMap::RedBlue;
  const std::string svg = svg_heatmaps({m}, 1, "", diverging);
  CHECK(svg.find("fill=\"#f7f7f7\"") != std::string::npos);  // 0 is white: the scale is [-2, 2]
  HeatmapStyle fixed;
  fixed.fixed_range = true, fixed.low = 0, fixed.high = 4;
  CHECK(svg_heatmaps({m}, 1, "", fixed).find("fill=\"#440154\"") != std::string::npos);  // -0.5 clamps to low
  fixed.high = 0;
  CHECK(tessera::testing::throws_with([&] { svg_heatmaps({m}, 1, "", fixed); }, "fixed colour range"));
}
