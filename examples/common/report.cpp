// examples/common/report.cpp — see report.h.
#include "examples/common/report.h"

#include <cctype>
#include <filesystem>

#include <fmt/format.h>

#include "engine/error.h"
#include "examples/common/files.h"
#include "examples/common/svg.h"

namespace examples {

namespace {

constexpr const char* kStyle = R"(
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1.5em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; border-bottom: 2px solid #ddd; padding-bottom: .3em; }
h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #eee; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: .92em; }
th, td { border: 1px solid #ddd; padding: .25em .7em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f7f7f7; border: 1px solid #e4e4e4; padding: .8em; overflow-x: auto; font-size: .88em; }
figure { margin: 1em 0; overflow-x: auto; }
figcaption, caption { color: #555; font-size: .9em; margin: .3em 0; text-align: left; }
nav { font-size: .92em; color: #555; }
nav a { margin-right: 1em; }
.note { color: #8a5a00; }
)";

std::string escape(const std::string& text) { return xml_escape(text); }

bool looks_numeric(const std::string& cell) {
  if (cell.empty()) return false;
  for (char c : cell)
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+' || c == 'e' || c == '%' ||
          c == ',' || c == ' '))
      return false;
  return cell.find_first_of("0123456789") != std::string::npos;
}

}  // namespace

Report::Report(std::string title) : title_(std::move(title)) {}

void Report::add_text(const std::string& heading, const std::string& text) {
  std::string body = "<p>";
  size_t start = 0;
  while (true) {
    const size_t blank = text.find("\n\n", start);
    body += escape(text.substr(start, blank == std::string::npos ? std::string::npos : blank - start));
    if (blank == std::string::npos) break;
    body += "</p>\n<p>";
    start = blank + 2;
  }
  body += "</p>\n";
  sections_.emplace_back(heading, body);
}

void Report::add_preformatted(const std::string& heading, const std::string& text) {
  sections_.emplace_back(heading, "<pre>" + escape(text) + "</pre>\n");
}

void Report::add_table(const std::string& heading, const std::vector<std::string>& header,
                       const std::vector<std::vector<std::string>>& rows, const std::string& caption) {
  std::string body = "<table>\n";
  if (!caption.empty()) body += "<caption>" + escape(caption) + "</caption>\n";
  body += "<tr>";
  for (const auto& h : header) body += "<th>" + escape(h) + "</th>";
  body += "</tr>\n";
  for (size_t r = 0; r < rows.size(); ++r) {
    TS_CHECK(rows[r].size() == header.size(), "report: table '{}' row {} has {} cells for {} columns", heading, r,
             rows[r].size(), header.size());
    body += "<tr>";
    for (const auto& cell : rows[r]) body += (looks_numeric(cell) ? "<td class=\"num\">" : "<td>") + escape(cell) + "</td>";
    body += "</tr>\n";
  }
  body += "</table>\n";
  sections_.emplace_back(heading, body);
}

void Report::add_svg(const std::string& heading, const std::string& svg, const std::string& caption) {
  const std::string prefix = fmt::format("f{}-", ++figures_);
  std::string body = "<figure>\n" + svg_prefix_ids(svg, prefix);
  if (!caption.empty()) body += "<figcaption>" + escape(caption) + "</figcaption>\n";
  body += "</figure>\n";
  sections_.emplace_back(heading, body);
}

void Report::add_svg_file(const std::string& heading, const std::string& path, const std::string& caption) {
  std::string svg;
  try {
    svg = read_file(path);
  } catch (const tessera::Error& e) {
    sections_.emplace_back(heading, "<p class=\"note\">(no picture: " + escape(e.what()) + ")</p>\n");
    return;
  }
  add_svg(heading, svg, caption.empty() ? std::filesystem::path(path).filename().string() : caption);
}

std::string Report::html() const {
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" +
                    escape(title_) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n<h1>" +
                    escape(title_) + "</h1>\n<nav>";
  for (size_t i = 0; i < sections_.size(); ++i)
    out += fmt::format("<a href=\"#s{}\">{}</a>", i + 1, escape(sections_[i].first));
  out += "</nav>\n";
  for (size_t i = 0; i < sections_.size(); ++i)
    out += fmt::format("<section id=\"s{}\">\n<h2>{}</h2>\n{}</section>\n", i + 1, escape(sections_[i].first),
                       sections_[i].second);
  out += "<p style=\"color:#888;font-size:.85em;margin-top:3em\">Written by tessera. One self-contained file: "
         "no scripts, nothing fetched.</p>\n</body>\n</html>\n";
  return out;
}

void Report::write(const std::string& path) const {
  const auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    TS_CHECK(!ec, "report: cannot create the directory {}: {}", dir.string(), ec.message());
  }
  write_file_atomically(path, html());
}

}  // namespace examples
