// Tests for examples/common/progress.h, with a fake clock.
#include <doctest/doctest.h>

#include <sstream>

#include "examples/common/progress.h"

using namespace examples;

namespace {

size_t count(const std::string& text, char c) { return static_cast<size_t>(std::count(text.begin(), text.end(), c)); }

}  // namespace

TEST_CASE("progress: number and duration formats") {
  CHECK(ProgressBar::format_number(12034.4) == "12034");
  CHECK(ProgressBar::format_number(2.3125) == "2.312");
  CHECK(ProgressBar::format_number(2.31) == "2.31");
  CHECK(ProgressBar::format_number(0.000123) == "0.000123");
  CHECK(ProgressBar::format_duration(7) == "0:07");
  CHECK(ProgressBar::format_duration(754) == "12:34");
  CHECK(ProgressBar::format_duration(3723) == "1:02:03");
}

TEST_CASE("progress: plain lines every 10% when not on a terminal") {
  std::ostringstream out;
  double now = 0;
  {
    ProgressBar bar("train", 1000, "batch", out, false, [&] { return now; });
    for (int done = 1; done <= 1000; ++done) {
      now += 0.001;
      bar.update(done, {{"loss", 2.31}, {"tok/s", 12034}});
    }
    bar.finish();
    bar.finish();  // idempotent
  }
  const std::string log = out.str();
  CHECK(count(log, '\r') == 0);
  CHECK(count(log, '\n') <= 12);  // the first update, one per 10%, the final line
  CHECK(log.find("train [") != std::string::npos);
  CHECK(log.find("loss 2.31 tok/s 12034") != std::string::npos);
  CHECK(log.find("1000/1000 batch") != std::string::npos);
  CHECK(log.find("1000 batch/s in 0:01") != std::string::npos);  // the final line: rate and time
  CHECK(log.find("ETA") != std::string::npos);
}

TEST_CASE("progress: redrawn in place on a terminal, at most every 0.1 s") {
  std::ostringstream out;
  double now = 0;
  ProgressBar bar("eval", 0, "sentence", out, true, [&] { return now; });  // total unknown
  for (int done = 1; done <= 100; ++done) {
    now += 0.01;
    bar.update(done);
  }
  bar.finish();
  const std::string screen = out.str();
  CHECK(count(screen, '\r') <= 12);
  CHECK(count(screen, '\r') >= 9);
  CHECK(count(screen, '\n') == 1);
  CHECK(screen.find("eval 100 sentence") != std::string::npos);
  CHECK(screen.find("ETA") == std::string::npos);
}
