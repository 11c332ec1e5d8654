// examples/translator/vocab.h — the token <-> id table of one language.
//
// Ids 0..3 are the special tokens, in this order:
//   <pad> = 0   padding in batches (the loss ignores it)
//   <bos> = 1   begin of sentence: the decoder's first input
//   <eos> = 2   end of sentence: appended to sources, the decoder's last target
//   <unk> = 3   any token not in the vocabulary
// then the corpus tokens by frequency (most frequent first), ties broken by the token's bytes,
// so a vocabulary is the same on every machine.
//
// Saved as JSON: {"format": "tessera-vocab", "version": 1, "tokens": ["<pad>", ...]}, the id
// of a token being its position; from_json validates it (specials in place, no duplicates or
// empty tokens) and says what is wrong.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace translator {

class Vocab {
 public:
  static constexpr int64_t kPad = 0, kBos = 1, kEos = 2, kUnk = 3;
  static constexpr int64_t kNumSpecial = 4;

  Vocab();  // just the four special tokens

  // Tokens seen at least min_freq times; max_size > 0 caps the size including the specials.
  // A literal "<unk>" etc. in the data counts as the special token and is not added again.
  static Vocab build(const std::vector<std::vector<std::string>>& sentences, int64_t min_freq = 1,
                     int64_t max_size = 0);

  int64_t id(const std::string& token) const;  // kUnk if absent
  const std::string& token(int64_t id) const;  // throws tessera::Error for an id out of range
  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  bool contains(const std::string& token) const { return index_.count(token) > 0; }
  const std::vector<std::string>& tokens() const { return tokens_; }

  // Token ids; tokens not in the vocabulary become kUnk and, if `unknown` is given, are appended
  // to it (for warnings like "3 words the model has never seen: ...").
  std::vector<int64_t> encode(const std::vector<std::string>& tokens, std::vector<std::string>* unknown = nullptr) const;
  // Tokens up to (not including) the first <eos>. strip_special drops <pad> and <bos>; without
  // it they are kept, and the <eos> too. <unk> is always kept.
  std::vector<std::string> decode(const std::vector<int64_t>& ids, bool strip_special = true) const;

  std::string to_json() const;
  static Vocab from_json(const std::string& json);
  // to_json written atomically / read and validated; errors name the path.
  void save(const std::string& path) const;
  static Vocab load(const std::string& path);

  bool operator==(const Vocab& other) const { return tokens_ == other.tokens_; }

 private:
  explicit Vocab(std::vector<std::string> tokens);  // validated by the callers
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t> index_;
};

}  // namespace translator
