// examples/common/progress.cpp — see progress.h.
#include "examples/common/progress.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>

#include <fmt/format.h>

#include "examples/common/utf8.h"

namespace examples {

namespace {

constexpr double kRedrawInterval = 0.1;  // seconds between in-place redraws
constexpr double kPlainInterval = 10.0;  // seconds between plain lines without a 10% step
constexpr int kBarWidth = 24;

double monotonic_seconds() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

}  // namespace

ProgressBar::ProgressBar(std::string label, int64_t total, std::string unit)
    : ProgressBar(std::move(label), total, std::move(unit), std::cerr, ::isatty(STDERR_FILENO) == 1,
                  monotonic_seconds) {}

ProgressBar::ProgressBar(std::string label, int64_t total, std::string unit, std::ostream& out, bool in_place,
                         std::function<double()> clock)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      out_(&out),
      in_place_(in_place),
      clock_(std::move(clock)) {
  start_ = clock_();
}

ProgressBar::~ProgressBar() {
  try {
    if (drawn_) finish();
  } catch (...) {  // a destructor must not throw; losing the last line is harmless
  }
}

std::string ProgressBar::format_number(double value) {
  if (!std::isfinite(value)) return fmt::format("{}", value);
  if (std::abs(value) >= 1000) return fmt::format("{:.0f}", value);
  return fmt::format("{:.4g}", value);
}

std::string ProgressBar::format_duration(double seconds) {
  const int64_t s = std::max<int64_t>(0, static_cast<int64_t>(std::llround(seconds)));
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

std::string ProgressBar::render(bool final) const {
  const double elapsed = std::max(1e-9, clock_() - start_);
  std::string line = label_;
  if (total_ > 0) {
    const double fraction = std::clamp(static_cast<double>(done_) / static_cast<double>(total_), 0.0, 1.0);
    const int filled = static_cast<int>(fraction * kBarWidth);
    std::string bar(kBarWidth, ' ');
    std::fill(bar.begin(), bar.begin() + filled, '=');
    if (filled < kBarWidth && done_ > 0) bar[filled] = '>';
    line += fmt::format(" [{}] {}/{} {}", bar, done_, total_, unit_);
  } else {
    line += fmt::format(" {} {}", done_, unit_);
  }
  if (!metrics_.empty()) {
    line += " |";
    for (const auto& [name, value] : metrics_) line += fmt::format(" {} {}", name, format_number(value));
  }
  const double rate = static_cast<double>(done_) / elapsed;
  line += fmt::format(" | {} {}/s", format_number(rate), unit_);
  if (final) {
    line += " in " + format_duration(elapsed);
  } else if (total_ > 0 && rate > 0) {
    line += " ETA " + format_duration(static_cast<double>(total_ - done_) / rate);
  }
  return line;
}

void ProgressBar::update(int64_t done, const Metrics& metrics) {
  if (finished_) return;
  done_ = done;
  metrics_ = metrics;
  const double now = clock_();
  if (in_place_) {
    if (now - last_draw_ < kRedrawInterval && !(total_ > 0 && done_ >= total_)) return;
    const std::string line = render(false);
    const size_t width = utf8_length(line);
    *out_ << '\r' << line << std::string(last_width_ > width ? last_width_ - width : 0, ' ') << std::flush;
    last_width_ = width;
  } else {
    const int decile = total_ > 0 ? static_cast<int>(std::min<int64_t>(10, done_ * 10 / total_)) : 0;
    const bool new_step = decile > last_decile_;
    if (!new_step && now - last_draw_ < kPlainInterval) return;
    if (decile >= 10) return;  // the final line comes from finish()
    last_decile_ = std::max(last_decile_, decile);
    *out_ << render(false) << '\n' << std::flush;
  }
  last_draw_ = now;
  drawn_ = true;
}

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  const std::string line = render(true);
  if (in_place_) {
    const size_t width = utf8_length(line);
    *out_ << '\r' << line << std::string(last_width_ > width ? last_width_ - width : 0, ' ') << '\n';
  } else {
    *out_ << line << '\n';
  }
  out_->flush();
}

}  // namespace examples
