// examples/translator/text.cpp — see text.h.
#include "examples/translator/text.h"

#include <fmt/format.h>

#include "engine/error.h"
#include "examples/common/files.h"
#include "examples/common/utf8.h"

namespace translator {

namespace {

using examples::append_utf8;
using examples::decode_utf8;
using examples::kInvalidCodePoint;

constexpr char32_t kDrop = 0;  // marks a character that normalisation removes

bool is_space(char32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == 0x00A0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

// Lowercase for the scripts the examples meet: Latin (Basic, Latin-1, Extended-A, parts of
// Extended-B and Additional), Greek and Cyrillic. Other characters are returned unchanged.
char32_t to_lower(char32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c < 0xC0) return c;
  if (c <= 0xDE) return c == 0xD7 ? c : c + 32;                          // À..Þ except ×
  if (c == 0x130) return 'i';                                            // İ
  if (c == 0x178) return 0xFF;                                           // Ÿ
  if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return c % 2 == 0 ? c + 1 : c;
  if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return c % 2 == 1 ? c + 1 : c;
  if (c >= 0x200 && c <= 0x21F) return c % 2 == 0 ? c + 1 : c;           // Ș Ț and friends
  if (c >= 0x386 && c <= 0x3AB) {                                        // Greek capitals
    if (c == 0x386) return 0x3AC;
    if (c >= 0x388 && c <= 0x38A) return c + 37;
    if (c == 0x38C) return 0x3CC;
    if (c == 0x38E || c == 0x38F) return c + 63;
    if (c >= 0x391 && c != 0x3A2) return c + 32;
    return c;
  }
  if (c >= 0x400 && c <= 0x40F) return c + 80;                           // Ѐ..Џ
  if (c >= 0x410 && c <= 0x42F) return c + 32;                           // А..Я
  if ((c >= 0x1E00 && c <= 0x1E95) || (c >= 0x1EA0 && c <= 0x1EFF)) return c % 2 == 0 ? c + 1 : c;
  if (c == 0x1E9E) return 0xDF;                                          // ẞ
  return c;
}

// Spaces, quotes and invisible characters to their plain forms; then lowercase.
char32_t normalise(char32_t c) {
  if (c == kInvalidCodePoint) return examples::kReplacementCharacter;
  if (is_space(c)) return ' ';
  if (c == 0x200B || c == 0x200C || c == 0x200D || c == 0x2060 || c == 0xFEFF || c == 0x00AD) return kDrop;
  if (c == 0x201C || c == 0x201D || c == 0x201E || c == 0x201F) return '"';
  if (c == 0x2018 || c == 0x2019 || c == 0x201A || c == 0x201B || c == 0x02BC) return '\'';
  return to_lower(c);
}

// Sentence marks: split off the end of a word as one run.
bool is_mark(char32_t c) {
  return c == ',' || c == '.' || c == '!' || c == '?' || c == ';' || c == ':' || c == 0x2026;
}

// Always a token of its own.
bool is_separate(char32_t c) {
  return c == '"' || c == 0xAB || c == 0xBB || c == '(' || c == ')' || c == '[' || c == ']' || c == '{' ||
         c == '}' || c == 0xBF || c == 0xA1 || c == 0x2013 || c == 0x2014;
}

using Chars = std::u32string;

void emit(std::vector<Chars>& tokens, Chars token) {
  if (!token.empty()) tokens.push_back(std::move(token));
}

// A piece of a word without quotes or brackets: leading apostrophes and trailing apostrophes or
// mark runs become tokens; the core, with its inner marks and apostrophes, stays whole.
void split_segment(const Chars& segment, std::vector<Chars>& tokens) {
  size_t begin = 0, end = segment.size();
  while (begin < end && segment[begin] == '\'') {
    emit(tokens, U"'");
    ++begin;
  }
  std::vector<Chars> suffix;  // in reverse order
  while (end > begin) {
    if (segment[end - 1] == '\'') {
      suffix.push_back(U"'");
      --end;
    } else if (is_mark(segment[end - 1])) {
      size_t start = end;
      while (start > begin && is_mark(segment[start - 1])) --start;
      suffix.push_back(segment.substr(start, end - start));
      end = start;
    } else {
      break;
    }
  }
  emit(tokens, segment.substr(begin, end - begin));
  for (auto it = suffix.rbegin(); it != suffix.rend(); ++it) emit(tokens, *it);
}

}  // namespace

std::string preprocess(std::string_view line) {
  // Decode and normalise, then cut at spaces and at characters that are always tokens.
  std::vector<Chars> tokens;
  Chars segment;
  size_t pos = 0;
  while (pos < line.size()) {
    const char32_t c = normalise(decode_utf8(line, pos));
    if (c == kDrop) continue;
    if (c == ' ' || is_separate(c)) {
      split_segment(segment, tokens);
      segment.clear();
      if (c != ' ') tokens.push_back(Chars(1, c));
    } else {
      segment += c;
    }
  }
  split_segment(segment, tokens);

  std::string out;
  out.reserve(line.size() + line.size() / 4);
  for (const Chars& token : tokens) {
    if (!out.empty()) out += ' ';
    for (const char32_t c : token) append_utf8(out, c);
  }
  return out;
}

std::vector<std::string> tokenize(std::string_view preprocessed) {
  std::vector<std::string> tokens;
  size_t start = 0;
  while (start <= preprocessed.size()) {
    size_t end = preprocessed.find(' ', start);
    if (end == std::string_view::npos) end = preprocessed.size();
    if (end > start) tokens.emplace_back(preprocessed.substr(start, end - start));
    start = end + 1;
  }
  return tokens;
}

std::string detokenize(const std::vector<std::string>& tokens) {
  std::string out;
  for (const std::string& token : tokens) {
    if (!out.empty()) out += ' ';
    out += token;
  }
  return out;
}

namespace {

std::string_view trim(std::string_view text) {
  const auto is_blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!text.empty() && is_blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_blank(text.back())) text.remove_suffix(1);
  return text;
}

}  // namespace

std::vector<SentencePair> parse_tsv_pairs(std::string_view text, const std::string& source_name, size_t max_pairs) {
  constexpr size_t kErrorsShown = 10;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // byte order mark
  std::vector<SentencePair> pairs;
  std::vector<std::string> errors;
  size_t error_count = 0, line_number = 0, start = 0;
  while (start < text.size() && (max_pairs == 0 || pairs.size() < max_pairs)) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (trim(line).empty()) continue;

    std::string problem;
    const size_t bad_byte = examples::find_invalid_utf8(line);
    const size_t tab = line.find('\t'), nul = line.find('\0');
    if (bad_byte != std::string_view::npos) {
      problem = fmt::format("invalid UTF-8 at byte {} of the line (is the file UTF-8?)", bad_byte + 1);
    } else if (nul != std::string_view::npos) {
      problem = fmt::format("a NUL byte at byte {} of the line (is it a text file?)", nul + 1);
    } else if (tab == std::string_view::npos) {
      problem = "no tab: expected `english<TAB>translation[<TAB>attribution]`";
    } else {
      const size_t second_tab = line.find('\t', tab + 1);
      const std::string_view source = trim(line.substr(0, tab));
      const std::string_view target = trim(line.substr(tab + 1, second_tab == std::string_view::npos
                                                                     ? std::string_view::npos
                                                                     : second_tab - tab - 1));
      if (source.empty()) problem = "the English side (before the first tab) is empty";
      else if (target.empty()) problem = "the translation (after the first tab) is empty";
      else pairs.push_back({std::string(source), std::string(target)});
    }
    if (!problem.empty()) {
      ++error_count;
      if (errors.size() < kErrorsShown) errors.push_back(fmt::format("{}:{}: {}", source_name, line_number, problem));
    }
  }
  if (error_count > 0) {
    std::string message = fmt::format("read_tsv_pairs: {} malformed line{} in '{}':", error_count,
                                      error_count == 1 ? "" : "s", source_name);
    for (const std::string& error : errors) message += "\n  " + error;
    if (error_count > errors.size()) message += fmt::format("\n  ... and {} more", error_count - errors.size());
    throw tessera::Error(message);
  }
  return pairs;
}

uint64_t fnv1a64(std::string_view text) {
  uint64_t hash = 0xcbf29ce484222325ull;  // offset basis
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ull;  // FNV prime
  }
  return hash;
}

std::vector<SentencePair> read_tsv_pairs(const std::string& path, size_t max_pairs) {
  return parse_tsv_pairs(examples::read_file(path), path, max_pairs);
}

std::vector<std::vector<std::string>> split_sentences(const std::vector<std::string>& tokens) {
  auto is_final_mark = [](const std::string& token) {
    if (token.empty()) return false;
    for (size_t i = 0; i < token.size();) {
      if (token.compare(i, 3, "\u2026") == 0) {  // … (three bytes in UTF-8)
        i += 3;
      } else if (token[i] == '.' || token[i] == '!' || token[i] == '?') {
        ++i;
      } else {
        return false;
      }
    }
    return true;
  };
  std::vector<std::vector<std::string>> sentences(1);
  for (size_t i = 0; i < tokens.size(); ++i) {
    sentences.back().push_back(tokens[i]);
    if (is_final_mark(tokens[i]) && i + 1 < tokens.size()) sentences.emplace_back();
  }
  if (sentences.back().empty()) sentences.pop_back();
  return sentences;
}

}  // namespace translator
