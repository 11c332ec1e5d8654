// examples/translator/vocab.cpp — see vocab.h.
#include "examples/translator/vocab.h"

#include <algorithm>
#include <array>
#include <string_view>

#include <nlohmann/json.hpp>
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include "engine/error.h"
#include "examples/common/base64.h"
#include "examples/common/files.h"
#include "examples/translator/text.h"

namespace translator {

namespace {

constexpr std::array<const char*, Vocab::kNumSpecial> kSpecials = {"<pad>", "<bos>", "<eos>", "<unk>"};
constexpr const char* kFormat = "tessera-vocab";
constexpr int kVersion = 1;
constexpr std::string_view kWordStart = "\xe2\x96\x81";  // U+2581 "▁": SentencePiece's mark of a word's start

// Hands the training sentences to SentencePiece's trainer from memory (no temporary file).
class SentenceFeed : public sentencepiece::SentenceIterator {
 public:
  explicit SentenceFeed(const std::vector<std::vector<std::string>>& sentences) : sentences_(sentences) { settle(); }
  bool done() const override { return next_ >= sentences_.size(); }
  void Next() override {
    ++next_;
    settle();
  }
  const std::string& value() const override { return value_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  void settle() {  // skip empty sentences, join the words of the current one
    while (next_ < sentences_.size() && sentences_[next_].empty()) ++next_;
    if (!done()) value_ = detokenize(sentences_[next_]);
  }
  const std::vector<std::vector<std::string>>& sentences_;
  size_t next_ = 0;
  std::string value_;
};

std::shared_ptr<const sentencepiece::SentencePieceProcessor> load_processor(const std::string& model) {
  check_sentencepiece_model(model);
  auto processor = std::make_shared<sentencepiece::SentencePieceProcessor>();
  const sentencepiece::util::Status status = processor->LoadFromSerializedProto(model);
  TS_CHECK(status.ok(), "the subword model does not load: {}", status.ToString());
  TS_CHECK(processor->unk_id() == 0, "the subword model's <unk> has id {}, expected 0", processor->unk_id());
  return processor;
}

// The model's pieces in id order, without its <unk> (id 0): the vocabulary's tokens after ours.
std::vector<std::string> model_pieces(const sentencepiece::SentencePieceProcessor& processor) {
  std::vector<std::string> pieces;
  for (int i = 0; i < processor.GetPieceSize(); ++i)
    if (!processor.IsUnknown(i) && !processor.IsControl(i)) pieces.push_back(processor.IdToPiece(i));
  return pieces;
}

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

Vocab::Vocab(std::vector<std::string> tokens, std::string subword_model)
    : tokens_(std::move(tokens)), subword_model_(std::move(subword_model)) {
  index_.reserve(tokens_.size());
  for (size_t i = 0; i < tokens_.size(); ++i) index_.emplace(tokens_[i], static_cast<int64_t>(i));
  if (!subword_model_.empty()) processor_ = load_processor(subword_model_);
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

Vocab Vocab::build_subwords(const std::vector<std::vector<std::string>>& sentences, int64_t size,
                            const std::string& model_type) {
  TS_CHECK(model_type == "unigram" || model_type == "bpe",
           "Vocab::build_subwords: model type '{}' is not 'unigram' or 'bpe'", model_type);
  TS_CHECK(size > kNumSpecial, "Vocab::build_subwords: size {} leaves no room for pieces after the {} special tokens",
           size, kNumSpecial);
  TS_CHECK(std::any_of(sentences.begin(), sentences.end(), [](const auto& s) { return !s.empty(); }),
           "Vocab::build_subwords: no words to learn pieces from");
  // SentencePiece's own ids: 0 = its <unk>, then the pieces; ours put <pad> <bos> <eos> first, so
  // it learns size - 3 ids. Text is already preprocessed (text.h): no normalisation ("identity"),
  // every character kept (coverage 1), one thread and no sampling of sentences, so the result
  // depends only on the sentences. hard_vocab_limit off: a small corpus gets fewer pieces.
  const std::unordered_map<std::string, std::string> options = {
      {"model_type", model_type},
      {"vocab_size", std::to_string(size - 3)},
      {"hard_vocab_limit", "false"},
      {"character_coverage", "1.0"},
      {"normalization_rule_name", "identity"},
      {"unk_id", "0"}, {"bos_id", "-1"}, {"eos_id", "-1"}, {"pad_id", "-1"},
      {"num_threads", "1"},
      {"input_sentence_size", "0"},
      {"shuffle_input_sentence", "false"},
      {"minloglevel", "2"},  // its progress log on stderr: warnings and errors only
  };
  SentenceFeed feed(sentences);
  std::string model;
  const sentencepiece::util::Status status = sentencepiece::SentencePieceTrainer::Train(options, &feed, &model);
  TS_CHECK(status.ok(), "Vocab::build_subwords: SentencePiece could not learn {} pieces: {}", size,
           status.ToString());
  auto processor = load_processor(model);
  std::vector<std::string> tokens(kSpecials.begin(), kSpecials.end());
  for (std::string& piece : model_pieces(*processor)) tokens.push_back(std::move(piece));
  return Vocab(std::move(tokens), std::move(model));
}

std::vector<std::string> Vocab::pieces(const std::vector<std::string>& words) const {
  if (!processor_) return words;
  std::vector<std::string> out, word_pieces;
  for (const std::string& word : words) {
    // One word at a time (pieces never cross a space anyway), so each piece knows its word.
    const sentencepiece::util::Status status = processor_->Encode(word, &word_pieces);
    TS_CHECK(status.ok(), "Vocab: SentencePiece could not segment '{}': {}", word, status.ToString());
    out.insert(out.end(), word_pieces.begin(), word_pieces.end());
  }
  return out;
}

std::vector<std::string> Vocab::words(const std::vector<std::string>& tokens) const {
  if (!processor_) return tokens;
  std::vector<std::string> out;
  bool open = false;  // whether the last word may still grow
  for (const std::string& t : tokens) {
    if (std::find(kSpecials.begin(), kSpecials.end(), t) != kSpecials.end()) {
      out.push_back(t), open = false;
    } else if (t.compare(0, kWordStart.size(), kWordStart) == 0) {
      out.push_back(t.substr(kWordStart.size())), open = true;
    } else if (open) {
      out.back() += t;
    } else {
      out.push_back(t), open = true;
    }
  }
  out.erase(std::remove(out.begin(), out.end(), std::string()), out.end());  // a lone "▁" at the end
  return out;
}

int64_t Vocab::id(const std::string& token) const {
  const auto it = index_.find(token);
  return it == index_.end() ? kUnk : it->second;
}

const std::string& Vocab::token(int64_t id) const {
  TS_CHECK(id >= 0 && id < size(), "Vocab::token: id {} is out of range for a vocabulary of {} tokens", id, size());
  return tokens_[static_cast<size_t>(id)];
}

std::vector<int64_t> Vocab::encode(const std::vector<std::string>& words, std::vector<std::string>* unknown) const {
  std::vector<int64_t> ids;
  ids.reserve(words.size());
  // A token is unknown when it maps to <unk> without being the literal "<unk>".
  auto is_unknown = [&](const std::string& t, int64_t i) { return i == kUnk && t != kSpecials[kUnk]; };
  for (const std::string& word : words) {
    if (!processor_) {  // words: one id each
      const int64_t i = id(word);
      if (is_unknown(word, i) && unknown) unknown->push_back(word);
      ids.push_back(i);
      continue;
    }
    bool known = true;
    for (const std::string& t : pieces({word})) {
      const int64_t i = id(t);
      known = known && !is_unknown(t, i);
      ids.push_back(i);
    }
    if (!known && unknown) unknown->push_back(word);
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
  return strip_special ? words(tokens) : tokens;
}

std::string Vocab::to_json() const {
  nlohmann::json json = {{"format", kFormat}, {"version", kVersion}, {"tokens", tokens_}};
  if (processor_) json["subword_model"] = examples::base64_encode(subword_model_);
  return json.dump(1) + "\n";
}

Vocab Vocab::from_json(const std::string& text) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for a number like 1e999
    tessera::fail("Vocab::from_json: not valid JSON: {}", e.what());
  }
  std::vector<std::string> tokens = tokens_from_json(json);
  if (!json.contains("subword_model")) return Vocab(std::move(tokens));
  TS_CHECK(json["subword_model"].is_string(), "Vocab::from_json: \"subword_model\" must be a base64 string");
  try {
    std::string model = examples::base64_decode(json["subword_model"].get<std::string>());
    TS_CHECK(!model.empty(), "the model is empty");  // found by fuzzing: Vocab had no processor then
    Vocab v(std::move(tokens), std::move(model));
    const std::vector<std::string> pieces = model_pieces(*v.processor_);
    const std::vector<std::string> expected(v.tokens_.begin() + kNumSpecial, v.tokens_.end());
    TS_CHECK(pieces == expected, "its {} pieces are not the {} tokens after the specials", pieces.size(),
             expected.size());
    return v;
  } catch (const tessera::Error& e) {
    tessera::fail("Vocab::from_json: \"subword_model\": {}", e.what());
  }
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

namespace {
// Protocol-buffer wire format (developers.google.com/protocol-buffers/docs/encoding): a message
// is a sequence of (key = field << 3 | wire type, value); type 0 a varint, 1 eight bytes, 2 a
// length and that many bytes, 5 four bytes (3 and 4, groups, are not used by ModelProto).
struct WireReader {
  std::string_view bytes;
  size_t at = 0;
  bool done() const { return at >= bytes.size(); }
  uint64_t varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      TS_CHECK(at < bytes.size(), "the subword model is damaged (a number runs past the end at byte {})", at);
      const auto b = static_cast<uint8_t>(bytes[at++]);
      value |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return value;
    }
    tessera::fail("the subword model is damaged (a number longer than 10 bytes at byte {})", at);
  }
  // Reads one field; returns its number, and its bytes when it is length-delimited.
  uint64_t field(std::string_view* payload) {
    const uint64_t key = varint();
    const uint64_t type = key & 7;
    *payload = {};
    auto skip = [&](uint64_t n) {
      TS_CHECK(n <= bytes.size() - at, "the subword model is damaged (field {} runs past the end at byte {})",
               key >> 3, at);
      at += n;
    };
    switch (type) {
      case 0: varint(); break;
      case 1: skip(8); break;
      case 5: skip(4); break;
      case 2: {
        const uint64_t n = varint();
        skip(n);
        *payload = bytes.substr(at - n, n);
        break;
      }
      default: tessera::fail("the subword model is damaged (wire type {} of field {} at byte {})", type, key >> 3, at);
    }
    return key >> 3;
  }
};
}  // namespace

void check_sentencepiece_model(std::string_view model) {
  // ModelProto: field 1 = repeated SentencePiece { field 1 = piece (string), ... }
  WireReader top{model};
  int64_t index = 0;
  while (!top.done()) {
    std::string_view message;
    if (top.field(&message) != 1) continue;
    WireReader piece_fields{message};
    std::string_view piece;
    bool has_piece = false;
    while (!piece_fields.done()) {
      std::string_view value;
      if (piece_fields.field(&value) == 1) piece = value, has_piece = true;
    }
    TS_CHECK(has_piece && !piece.empty(), "the subword model is damaged (piece {} is empty)", index);
    TS_CHECK(piece.find('\0') == std::string_view::npos, "the subword model is damaged (piece {} holds a NUL byte)",
             index);
    ++index;
  }
}

}  // namespace translator
