// examples/translator/corpus.h — the bundled English→French corpus, generated from a small
// grammar written here, so the translator trains offline on data the project owns.
//
// The grammar (corpus_description() prints the same for --help; docs/translator_data.md has the
// full tables) produces sentences like
//   i am a student .                   -> je suis étudiant .
//   she is not very tired .            -> elle n'est pas très fatiguée .
//   my sisters are teachers .          -> mes sœurs sont professeures .
//   we buy three red apples .          -> nous achetons trois pommes rouges .
//   i do not have a computer .         -> je n'ai pas d'ordinateur .
//   he likes bread .                   -> il aime le pain .
//   the cats are under the table .     -> les chats sont sous la table .
//   where are you ?                    -> où es-tu ?
//   is she a doctor ?                  -> est-elle médecin ?
//   are you hungry ?                   -> as-tu faim ?
// with French agreement in gender and number (étudiant/étudiante/étudiants/étudiantes), être,
// avoir and ~35 -er verbs conjugated in the present (nous mangeons, j'achète, nous préférons),
// elision (j'aime, n'ai, l'arbre, d'ordinateur), contraction (près du chat, au musée), the
// partitive (du pain), "de" after a negation, possessives (mon assiette), and questions whose
// pronoun inverts (où es-tu ?, es-tu fatigué ?, a-t-elle faim ?).
//
// Tokens: both sides are lowercase with punctuation as separate tokens, i.e. already in the
// form preprocess() (text.h) produces; an elided French word is one token ("j'ai", "l'arbre"),
// and so are hyphenated inversions ("es-tu").
//
// Splits: every sentence is labelled with the combinations it contains — (subject, adjective),
// (subject, profession), (verb, object), (adjective, noun), (preposition, place). A fixed ~7% of
// all possible combinations, chosen by a hash of their names (not by the seed), is held out:
// sentences containing one go to `test` only, so test BLEU measures generalisation to new
// combinations of known words. `valid` is a seeded 5% sample of the other sentences, drawn after
// the first sentence of every word has been kept for train: every word of the corpus occurs in
// train, and valid and test hold out sentences, not words. (A test sentence with a word that only
// held-out sentences have would be dropped; with the default 30,000 pairs there is none, and
// every word the grammar can produce is in train.)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "examples/translator/text.h"

namespace translator {

struct Corpus {
  std::vector<SentencePair> train, valid, test;
};

// num_pairs distinct pairs are generated (deterministic in the seed: tessera's Philox
// generator, no std:: distributions), then split; the three splits together hold num_pairs
// minus the few dropped for unseen words. The classic pair "i am a student ." -> "je suis
// étudiant ." is always in train. num_pairs is at most 200000 (the grammar makes a few hundred
// thousand distinct sentences; beyond that it would mostly repeat itself).
Corpus generate_en_fr_corpus(uint64_t seed, size_t num_pairs = 30000);

// What the grammar covers, a few lines of plain text for docs and --help.
std::string corpus_description();

// The same corpus with each pair's combination labels, e.g. "subject+adjective: she | tired",
// "verb+object: eat | cake" (English words), for tests and analysis.
struct LabelledPair {
  SentencePair pair;
  std::vector<std::string> combinations;
};
struct LabelledCorpus {
  std::vector<LabelledPair> train, valid, test;
  size_t dropped_for_unseen_words = 0;
};
LabelledCorpus generate_en_fr_labelled(uint64_t seed, size_t num_pairs = 30000);

// Whether a combination label is held out of train and valid.
bool is_held_out(const std::string& combination);
// Every held-out combination label the grammar can produce, sorted.
std::vector<std::string> held_out_combinations();

}  // namespace translator
