// Tests for examples/translator/corpus.h: the grammar's French is right (agreement, elision,
// contraction), the splits keep their promises (every word the grammar can produce is in train;
// valid and test hold out sentences, not words), and the corpus follows the seed.
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "examples/translator/corpus.h"
#include "examples/translator/text.h"
#include "tests/helpers.h"

using namespace translator;

namespace {

const LabelledCorpus& corpus_seed0() {
  static const LabelledCorpus corpus = generate_en_fr_labelled(0, 30000);
  return corpus;
}

// English -> French over all three splits.
std::map<std::string, std::string> translations(const LabelledCorpus& corpus) {
  std::map<std::string, std::string> map;
  for (const auto* split : {&corpus.train, &corpus.valid, &corpus.test})
    for (const LabelledPair& p : *split) map[p.pair.source] = p.pair.target;
  return map;
}

bool starts_with_vowel(const std::string& word) {
  for (const char* v : {"a", "e", "i", "o", "u", "h", "à", "â", "é", "è", "ê", "î", "ô", "û", "œ"})
    if (word.starts_with(v)) return true;
  return false;
}

// The English and the French words of some splits.
using Splits = std::vector<const std::vector<LabelledPair>*>;
std::pair<std::set<std::string>, std::set<std::string>> words_of(const Splits& splits) {
  std::set<std::string> english, french;
  for (const auto* split : splits)
    for (const LabelledPair& p : *split) {
      for (const auto& w : tokenize(p.pair.source)) english.insert(w);
      for (const auto& w : tokenize(p.pair.target)) french.insert(w);
    }
  return {english, french};
}

const LabelledCorpus& corpus_seed1() {  // the demo's corpus (translator demo: --seed 1)
  static const LabelledCorpus corpus = generate_en_fr_labelled(1, 30000);
  return corpus;
}

}  // namespace

TEST_CASE("corpus: the classic pair is in train") {
  const Corpus corpus = generate_en_fr_corpus(0, 2000);
  CHECK(corpus.train.front() == SentencePair{"i am a student .", "je suis étudiant ."});
  const Corpus other = generate_en_fr_corpus(12345, 100);
  CHECK(other.train.front() == SentencePair{"i am a student .", "je suis étudiant ."});
}

TEST_CASE("corpus: known translations (agreement, elision, contraction, negation)") {
  // The biggest corpus, so that these sentences are all drawn (with this seed).
  static const LabelledCorpus big = generate_en_fr_labelled(7, 200000);
  const auto map = translations(big);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"i am a student .", "je suis étudiant ."},
      {"she is a student .", "elle est étudiante ."},
      {"they are students .", "ils sont étudiants ."},
      {"the girls are students .", "les filles sont étudiantes ."},
      {"they are glad .", "ils sont contents ."},
      {"my sisters are glad .", "mes sœurs sont contentes ."},
      {"she is happy .", "elle est heureuse ."},
      {"the women are happy .", "les femmes sont heureuses ."},
      {"i am not a student .", "je ne suis pas étudiant ."},
      {"he is not tired .", "il n'est pas fatigué ."},
      {"we are very tired .", "nous sommes très fatigués ."},
      {"you all are kind .", "vous êtes gentils ."},
      {"the man is old .", "l'homme est vieux ."},
      {"i am hungry .", "j'ai faim ."},
      {"i am not hungry .", "je n'ai pas faim ."},
      {"i am twenty years old .", "j'ai vingt ans ."},
      {"i do not have a computer .", "je n'ai pas d'ordinateur ."},
      {"i have a car .", "j'ai une voiture ."},
      {"i like cats .", "j'aime les chats ."},              // generic: definite article
      {"i like cheese .", "j'aime le fromage ."},
      {"he does not order my orange .", "il ne commande pas mon orange ."},  // mon before a vowel
      {"i eat bread .", "je mange du pain ."},              // partitive
      {"i eat chicken .", "je mange du poulet ."},
      {"we eat pizzas .", "nous mangeons des pizzas ."},    // nous mangeons
      {"i do not eat pears .", "je ne mange pas de poires ."},
      {"i buy a dress .", "j'achète une robe ."},           // j'achète / nous achetons
      {"we buy a car .", "nous achetons une voiture ."},
      {"we prefer my cookie .", "nous préférons mon biscuit ."},
      {"you all open an umbrella .", "vous ouvrez un parapluie ."},
      {"he does not listen to a radio .", "il n'écoute pas de radio ."},
      {"you have a white cow .", "tu as une vache blanche ."},
      {"i listen to the radio .", "j'écoute la radio ."},
      {"the cat is on the table .", "le chat est sur la table ."},
      {"the cat is near the tree .", "le chat est près de l'arbre ."},
      {"the cat is near the bed .", "le chat est près du lit ."},
      {"i am at the museum .", "je suis au musée ."},
      {"i am at the station .", "je suis à la gare ."},
      {"my plate is clean .", "mon assiette est propre ."},
      {"the door is too old .", "la porte est trop vieille ."},
      {"the house is beautiful .", "la maison est belle ."},
      {"where are you ?", "où es-tu ?"},
      {"where is she ?", "où est-elle ?"},
      {"where are they ?", "où sont-ils ?"},
      {"where is my brother ?", "où est mon frère ?"},
      {"where is she now ?", "où est-elle maintenant ?"},
      {"where is my brother today ?", "où est mon frère aujourd'hui ?"},
      {"where are they this morning ?", "où sont-ils ce matin ?"},
      {"are you tired ?", "es-tu fatigué ?"},                // questions invert the pronoun
      {"is she a doctor ?", "est-elle médecin ?"},
      {"are they ready ?", "sont-ils prêts ?"},
      {"are you hungry ?", "as-tu faim ?"},
      {"is she thirsty ?", "a-t-elle soif ?"},
      {"are you at the station ?", "es-tu à la gare ?"},
      {"is he at the museum ?", "est-il au musée ?"},
  };
  int found = 0;
  for (const auto& [english, french] : expected) {
    const auto it = map.find(english);
    if (it == map.end()) {
      MESSAGE("not generated: " << english);
      continue;
    }
    ++found;
    CHECK_MESSAGE(it->second == french, english);
  }
  CHECK(found == static_cast<int>(expected.size()));
}

TEST_CASE("corpus: every pair is in preprocess form, 3-12 tokens, elided and contracted") {
  const LabelledCorpus& corpus = corpus_seed0();
  std::set<std::string> english;
  std::set<std::string> french_words;
  for (const auto* split : {&corpus.train, &corpus.valid, &corpus.test}) {
    for (const LabelledPair& p : *split) {
      CAPTURE(p.pair.source);
      CHECK(preprocess(p.pair.source) == p.pair.source);
      CHECK(preprocess(p.pair.target) == p.pair.target);
      const auto en = tokenize(p.pair.source), fr = tokenize(p.pair.target);
      CHECK(en.size() >= 3);
      CHECK(en.size() <= 12);
      CHECK(fr.size() >= 3);
      CHECK(fr.size() <= 12);
      CHECK(english.insert(p.pair.source).second);  // one translation per English sentence
      for (size_t i = 0; i + 1 < fr.size(); ++i) {
        if (fr[i] == "je" || fr[i] == "ne" || fr[i] == "de" || fr[i] == "le" || fr[i] == "la")
          CHECK_MESSAGE(!starts_with_vowel(fr[i + 1]), p.pair.target);
        if (fr[i] == "de" || fr[i] == "à") CHECK_MESSAGE((fr[i + 1] != "le" && fr[i + 1] != "les"), p.pair.target);
      }
      for (const auto& w : fr) french_words.insert(w);
      // she -> elle with feminine agreement of a profession or adjective.
      if (p.pair.source == "she is a lawyer .") CHECK(p.pair.target == "elle est avocate .");
    }
  }
  const size_t total = corpus.train.size() + corpus.valid.size() + corpus.test.size();
  CHECK(total + corpus.dropped_for_unseen_words == 30000);
  MESSAGE("seed 0, 30000 pairs: train " << corpus.train.size() << ", valid " << corpus.valid.size() << ", test "
                                        << corpus.test.size() << ", dropped " << corpus.dropped_for_unseen_words
                                        << ", French word types " << french_words.size()
                                        << ", held-out combinations " << held_out_combinations().size());
}

TEST_CASE("corpus: held-out combinations appear only in test") {
  const LabelledCorpus& corpus = corpus_seed0();
  for (const auto* split : {&corpus.train, &corpus.valid})
    for (const LabelledPair& p : *split)
      for (const std::string& c : p.combinations) CHECK_MESSAGE(!is_held_out(c), p.pair.source << ": " << c);
  size_t test_with_held_out = 0;
  for (const LabelledPair& p : corpus.test) {
    bool any = false;
    for (const std::string& c : p.combinations) any = any || is_held_out(c);
    test_with_held_out += any;
  }
  CHECK(test_with_held_out == corpus.test.size());
  CHECK(corpus.test.size() > 30000 / 25);  // a test set worth measuring (> 4%)
  CHECK(corpus.test.size() < 30000 / 5);
  CHECK(corpus.valid.size() > 30000 / 40);

  // The same from the text alone for (subject, adjective): "she is (not) (very) tired ." never in train.
  const std::string prefix = "subject+adjective: ";
  int checked = 0;
  for (const std::string& combination : held_out_combinations()) {
    if (!combination.starts_with(prefix)) continue;
    const size_t bar = combination.find(" | ");
    const std::string subject = combination.substr(prefix.size(), bar - prefix.size());
    const std::string adjective = combination.substr(bar + 3);
    for (const LabelledPair& p : corpus.train) {
      const std::string& s = p.pair.source;
      if (s.starts_with(subject + " ") && s.ends_with(" " + adjective + " .")) {
        const auto middle = tokenize(s.substr(subject.size(), s.size() - subject.size() - adjective.size() - 2));
        bool only_be = !middle.empty();
        for (const auto& w : middle)
          only_be = only_be && (w == "am" || w == "is" || w == "are" || w == "not" || w == "very" ||
                                w == "really" || w == "too");
        CHECK_MESSAGE(!only_be, s);
      }
    }
    ++checked;
  }
  CHECK(checked > 10);
  CHECK(!is_held_out("subject+profession: i | student"));
}

TEST_CASE("corpus: every word the grammar can produce occurs in train") {
  // The words the grammar can produce: those of a corpus big enough to have made them all (in
  // 30,000 pairs the rarest words are in about four sentences; 100,000 pairs miss none).
  static const LabelledCorpus big = generate_en_fr_labelled(2, 100000);
  const auto all = words_of({&big.train, &big.valid, &big.test});
  const std::set<std::string>& all_english = all.first;
  const std::set<std::string>& all_french = all.second;
  CHECK(all_english.count("where"));
  CHECK(all_french.count("es-tu"));
  for (const LabelledCorpus* corpus_pointer : {&corpus_seed0(), &corpus_seed1()}) {
    const LabelledCorpus& corpus = *corpus_pointer;
    const auto train = words_of({&corpus.train});
    const std::set<std::string>& english = train.first;
    const std::set<std::string>& french = train.second;
    for (const auto& w : all_english) CHECK_MESSAGE(english.count(w), "English word not in train: " << w);
    for (const auto& w : all_french) CHECK_MESSAGE(french.count(w), "French word not in train: " << w);
    CHECK(english.size() == all_english.size());  // and no word the big corpus lacks
    CHECK(french.size() == all_french.size());
    CHECK(corpus.dropped_for_unseen_words == 0);

    // Each inverted form is in many training sentences, not one: "where are you ?" alone did not
    // teach es-tu (the yes/no questions do), nor did seven where-questions with a pronoun teach
    // that the pronoun stays in them (35 do, with the times).
    std::map<std::string, int> count;
    int where_pronoun = 0;
    const std::set<std::string> pronouns = {"i", "you", "he", "she", "we", "they"};
    for (const LabelledPair& p : corpus.train) {
      for (const auto& w : tokenize(p.pair.target)) ++count[w];
      const auto english = tokenize(p.pair.source);
      where_pronoun += english[0] == "where" && pronouns.count(english[2]);
    }
    for (const char* inverted : {"suis-je", "es-tu", "est-il", "est-elle", "sommes-nous", "êtes-vous", "sont-ils",
                                 "ai-je", "as-tu", "a-t-il", "a-t-elle", "avons-nous", "avez-vous", "ont-ils"})
      CHECK_MESSAGE(count[inverted] >= 10, inverted << " in " << count[inverted] << " training sentences");
    CHECK(where_pronoun >= 25);
  }
}

TEST_CASE("corpus: valid and test hold out sentences, not words") {
  for (const LabelledCorpus* corpus_pointer : {&corpus_seed0(), &corpus_seed1()}) {
    const LabelledCorpus& corpus = *corpus_pointer;
    std::set<std::string> train_sources;
    std::set<std::pair<std::string, std::string>> train_pairs;
    for (const LabelledPair& p : corpus.train) {
      train_sources.insert(p.pair.source);
      train_pairs.emplace(p.pair.source, p.pair.target);
    }
    const auto train = words_of({&corpus.train});
    for (const auto* split : {&corpus.valid, &corpus.test})
      for (const LabelledPair& p : *split) {
        CAPTURE(p.pair.source);
        CHECK(!train_sources.count(p.pair.source));  // the sentence is held out ...
        CHECK(!train_pairs.count({p.pair.source, p.pair.target}));
        for (const auto& w : tokenize(p.pair.source)) CHECK_MESSAGE(train.first.count(w), w);  // its words are not
        for (const auto& w : tokenize(p.pair.target)) CHECK_MESSAGE(train.second.count(w), w);
      }
    // valid is still the 5% of the sentences without a held-out combination
    const double not_held_out = static_cast<double>(corpus.train.size() + corpus.valid.size());
    CHECK(corpus.valid.size() == static_cast<size_t>(0.05 * not_held_out + 0.5));
  }
}

TEST_CASE("corpus: deterministic in the seed") {
  const Corpus a = generate_en_fr_corpus(3, 3000), b = generate_en_fr_corpus(3, 3000);
  const Corpus c = generate_en_fr_corpus(4, 3000);
  CHECK(a.train == b.train);
  CHECK(a.valid == b.valid);
  CHECK(a.test == b.test);
  CHECK(a.train != c.train);
  // The held-out combinations do not depend on the seed.
  for (const SentencePair& p : c.test) CHECK(std::find(a.train.begin(), a.train.end(), p) == a.train.end());
}

TEST_CASE("corpus: description and limits") {
  const std::string description = corpus_description();
  CHECK(description.find("elision") != std::string::npos);
  CHECK(description.find("held-out") != std::string::npos);
  CHECK(tessera::testing::throws_with([] { generate_en_fr_corpus(0, 0); }, "between 1 and 200000"));
  CHECK(tessera::testing::throws_with([] { generate_en_fr_corpus(0, 5'000'000); }, "between 1 and 200000"));
}
