// tessera/bench/bench_translator.cpp — greedy decoding of one sentence with a trained translator
// checkpoint: tessera's half of issue 5's decoding target (bench/run_translator_bench.py runs it
// beside bench/translator_reference.py's `decode`, which loads the same checkpoint into PyTorch).
//
//   bench_translator --checkpoint FILE --source "words ..." [--steps 20] [--reps 15] [--threads 2]
//
// prints one JSON line with, in ms per sentence (median of --reps after a warm-up):
//   forced     encode + exactly --steps greedy steps with the decoder's key/value cache (the loop of
//              decode.cpp's greedy_search at batch 1, not stopping at <eos>), so both sides
//              generate the same number of tokens whatever the weights say
//   until_eos  translate_ids with beam 1 (the library's greedy search, stops at <eos>)
//   uncached   encode + --steps steps that re-run the decoder on the whole prefix, as PyTorch's
//              usual loop does (what the cache saves, on tessera's own engine)
// The source is given as words (preprocessed, space-separated: test_words.tsv's line), encoded by
// the checkpoint's source vocabulary (into pieces, for a subword one), <eos> appended.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "engine/tessera.h"
#include "examples/translator/decode.h"
#include "examples/translator/train.h"

using namespace tessera;
using namespace translator;

namespace {

constexpr int64_t kBos = 1, kEos = 2;

int64_t argmax_token(const scalar_t* row, int64_t vocab) {
  return std::max_element(row + kBos + 1, row + vocab) - row;  // never <pad> or <bos>
}

// encode + `steps` cached greedy steps at batch 1; returns the tokens
std::vector<int64_t> forced_cached(TranslatorModel& model, const std::vector<int64_t>& source_ids, int64_t steps) {
  NoGradGuard no_grad;
  const IndexTensor source(source_ids, Shape{1, static_cast<int64_t>(source_ids.size())});
  const Tensor mask = non_padding_mask(source);
  const Tensor memory = model.encode(source, mask);
  nn::DecoderCache cache;
  std::vector<int64_t> out;
  int64_t token = kBos;
  for (int64_t t = 0; t < steps; ++t) {
    const Tensor logits = model.decode(IndexTensor({token}, Shape{1, 1}), memory, mask, &cache);  // [1, 1, V]
    token = argmax_token(logits.data(), model.config.target_vocab_size);
    out.push_back(token);
  }
  return out;
}

// encode + `steps` steps, each re-running the decoder on <bos> y1 .. y_t (no cache)
std::vector<int64_t> forced_uncached(TranslatorModel& model, const std::vector<int64_t>& source_ids, int64_t steps) {
  NoGradGuard no_grad;
  const IndexTensor source(source_ids, Shape{1, static_cast<int64_t>(source_ids.size())});
  const Tensor mask = non_padding_mask(source);
  const Tensor memory = model.encode(source, mask);
  std::vector<int64_t> prefix{kBos};
  const int64_t vocab = model.config.target_vocab_size;
  for (int64_t t = 0; t < steps; ++t) {
    const auto length = static_cast<int64_t>(prefix.size());
    const Tensor logits = model.decode(IndexTensor(prefix, Shape{1, length}), memory, mask);  // [1, t+1, V]
    prefix.push_back(argmax_token(logits.data() + (length - 1) * vocab, vocab));
  }
  return {prefix.begin() + 1, prefix.end()};
}

double median_ms(const std::function<void()>& body, int reps) {
  body();  // warm-up
  std::vector<double> times;
  for (int r = 0; r < reps; ++r) {
    const auto start = std::chrono::steady_clock::now();
    body();
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return reps % 2 ? times[reps / 2] : (times[reps / 2 - 1] + times[reps / 2]) / 2;
}

// every token, <eos> and what follows included (Vocab::decode stops at the first <eos>)
// Every id's token, <eos> and all (pieces joined into words for a subword vocabulary).
std::string all_tokens(const Vocab& vocab, const std::vector<int64_t>& ids) {
  std::vector<std::string> tokens;
  for (const int64_t id : ids) tokens.push_back(vocab.token(id));
  return detokenize(vocab.words(tokens));
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  std::string checkpoint, source_text;
  int64_t steps = 20;
  int reps = 15, threads = 2;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--checkpoint" && has_value) checkpoint = argv[++i];
    else if (a == "--source" && has_value) source_text = argv[++i];
    else if (a == "--steps" && has_value) steps = std::atoll(argv[++i]);
    else if (a == "--reps" && has_value) reps = std::atoi(argv[++i]);
    else if (a == "--threads" && has_value) threads = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: bench_translator --checkpoint FILE --source \"tokens ...\" [--steps 20] "
                           "[--reps 15] [--threads 2]\n");
      return 2;
    }
  }
  if (checkpoint.empty() || source_text.empty() || steps < 1 || reps < 1) {
    std::fprintf(stderr, "bench_translator: --checkpoint and --source are required; --steps and --reps >= 1\n");
    return 2;
  }
  try {
    set_num_threads(threads);
    Checkpoint c = load_checkpoint(checkpoint);
    TranslatorModel& model = *c.model;
    model.eval();
    std::vector<int64_t> source = c.source_vocab.encode(tokenize(source_text));
    source.push_back(kEos);
    std::vector<int64_t> forced_tokens, eos_tokens, uncached_tokens;
    const double forced = median_ms([&] { forced_tokens = forced_cached(model, source, steps); }, reps);
    const double until_eos = median_ms([&] { eos_tokens = translate_ids(model, {source})[0]; }, reps);
    const double uncached = median_ms([&] { uncached_tokens = forced_uncached(model, source, steps); }, reps);
    std::printf("{\"threads\": %d, \"source_tokens\": %zu, \"forced\": {\"median_ms\": %.4f, \"tokens\": %zu, "
                "\"translation\": %s}, \"until_eos\": {\"median_ms\": %.4f, \"tokens\": %zu, \"translation\": %s}, "
                "\"uncached\": {\"median_ms\": %.4f, \"tokens\": %zu, \"same_as_cached\": %s}}\n",
                threads, source.size() - 1, forced, forced_tokens.size(),
                json_string(all_tokens(c.target_vocab, forced_tokens)).c_str(), until_eos,
                eos_tokens.size(), json_string(detokenize(c.target_vocab.decode(eos_tokens))).c_str(), uncached,
                uncached_tokens.size(), uncached_tokens == forced_tokens ? "true" : "false");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_translator: %s\n", e.what());
    return 1;
  }
  return 0;
}
