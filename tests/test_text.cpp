// Tests for examples/translator/text.h.
#include <doctest/doctest.h>

#include <filesystem>

#include "examples/common/files.h"
#include "examples/translator/text.h"
#include "tests/helpers.h"

using namespace translator;
using tessera::testing::throws_with;

TEST_CASE("text: preprocess lowercases, normalises spaces and splits off punctuation") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"Go.", "go ."},
      {"Hi!", "hi !"},
      {"I am a student.", "i am a student ."},
      {"Va-t\u2019en !", "va-t'en !"},                      // curly apostrophe, hyphen kept
      {"J'ai 2,5 euros.", "j'ai 2,5 euros ."},               // elision kept, decimal comma kept
      {"Comment\u00A0\u00E7a va\u202F?", "comment \u00E7a va ?"},  // no-break spaces
      {"\u00C9COLE \u00DCber Stra\u00DFe \u1E9E \u0152uvre", "\u00E9cole \u00FCber stra\u00DFe \u00DF \u0153uvre"},
      {"He said \"hello\".", "he said \" hello \" ."},
      {"\u201CQuoted\u201D", "\" quoted \""},
      {"(really?)", "( really ? )"},
      {"Wait...", "wait ..."},
      {"Ça va?!", "\u00E7a va ?!"},
      {"\u00ABBonjour\u00BB, dit-il.", "\u00AB bonjour \u00BB , dit-il ."},
      {"the students' books", "the students ' books"},
      {"'hello'", "' hello '"},
      {"It costs 3.14 at 10:30.", "it costs 3.14 at 10:30 ."},
      {"  multiple   spaces\t\there \r\n", "multiple spaces here"},
      {"zero\u200Bwidth\uFEFF", "zerowidth"},
      {"\u0391\u0398\u0397\u039D\u0391 \u041C\u043E\u0441\u043A\u0432\u0430", "\u03B1\u03B8\u03B7\u03BD\u03B1 \u043C\u043E\u0441\u043A\u0432\u0430"},
      {"\u00BFQu\u00E9?", "\u00BF qu\u00E9 ?"},
      {"bad \xFF byte", "bad \uFFFD byte"},
      {"", ""},
      {" . ", "."},
  };
  for (const auto& [input, expected] : cases) {
    CAPTURE(input);
    CHECK(preprocess(input) == expected);
    CHECK(preprocess(expected) == expected);  // idempotent
  }
}

TEST_CASE("text: tokenize and detokenize") {
  CHECK(tokenize("je suis étudiant .") == std::vector<std::string>{"je", "suis", "étudiant", "."});
  CHECK(tokenize(" a  b ") == std::vector<std::string>{"a", "b"});
  CHECK(tokenize("").empty());
  CHECK(detokenize({"j'ai", "faim", "."}) == "j'ai faim .");
  CHECK(detokenize({}).empty());
  const std::string line = preprocess("Where are you? I'm here.");
  CHECK(detokenize(tokenize(line)) == line);
}

TEST_CASE("text: parse_tsv_pairs reads the Tatoeba format") {
  const std::string text =
      "\xEF\xBB\xBFGo.\tVa !\tCC-BY 2.0 (France) Attribution: tatoeba.org #2877272\r\n"
      "\n"
      "Hi.\tSalut !\n"
      "   \n"
      " Run! \t Cours !\n";
  const auto pairs = parse_tsv_pairs(text, "fra.txt");
  REQUIRE(pairs.size() == 3);
  CHECK(pairs[0] == SentencePair{"Go.", "Va !"});
  CHECK(pairs[1] == SentencePair{"Hi.", "Salut !"});
  CHECK(pairs[2] == SentencePair{"Run!", "Cours !"});
  CHECK(parse_tsv_pairs(text, "fra.txt", 2).size() == 2);
}

TEST_CASE("text: parse_tsv_pairs names every malformed line") {
  const std::string text = "Go.\tVa !\nno tab here\n\tempty English\nempty French\t \nbad \xC3( utf8\tx\n";
  CHECK(throws_with([&] { parse_tsv_pairs(text, "data.tsv"); }, "4 malformed lines in 'data.tsv'"));
  CHECK(throws_with([&] { parse_tsv_pairs(text, "data.tsv"); }, "data.tsv:2: no tab"));
  CHECK(throws_with([&] { parse_tsv_pairs(text, "data.tsv"); }, "data.tsv:3: the English side"));
  CHECK(throws_with([&] { parse_tsv_pairs(text, "data.tsv"); }, "data.tsv:4: the translation"));
  CHECK(throws_with([&] { parse_tsv_pairs(text, "data.tsv"); }, "data.tsv:5: invalid UTF-8 at byte 5"));
  std::string many;
  for (int i = 0; i < 25; ++i) many += "x\n";
  CHECK(throws_with([&] { parse_tsv_pairs(many, "m.tsv"); }, "  ... and 15 more"));
}

TEST_CASE("text: read_tsv_pairs reads a file and names a missing one") {
  const std::string path = (std::filesystem::temp_directory_path() / "tessera_test_pairs.tsv").string();
  examples::write_file_atomically(path, "I am a student.\tJe suis \u00E9tudiant.\n");
  const auto pairs = read_tsv_pairs(path);
  std::filesystem::remove(path);
  REQUIRE(pairs.size() == 1);
  CHECK(preprocess(pairs[0].source) == "i am a student .");
  CHECK(preprocess(pairs[0].target) == "je suis \u00E9tudiant .");
  CHECK(throws_with([&] { read_tsv_pairs(path); }, path));
}

TEST_CASE("text: fnv1a64 matches the published test vectors") {
  CHECK(fnv1a64("") == 0xcbf29ce484222325ull);
  CHECK(fnv1a64("a") == 0xaf63dc4c8601ec8cull);
  CHECK(fnv1a64("foobar") == 0x85944171f73967e8ull);
}

TEST_CASE("split_sentences cuts after final marks and keeps a line without one whole") {
  using translator::split_sentences;
  using translator::tokenize;
  using V = std::vector<std::vector<std::string>>;
  CHECK(split_sentences(tokenize("i am a student . she is a doctor .")) ==
        V{{"i", "am", "a", "student", "."}, {"she", "is", "a", "doctor", "."}});
  CHECK(split_sentences(tokenize("vraiment ?! oui … non")) == V{{"vraiment", "?!"}, {"oui", "…"}, {"non"}});
  CHECK(split_sentences(tokenize("no mark here")) == V{{"no", "mark", "here"}});
  CHECK(split_sentences(tokenize("3.14 is pi .")) == V{{"3.14", "is", "pi", "."}});  // a mark inside a token
  CHECK(split_sentences({}).empty());
}
