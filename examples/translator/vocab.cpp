// examples/translator/vocab.cpp — see vocab.h.
#include "examples/translator/vocab.h"

#include <algorithm>
#include <array>

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "examples/common/files.h"

namespace translator {

namespace {

constexpr std::array<const char*, Vocab::kNumSpecial> kSpecials = {"<pad>", "<bos>", "<eos>", "<unk>"};
constexpr const char* kFormat = "tessera-vocab";
constexpr int kVersion = 1;

// The validated token list of a parsed vocabulary file.
std::vector<std::string> tokens_from_json(const nlohmann::json& json) {
  TS_CHECK(json.is_object(), "Vocab::from_json: expected a JSON object with \"tokens\", got {}", json.type_name());
  TS_CHECK(json.contains("format") && json["format"] == kFormat,
           "Vocab::from_json: \"format\" is not \"{}\": not a tessera vocabulary", kFormat);
  TS_CHECK(json.contains("version") && json["version"] == kVersion,
           "Vocab::from_json: unsupported \"version\" {} (this build reads version {})",
           json.contains("version") ? json["version"].dump() : "(missing)", kVersion);
  TS_CHECK(json.contains("tokens") && json["tokens"].is_array(),
           "Vocab::from_json: \"tokens\" must be an array of strings");
  std::vector<std::string> tokens;
  std::unordered_map<std::string, size_t> seen;
  for (const auto& entry : json["tokens"]) {
    TS_CHECK(entry.is_string(), "Vocab::from_json: token {} is a {}, not a string", tokens.size(), entry.type_name());
    std::string token = entry.get<std::string>();
    TS_CHECK(!token.empty(), "Vocab::from_json: token {} is empty", tokens.size());
    const auto [it, inserted] = seen.emplace(token, tokens.size());
    TS_CHECK(inserted, "Vocab::from_json: token '{}' appears twice, as ids {} and {}", token, it->second,
             tokens.size());
    tokens.push_back(std::move(token));
  }
  for (size_t i = 0; i < kSpecials.size(); ++i)
    TS_CHECK(i < tokens.size() && tokens[i] == kSpecials[i],
             "Vocab::from_json: id {} must be the special token {}, got {}", i, kSpecials[i],
             i < tokens.size() ? "'" + tokens[i] + "'" : "nothing (too few tokens)");
  return tokens;
}

}  // namespace

Vocab::Vocab() : Vocab(std::vector<std::string>(kSpecials.begin(), kSpecials.end())) {}

Vocab::Vocab(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {
  index_.reserve(tokens_.size());
  for (size_t i = 0; i < tokens_.size(); ++i) index_.emplace(tokens_[i], static_cast<int64_t>(i));
}

Vocab Vocab::build(const std::vector<std::vector<std::string>>& sentences, int64_t min_freq, int64_t max_size) {
  TS_CHECK(min_freq >= 1, "Vocab::build: min_freq must be at least 1, got {}", min_freq);
  TS_CHECK(max_size == 0 || max_size >= kNumSpecial,
           "Vocab::build: max_size {} leaves no room for the {} special tokens (use 0 for no limit)", max_size,
           kNumSpecial);
  std::unordered_map<std::string, int64_t> counts;
  for (const auto& sentence : sentences)
    for (const std::string& token : sentence) ++counts[token];
  for (const char* special : kSpecials) counts.erase(special);
  counts.erase("");

  std::vector<std::pair<std::string, int64_t>> ranked;
  for (auto& [token, count] : counts)
    if (count >= min_freq) ranked.emplace_back(token, count);
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  std::vector<std::string> tokens(kSpecials.begin(), kSpecials.end());
  for (auto& [token, count] : ranked) {
    if (max_size > 0 && static_cast<int64_t>(tokens.size()) >= max_size) break;
    tokens.push_back(std::move(token));
  }
  return Vocab(std::move(tokens));
}

int64_t Vocab::id(const std::string& token) const {
  const auto it = index_.find(token);
  return it == index_.end() ? kUnk : it->second;
}

const std::string& Vocab::token(int64_t id) const {
  TS_CHECK(id >= 0 && id < size(), "Vocab::token: id {} is out of range for a vocabulary of {} tokens", id, size());
  return tokens_[static_cast<size_t>(id)];
}

std::vector<int64_t> Vocab::encode(const std::vector<std::string>& tokens, std::vector<std::string>* unknown) const {
  std::vector<int64_t> ids;
  ids.reserve(tokens.size());
  for (const std::string& t : tokens) {
    const int64_t i = id(t);
    if (i == kUnk && unknown && t != kSpecials[kUnk]) unknown->push_back(t);
    ids.push_back(i);
  }
  return ids;
}

std::vector<std::string> Vocab::decode(const std::vector<int64_t>& ids, bool strip_special) const {
  std::vector<std::string> tokens;
  for (const int64_t i : ids) {
    if (i == kEos) {
      if (!strip_special) tokens.push_back(token(i));
      break;
    }
    if (strip_special && (i == kPad || i == kBos)) continue;
    tokens.push_back(token(i));
  }
  return tokens;
}

std::string Vocab::to_json() const {
  const nlohmann::json json = {{"format", kFormat}, {"version", kVersion}, {"tokens", tokens_}};
  return json.dump(1) + "\n";
}

Vocab Vocab::from_json(const std::string& text) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    tessera::fail("Vocab::from_json: not valid JSON: {}", e.what());
  }
  return Vocab(tokens_from_json(json));
}

void Vocab::save(const std::string& path) const { examples::write_file_atomically(path, to_json()); }

Vocab Vocab::load(const std::string& path) {
  const std::string text = examples::read_file(path);
  try {
    return from_json(text);
  } catch (const tessera::Error& e) {
    tessera::fail("Vocab::load: {}: {}", path, e.what());
  }
}

}  // namespace translator
