// tests/test_explain.cpp — examples/translator/explain.h and run_report.h on a small untrained
// model: the matrices have the right shapes and values, the saliency is the gradient (checked
// against finite differences of the same log-probability), integrated gradients are complete,
// and the run's page is written.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "examples/common/files.h"
#include "examples/translator/explain.h"
#include "examples/translator/run_report.h"
#include "examples/translator/text.h"
#include "tests/examples_helpers.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace translator;

namespace {

struct Tiny {
  Vocab source = Vocab::build({{"i", "am", "a", "student", "."}, {"she", "is", "happy", "."}});
  Vocab target = Vocab::build({{"je", "suis", "étudiant", "."}, {"elle", "est", "heureuse", "."}});
  std::shared_ptr<TranslatorModel> model;
  Tiny() {
    ModelConfig c;
    c.source_vocab_size = source.size();
    c.target_vocab_size = target.size();
    c.d_model = 8;
    c.nhead = 2;
    c.encoder_layers = 1;
    c.decoder_layers = 2;
    c.dim_feedforward = 16;
    c.dropout = 0.1;  // explain must switch it off (eval mode)
    c.max_length = 12;
    manual_seed(3);
    model = std::make_shared<TranslatorModel>(c);
  }
};

}  // namespace

TEST_CASE("explain: shapes, attention rows, gradient saliency against finite differences, IG completeness") {
  Tiny t;
  ExplainOptions o;
  o.steps = 64;
  const Explanation e = explain(*t.model, t.source, t.target, "I am a student.", o);
  const int64_t J = 6;  // i am a student . <eos>
  REQUIRE(e.cols == J);
  REQUIRE(e.rows == static_cast<int64_t>(e.output_tokens.size()));
  CHECK(e.source_tokens.back() == "<eos>");
  CHECK(e.output_tokens.back() == "<eos>");
  for (const auto* m : {&e.attention, &e.saliency, &e.gradient_times_input, &e.integrated})
    CHECK(static_cast<int64_t>(m->size()) == e.rows * J);
  for (int64_t r = 0; r < e.rows; ++r) {
    double total = 0;
    for (int64_t j = 0; j < J; ++j) total += e.attention[r * J + j];
    CHECK(total == doctest::Approx(1).epsilon(1e-5));  // each row of cross-attention sums to 1
  }
  for (double v : e.saliency) CHECK((std::isfinite(v) && v >= 0));
  // the integrated gradients add up to s(e) − s(0): the ReLUs of the feed-forward blocks switch
  // along the path, so 64 points leave errors of 0.3–3.5 % here (measured); a wrong factor or
  // baseline would be off by order 1
  for (double err : e.completeness_error) CHECK(err < 5e-2);
  CHECK(e.weight_row >= 0);
  CHECK(e.weight_row < e.rows);
  CHECK(e.weight == doctest::Approx(e.attention[e.weight_row * J + e.weight_col]).epsilon(1e-5));

  // saliency row 0 is ‖∂s_0/∂e_j‖: recompute s_0 with one embedding coordinate moved
  t.model->eval();
  const std::vector<int64_t> ids = encode_sentence("I am a student.", t.source, nullptr);
  const IndexTensor source(ids, Shape{1, J});
  const Tensor mask = non_padding_mask(source);
  std::vector<int64_t> input{Vocab::kBos};
  for (size_t i = 0; i + 1 < e.output_tokens.size(); ++i) input.push_back(t.target.id(e.output_tokens[i]));
  const IndexTensor target(input, Shape{1, static_cast<int64_t>(input.size())});
  const int64_t y0 = t.target.id(e.output_tokens[0]);
  NoGradGuard no_grad;
  const Tensor base = t.model->source_token_embeddings(source).detach();
  auto s0 = [&](const Tensor& emb) {
    const Tensor logits = t.model->decode(target, t.model->encode_embedded(emb, mask), mask);
    return static_cast<double>(log_softmax(narrow(logits, 1, 0, 1), -1).data()[y0]);
  };
  const double eps = 1e-2;
  for (int64_t j : {int64_t{0}, int64_t{3}, J - 1}) {
    double norm2 = 0;
    for (int64_t d = 0; d < 8; ++d) {
      Tensor up = base.clone(), down = base.clone();
      up.data()[j * 8 + d] += static_cast<scalar_t>(eps);
      down.data()[j * 8 + d] -= static_cast<scalar_t>(eps);
      const double g = (s0(up) - s0(down)) / (2 * eps);
      norm2 += g * g;
    }
    INFO("source token " << j);
    CHECK(e.saliency[j] == doctest::Approx(std::sqrt(norm2)).epsilon(2e-2));
  }
  // no parameter's gradient was touched
  for (const Tensor& p : t.model->parameters()) CHECK_FALSE(p.grad().defined());
}

TEST_CASE("explain: the picture, the text, and bad --weight values") {
  Tiny t;
  ExplainOptions o;
  o.steps = 8;
  const Explanation e = explain(*t.model, t.source, t.target, "she is happy .", o);
  const std::string svg = explanation_svg(e);
  CHECK(svg.rfind("<?xml", 0) == 0);
  CHECK(svg.find("cross-attention") != std::string::npos);
  CHECK(svg.find("integrated gradients") != std::string::npos);
  CHECK(explanation_text(e).find("agree for") != std::string::npos);
  o.weight_row = 99;
  CHECK(tessera::testing::throws_with([&] { explain(*t.model, t.source, t.target, "she is happy .", o); },
                                      "outside the"));
  o.steps = 1;
  CHECK(tessera::testing::throws_with([&] { explain(*t.model, t.source, t.target, "she", o); }, "at least 2"));
}

TEST_CASE("run report: one page with the sections, written whole") {
  namespace fs = std::filesystem;
  Tiny t;
  tessera::testing::TempDir dir;
  RunSummary run;
  run.run_dir = (dir.path / "run").string();  // write_run_report creates it
  run.settings = {{"d_model", "8"}};
  run.history = {{1, 2.5, 10.0, 1.0, 100.0}, {2, 1.5, 20.0, 1.0, 110.0}};
  run.test_bleu = 12.5;
  run.samples = {{"i am a student .", "je suis étudiant .", "je je"}};
  run.head_sentences = {"i am a student .", "she is happy ."};
  const std::string path = write_run_report(*t.model, t.source, t.target, run);
  const std::string html = examples::read_file(path);
  INFO(html.substr(0, 4000));
  for (const char* part : {"Result", "Settings", "Epochs", "Sample translations", "What each output word rests on",
                           "Heads that do the same job", "12.50"}) {
    INFO(part);
    CHECK(html.find(part) != std::string::npos);
  }
  CHECK(html.find("<script") == std::string::npos);
  CHECK(fs::exists(fs::path(run.run_dir) / "explain.svg"));
  CHECK(fs::exists(fs::path(run.run_dir) / "heads.svg"));
}
