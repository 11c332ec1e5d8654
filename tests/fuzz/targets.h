// tests/fuzz/targets.h — one fuzz entry point for every function that reads bytes from a file or
// stdin, shared by the libFuzzer programs (tests/fuzz/fuzz_main.cpp, built with -Dfuzz=true and
// run by `./run fuzz`) and the regression replay in tests_examples
// (tests/test_fuzz_regressions.cpp), so both run exactly the same code.
//
// The contract each entry checks: any bytes either parse, or the reader throws tessera::Error.
// Any other exception, a crash, a leak or a sanitizer report is a bug. Entries that parse also
// use what they got (touch every value, encode with a vocabulary, write it back and read it again)
// so that a wrong size or a broken invariant shows up; a broken invariant throws
// std::logic_error, which the callers treat as a finding.
//
// docs/reliability.md, "Fuzzing every reader", lists the targets with their figures.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tessera::fuzz {

struct FuzzTarget {
  const char* name;      // the libFuzzer program is fuzz_<name>; its corpus tests/fuzz/corpus/<name>/
  const char* function;  // the reader it attacks, for the docs and error messages
  void (*run)(std::string_view bytes);
};

// Every target, in the order of docs/reliability.md.
const std::vector<FuzzTarget>& fuzz_targets();

// The target called `name`; throws tessera::Error listing the names when there is none.
const FuzzTarget& fuzz_target(std::string_view name);

}  // namespace tessera::fuzz
