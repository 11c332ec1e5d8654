// Tests for examples/translator/vocab.h.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "examples/common/base64.h"
#include "examples/common/files.h"
#include "examples/translator/vocab.h"
#include "tests/helpers.h"

using namespace translator;
using tessera::testing::throws_with;
using Tokens = std::vector<std::string>;

TEST_CASE("vocab: specials first, then by frequency, ties by token") {
  const Vocab v = Vocab::build({{"b", "a", "c", "c"}, {"c", "b", "d", "<unk>"}});
  // c: 3, b: 2, a: 1, d: 1 (a before d).
  CHECK(v.tokens() == Tokens{"<pad>", "<bos>", "<eos>", "<unk>", "c", "b", "a", "d"});
  CHECK(v.id("<pad>") == Vocab::kPad);
  CHECK(v.id("<bos>") == 1);
  CHECK(v.id("<eos>") == 2);
  CHECK(v.id("c") == 4);
  CHECK(v.id("never seen") == Vocab::kUnk);
  CHECK(v.token(6) == "a");
  CHECK(v.size() == 8);
  CHECK(throws_with([&] { v.token(8); }, "id 8 is out of range"));
  CHECK(throws_with([&] { v.token(-1); }, "out of range"));

  const Vocab frequent = Vocab::build({{"b", "a", "c", "c"}, {"c", "b", "d"}}, 2);
  CHECK(frequent.tokens() == Tokens{"<pad>", "<bos>", "<eos>", "<unk>", "c", "b"});
  const Vocab capped = Vocab::build({{"b", "a", "c", "c"}, {"c", "b", "d"}}, 1, 5);
  CHECK(capped.tokens() == Tokens{"<pad>", "<bos>", "<eos>", "<unk>", "c"});
  CHECK(throws_with([] { Vocab::build({}, 0); }, "min_freq"));
  CHECK(throws_with([] { Vocab::build({}, 1, 3); }, "max_size 3"));
  CHECK(Vocab().size() == 4);
}

TEST_CASE("vocab: encode and decode") {
  const Vocab v = Vocab::build({{"je", "suis", "étudiant", "."}});
  Tokens unknown;
  const auto ids = v.encode({"je", "suis", "professeur", "."}, &unknown);
  CHECK(ids == std::vector<int64_t>{v.id("je"), v.id("suis"), Vocab::kUnk, v.id(".")});
  CHECK(unknown == Tokens{"professeur"});
  CHECK(v.decode({Vocab::kBos, v.id("je"), v.id("suis"), Vocab::kUnk, Vocab::kEos, v.id("."), Vocab::kPad}) ==
        Tokens{"je", "suis", "<unk>"});
  CHECK(v.decode({Vocab::kBos, v.id("je"), Vocab::kEos, Vocab::kPad}, false) == Tokens{"<bos>", "je", "<eos>"});
  CHECK(v.decode({v.id("je"), Vocab::kPad, Vocab::kPad}) == Tokens{"je"});
  CHECK(throws_with([&] { v.decode({99}); }, "id 99"));
}

TEST_CASE("vocab: JSON round trip and validation") {
  const Vocab v = Vocab::build({{"l'arbre", "<b>", "\"quoted\"", "œuf"}});
  const std::string json = v.to_json();
  CHECK(json.find("\"tessera-vocab\"") != std::string::npos);
  const Vocab back = Vocab::from_json(json);
  CHECK(back == v);
  CHECK(back.id("œuf") == v.id("œuf"));

  CHECK(throws_with([] { Vocab::from_json("{not json"); }, "not valid JSON"));
  CHECK(throws_with([] { Vocab::from_json("[1, 2]"); }, "expected a JSON object"));
  CHECK(throws_with([] { Vocab::from_json(R"({"format": "other", "version": 1, "tokens": []})"); },
                    "not a tessera vocabulary"));
  CHECK(throws_with([] { Vocab::from_json(R"({"format": "tessera-vocab", "version": 2, "tokens": []})"); },
                    "unsupported \"version\" 2"));
  const std::string head = R"({"format": "tessera-vocab", "version": 1, "tokens": )";
  CHECK(throws_with([&] { Vocab::from_json(head + R"(["<pad>", "<bos>", "<eos>"]})"); }, "id 3 must be the special token <unk>"));
  CHECK(throws_with([&] { Vocab::from_json(head + R"(["<bos>", "<pad>", "<eos>", "<unk>"]})"); }, "id 0 must be"));
  CHECK(throws_with([&] { Vocab::from_json(head + R"(["<pad>", "<bos>", "<eos>", "<unk>", "a", "a"]})"); },
                    "token 'a' appears twice, as ids 4 and 5"));
  CHECK(throws_with([&] { Vocab::from_json(head + R"(["<pad>", "<bos>", "<eos>", "<unk>", 7]})"); }, "token 4 is a number"));
  CHECK(throws_with([&] { Vocab::from_json(head + R"(["<pad>", "<bos>", "<eos>", "<unk>", ""]})"); }, "token 4 is empty"));
  CHECK(throws_with([&] { Vocab::from_json(head + R"("abc"})"); }, "must be an array"));
}

TEST_CASE("vocab: save and load") {
  const std::string path = (std::filesystem::temp_directory_path() / "tessera_test_vocab.json").string();
  const Vocab v = Vocab::build({{"a", "b", "b"}});
  v.save(path);
  CHECK(Vocab::load(path) == v);
  examples::write_file_atomically(path, "{}");
  CHECK(throws_with([&] { Vocab::load(path); }, "Vocab::load: " + path));
  std::filesystem::remove(path);
  CHECK(throws_with([&] { Vocab::load(path); }, "cannot open"));
}

// ---------------- subwords (SentencePiece) ----------------

namespace {
// German-like sentences where compounds share parts: haus, tür, garten, haustür, gartenhaus ...
std::vector<Tokens> compound_corpus() {
  const Tokens articles = {"das", "die", "der", "ein"}, nouns = {"haus", "tür", "garten", "haustür", "gartentür",
                                                                 "gartenhaus", "baum", "baumhaus", "hund", "hundehaus"};
  const Tokens verbs = {"ist", "war", "bleibt"}, adjectives = {"groß", "klein", "alt", "neu", "schön"};
  std::vector<Tokens> sentences;
  for (size_t i = 0; i < 600; ++i)
    sentences.push_back({articles[i % 4], nouns[(i * 7) % 10], verbs[(i / 3) % 3], adjectives[(i * 3 + i / 10) % 5], "."});
  return sentences;
}
}  // namespace

TEST_CASE("vocab: subwords learn pieces, and every word of known characters comes back exactly") {
  const std::vector<Tokens> corpus = compound_corpus();
  const Vocab v = Vocab::build_subwords(corpus, 60);
  CHECK(v.is_subword());
  CHECK_FALSE(Vocab::build(corpus).is_subword());
  CHECK(v.size() <= 60);
  CHECK(v.size() > 20);
  CHECK(v.tokens()[0] == "<pad>");
  CHECK(v.tokens()[3] == "<unk>");
  // "▁" marks a word's first piece; a frequent short word is one piece.
  // "▁" marks a word's first piece. The frequent parts of the compounds are pieces of their own,
  // and a compound is spelt from them.
  INFO(nlohmann::json(v.tokens()).dump());
  CHECK(v.pieces({"haus"}) == Tokens{"▁haus"});
  CHECK(v.pieces({"gartenhaus"}) == Tokens{"▁garten", "haus"});
  CHECK(v.pieces({"baumhaus", "garten"}) == Tokens{"▁baum", "haus", "▁garten"});
  // Every training word, and unseen words of seen letters, round-trip through ids.
  for (const Tokens& s : corpus) CHECK(v.decode(v.encode(s)) == s);
  Tokens unknown;
  const Tokens unseen = {"der", "hundetür", "ist", "schöner", "."};  // never in the corpus
  const std::vector<int64_t> ids = v.encode(unseen, &unknown);
  CHECK(unknown.empty());
  CHECK(std::find(ids.begin(), ids.end(), Vocab::kUnk) == ids.end());
  CHECK(ids.size() > unseen.size());  // the new words are spelt in several pieces
  CHECK(v.decode(ids) == unseen);
  // With eos and padding: the ids up to <eos>, joined back into words.
  std::vector<int64_t> padded = {Vocab::kBos};
  padded.insert(padded.end(), ids.begin(), ids.end());
  padded.insert(padded.end(), {Vocab::kEos, ids[0], Vocab::kPad});
  CHECK(v.decode(padded) == unseen);
  Tokens raw = v.decode(padded, false);  // pieces, as the heatmaps label them
  CHECK(raw.size() == ids.size() + 2);
  CHECK(raw.front() == "<bos>");
  CHECK(raw.back() == "<eos>");
  // A character never seen: its word is reported, the character becomes <unk>.
  unknown.clear();
  const std::vector<int64_t> with_x = v.encode({"das", "xhaus"}, &unknown);
  CHECK(unknown == Tokens{"xhaus"});
  CHECK(std::count(with_x.begin(), with_x.end(), Vocab::kUnk) == 1);
  CHECK(v.decode(v.encode({"das", "xhaus"})).front() == "das");
}

TEST_CASE("vocab: joining pieces into words, worked by hand") {
  const Vocab v = Vocab::build_subwords(compound_corpus(), 60);
  CHECK(v.words({"▁häus", "chen", "▁ist", "<unk>", "▁", "da", "▁"}) == Tokens{"häuschen", "ist", "<unk>", "da"});
  CHECK(v.words({"chen", "▁a", "b"}) == Tokens{"chen", "ab"});  // a leading continuation starts a word
  CHECK(v.words({}).empty());
  const Vocab words = Vocab::build({{"a"}});
  CHECK(words.words({"▁a", "b"}) == Tokens{"▁a", "b"});  // a word vocabulary leaves tokens alone
  CHECK(words.pieces({"a", "b"}) == Tokens{"a", "b"});
}

TEST_CASE("vocab: subwords are deterministic, BPE works too, and bad requests are refused") {
  const std::vector<Tokens> corpus = compound_corpus();
  CHECK(Vocab::build_subwords(corpus, 60) == Vocab::build_subwords(corpus, 60));
  CHECK(Vocab::build_subwords(corpus, 60).to_json() == Vocab::build_subwords(corpus, 60).to_json());
  CHECK(Vocab::build_subwords(corpus, 30).size() <= 30);
  const Vocab bpe = Vocab::build_subwords(corpus, 60, "bpe");
  CHECK(bpe.is_subword());
  CHECK_FALSE(bpe == Vocab::build_subwords(corpus, 60));
  for (const Tokens& s : corpus) CHECK(bpe.decode(bpe.encode(s)) == s);
  CHECK(throws_with([&] { Vocab::build_subwords(corpus, 60, "wordpiece"); }, "'wordpiece' is not 'unigram' or 'bpe'"));
  CHECK(throws_with([&] { Vocab::build_subwords(corpus, 4); }, "size 4 leaves no room"));
  CHECK(throws_with([] { Vocab::build_subwords({{}, {}}, 60); }, "no words"));
}

TEST_CASE("vocab: a subword vocabulary survives JSON, and a damaged model is refused") {
  const Vocab v = Vocab::build_subwords(compound_corpus(), 60);
  const std::string json = v.to_json();
  CHECK(json.find("\"subword_model\"") != std::string::npos);
  const Vocab back = Vocab::from_json(json);
  CHECK(back == v);
  CHECK(back.is_subword());
  CHECK(back.encode({"der", "hundetür"}) == v.encode({"der", "hundetür"}));

  nlohmann::json parsed = nlohmann::json::parse(json);
  nlohmann::json bad = parsed;
  bad["subword_model"] = "not base64!";
  CHECK(throws_with([&] { Vocab::from_json(bad.dump()); }, "\"subword_model\": base64_decode"));
  bad["subword_model"] = examples::base64_encode("garbage bytes");  // not protobuf: caught before SentencePiece
  CHECK(throws_with([&] { Vocab::from_json(bad.dump()); }, "the subword model is damaged (wire type 7 of field 12"));
  // a well-formed model whose second piece is empty: libsentencepiece would abort the program
  std::string empty_piece;
  empty_piece += "\x0a\x05\x0a\x01" "a" "\x10\x01";  // pieces { piece: "a", type: 1 }
  empty_piece += "\x0a\x02\x10\x01";              // pieces { type: 1 }, no piece string
  bad["subword_model"] = examples::base64_encode(empty_piece);
  CHECK(throws_with([&] { Vocab::from_json(bad.dump()); }, "the subword model is damaged (piece 1 is empty)"));
  CHECK_THROWS_AS(translator::check_sentencepiece_model(std::string("\x0a\x03\x0a\x01\x00", 5)), tessera::Error);
  CHECK_NOTHROW(translator::check_sentencepiece_model(empty_piece.substr(0, 7)));
  // a model that is well-formed protobuf but not a usable SentencePiece model: SentencePiece's error
  bad["subword_model"] = examples::base64_encode(empty_piece.substr(0, 7));
  CHECK(throws_with([&] { Vocab::from_json(bad.dump()); }, "does not load"));
  bad["subword_model"] = 42;
  CHECK(throws_with([&] { Vocab::from_json(bad.dump()); }, "must be a base64 string"));
  bad = parsed;
  bad["tokens"][5] = "▁zzz";  // the token list no longer matches the model's pieces
  CHECK(throws_with([&] { Vocab::from_json(bad.dump()); }, "pieces are not the"));
  // A word vocabulary written by earlier versions (no "subword_model") still loads.
  parsed.erase("subword_model");
  CHECK_FALSE(Vocab::from_json(parsed.dump()).is_subword());
}
