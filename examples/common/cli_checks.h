// examples/common/cli_checks.h — CLI11 validators for the programs' numeric options, so a bad
// number stops the program at once with one line naming the flag, instead of after minutes of
// data loading (or never: a NaN passes CLI11's own PositiveNumber, since NaN <= 0 is false).
//
//   app->add_option("--lr", lr, "...")->check(examples::positive());
//   --lr: nan is not a finite number greater than 0
//
// Header-only: it needs CLI11, which only the programs' main.cpp files include.
#pragma once

#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>

namespace examples {

// A finite number in [low, high] (or (low, high] when low_open); `what` is the help text's name.
inline CLI::Validator number_in(double low, double high, bool low_open, const std::string& what) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        char* end = nullptr;
        const double value = std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value) ||
            (low_open ? value <= low : value < low) || value > high)
          return text + " is not " + what;
        return "";
      },
      what);
}

inline CLI::Validator positive() {
  return number_in(0, std::numeric_limits<double>::max(), true, "a finite number greater than 0");
}
inline CLI::Validator non_negative() {
  return number_in(0, std::numeric_limits<double>::max(), false, "a finite number, 0 or more");
}
// [0, 1): probabilities of dropping and amounts of smoothing
inline CLI::Validator fraction() {
  return number_in(0, std::nextafter(1.0, 0.0), false, "a number in [0, 1)");
}
inline CLI::Validator between(double low, double high) {
  std::ostringstream text;
  text << "a number from " << low << " to " << high;
  return number_in(low, high, false, text.str());
}

}  // namespace examples
