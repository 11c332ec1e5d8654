// Tests for examples/translator/freedict.h: the parsing pieces on hand-written entries, the
// whole extraction on a small dictzip-like file written here, and — when Debian's
// dict-freedict-eng-deu is installed — on the real dictionary.
#include <doctest/doctest.h>

#include <zlib.h>

#include <filesystem>

#include "examples/common/files.h"
#include "examples/translator/freedict.h"
#include "tests/helpers.h"

using namespace translator;
using tessera::testing::throws_with;
namespace fs = std::filesystem;

TEST_CASE("freedict: dictd base64 numbers") {
  CHECK(decode_dictd_number("A") == 0);
  CHECK(decode_dictd_number("B") == 1);
  CHECK(decode_dictd_number("/") == 63);
  CHECK(decode_dictd_number("BA") == 64);
  CHECK(decode_dictd_number("DD") == 3 * 64 + 3);
  CHECK(decode_dictd_number("FVrr") == ((5 * 64 + 21) * 64 + 43) * 64 + 43);
  CHECK(throws_with([] { decode_dictd_number("A-B"); }, "not a base64 digit"));
  CHECK(throws_with([] { decode_dictd_number(""); }, "not a dictd number"));
}

TEST_CASE("freedict: cleaning and the sentence filter") {
  CHECK(clean_dictionary_text(" [coll.] Was weiß ich! [ugs.] ") == "Was weiß ich!");
  CHECK(clean_dictionary_text("Tierärzte <pl>,  Veterinäre {pl}") == "Tierärzte , Veterinäre");
  CHECK(looks_like_sentence("What was that noise?"));
  CHECK(looks_like_sentence("Über allen Gipfeln ist Ruh."));
  CHECK(!looks_like_sentence("what was that noise?"));          // no capital
  CHECK(!looks_like_sentence("The Aachen Cathedral"));           // no final mark
  CHECK(!looks_like_sentence("Search me!"));                    // two words
  CHECK(!looks_like_sentence("He gave sth. to sb. yesterday.")); // placeholders
  CHECK(!looks_like_sentence("Er gab jdm. etwas zurück."));
  CHECK(!looks_like_sentence("Adopt/pass an amendment now."));   // alternatives
  CHECK(!looks_like_sentence("The actor has been tipped for the role of …"));
  CHECK(looks_like_sentence("The Goth. era was long ago."));     // "Goth." is no placeholder
}

TEST_CASE("freedict: pairs from one entry") {
  const std::string headword_entry =
      "What was that noise? /wˌɒt wɒz ðat nˈɔɪz/\nWas war das für ein Geräusch?\n";
  CHECK(pairs_from_entry(headword_entry) ==
        std::vector<SentencePair>{{"What was that noise?", "Was war das für ein Geräusch?"}});
  const std::string alternatives = "He and his sister swapped desserts. /hiː/\n"
                                   "Er hat mit seiner Schwester den Nachtisch getauscht., Er und seine Schwester haben.\n";
  CHECK(pairs_from_entry(alternatives) ==
        std::vector<SentencePair>{{"He and his sister swapped desserts.", "Er hat mit seiner Schwester den Nachtisch getauscht."}});
  const std::string examples =
      "tipped /tˈɪpt/\n"
      "getippt, gesetzt\n"
      "      \"The book has been tipped as a bestseller.\"  - Das Buch gilt als potenzieller Bestseller.\n"
      "      \"The actor has been tipped for the role of …\"  - Es wird erwartet, dass er die Rolle bekommt.\n"
      "      \"all-weather operation\"  - Allwetterbetrieb\n"
      " see: {tip sb./sth.}, {tipping}\n";
  CHECK(pairs_from_entry(examples) ==
        std::vector<SentencePair>{{"The book has been tipped as a bestseller.", "Das Buch gilt als potenzieller Bestseller."}});
  CHECK(pairs_from_entry("").empty());
}

TEST_CASE("freedict: split_by_hash is stable and roughly proportional") {
  std::vector<SentencePair> pairs;
  for (int i = 0; i < 4000; ++i) pairs.push_back({"Sentence number " + std::to_string(i) + ".", "Satz."});
  const Corpus a = split_by_hash(pairs, 0.05, 0.1);
  CHECK(a.train.size() + a.valid.size() + a.test.size() == 4000);
  CHECK(a.test.size() > 300);
  CHECK(a.test.size() < 500);
  CHECK(a.valid.size() > 130);
  CHECK(a.valid.size() < 270);
  // A pair's split does not depend on the others: drop half, the rest stays put.
  std::vector<SentencePair> half(pairs.begin(), pairs.begin() + 2000);
  const Corpus b = split_by_hash(half, 0.05, 0.1);
  for (const SentencePair& p : b.test) CHECK(std::find(a.test.begin(), a.test.end(), p) != a.test.end());
  CHECK(throws_with([&] { split_by_hash(pairs, 0.6, 0.5); }, "add up to at most 1"));
}

TEST_CASE("freedict: extraction from a small dictionary written here") {
  const fs::path dir = fs::temp_directory_path() / ("tessera_test_freedict_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string entry1 = "What was that noise? /wɒt/\nWas war das für ein Geräusch?\n";
  const std::string entry2 = "tipped /tɪpt/\ngetippt\n      \"She's tipped as the next Prime Minister.\"  - "
                             "Sie gilt als die nächste Premierministerin.\n";
  const std::string text = "00-database-info\n" + entry1 + entry2;
  const std::string dict_path = (dir / "test.dict.dz").string(), index_path = (dir / "test.index").string();
  gzFile gz = gzopen(dict_path.c_str(), "wb");
  REQUIRE(gz != nullptr);
  gzwrite(gz, text.data(), static_cast<unsigned>(text.size()));
  gzclose(gz);
  // Offsets 17 ("R") and 17 + len(entry1), in dictd base64.
  const auto encode = encode_dictd_number;
  for (const uint64_t v : {0ull, 17ull, 64ull, 262144ull, (1ull << 60) - 1}) CHECK(decode_dictd_number(encode(v)) == v);
  const uint64_t offset2 = 17 + entry1.size();
  examples::write_file_atomically(
      index_path, "00databaseinfo\tA\tR\nwhat was that noise\tR\t" + encode(entry1.size()) + "\nnoise\tR\t" +
                      encode(entry1.size()) + "\ntipped\t" + encode(offset2) + "\t" + encode(entry2.size()) + "\n");
  const auto pairs = extract_freedict_pairs(index_path, dict_path);
  CHECK(pairs == std::vector<SentencePair>{{"What was that noise?", "Was war das für ein Geräusch?"},
                                          {"She's tipped as the next Prime Minister.",
                                           "Sie gilt als die nächste Premierministerin."}});
  examples::write_file_atomically(index_path, "far away\tBAAA\tB\n");
  CHECK(throws_with([&] { extract_freedict_pairs(index_path, dict_path); }, "test.index:1: entry [262144, 262145) lies outside the"));
  examples::write_file_atomically(index_path, "no offsets here\n");
  CHECK(throws_with([&] { extract_freedict_pairs(index_path, dict_path); }, "expected headword<TAB>offset<TAB>length"));
  examples::write_file_atomically(dict_path, "not gzip at all, and not long enough either");
  examples::write_file_atomically(index_path, "x\tA\tB\n");
  // zlib reads a file without a gzip header as plain bytes (transparent mode): no crash either way.
  CHECK_NOTHROW(extract_freedict_pairs(index_path, dict_path));
  fs::remove_all(dir);
  CHECK(throws_with([&] { extract_freedict_pairs(index_path, dict_path); }, "apt-get install dict-freedict-eng-deu"));
}

TEST_CASE("freedict: the real dictionary, when installed") {
  if (!fs::exists(kFreedictIndex) || !fs::exists(kFreedictDict)) {
    MESSAGE("dict-freedict-eng-deu is not installed (apt-get install dict-freedict-eng-deu): skipped");
    return;
  }
  const auto pairs = extract_freedict_pairs();
  CHECK(pairs.size() > 10000);
  CHECK(pairs.size() < 25000);
  CHECK(std::find(pairs.begin(), pairs.end(), SentencePair{"What was that noise?", "Was war das für ein Geräusch?"}) !=
        pairs.end());
  for (const SentencePair& p : pairs) {
    CHECK(looks_like_sentence(p.source));
    CHECK(looks_like_sentence(p.target));
  }
  const Corpus corpus = split_by_hash(pairs, 0.05, 0.05);
  MESSAGE("freedict-eng-deu: " << pairs.size() << " pairs; train " << corpus.train.size() << ", valid "
                               << corpus.valid.size() << ", test " << corpus.test.size());
}
