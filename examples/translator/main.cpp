// examples/translator — train a Transformer translator, translate, score it with BLEU and look at
// its attention. docs/translator.md explains the model, the data and every flag.
//
//   translator demo                               # the bundled English→French corpus, end to end
//   translator train --data bundled --out runs/fr
//   translator translate --checkpoint runs/fr/model.safetensors "I am a student."
//   translator eval --checkpoint runs/fr/model.safetensors --beam 4
//   translator attention --checkpoint runs/fr/model.safetensors "she is happy ."
//   translator heads --checkpoint runs/fr/model.safetensors   # which attention heads do the same job
//   translator prepare                            # English–German pairs from dict-freedict-eng-deu
//   translator export --data freedict --out DIR   # splits, vocabularies, batches (bench/translator_reference.py)
//   translator score HYPOTHESES REFERENCES        # corpus BLEU of two tokenised files
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "examples/common/cli_checks.h"
#include "examples/common/files.h"
#include "examples/common/interrupt.h"
#include "examples/common/svg.h"
#include "examples/common/utf8.h"
#include "examples/translator/batching.h"
#include "examples/translator/bleu.h"
#include "examples/translator/corpus.h"
#include "examples/translator/decode.h"
#include "examples/translator/explain.h"
#include "examples/translator/freedict.h"
#include "examples/translator/heads.h"
#include "examples/translator/run_report.h"
#include "examples/translator/train.h"
#include "nn/distributed.h"

using namespace tessera;
using namespace translator;

namespace {

// ---------------- data ----------------
// "bundled": the generated English→French corpus; "freedict": English–German from Debian's
// dict-freedict-eng-deu; anything else: a Tatoeba-format TSV file, split by a stable hash.
Corpus load_corpus(const std::string& data, uint64_t seed, size_t bundled_pairs) {
  if (data == "bundled") return generate_en_fr_corpus(seed, bundled_pairs);
  if (data == "freedict") return split_by_hash(extract_freedict_pairs(), 0.05, 0.1);
  return split_by_hash(read_tsv_pairs(data), 0.05, 0.1);
}

struct Options {
  std::string data = "bundled";
  std::string out = "runs/translator";
  size_t bundled_pairs = 30000;
  int64_t min_freq = 1;
  int64_t subwords = 0;
  std::string subword_model = "unigram";
  int threads = 0;
  ModelConfig model;
  TrainOptions train;
  std::string checkpoint;
  int64_t beam = 4;
  int64_t performer = 0;  // eval: Performer features in the encoder's self-attention (0 = exact)
  double length_penalty = 0.6;
  std::string split = "test";
  int64_t samples = 8;
  std::vector<std::string> sentences;
};

// The defaults in Options are the bundled corpus's: a closed vocabulary of a few hundred words,
// learnt in 8 epochs. Real sentences (--data freedict or a file) have a long tail of words seen
// once, and need more passes: unless given on the command line, these apply to them
// (docs/translator.md, "Real sentences", has the measurements behind them).
struct RealDataDefaults {
  int64_t min_freq = 2;  // a word seen once is <unk>: it could not be learnt anyway
  int64_t epochs = 20;
};
constexpr RealDataDefaults kRealData;

void apply_real_data_defaults(const CLI::App& cmd, Options& o) {
  if (o.data == "bundled") return;
  if (cmd.count("--min-freq") == 0) o.min_freq = kRealData.min_freq;
  if (cmd.count("--epochs") == 0) o.train.epochs = kRealData.epochs;
}

void add_data_options(CLI::App* app, Options& o) {
  app->add_option("--data", o.data, "bundled | freedict | path to a TSV file (english<TAB>other[<TAB>...])");
  app->add_option("--bundled-pairs", o.bundled_pairs, "sentence pairs the bundled generator makes")
      ->check(examples::positive());
  app->add_option("--seed", o.train.seed, "seed of every random choice (data, init, batches, dropout)")
      ->check(examples::non_negative());
}

void add_model_options(CLI::App* app, Options& o) {
  app->add_option("--d-model", o.model.d_model, "model width")
      ->check(examples::positive());
  app->add_option("--heads", o.model.nhead, "attention heads")
      ->check(examples::positive());
  app->add_option("--encoder-layers", o.model.encoder_layers, "encoder layers")
      ->check(examples::positive());
  app->add_option("--decoder-layers", o.model.decoder_layers, "decoder layers")
      ->check(examples::positive());
  app->add_option("--ffn", o.model.dim_feedforward, "feed-forward width")
      ->check(examples::positive());
  app->add_option("--dropout", o.model.dropout, "dropout probability")
      ->check(examples::fraction());
  app->add_option("--max-length", o.model.max_length, "longest sentence (tokens) the model accepts")
      ->check(examples::between(2, 100000));
  app->add_flag("--pre-norm", o.model.norm_first, "layer norm before each sublayer instead of after");
  app->add_option("--linformer-k", o.model.encoder_linformer_k,
                  "Linformer self-attention in the encoder, keys and values projected to this many rows (0 = exact)")
      ->check(examples::non_negative());
  app->add_option("--min-freq", o.min_freq, "words seen fewer times in training become <unk> (word vocabularies)")
      ->default_str(fmt::format("{} (other data: {})", o.min_freq, kRealData.min_freq))
      ->check(examples::positive());
  app->add_option("--subwords", o.subwords,
                  "0: word vocabularies; N: SentencePiece subword vocabularies of N tokens per language, learnt "
                  "from the training split")
      ->check(examples::non_negative());
  app->add_option("--subword-model", o.subword_model, "unigram | bpe: how SentencePiece learns its pieces")
      ->check(CLI::IsMember({"unigram", "bpe"}));
}

void add_train_options(CLI::App* app, Options& o) {
  app->add_option("--epochs", o.train.epochs, "passes over the training set")
      ->default_str(fmt::format("{} (other data: {})", o.train.epochs, kRealData.epochs))
      ->check(examples::positive());
  app->add_option("--batch-size", o.train.batch_size, "sentence pairs per step")
      ->check(examples::positive());
  app->add_option("--lr", o.train.lr, "Noam schedule factor: lr = f·d^-1/2·min(step^-1/2, step·warmup^-3/2)")
      ->check(examples::positive());
  app->add_option("--warmup", o.train.warmup_steps, "warm-up steps of the schedule")
      ->check(examples::positive());
  app->add_option("--label-smoothing", o.train.label_smoothing, "label smoothing of the loss")
      ->check(examples::fraction());
  app->add_option("--clip", o.train.clip_norm, "gradient norm clipping (0 = off)")
      ->check(examples::non_negative());
  app->add_option("--eval-sentences", o.train.eval_sentences, "validation sentences scored after each epoch")
      ->check(examples::non_negative());
  app->add_option("--out", o.out, "directory for the checkpoint, the training curve and the heatmaps");
  app->add_flag("--resume", o.train.resume, "continue from <out>/model.safetensors");
}

void add_decode_options(CLI::App* app, Options& o) {
  app->add_option("--beam", o.beam, "beam size (1 = greedy)")
      ->check(examples::between(1, 1000));
  app->add_option("--length-penalty", o.length_penalty, "GNMT length penalty alpha for beam search")
      ->check(examples::non_negative());
}

Vocab build_vocab(const std::vector<std::vector<std::string>>& sentences, const Options& o) {
  return o.subwords > 0 ? Vocab::build_subwords(sentences, o.subwords, o.subword_model)
                        : Vocab::build(sentences, o.min_freq);
}

std::string checkpoint_path(const Options& o) {
  return o.checkpoint.empty() ? (std::filesystem::path(o.out) / "model.safetensors").string() : o.checkpoint;
}

void print_samples(const Dataset& data, const std::vector<std::vector<std::string>>& hyps, int64_t count) {
  for (int64_t i = 0; i < std::min<int64_t>(count, static_cast<int64_t>(hyps.size())); ++i) {
    fmt::print("  source     {}\n", detokenize(data.source_tokens[i]));
    fmt::print("  reference  {}\n", detokenize(data.target_tokens[i]));
    fmt::print("  tessera    {}{}\n\n", detokenize(hyps[i]), hyps[i] == data.target_tokens[i] ? "   ✓" : "");
  }
}

// ---------------- commands ----------------
struct Trained {
  std::shared_ptr<TranslatorModel> model;
  Vocab source_vocab, target_vocab;
  Dataset test;
  std::vector<EpochRecord> history;
};

Trained run_train(Options& o) {
  const auto start = std::chrono::steady_clock::now();
  const Corpus corpus = load_corpus(o.data, o.train.seed, o.bundled_pairs);
  TS_CHECK(!corpus.train.empty(), "train: no training pairs in '{}'", o.data);
  Trained t;
  t.source_vocab = build_vocab(tokenized(corpus.train, true), o);
  t.target_vocab = build_vocab(tokenized(corpus.train, false), o);
  o.model.source_vocab_size = t.source_vocab.size();
  o.model.target_vocab_size = t.target_vocab.size();
  size_t dropped = 0;
  const Dataset train_set = make_dataset(corpus.train, t.source_vocab, t.target_vocab, o.model.max_length, &dropped);
  const Dataset valid_set = make_dataset(corpus.valid, t.source_vocab, t.target_vocab, o.model.max_length);
  t.test = make_dataset(corpus.test, t.source_vocab, t.target_vocab, o.model.max_length);
  const bool main_rank = tessera::dist::is_main();  // under mpirun, rank 0 alone speaks
  if (main_rank)
    fmt::print(stderr, "data '{}': {} training pairs ({} too long, dropped), {} validation, {} test; vocabularies {} / {}\n",
             o.data, train_set.size(), dropped, valid_set.size(), t.test.size(), t.source_vocab.size(),
             t.target_vocab.size());

  manual_seed(o.train.seed);  // the initial weights
  t.model = std::make_shared<TranslatorModel>(o.model);
  if (main_rank)
    fmt::print(stderr, "model: d_model {}, {} heads, {}+{} layers, ffn {}, {} parameters, {} threads{}\n",
               o.model.d_model, o.model.nhead, o.model.encoder_layers, o.model.decoder_layers, o.model.dim_feedforward,
               t.model->num_parameters(), get_num_threads(),
               tessera::dist::world_size() > 1 ? fmt::format(" in each of {} ranks", tessera::dist::world_size()) : "");
  std::filesystem::create_directories(o.out);
  o.train.checkpoint = checkpoint_path(o);
  o.train.curve_svg = (std::filesystem::path(o.out) / "training_curve.svg").string();
  o.train.data = o.data;
  o.train.bundled_pairs = static_cast<int64_t>(o.bundled_pairs);
  t.history = train(*t.model, t.source_vocab, t.target_vocab, train_set, valid_set, o.train);
  examples::exit_if_stopped();  // stopped by Ctrl-C: train() wrote the checkpoint and said how to resume
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (main_rank) fmt::print(stderr, "trained in {:.1f} s; checkpoint {}\n", seconds, o.train.checkpoint);
  return t;
}

struct EvalResult {
  double bleu = 0;                                 // beam's when beam > 1, else greedy's
  std::string label;                               // "test BLEU (beam 4)"
  std::vector<std::vector<std::string>> samples;   // source, reference, translation
};

// The test BLEU, greedy and (o.beam > 1) beam. Under mpirun a collective: every rank translates
// its share of the sentences (evaluate_bleu_distributed) and rank 0 alone prints.
EvalResult run_eval(TranslatorModel& model, const Vocab& target_vocab, const Dataset& test, const Options& o,
                    bool print_translations = true) {
  const bool main_rank = tessera::dist::is_main();
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::vector<std::string>> hyps;
  EvalResult result;
  result.bleu = evaluate_bleu_distributed(model, target_vocab, test, 1, 0, &hyps);
  result.label = "test BLEU (greedy)";
  const double t_greedy = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (main_rank) fmt::print("test BLEU (greedy): {:.2f} on {} sentences ({:.1f} s)\n", result.bleu, test.size(), t_greedy);
  if (o.beam > 1) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::vector<std::string>> beam_hyps;
    const double beam = evaluate_bleu_distributed(model, target_vocab, test, o.beam, 0, &beam_hyps, 32);
    const double t_beam = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (main_rank) fmt::print("test BLEU (beam {}): {:.2f} ({:.1f} s)\n", o.beam, beam, t_beam);
    result.label = result.label + fmt::format(" {:.2f}, test BLEU (beam {})", result.bleu, o.beam);
    result.bleu = beam;
    hyps = std::move(beam_hyps);
  }
  if (print_translations && main_rank) {
    fmt::print("sample translations:\n");
    print_samples(test, hyps, o.samples);
  }
  for (int64_t i = 0; i < std::min<int64_t>(std::max<int64_t>(o.samples, 12), static_cast<int64_t>(hyps.size())); ++i)
    result.samples.push_back({detokenize(test.source_tokens[i]), detokenize(test.target_tokens[i]), detokenize(hyps[i])});
  return result;
}

// The page the run leaves behind (run_report.h): settings, curve, score, samples, pictures.
std::string write_report(TranslatorModel& model, const Vocab& sv, const Vocab& tv, const Options& o,
                         const std::vector<EpochRecord>& history, const EvalResult& eval, const Dataset& test,
                         const std::vector<std::string>& attention_svgs) {
  RunSummary run;
  run.run_dir = std::filesystem::path(checkpoint_path(o)).parent_path().string();
  if (run.run_dir.empty()) run.run_dir = ".";
  const ModelConfig& c = model.config;
  run.settings = {{"data", o.data},
                  {"seed", std::to_string(o.train.seed)},
                  {"vocabularies (source / target)", fmt::format("{} / {}", sv.size(), tv.size())},
                  {"model", fmt::format("d_model {}, {} heads, {} + {} layers, ffn {}, dropout {}", c.d_model, c.nhead,
                                        c.encoder_layers, c.decoder_layers, c.dim_feedforward, c.dropout)},
                  {"parameters", std::to_string(model.num_parameters())},
                  {"epochs", std::to_string(o.train.epochs)},
                  {"batch size", std::to_string(o.train.batch_size)},
                  {"learning rate (Noam factor) / warm-up", fmt::format("{} / {}", o.train.lr, o.train.warmup_steps)},
                  {"label smoothing", fmt::format("{}", o.train.label_smoothing)},
                  {"threads", std::to_string(get_num_threads())},
                  {"checkpoint", checkpoint_path(o)}};
  run.history = history;
  run.test_bleu = eval.bleu;
  run.test_bleu_label = eval.label;
  run.samples = eval.samples;
  run.attention_svgs = attention_svgs;
  run.seed = o.train.seed;
  for (size_t i = 0; i < std::min<size_t>(100, test.size()); ++i) run.head_sentences.push_back(detokenize(test.source_tokens[i]));
  return write_run_report(model, sv, tv, run);
}

// Prints the translation of `line`, or an empty line and the reason on stderr; false then.
bool translate_one(TranslatorModel& model, const Vocab& sv, const Vocab& tv, const std::string& line,
                   const Options& o) {
  std::vector<std::string> unknown;
  std::string translation;
  try {
    translation = translate_text(model, sv, tv, line, o.beam, o.length_penalty, &unknown);
  } catch (const Error& e) {
    fmt::print(stderr, "skipped: {}\n", e.what());
    fmt::print("\n");  // one output line per input line, so piped output stays aligned
    return false;
  }
  if (!unknown.empty()) {
    std::string list;
    for (const auto& w : unknown) list += (list.empty() ? "" : ", ") + w;
    fmt::print(stderr, "note: not in the vocabulary, translated as <unk>: {}\n", list);
  }
  fmt::print("{}\n", translation);
  return true;
}

// Heatmaps of every layer and head for one sentence: cross-attention (target rows × source
// columns), encoder self-attention and decoder self-attention, as SVG.
std::vector<std::string> write_attention(TranslatorModel& model, const Vocab& sv, const Vocab& tv,
                                         const std::string& sentence, const std::string& out_dir, const Options& o) {
  std::vector<std::string> unknown;
  const std::vector<int64_t> source_ids = encode_sentence(sentence, sv, &unknown);
  DecodeOptions d;
  d.beam_size = o.beam;
  d.length_penalty = o.length_penalty;
  const std::vector<int64_t> output = translate_ids(model, {source_ids}, d)[0];
  // teacher-forced pass over the translation to collect full [1, H, Lq, Lk] maps per layer
  std::vector<int64_t> target_input{1};
  target_input.insert(target_input.end(), output.begin(), output.end());
  const auto s = static_cast<int64_t>(source_ids.size()), t = static_cast<int64_t>(target_input.size());
  model.eval();
  model.transformer->keep_attention(true);
  {
    NoGradGuard no_grad;
    const IndexTensor source(source_ids, Shape{1, s});
    model.forward(source, non_padding_mask(source), IndexTensor(target_input, Shape{1, t}), Tensor());
  }
  model.transformer->keep_attention(false);
  std::vector<std::string> source_labels, input_labels, output_labels;
  for (int64_t id : source_ids) source_labels.push_back(sv.token(id));
  for (int64_t id : target_input) input_labels.push_back(tv.token(id));
  for (int64_t id : output) output_labels.push_back(tv.token(id));
  output_labels.push_back("<eos>");

  auto maps_of = [&](const auto& layers, auto attention_of, const std::vector<std::string>& rows,
                     const std::vector<std::string>& cols) {
    std::vector<examples::Heatmap> maps;
    int64_t layer_index = 0;
    for (const auto& layer : layers) {
      const Tensor& w = attention_of(*layer)->last_weights;  // [1, H, Lq, Lk]
      if (!w.defined()) continue;  // Linformer / Performer attention: no per-position weights
      const int64_t heads = w.shape()[1], lq = w.shape()[2], lk = w.shape()[3];
      for (int64_t h = 0; h < heads; ++h) {
        examples::Heatmap m;
        m.title = fmt::format("layer {} head {}", layer_index + 1, h + 1);
        m.row_labels = rows, m.column_labels = cols, m.rows = lq, m.cols = lk;
        m.values.assign(w.data() + h * lq * lk, w.data() + (h + 1) * lq * lk);
        maps.push_back(std::move(m));
      }
      ++layer_index;
    }
    return maps;
  };
  const auto& enc = *model.transformer->encoder->layers;
  const auto& dec = *model.transformer->decoder->layers;
  const int columns = static_cast<int>(model.config.nhead);
  const std::string quoted = detokenize(tokenize(preprocess(sentence))) + "  →  " + detokenize(tv.decode(output));
  struct Figure {
    std::string file, title;
    std::vector<examples::Heatmap> maps;
  };
  std::vector<Figure> figures = {
      {"cross_attention.svg", "decoder cross-attention (rows: predicted target token, columns: source)  " + quoted,
       maps_of(dec, [](const nn::TransformerDecoderLayer& l) { return l.multihead_attn; }, output_labels,
               source_labels)},
      {"encoder_self_attention.svg", "encoder self-attention  " + quoted,
       maps_of(enc, [](const nn::TransformerEncoderLayer& l) { return l.self_attn; }, source_labels, source_labels)},
      {"decoder_self_attention.svg", "decoder self-attention (causal)  " + quoted,
       maps_of(dec, [](const nn::TransformerDecoderLayer& l) { return l.self_attn; }, input_labels, input_labels)},
  };
  std::filesystem::create_directories(out_dir);
  std::vector<std::string> written;
  for (const Figure& f : figures) {
    if (f.maps.empty()) continue;  // e.g. the encoder of a Linformer model
    const std::string path = (std::filesystem::path(out_dir) / f.file).string();
    examples::write_file_atomically(path, examples::svg_heatmaps(f.maps, columns, f.title));
    written.push_back(path);
  }
  return written;
}

Checkpoint open_checkpoint(const Options& o) {
  const std::string path = checkpoint_path(o);
  TS_CHECK(std::filesystem::exists(path), "no checkpoint at {}: train one first (translator train --out {}) or pass "
           "--checkpoint", path, std::filesystem::path(path).parent_path().string());
  return load_checkpoint(path);
}

std::vector<std::string> sentences_or_stdin(const std::vector<std::string>& given) {
  if (!given.empty()) return given;
  std::vector<std::string> lines;
  for (std::string line; std::getline(std::cin, line);) lines.push_back(line);
  return lines;
}

// ---------------- export / score (for bench/translator_reference.py) ----------------
// Writes what a reference implementation needs to train on exactly tessera's data: the splits as
// the model's tokens (`source tokens<TAB>target tokens`, one pair a line, after preprocessing,
// length filtering and in tessera's order; pieces with subword vocabularies, each mapped to its
// id by the vocabulary's list), the test split as words too (test_words.tsv: what BLEU compares),
// both vocabularies (Vocab::to_json), the training batches of every epoch as rows of the train
// split (make_batches with the run's seed), and the model and training options as JSON.
void run_export(Options& o) {
  const Corpus corpus = load_corpus(o.data, o.train.seed, o.bundled_pairs);
  TS_CHECK(!corpus.train.empty(), "export: no training pairs in '{}'", o.data);
  const Vocab source_vocab = build_vocab(tokenized(corpus.train, true), o);
  const Vocab target_vocab = build_vocab(tokenized(corpus.train, false), o);
  o.model.source_vocab_size = source_vocab.size();
  o.model.target_vocab_size = target_vocab.size();
  const std::filesystem::path dir(o.out);
  std::filesystem::create_directories(dir);
  Dataset train_set;
  for (const auto& [name, pairs] : {std::pair{"train", &corpus.train}, {"valid", &corpus.valid}, {"test", &corpus.test}}) {
    const Dataset d = make_dataset(*pairs, source_vocab, target_vocab, o.model.max_length);
    std::string text, words;
    for (size_t i = 0; i < d.size(); ++i) {
      text += detokenize(source_vocab.pieces(d.source_tokens[i])) + "\t" +
              detokenize(target_vocab.pieces(d.target_tokens[i])) + "\n";
      words += detokenize(d.source_tokens[i]) + "\t" + detokenize(d.target_tokens[i]) + "\n";
    }
    examples::write_file_atomically((dir / (std::string(name) + ".tsv")).string(), text);
    fmt::print("{}: {} pairs\n", (dir / (std::string(name) + ".tsv")).string(), d.size());
    if (std::string(name) == "train") train_set = d;
    if (std::string(name) == "test") examples::write_file_atomically((dir / "test_words.tsv").string(), words);
  }
  examples::write_file_atomically((dir / "source_vocab.json").string(), source_vocab.to_json());
  examples::write_file_atomically((dir / "target_vocab.json").string(), target_vocab.to_json());
  std::string batches;  // `epoch<TAB>row row ...`, one batch a line, in training order
  int64_t steps = 0;
  for (int64_t epoch = 1; epoch <= o.train.epochs; ++epoch)
    for (const Batch& b : make_batches(train_set.source_ids, train_set.target_ids, o.train.batch_size, true,
                                       o.train.seed, epoch)) {
      batches += std::to_string(epoch) + "\t";
      for (size_t r = 0; r < b.indices.size(); ++r) {
        if (r > 0) batches += ' ';
        batches += std::to_string(b.indices[r]);
      }
      batches += "\n";
      ++steps;
    }
  examples::write_file_atomically((dir / "batches.tsv").string(), batches);
  const nlohmann::json options = {{"data", o.data},
                                  {"seed", o.train.seed},
                                  {"min_freq", o.min_freq},
                                  {"subwords", o.subwords},
                                  {"subword_model", o.subword_model},
                                  {"model", nlohmann::json::parse(o.model.to_json())},
                                  {"epochs", o.train.epochs},
                                  {"batch_size", o.train.batch_size},
                                  {"steps", steps},
                                  {"lr", o.train.lr},
                                  {"warmup_steps", o.train.warmup_steps},
                                  {"label_smoothing", o.train.label_smoothing},
                                  {"clip_norm", o.train.clip_norm},
                                  {"adam", {{"betas", {0.9, 0.98}}, {"eps", 1e-9}}}};
  examples::write_file_atomically((dir / "options.json").string(), options.dump(2) + "\n");
  fmt::print("{}: {} steps over {} epochs; vocabularies {} / {}\n", (dir / "batches.tsv").string(), steps,
             o.train.epochs, source_vocab.size(), target_vocab.size());
}

// Corpus BLEU (corpus_bleu) of a file of tokenised hypotheses against tokenised references, one
// sentence a line; a reference line `source<TAB>target` (an exported split) counts its target.
BleuScore score_files(const std::string& hypotheses_path, const std::string& references_path) {
  auto lines_of = [](const std::string& path, bool target_column) {
    std::vector<std::vector<std::string>> out;
    const std::string text = examples::read_file(path);
    const size_t bad = std::min(examples::find_invalid_utf8(text), text.find('\0'));
    TS_CHECK(bad == std::string::npos, "score: {} is not UTF-8 text (byte 0x{:02x} at offset {})", path,
             static_cast<unsigned>(static_cast<unsigned char>(text[bad < text.size() ? bad : 0])), bad);
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      std::string line = text.substr(start, end - start);
      if (target_column && line.find('\t') != std::string::npos) line = line.substr(line.find('\t') + 1);
      out.push_back(tokenize(line));
      start = end + 1;
    }
    return out;
  };
  const auto hyps = lines_of(hypotheses_path, false), refs = lines_of(references_path, true);
  TS_CHECK(hyps.size() == refs.size(), "score: {} has {} lines but {} has {}", hypotheses_path, hyps.size(),
           references_path, refs.size());
  return corpus_bleu(hyps, refs);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tessera translator: a Transformer encoder–decoder, trained and explained end to end"};
  app.option_defaults()->always_capture_default();  // --help shows every default
  app.require_subcommand(1);
  Options o;
  int threads = 0;
  app.add_option("--threads", threads, "worker threads (0 = all cores)")
      ->check(examples::between(0, 4096));

  CLI::App* demo = app.add_subcommand("demo", "train on the bundled English→French corpus, evaluate, translate, "
                                              "draw the attention");
  add_model_options(demo, o);
  add_train_options(demo, o);
  demo->add_option("--bundled-pairs", o.bundled_pairs, "sentence pairs the bundled generator makes")
      ->check(examples::positive());
  demo->add_option("--seed", o.train.seed, "seed of every random choice")
      ->check(examples::non_negative());

  CLI::App* train_cmd = app.add_subcommand("train", "train a translator and save a checkpoint after every epoch");
  add_data_options(train_cmd, o);
  add_model_options(train_cmd, o);
  add_train_options(train_cmd, o);

  CLI::App* translate_cmd = app.add_subcommand("translate", "translate sentences given as arguments, or stdin lines");
  translate_cmd->add_option("sentences", o.sentences, "English sentences (none: read lines from stdin)");
  translate_cmd->add_option("--checkpoint", o.checkpoint, "checkpoint file (default <out>/model.safetensors)");
  translate_cmd->add_option("--out", o.out, "run directory");
  add_decode_options(translate_cmd, o);

  CLI::App* eval_cmd = app.add_subcommand("eval", "BLEU on the held-out test split, with sample translations");
  eval_cmd->add_option("--checkpoint", o.checkpoint, "checkpoint file (default <out>/model.safetensors)");
  eval_cmd->add_option("--out", o.out, "run directory");
  eval_cmd->add_option("--samples", o.samples, "sample translations to print")
      ->check(examples::non_negative());
  eval_cmd->add_option("--performer", o.performer,
                       "estimate the encoder's self-attention with this many Performer random features (0 = exact)")
      ->check(examples::non_negative());
  add_data_options(eval_cmd, o);
  add_decode_options(eval_cmd, o);

  CLI::App* attention_cmd = app.add_subcommand("attention", "write attention heatmaps (SVG) for one sentence");
  attention_cmd->add_option("sentence", o.sentences, "the English sentence")->required();
  attention_cmd->add_option("--checkpoint", o.checkpoint, "checkpoint file (default <out>/model.safetensors)");
  attention_cmd->add_option("--out", o.out, "run directory (the SVGs go to <out>/attention/)");
  add_decode_options(attention_cmd, o);

  CLI::App* heads_cmd = app.add_subcommand("heads", "cluster the attention heads by what they attend to: a summary, "
                                                    "an entropy table and <run dir>/heads.svg");
  heads_cmd->add_option("--checkpoint", o.checkpoint, "checkpoint file (default <out>/model.safetensors)");
  heads_cmd->add_option("--out", o.out, "run directory");
  int head_clusters = 6;
  size_t head_sentences = 100;
  uint64_t head_seed = 1;
  heads_cmd->add_option("--clusters", head_clusters, "k of k-means")->check(examples::positive());
  heads_cmd->add_option("--sentences", head_sentences, "the first N test sentences of the checkpoint's corpus")
      ->check(examples::positive());
  heads_cmd->add_option("--seed", head_seed, "seed of k-means++")
      ->check(examples::non_negative());

  CLI::App* explain_cmd = app.add_subcommand(
      "explain", "which source words each output word rests on: gradient saliency and integrated gradients beside "
                 "cross-attention (SVG)");
  explain_cmd->add_option("sentence", o.sentences, "the English sentence")->required();
  explain_cmd->add_option("--checkpoint", o.checkpoint, "checkpoint file (default <out>/model.safetensors)");
  explain_cmd->add_option("--out", o.out, "run directory (the SVG goes to <out>/explain.svg)");
  int explain_steps = ExplainOptions{}.steps;
  std::string explain_weight;
  explain_cmd->add_option("--steps", explain_steps, "points on the integrated-gradients path")->check(examples::between(2, 10000));
  explain_cmd->add_option("--weight", explain_weight,
                          "T,J: differentiate the cross-attention weight of output token T on source token J "
                          "(default: the output token with the least peaked attention, and its most attended source token)");
  add_decode_options(explain_cmd, o);

  CLI::App* prepare_cmd = app.add_subcommand("prepare", "extract English–German pairs from dict-freedict-eng-deu "
                                                        "into TSV files");
  std::string prepare_dir = "data/freedict-eng-deu";
  prepare_cmd->add_option("--dir", prepare_dir, "where train.tsv, valid.tsv and test.tsv go");

  CLI::App* export_cmd = app.add_subcommand("export", "write the tokenised splits, vocabularies and per-epoch batches "
                                                      "a run would use (for bench/translator_reference.py)");
  add_data_options(export_cmd, o);
  add_model_options(export_cmd, o);
  add_train_options(export_cmd, o);  // --out is the directory the files go to

  CLI::App* score_cmd = app.add_subcommand("score", "corpus BLEU of a hypothesis file against a reference file "
                                                    "(tokenised, one sentence a line)");
  std::string hypotheses_path, references_path;
  score_cmd->add_option("hypotheses", hypotheses_path, "hypotheses, one a line")->required();
  score_cmd->add_option("references", references_path, "references, one a line (or an exported split: "
                                                        "the part after the tab)")->required();

  CLI11_PARSE(app, argc, argv);
  // Under mpirun, `train` runs data-parallel (docs/distributed.md); one process otherwise.
  try {
    tessera::dist::init(argc, argv);
  } catch (const Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  const bool distributed = tessera::dist::world_size() > 1;
  examples::install_stop_handlers(argc, argv);  // Ctrl-C: finish the step, write the checkpoint
  try {
    if (threads > 0) set_num_threads(threads);
    TS_CHECK(!distributed || *train_cmd,
             "{} runs as one process; under mpirun only `train` runs (data-parallel): start it without mpirun",
             app.get_subcommands().front()->get_name());
    if (*demo) {
      if (o.out == "runs/translator") o.out = "runs/demo";
      o.data = "bundled";
      const auto start = std::chrono::steady_clock::now();
      fmt::print("report: {}  (written at the end: open it in a browser)\n",
                 (std::filesystem::path(o.out) / "index.html").string());
      std::fflush(stdout);
      Trained t = run_train(o);
      const EvalResult eval = run_eval(*t.model, t.target_vocab, t.test, o);
      fmt::print("translations (beam {}):\n", o.beam);
      for (const char* s : {"I am a student.", "She is not happy.", "We are teachers.", "They like bread."}) {
        fmt::print("  {:<22}→ ", s);
        std::fflush(stdout);
        translate_one(*t.model, t.source_vocab, t.target_vocab, s, o);
      }
      const auto files = write_attention(*t.model, t.source_vocab, t.target_vocab, "I am a student.",
                                         (std::filesystem::path(o.out) / "attention").string(), o);
      fmt::print("\nfiles:\n  {}  (checkpoint)\n  {}  (loss and BLEU per epoch)\n", checkpoint_path(o),
                 (std::filesystem::path(o.out) / "training_curve.svg").string());
      for (const auto& f : files) fmt::print("  {}\n", f);
      fmt::print("  {}  (the run's report: settings, curve, scores, heatmaps, saliency, head clusters)\n",
                 write_report(*t.model, t.source_vocab, t.target_vocab, o, t.history, eval, t.test, files));
      fmt::print("demo finished in {:.1f} s\n",
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    } else if (*train_cmd) {
      apply_real_data_defaults(*train_cmd, o);
      Trained t = run_train(o);
      if (!t.test.size()) {
        if (tessera::dist::is_main()) fmt::print("no test sentences: no test score and no report\n");
      } else {
        // the test score (every rank translates its share), then one sentence's pictures and the
        // run's page (rank 0)
        const EvalResult eval = run_eval(*t.model, t.target_vocab, t.test, o, /*print_translations=*/false);
        if (!tessera::dist::is_main()) {  // the other ranks are done
          tessera::dist::finalize();
          return 0;
        }
        const std::string example = detokenize(t.test.source_tokens[0]);
        std::vector<std::string> files;
        try {
          files = write_attention(*t.model, t.source_vocab, t.target_vocab, example,
                                  (std::filesystem::path(checkpoint_path(o)).parent_path() / "attention").string(), o);
        } catch (const Error& e) {
          fmt::print(stderr, "note: no attention heatmaps: {}\n", e.what());
        }
        fmt::print("report: {}\n", write_report(*t.model, t.source_vocab, t.target_vocab, o, t.history, eval, t.test, files));
      }
    } else if (*translate_cmd) {
      Checkpoint c = open_checkpoint(o);
      const std::vector<std::string> lines = sentences_or_stdin(o.sentences);
      TS_CHECK(!lines.empty(), "translate: nothing to translate: give sentences as arguments or one a line on stdin");
      size_t skipped = 0;
      for (const std::string& s : lines) skipped += !translate_one(*c.model, c.source_vocab, c.target_vocab, s, o);
      if (skipped > 0) return 1;  // each skipped line was named on stderr
    } else if (*eval_cmd) {
      Checkpoint c = open_checkpoint(o);
      if (eval_cmd->count("--data") == 0) o.data = c.data;  // the split it was trained with
      if (eval_cmd->count("--seed") == 0) o.train.seed = c.seed;
      if (eval_cmd->count("--bundled-pairs") == 0) o.bundled_pairs = static_cast<size_t>(c.bundled_pairs);
      const Corpus corpus = load_corpus(o.data, o.train.seed, o.bundled_pairs);
      const Dataset test = make_dataset(corpus.test, c.source_vocab, c.target_vocab, c.config.max_length);
      if (o.performer > 0) {
        // how far the estimate moves the encoder's output: ‖memory − exact memory‖ / ‖exact memory‖
        // over the first 200 test sentences, then BLEU with it
        c.model->eval();
        NoGradGuard no_grad;
        const size_t n = std::min<size_t>(200, test.size());
        std::vector<Tensor> exact(n);
        auto encode = [&](size_t i) {
          const IndexTensor source(test.source_ids[i], Shape{1, static_cast<int64_t>(test.source_ids[i].size())});
          return c.model->encode(source, non_padding_mask(source));
        };
        for (size_t i = 0; i < n; ++i) exact[i] = encode(i);
        c.model->use_performer_in_encoder(o.performer, static_cast<uint64_t>(o.train.seed));
        double num = 0, den = 0;
        for (size_t i = 0; i < n; ++i) {
          const std::vector<scalar_t> a = encode(i).to_vector(), e = exact[i].to_vector();
          for (size_t j = 0; j < a.size(); ++j) num += (a[j] - e[j]) * (a[j] - e[j]), den += e[j] * e[j];
        }
        fmt::print("encoder self-attention: Performer, {} random features (seed {}); encoder output relative error "
                   "{:.4f} on {} test sentences\n",
                   o.performer, o.train.seed, std::sqrt(num / den), n);
      }
      run_eval(*c.model, c.target_vocab, test, o);
    } else if (*attention_cmd) {
      Checkpoint c = open_checkpoint(o);
      const auto dir = std::filesystem::path(checkpoint_path(o)).parent_path() / "attention";
      for (const auto& f : write_attention(*c.model, c.source_vocab, c.target_vocab, o.sentences.at(0), dir.string(), o))
        fmt::print("{}\n", f);
    } else if (*heads_cmd) {
      // the first N test sentences of the corpus the checkpoint was trained on (as eval rebuilds it)
      Checkpoint c = open_checkpoint(o);
      const Corpus corpus = load_corpus(c.data, c.seed, static_cast<size_t>(c.bundled_pairs));
      std::vector<std::string> sentences;
      for (size_t i = 0; i < std::min(head_sentences, corpus.test.size()); ++i) sentences.push_back(corpus.test[i].source);
      const HeadAnalysis analysis =
          analyze_heads(*c.model, c.source_vocab, c.target_vocab, sentences, head_clusters, head_seed);
      fmt::print("{}\n{}", analysis.summary, format_entropy_table(analysis));
      std::filesystem::path dir = std::filesystem::path(checkpoint_path(o)).parent_path();
      if (dir.empty()) dir = ".";
      examples::write_file_atomically((dir / "heads.svg").string(), analysis.svg);
      fmt::print("\n{}\n", (dir / "heads.svg").string());
    } else if (*explain_cmd) {
      Checkpoint c = open_checkpoint(o);
      ExplainOptions eo;
      eo.beam = o.beam;
      eo.length_penalty = o.length_penalty;
      eo.steps = explain_steps;
      if (!explain_weight.empty()) {
        const size_t comma = explain_weight.find(',');
        try {
          TS_CHECK(comma != std::string::npos, "");
          size_t used = 0;
          eo.weight_row = std::stoll(explain_weight.substr(0, comma), &used);
          TS_CHECK(used == comma, "");
          eo.weight_col = std::stoll(explain_weight.substr(comma + 1), &used);
          TS_CHECK(used == explain_weight.size() - comma - 1 && eo.weight_row >= 0 && eo.weight_col >= 0, "");
        } catch (const std::exception&) {
          fail("explain: --weight '{}' is not T,J (two non-negative integers, e.g. --weight 0,1)", explain_weight);
        }
      }
      const Explanation e = explain(*c.model, c.source_vocab, c.target_vocab, o.sentences.at(0), eo);
      const auto path = std::filesystem::path(checkpoint_path(o)).parent_path() / "explain.svg";
      examples::write_file_atomically(path.string(), explanation_svg(e));
      fmt::print("{}  →  {}\n{}{}\n", o.sentences.at(0), e.translation, explanation_text(e), path.string());
    } else if (*export_cmd) {
      apply_real_data_defaults(*export_cmd, o);
      run_export(o);
    } else if (*score_cmd) {
      const BleuScore b = score_files(hypotheses_path, references_path);
      fmt::print("{}\n", nlohmann::json{{"bleu", b.score}, {"brevity_penalty", b.brevity_penalty}, {"ratio", b.ratio},
                                        {"precisions", b.precisions}, {"hypothesis_length", b.hypothesis_length},
                                        {"reference_length", b.reference_length}}.dump());
    } else if (*prepare_cmd) {
      const Corpus corpus = split_by_hash(extract_freedict_pairs(), 0.05, 0.1);
      std::filesystem::create_directories(prepare_dir);
      for (const auto& [name, pairs] : {std::pair{"train", &corpus.train}, {"valid", &corpus.valid},
                                        {"test", &corpus.test}}) {
        std::string text;
        for (const SentencePair& p : *pairs) text += p.source + "\t" + p.target + "\n";
        const std::string path = (std::filesystem::path(prepare_dir) / (std::string(name) + ".tsv")).string();
        examples::write_file_atomically(path, text);
        fmt::print("{}: {} pairs\n", path, pairs->size());
      }
    }
  } catch (const std::exception& e) {
    // under mpirun the other ranks cannot know: dist::abort ends the whole job with this message
    if (distributed) tessera::dist::abort(fmt::format("error: {}", e.what()));
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  tessera::dist::finalize();
  return 0;
}
