// tests/fuzz/targets.cpp — see targets.h.
#include "tests/fuzz/targets.h"

#include <sentencepiece_processor.h>

#include <stdexcept>

#include "engine/error.h"
#include "examples/attention_cnn/idx.h"
#include "examples/attention_cnn/model.h"
#include "examples/attention_cnn/train.h"
#include "examples/common/base64.h"
#include "examples/common/files.h"
#include "examples/common/utf8.h"
#include "examples/translator/freedict.h"
#include "examples/translator/model.h"
#include "examples/translator/text.h"
#include "examples/translator/train.h"
#include "examples/translator/vocab.h"
#include "nn/safetensors.h"

namespace tessera::fuzz {

namespace {

// A broken invariant of a reader that did not throw: a finding, like a crash.
void expect(bool ok, const char* what) {
  if (!ok) throw std::logic_error(std::string("fuzz invariant broken: ") + what);
}

void sink(double value) {
  volatile double keep = value;
  (void)keep;
}

void run_safetensors(std::string_view bytes) {
  const nn::SafetensorsFile file = nn::parse_safetensors(bytes, "fuzz input");
  double sum = 0;  // touch every value, so a wrong size shows up here
  for (const auto& [name, t] : file.tensors)
    for (int64_t i = 0; i < t.numel(); ++i) sum += t.data()[i];
  sink(sum);
}

// The IDX bytes' own rank byte picks images (3) or labels (1); anything else is rejected.
void parse_any_idx(std::string_view bytes, const std::string& source) {
  const int rank = bytes.size() >= 4 && bytes[3] == 1 ? 1 : 3;
  const attention_cnn::IdxArray array = attention_cnn::parse_idx(bytes, rank, source);
  uint64_t count = 1;
  for (const int64_t d : array.dims) count *= static_cast<uint64_t>(d);
  expect(array.data.size() == count, "parse_idx: the data size is the product of the dims");
}

void run_idx(std::string_view bytes) { parse_any_idx(bytes, "fuzz input"); }

void run_idx_gzip(std::string_view bytes) { parse_any_idx(examples::inflate_gzip(bytes, "fuzz input"), "fuzz input"); }

// What training does with a pair's text: preprocess, tokenize; preprocess is idempotent (text.h).
std::vector<std::string> checked_tokens(const std::string& text) {
  const std::string once = translator::preprocess(text);
  expect(translator::preprocess(once) == once, "preprocess is idempotent");
  std::vector<std::string> tokens = translator::tokenize(once);
  expect(translator::tokenize(translator::detokenize(tokens)) == tokens, "tokenize inverts detokenize");
  return tokens;
}

void run_tsv(std::string_view bytes) {
  for (const translator::SentencePair& pair : translator::parse_tsv_pairs(bytes, "fuzz input")) {
    expect(!pair.source.empty() && !pair.target.empty(), "parse_tsv_pairs: no empty side");
    checked_tokens(pair.source);
    checked_tokens(pair.target);
  }
}

// The input is the index, a NUL byte, then the inflated dictionary (no NUL: all index).
void run_freedict(std::string_view bytes) {
  const size_t nul = bytes.find('\0');
  const std::string_view index = bytes.substr(0, nul);
  const std::string_view dict = nul == std::string_view::npos ? std::string_view() : bytes.substr(nul + 1);
  for (const translator::SentencePair& pair : translator::parse_freedict(index, dict, "fuzz.index", "fuzz.dict"))
    expect(translator::looks_like_sentence(pair.source) && translator::looks_like_sentence(pair.target),
           "parse_freedict: both sides look like sentences");
  translator::pairs_from_entry(bytes);
}

// A vocabulary that loaded is used: every id decoded, words encoded, written and read back.
void use_vocab(const translator::Vocab& vocab) {
  std::vector<int64_t> ids;
  for (int64_t id = 0; id < vocab.size(); ++id) ids.push_back(id);
  const std::vector<std::string> words = vocab.decode(ids, true);
  vocab.decode(ids, false);
  std::vector<std::string> unknown;
  for (const int64_t id : vocab.encode(words, &unknown)) expect(id >= 0 && id < vocab.size(), "encode: ids in range");
  expect(translator::Vocab::from_json(vocab.to_json()) == vocab, "Vocab: from_json(to_json(v)) == v");
}

void run_vocab_json(std::string_view bytes) { use_vocab(translator::Vocab::from_json(std::string(bytes))); }

// The bytes are a serialized SentencePiece model, embedded in a vocabulary whose tokens are the
// model's pieces (when it loads at all), as Vocab::build_subwords writes one.
void run_vocab_subword_model(std::string_view bytes) {
  std::string tokens = R"(["<pad>", "<bos>", "<eos>", "<unk>")";
  sentencepiece::SentencePieceProcessor processor;
  bool loads = true;
  try {
    translator::check_sentencepiece_model(bytes);  // libsentencepiece aborts on some models it is given
  } catch (const Error&) {
    loads = false;
  }
  if (loads && processor.LoadFromSerializedProto(bytes).ok()) {
    for (int i = 0; i < processor.GetPieceSize(); ++i) {
      if (processor.IsUnknown(i) || processor.IsControl(i)) continue;
      const std::string piece = processor.IdToPiece(i);
      if (examples::find_invalid_utf8(piece) != std::string::npos) return;  // not expressible in JSON text
      tokens += ", \"";
      for (const char c : piece) {  // a JSON string: quotes, backslashes and controls escaped
        if (c == '"' || c == '\\') tokens += '\\';
        if (static_cast<unsigned char>(c) < 0x20) tokens += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        else tokens += c;
      }
      tokens += '"';
    }
  }
  tokens += ']';
  const std::string json = R"({"format": "tessera-vocab", "version": 1, "tokens": )" + tokens +
                           R"(, "subword_model": ")" + examples::base64_encode(bytes) + "\"}";
  use_vocab(translator::Vocab::from_json(json));
}

void run_translator_config(std::string_view bytes) {
  const translator::ModelConfig config = translator::ModelConfig::from_json(std::string(bytes));
  expect(translator::ModelConfig::from_json(config.to_json()).to_json() == config.to_json(),
         "translator config: from_json(to_json(c)) == c");
}

void run_translator_training(std::string_view bytes) {
  const translator::TrainingRecord record = translator::training_record_from_json(std::string(bytes));
  expect(record.epoch >= 0, "translator training record: epoch >= 0");
}

void run_cnn_config(std::string_view bytes) {
  const attention_cnn::ModelConfig config = attention_cnn::ModelConfig::from_json(std::string(bytes));
  expect(config.final_size() >= 1, "attention_cnn config: final_size >= 1");
  expect(attention_cnn::ModelConfig::from_json(config.to_json()).to_json() == config.to_json(),
         "attention_cnn config: from_json(to_json(c)) == c");
}

void run_cnn_training(std::string_view bytes) {
  const attention_cnn::TrainingRecord record = attention_cnn::training_record_from_json(std::string(bytes));
  expect(record.epoch >= 0, "attention_cnn training record: epoch >= 0");
}

// `translator translate` reads lines from stdin: each is checked for UTF-8, tokenised, cut into
// sentences and encoded with a word and a subword vocabulary (encode_sentence).
void run_translate_input(std::string_view bytes) {
  static const std::vector<std::vector<std::string>> kSentences = {
      {"i", "am", "a", "student", "."}, {"she", "is", "a", "doctor", "!"}, {"où", "es-tu", "?"},
      {"straße", "über", "«", "2,5", "»"}};
  static const translator::Vocab words = translator::Vocab::build(kSentences);
  static const translator::Vocab subwords = translator::Vocab::build_subwords(kSentences, 40);
  for (size_t start = 0; start <= bytes.size();) {
    size_t end = bytes.find('\n', start);
    if (end == std::string_view::npos) end = bytes.size();
    const std::string line(bytes.substr(start, end - start));
    start = end + 1;
    try {
      for (const translator::Vocab* vocab : {&words, &subwords}) {
        std::vector<std::string> unknown;
        const std::vector<int64_t> ids = translator::encode_sentence(line, *vocab, &unknown);
        for (const int64_t id : ids) expect(id >= 0 && id < vocab->size(), "encode_sentence: ids in range");
        vocab->decode(ids);
      }
    } catch (const Error&) {
      continue;  // an invalid or empty line: the next one is read all the same
    }
    size_t tokens = 0;
    for (const auto& sentence : translator::split_sentences(checked_tokens(line))) {
      expect(!sentence.empty(), "split_sentences: no empty sentence");
      tokens += sentence.size();
    }
    expect(tokens == checked_tokens(line).size(), "split_sentences keeps every token");
  }
}

}  // namespace

const std::vector<FuzzTarget>& fuzz_targets() {
  static const std::vector<FuzzTarget> targets = {
      {"safetensors", "nn::parse_safetensors", run_safetensors},
      {"idx", "attention_cnn::parse_idx", run_idx},
      {"idx_gzip", "examples::inflate_gzip + parse_idx", run_idx_gzip},
      {"tsv", "translator::parse_tsv_pairs + preprocess/tokenize", run_tsv},
      {"freedict", "translator::parse_freedict, pairs_from_entry", run_freedict},
      {"vocab_json", "translator::Vocab::from_json", run_vocab_json},
      {"vocab_subword_model", "Vocab::from_json with a SentencePiece model", run_vocab_subword_model},
      {"translator_config", "translator::ModelConfig::from_json", run_translator_config},
      {"translator_training", "translator::training_record_from_json", run_translator_training},
      {"cnn_config", "attention_cnn::ModelConfig::from_json", run_cnn_config},
      {"cnn_training", "attention_cnn::training_record_from_json", run_cnn_training},
      {"translate_input", "translator::encode_sentence, split_sentences (stdin lines)", run_translate_input},
  };
  return targets;
}

const FuzzTarget& fuzz_target(std::string_view name) {
  std::string names;
  for (const FuzzTarget& target : fuzz_targets()) {
    if (target.name == name) return target;
    names += names.empty() ? target.name : std::string(", ") + target.name;
  }
  fail("fuzz_target: no target '{}'; the targets are {}", name, names);
}

}  // namespace tessera::fuzz
