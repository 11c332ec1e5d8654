// examples/common/progress.h — a one-line progress bar for training and evaluation loops.
//
// On a terminal (stderr is a TTY) the line is redrawn in place with '\r', at most ten times a
// second:
//   train epoch 3 [=========>          ] 450/1000 batch | loss 2.31 tok/s 12034 | 35.2 batch/s ETA 0:15
// When stderr is a pipe or a file (CI, `| tee log`) a plain line is printed only when progress
// crosses another 10% or 10 s have passed since the last line, plus a final line, so logs stay short.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace examples {

using Metrics = std::vector<std::pair<std::string, double>>;  // shown in this order

class ProgressBar {
 public:
  // total <= 0 means unknown: the bar and ETA are left out.
  ProgressBar(std::string label, int64_t total, std::string unit = "it");
  // For tests and custom sinks: where to write, whether to redraw in place, and a clock in
  // seconds (monotonic).
  ProgressBar(std::string label, int64_t total, std::string unit, std::ostream& out, bool in_place,
              std::function<double()> clock);
  ~ProgressBar();  // finishes the line if finish() was not called
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // done = units completed so far (not an increment).
  void update(int64_t done, const Metrics& metrics = {});
  // Prints the final state (with the elapsed time) and ends the line. Idempotent.
  void finish();

  // "12034", "2.31", "0.000123": four significant digits, no exponent for ordinary values.
  static std::string format_number(double value);
  // "0:07", "12:34", "1:02:03".
  static std::string format_duration(double seconds);

 private:
  std::string render(bool final) const;

  std::string label_, unit_;
  int64_t total_ = 0;
  std::ostream* out_;
  bool in_place_;
  std::function<double()> clock_;
  double start_ = 0, last_draw_ = -1e300;
  int64_t done_ = 0;
  int last_decile_ = 0;  // plain mode: the last 10% step printed
  Metrics metrics_;
  bool drawn_ = false, finished_ = false;
  size_t last_width_ = 0;  // in-place mode: characters of the previous line, to blank leftovers
};

}  // namespace examples
