// examples/translator/run_report.h — the page a training run leaves behind: runs/<name>/index.html.
//
// One self-contained HTML file (examples/common/report.h) with the run's settings, the training
// curve, the test score, sample translations, the attention heatmaps of one sentence, what each
// output word rests on (explain.h: gradient saliency and integrated gradients beside
// cross-attention) and which heads do the same job (heads.h).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "examples/translator/model.h"
#include "examples/translator/train.h"
#include "examples/translator/vocab.h"

namespace translator {

struct RunSummary {
  std::string run_dir;                                          // where index.html goes
  std::vector<std::pair<std::string, std::string>> settings;    // shown as a table
  std::vector<EpochRecord> history;
  double test_bleu = -1;                                        // < 0: not measured
  std::string test_bleu_label = "test BLEU (greedy)";
  std::vector<std::vector<std::string>> samples;                // rows: source, reference, translation
  std::vector<std::string> attention_svgs;                      // files written by `attention`
  std::string explain_sentence = "I am a student.";
  std::vector<std::string> head_sentences;                      // for the head clusters (may be empty)
  uint64_t seed = 1;
};

// Writes <run_dir>/index.html (and <run_dir>/explain.svg, <run_dir>/heads.svg, which it shows);
// returns the page's path. Parts that fail (e.g. a sentence with unknown words) become a note on
// the page, not an error.
std::string write_run_report(TranslatorModel& model, const Vocab& source_vocab, const Vocab& target_vocab,
                             const RunSummary& run);

}  // namespace translator
