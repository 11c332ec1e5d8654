// examples/translator/run_report.cpp — see run_report.h.
#include "examples/translator/run_report.h"

#include <filesystem>

#include <fmt/format.h>

#include "examples/common/files.h"
#include "examples/common/report.h"
#include "examples/translator/explain.h"
#include "examples/translator/heads.h"

namespace translator {

std::string write_run_report(TranslatorModel& model, const Vocab& source_vocab, const Vocab& target_vocab,
                             const RunSummary& run) {
  namespace fs = std::filesystem;
  const fs::path dir = run.run_dir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  TS_CHECK(!ec, "report: cannot create the run directory {}: {}", run.run_dir, ec.message());
  examples::Report page("translator — " + run.run_dir);

  if (run.test_bleu >= 0) {
    std::string text = fmt::format("{}: {:.2f}.", run.test_bleu_label, run.test_bleu);
    if (!run.history.empty())
      text += fmt::format(" {} epochs; last epoch: training loss {:.4f}, validation BLEU {:.2f}, {:.0f} target tokens/s.",
                          run.history.back().epoch, run.history.back().train_loss, run.history.back().valid_bleu,
                          run.history.back().tokens_per_second);
    page.add_text("Result", text);
  }
  page.add_table("Settings", {"setting", "value"}, [&] {
    std::vector<std::vector<std::string>> rows;
    for (const auto& [k, v] : run.settings) rows.push_back({k, v});
    return rows;
  }());
  page.add_svg_file("Training curve", (dir / "training_curve.svg").string(), "training loss and validation BLEU per epoch");
  if (!run.history.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const EpochRecord& r : run.history)
      rows.push_back({std::to_string(r.epoch), fmt::format("{:.4f}", r.train_loss), fmt::format("{:.2f}", r.valid_bleu),
                      fmt::format("{:.1f}", r.seconds), fmt::format("{:.0f}", r.tokens_per_second)});
    page.add_table("Epochs", {"epoch", "training loss", "validation BLEU", "seconds", "target tokens/s"}, rows);
  }
  if (!run.samples.empty()) page.add_table("Sample translations", {"source", "reference", "translation"}, run.samples);
  for (const std::string& file : run.attention_svgs)
    page.add_svg_file("Attention: " + fs::path(file).stem().string(), file,
                      "every layer and head; rows attend to columns (docs/attention.md)");

  // what each output word rests on
  try {
    const Explanation e = explain(model, source_vocab, target_vocab, run.explain_sentence);
    const std::string svg = explanation_svg(e);
    examples::write_file_atomically((dir / "explain.svg").string(), svg);
    page.add_svg("What each output word rests on", svg,
                 "cross-attention beside gradient saliency and integrated gradients w.r.t. the source embeddings "
                 "(docs/interpretability.md)");
    page.add_preformatted("What each output word rests on, in numbers", explanation_text(e));
  } catch (const tessera::Error& error) {
    page.add_text("What each output word rests on", std::string("(not drawn: ") + error.what() + ")");
  }

  // which heads do the same job
  if (!run.head_sentences.empty()) {
    try {
      const HeadAnalysis h = analyze_heads(model, source_vocab, target_vocab, run.head_sentences, 6, run.seed);
      examples::write_file_atomically((dir / "heads.svg").string(), h.svg);
      page.add_svg("Heads that do the same job", h.svg,
                   fmt::format("heads clustered by what they attend to, over {} test sentences", run.head_sentences.size()));
      page.add_preformatted("Head clusters", h.summary);
      page.add_table("Attention entropy per layer and head (nats)", h.entropy_header, h.entropy_rows);
    } catch (const tessera::Error& error) {
      page.add_text("Heads that do the same job", std::string("(not computed: ") + error.what() + ")");
    }
  }

  const std::string path = (dir / "index.html").string();
  page.write(path);
  return path;
}

}  // namespace translator
