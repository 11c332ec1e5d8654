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
// A vocabulary is either of words (build: every word seen min_freq times is a token) or of
// subwords (build_subwords: SentencePiece, Kudo & Richardson 2018, learns a fixed number of
// pieces from the training sentences, so a rare word is spelt out of frequent pieces instead of
// becoming <unk>: "häuschen" -> "▁häus" "chen", where "▁" marks the first piece of a word). The
// interface speaks words either way: encode() takes words and returns the ids of their pieces,
// decode() returns words; pieces() shows the segmentation, token(id) a single piece.
//
// Saved as JSON: {"format": "tessera-vocab", "version": 1, "tokens": ["<pad>", ...]}, the id
// of a token being its position; a subword vocabulary adds "subword_model", the SentencePiece
// model (its serialized protobuf in base64), whose pieces must be the tokens after the specials.
// from_json validates it (specials in place, no duplicates or empty tokens, a model that loads
// and matches) and says what is wrong.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

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

  // Subwords: a SentencePiece model of `size` ids in all (specials included; fewer if the
  // sentences do not have that many distinct pieces), trained on the sentences' words with every
  // character they contain. model_type "unigram" (SentencePiece's default: a unigram language
  // model over pieces, Kudo 2018) or "bpe" (byte-pair merges, Sennrich et al. 2016). Deterministic.
  static Vocab build_subwords(const std::vector<std::vector<std::string>>& sentences, int64_t size,
                              const std::string& model_type = "unigram");

  bool is_subword() const { return processor_ != nullptr; }
  // The tokens `words` are encoded as: their pieces for a subword vocabulary, else the words.
  std::vector<std::string> pieces(const std::vector<std::string>& words) const;
  // The inverse for a subword vocabulary: pieces joined into words at each "▁" (<unk> and the
  // other specials stand alone); the tokens themselves for a word vocabulary.
  std::vector<std::string> words(const std::vector<std::string>& tokens) const;

  int64_t id(const std::string& token) const;  // kUnk if absent
  const std::string& token(int64_t id) const;  // throws tessera::Error for an id out of range
  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  bool contains(const std::string& token) const { return index_.count(token) > 0; }
  const std::vector<std::string>& tokens() const { return tokens_; }

  // The ids of words' tokens (pieces()). Tokens not in the vocabulary become kUnk and, if
  // `unknown` is given, the words they belong to are appended to it (for warnings like "3 words
  // the model has never seen: ..."; with subwords only words with a character never seen).
  std::vector<int64_t> encode(const std::vector<std::string>& words, std::vector<std::string>* unknown = nullptr) const;
  // Words of the ids up to (not including) the first <eos>: strip_special drops <pad> and <bos>
  // and joins pieces into words. Without it every id's token is returned as it is (pieces; the
  // specials, the <eos> too), as heatmap labels need them. <unk> is always kept.
  std::vector<std::string> decode(const std::vector<int64_t>& ids, bool strip_special = true) const;

  std::string to_json() const;
  static Vocab from_json(const std::string& json);
  // to_json written atomically / read and validated; errors name the path.
  void save(const std::string& path) const;
  static Vocab load(const std::string& path);

  bool operator==(const Vocab& other) const {
    return tokens_ == other.tokens_ && subword_model_ == other.subword_model_;
  }

 private:
  // Validated by the callers; subword_model is a serialized SentencePiece model or "".
  explicit Vocab(std::vector<std::string> tokens, std::string subword_model = "");
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t> index_;
  std::string subword_model_;
  std::shared_ptr<const sentencepiece::SentencePieceProcessor> processor_;  // null for words
};

// Checks a serialized SentencePiece model (a ModelProto) before SentencePiece sees it: well-formed
// protobuf, and every piece a non-empty string without NUL bytes. libsentencepiece aborts the
// whole program (std::terminate from its trie builder, not an error status) on an empty piece or
// one with a NUL byte; found by fuzzing (tests/fuzz). Throws tessera::Error naming the problem.
void check_sentencepiece_model(std::string_view model);

}  // namespace translator
