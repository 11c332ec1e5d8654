// examples/translator/freedict.cpp — see freedict.h.
#include "examples/translator/freedict.h"

#include <filesystem>
#include <set>

#include "engine/error.h"
#include "examples/common/files.h"
#include "examples/common/utf8.h"

namespace translator {

namespace {

constexpr const char* kInstall = "apt-get install dict-freedict-eng-deu";

void check_exists(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    tessera::fail("extract_freedict_pairs: '{}' not found: the English-German data comes from Debian's "
                  "dictionary package; install it with `{}`", path, kInstall);
}

bool is_capital(char32_t c) { return (c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7); }
bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c & 0x80); }

// "sth.", "sb.", "jdn." ... as words (not inside "Goth.").
bool has_placeholder(std::string_view text) {
  static const char* const kPlaceholders[] = {"sth.", "sb.", "jdn.", "jdm.", "jds.", "etw.", "sth's", "sb's"};
  for (const char* p : kPlaceholders) {
    for (size_t at = text.find(p); at != std::string_view::npos; at = text.find(p, at + 1))
      if (at == 0 || !is_letter(text[at - 1])) return true;
  }
  return false;
}

// "Er kommt., Er ist da." -> "Er kommt.": alternatives follow a sentence end and ", ".
std::string_view first_alternative(std::string_view text) {
  for (size_t at = text.find(", "); at != std::string_view::npos; at = text.find(", ", at + 1))
    if (at > 0 && (text[at - 1] == '.' || text[at - 1] == '!' || text[at - 1] == '?')) return text.substr(0, at);
  return text;
}

}  // namespace

constexpr std::string_view kDictdDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string encode_dictd_number(uint64_t value) {
  std::string digits;
  do {
    digits.insert(digits.begin(), kDictdDigits[value % 64]);
    value /= 64;
  } while (value > 0);
  return digits;
}

uint64_t decode_dictd_number(std::string_view digits) {
  TS_CHECK(!digits.empty() && digits.size() <= 10, "decode_dictd_number: '{}' is not a dictd number", digits);
  uint64_t value = 0;
  for (const char c : digits) {
    const size_t d = kDictdDigits.find(c);
    TS_CHECK(d != std::string_view::npos, "decode_dictd_number: '{}' has the character '{}', not a base64 digit",
             digits, c);
    value = value * 64 + d;
  }
  return value;
}

std::string clean_dictionary_text(std::string_view text) {
  std::string out;
  char closing = 0;  // inside [..], <..> or {..}: the bracket that ends it
  for (const char c : text) {
    if (closing) {
      if (c == closing) closing = 0;
      continue;
    }
    if (c == '[') closing = ']';
    else if (c == '<') closing = '>';
    else if (c == '{') closing = '}';
    else if (c == ' ' || c == '\t') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else out += c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

bool looks_like_sentence(std::string_view text) {
  if (text.empty() || examples::find_invalid_utf8(text) != std::string_view::npos) return false;
  size_t pos = 0;
  if (!is_capital(examples::decode_utf8(text, pos))) return false;
  const char last = text.back();
  if (last != '.' && last != '!' && last != '?') return false;
  size_t words = 1;
  for (const char c : text) words += c == ' ';
  if (words < 3) return false;
  if (text.find('/') != std::string_view::npos || text.find('|') != std::string_view::npos ||
      text.find("\xE2\x80\xA6") != std::string_view::npos || text.find("...") != std::string_view::npos)
    return false;
  return !has_placeholder(text);
}

std::vector<SentencePair> pairs_from_entry(std::string_view entry) {
  std::vector<std::string_view> lines;
  for (size_t start = 0; start < entry.size();) {
    size_t end = entry.find('\n', start);
    if (end == std::string_view::npos) end = entry.size();
    lines.push_back(entry.substr(start, end - start));
    start = end + 1;
  }
  std::vector<SentencePair> pairs;
  auto add = [&](std::string_view english, std::string_view german) {
    std::string en = clean_dictionary_text(english);
    std::string de = clean_dictionary_text(first_alternative(clean_dictionary_text(german)));
    if (looks_like_sentence(en) && looks_like_sentence(de)) pairs.push_back({std::move(en), std::move(de)});
  };
  // The headword (before its " /IPA/") and the first line of translations.
  if (lines.size() >= 2) {
    std::string_view head = lines[0];
    if (const size_t ipa = head.find(" /"); ipa != std::string_view::npos) head = head.substr(0, ipa);
    add(head, lines[1]);
  }
  // Example lines:   "English."  - German.
  for (std::string_view line : lines) {
    const size_t open = line.find_first_not_of(' ');
    if (open == std::string_view::npos || open == 0 || line[open] != '"') continue;
    const size_t close = line.find("\"  - ", open + 1);
    if (close == std::string_view::npos) continue;
    add(line.substr(open + 1, close - open - 1), line.substr(close + 5));
  }
  return pairs;
}

std::vector<SentencePair> extract_freedict_pairs(const std::string& index_path, const std::string& dict_path) {
  check_exists(index_path);
  check_exists(dict_path);
  const std::string index = examples::read_file(index_path);
  std::string dict;
  try {
    dict = examples::read_gzip_file(dict_path);  // dictzip is gzip with an extra header field
  } catch (const tessera::Error& e) {
    tessera::fail("extract_freedict_pairs: {} (reinstall with `{}`)", e.what(), kInstall);
  }
  return parse_freedict(index, dict, index_path, dict_path);
}

std::vector<SentencePair> parse_freedict(std::string_view index, std::string_view dict, const std::string& index_path,
                                         const std::string& dict_path) {
  std::vector<SentencePair> pairs;
  std::set<std::pair<uint64_t, uint64_t>> seen_entries;  // several headwords can share one entry
  std::set<std::pair<std::string, std::string>> seen_pairs;
  size_t line_number = 0;
  for (size_t start = 0; start < index.size();) {
    size_t end = index.find('\n', start);
    if (end == std::string_view::npos) end = index.size();
    const std::string_view line = index.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (line.empty() || line.starts_with("00database") || line.starts_with("00-database")) continue;
    const size_t tab2 = line.rfind('\t');
    const size_t tab1 = tab2 == std::string_view::npos || tab2 == 0 ? std::string_view::npos : line.rfind('\t', tab2 - 1);
    TS_CHECK(tab1 != std::string_view::npos, "extract_freedict_pairs: {}:{}: expected headword<TAB>offset<TAB>length",
             index_path, line_number);
    uint64_t offset = 0, length = 0;
    try {
      offset = decode_dictd_number(line.substr(tab1 + 1, tab2 - tab1 - 1));
      length = decode_dictd_number(line.substr(tab2 + 1));
    } catch (const tessera::Error& e) {
      tessera::fail("extract_freedict_pairs: {}:{}: {}", index_path, line_number, e.what());
    }
    TS_CHECK(offset <= dict.size() && length <= dict.size() - offset,
             "extract_freedict_pairs: {}:{}: entry [{}, {}) lies outside the {} bytes of '{}' (mismatched files?)",
             index_path, line_number, offset, offset + length, dict.size(), dict_path);
    if (!seen_entries.insert({offset, length}).second) continue;
    for (SentencePair& pair : pairs_from_entry(dict.substr(offset, length)))
      if (seen_pairs.insert({pair.source, pair.target}).second) pairs.push_back(std::move(pair));
  }
  return pairs;
}

Corpus split_by_hash(std::vector<SentencePair> pairs, double valid_fraction, double test_fraction) {
  TS_CHECK(valid_fraction >= 0 && test_fraction >= 0 && valid_fraction + test_fraction <= 1,
           "split_by_hash: fractions valid {} and test {} must be >= 0 and add up to at most 1", valid_fraction,
           test_fraction);
  Corpus corpus;
  for (SentencePair& pair : pairs) {
    const double u = static_cast<double>(fnv1a64(pair.source) >> 11) * 0x1.0p-53;  // uniform in [0, 1)
    if (u < test_fraction) corpus.test.push_back(std::move(pair));
    else if (u < test_fraction + valid_fraction) corpus.valid.push_back(std::move(pair));
    else corpus.train.push_back(std::move(pair));
  }
  return corpus;
}

}  // namespace translator
