// examples/translator/text.h — turning raw sentences into tokens, and reading sentence pairs.
//
// Tokenisation is d2l's preprocess_nmt, made a little more careful:
//   "Va-t’en !"          -> "va-t'en !"
//   "J'ai « 2,5 » euros."  -> "j'ai « 2,5 » euros ."
//   "Straße Über"        -> "straße über"
// - Unicode spaces (no-break U+00A0, narrow no-break U+202F, thin, ideographic ...), tabs and
//   line breaks become one ASCII space; zero-width spaces and BOMs are dropped.
// - Letters are lowercased: ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic capitals
//   (É -> é, Ä -> ä, Œ -> œ, ẞ -> ß). German capitalises nouns, so this matters for the vocabulary.
// - A run of the marks , . ! ? ; : … that ends a word ("student." or "vraiment?!") is split off
//   as its own token: "student ." and "vraiment ?!". A mark inside a token (3.14, 2,5, e.g, 10:30)
//   stays in it.
// - Quotes and brackets " « » ( ) [ ] { } ¿ ¡ are tokens of their own. Curly quotes become
//   straight: “ ” „ -> ", and ’ ‘ -> '.
// - An apostrophe between two letters belongs to the word: French elision stays one token
//   ("j'ai", "l'arbre", "aujourd'hui", "don't"), exactly as the bundled corpus writes it
//   (corpus.h). An apostrophe at the start or end of a word is a quote and becomes a token.
// - Hyphens stay inside words (peut-être, est-ce).
// preprocess is idempotent: preprocess(preprocess(s)) == preprocess(s).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace translator {

std::string preprocess(std::string_view line);

// Splits a preprocessed line on single spaces (empty pieces are skipped).
std::vector<std::string> tokenize(std::string_view preprocessed);

// Joins tokens with single spaces (the inverse of tokenize).
std::string detokenize(const std::vector<std::string>& tokens);

// Cuts a tokenised line into sentences after each token made only of the sentence-final marks
// . ! ? … (several in a row stay with the sentence before: "vraiment ?!"). "i am a student . she
// is a doctor ." -> {"i am a student .", "she is a doctor ."}; a line without a final mark is one
// sentence. The models learnt one sentence a line, so `translate` translates each and joins them.
std::vector<std::vector<std::string>> split_sentences(const std::vector<std::string>& tokens);

struct SentencePair {
  std::string source, target;
  bool operator==(const SentencePair&) const = default;
};

// Reads the Tatoeba / manythings.org format: one pair a line, `english<TAB>other[<TAB>anything]`
// (a third column, the attribution, is ignored), UTF-8, optionally with a byte order mark; lines
// may end in \r\n; blank lines are skipped. The text is returned as it is in the file, trimmed of
// surrounding spaces — call preprocess on it.
//
// Every malformed line (no tab, an empty side, invalid UTF-8) is collected, and then one
// tessera::Error lists the first ten as `file:line: what is wrong` with the total count, so a
// user can fix a file in one go. max_pairs > 0 stops after that many pairs (lines after it are
// not checked).
std::vector<SentencePair> read_tsv_pairs(const std::string& path, size_t max_pairs = 0);

// The same, from text already in memory; `source_name` names it in error messages.
std::vector<SentencePair> parse_tsv_pairs(std::string_view text, const std::string& source_name,
                                          size_t max_pairs = 0);

// FNV-1a, 64 bits: a stable hash of text (the same on every machine and standard library), used
// to assign sentences and combinations to splits.
uint64_t fnv1a64(std::string_view text);

}  // namespace translator
