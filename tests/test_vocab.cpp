// Tests for examples/translator/vocab.h.
#include <doctest/doctest.h>

#include <filesystem>

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
