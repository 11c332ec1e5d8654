// examples/translator/freedict.h — real English–German sentence pairs from Debian's
// dict-freedict-eng-deu (the Ding dictionary, GPL), extracted at run time and never stored in
// the repository.
//
// The package ships a dictd database: an index (TSV: headword, offset, length — numbers in
// dictd's base64 digits A-Z a-z 0-9 + /) and the entries, dictzip-compressed (a gzip file zlib
// inflates whole). An entry's first line is the English headword with its IPA in slashes, the
// next line its German translations; some entries add example lines
//     "English sentence."  - German sentence.
// A pair is kept when both sides look like sentences: a capital first letter, a final . ! or ?,
// at least 3 words, no sth./sb./jdn./etw. placeholders, no alternatives ("/", "…", "|").
// Annotations in [], <> and {} are removed; of several German alternatives
// ("Sie kommt., Sie ist da.") the first is kept. Exact duplicates are dropped.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "examples/translator/corpus.h"
#include "examples/translator/text.h"

namespace translator {

inline constexpr const char* kFreedictIndex = "/usr/share/dictd/freedict-eng-deu.index";
inline constexpr const char* kFreedictDict = "/usr/share/dictd/freedict-eng-deu.dict.dz";

// Raw sentences (not preprocessed), in index order. Throws tessera::Error naming a missing file
// with the apt-get line to install it, or a damaged file.
std::vector<SentencePair> extract_freedict_pairs(const std::string& index_path = kFreedictIndex,
                                                 const std::string& dict_path = kFreedictDict);

// The same from an index and an (inflated) dictionary already in memory; errors name
// index_name:line and dict_name. extract_freedict_pairs is reading the files + this.
std::vector<SentencePair> parse_freedict(std::string_view index, std::string_view dict, const std::string& index_name,
                                         const std::string& dict_name);

// The pieces, exposed for tests.
// dictd's base64 number: "A" = 0, "B" = 1, "BA" = 64, ...; throws on other characters.
uint64_t decode_dictd_number(std::string_view digits);
// The inverse: 0 -> "A", 64 -> "BA" (tests write dictd indexes with it).
std::string encode_dictd_number(uint64_t value);
// Pairs from the text of one entry (as described above).
std::vector<SentencePair> pairs_from_entry(std::string_view entry);
// Whether a cleaned side looks like a sentence.
bool looks_like_sentence(std::string_view text);
// Annotations removed, spaces collapsed, trimmed.
std::string clean_dictionary_text(std::string_view text);

// A split that depends only on each pair's English side (FNV-1a 64 mapped to [0, 1)), so it
// stays put when the package or the filter changes slightly; the order within splits is kept.
Corpus split_by_hash(std::vector<SentencePair> pairs, double valid_fraction, double test_fraction);

}  // namespace translator
