// Tests for examples/translator/bleu.h, with every expected value worked out by hand from the
// definition in bleu.h (sacreBLEU's corpus_bleu with tokenize='none', smooth_method='exp').
#include <doctest/doctest.h>

#include <cmath>

#include "examples/translator/bleu.h"
#include "examples/translator/text.h"
#include "tests/helpers.h"

using namespace translator;
using Tokens = std::vector<std::string>;

TEST_CASE("bleu: a perfect match scores 100") {
  const BleuScore s = corpus_bleu({tokenize("the cat is on the mat .")}, {tokenize("the cat is on the mat .")});
  CHECK(s.score == doctest::Approx(100.0));
  CHECK(s.brevity_penalty == 1.0);
  CHECK(s.ratio == 1.0);
  CHECK(s.matches == std::array<int64_t, 4>{7, 6, 5, 4});
  CHECK(s.totals == std::array<int64_t, 4>{7, 6, 5, 4});
  CHECK(sentence_bleu(tokenize("a b c d"), tokenize("a b c d")).score == doctest::Approx(100.0));
}

TEST_CASE("bleu: Papineni's clipping example with exp smoothing") {
  // Hypothesis "the the the the the the the" (7 words), reference "the cat is on the mat" (6).
  // Unigrams: "the" occurs 7 times, clipped to its 2 occurrences in the reference: p1 = 2/7.
  // Bigrams "the the" (6), trigrams (5), 4-grams (4): no match. exp smoothing gives the k-th
  // zero order 100 / (2^k t_n): p2 = 100/(2*6), p3 = 100/(4*5), p4 = 100/(8*4).
  // c = 7 >= r = 6, so BP = 1 and
  // BLEU = (28.5714 * 8.3333 * 5 * 3.125)^(1/4) = 3720.24^(1/4) = 7.80985.
  const BleuScore s = corpus_bleu({tokenize("the the the the the the the")}, {tokenize("the cat is on the mat")});
  CHECK(s.matches == std::array<int64_t, 4>{2, 0, 0, 0});
  CHECK(s.totals == std::array<int64_t, 4>{7, 6, 5, 4});
  CHECK(s.precisions[0] == doctest::Approx(200.0 / 7));
  CHECK(s.precisions[1] == doctest::Approx(100.0 / 12));
  CHECK(s.precisions[2] == doctest::Approx(5.0));
  CHECK(s.precisions[3] == doctest::Approx(3.125));
  CHECK(s.brevity_penalty == 1.0);
  CHECK(s.score == doctest::Approx(7.80985).epsilon(1e-5));
}

TEST_CASE("bleu: statistics are summed over the corpus before the brevity penalty") {
  // Sentence 1 matches its reference exactly: m = t = (6, 5, 4, 3). Sentence 2, "there is a cat",
  // is a prefix of "there is a cat on the mat": m = t = (4, 3, 2, 1). All precisions are 100%,
  // c = 10, r = 6 + 7 = 13, so BLEU = 100 exp(1 - 13/10) = 100 exp(-0.3) = 74.0818.
  const BleuScore s = corpus_bleu({tokenize("the cat is on the mat"), tokenize("there is a cat")},
                                  {tokenize("the cat is on the mat"), tokenize("there is a cat on the mat")});
  CHECK(s.matches == std::array<int64_t, 4>{10, 8, 6, 4});
  CHECK(s.hypothesis_length == 10);
  CHECK(s.reference_length == 13);
  CHECK(s.brevity_penalty == doctest::Approx(std::exp(-0.3)));
  CHECK(s.ratio == doctest::Approx(10.0 / 13));
  CHECK(s.score == doctest::Approx(74.0818).epsilon(1e-5));
}

TEST_CASE("bleu: short hypotheses — corpus BLEU is 0, sentence BLEU uses the effective order") {
  // "the cat" against "the cat is on the mat": p1 = p2 = 100%, no trigrams at all (t3 = 0).
  // Corpus BLEU (order 4) is 0, as in sacreBLEU. Sentence BLEU averages the two orders that
  // exist: 100 * BP = 100 exp(1 - 6/2) = 13.5335.
  const Tokens hypothesis = tokenize("the cat"), reference = tokenize("the cat is on the mat");
  const BleuScore corpus = corpus_bleu({hypothesis}, {reference});
  CHECK(corpus.score == 0.0);
  CHECK(corpus.brevity_penalty == doctest::Approx(std::exp(-2.0)));
  const BleuScore sentence = sentence_bleu(hypothesis, reference);
  CHECK(sentence.score == doctest::Approx(13.5335).epsilon(1e-5));

  // "the the cat" against "the cat": unigrams clipped to 2/3, bigrams 1/2, the one trigram
  // misses: p3 = 100 / (2 * 1) = 50. Effective order 3, c = 3 >= r = 2:
  // (66.667 * 50 * 50)^(1/3) = 55.0321.
  CHECK(sentence_bleu(tokenize("the the cat"), tokenize("the cat")).score == doctest::Approx(55.0321).epsilon(1e-5));
}

TEST_CASE("bleu: empty hypotheses, no matches, bad input") {
  const BleuScore empty = corpus_bleu({Tokens{}}, {tokenize("a b c d")});
  CHECK(empty.score == 0.0);
  CHECK(empty.brevity_penalty == 0.0);
  CHECK(empty.ratio == 0.0);
  CHECK(corpus_bleu({}, {}).score == 0.0);
  CHECK(corpus_bleu({tokenize("w x y z")}, {tokenize("a b c d")}).score == 0.0);
  CHECK(tessera::testing::throws_with([] { corpus_bleu({Tokens{}}, {}); }, "1 hypotheses but 0 references"));
}
