// tessera/bench/bench_nn.cpp — tessera's half of the nn benchmarks of issues #3 and #4 (the
// Transformer pieces, then the convolution and the attention CNN's training steps).
//
// bench/run_nn_bench.py drives this binary and bench/bench_nn_torch.py (the same cases in
// PyTorch) and prints the comparison table. Modes:
//   bench_nn [--threads 2] [--reps 5] [--rep-seconds 0.3] [--warmup-seconds 0.2] [--filter S] [--list]
//       runs every (matching) case standalone; one JSON object per line on stdout:
//       {"meta": {...}}
//       {"case": "mlp train 784-512-512-10 b128", "impl": "tessera", "median_s": ..., "reps_s": [...], "iters": N}
//       (plus "parameters": N for the cases that count them, so the runner can check that both
//       sides built the same network)
//   bench_nn --serve [--threads 2] [--rep-seconds ...] [--warmup-seconds ...]
//       answers stdin commands, one JSON line each (so run_nn_bench.py can interleave tessera's
//       repetitions with PyTorch's): "setup NAME" -> {"case", "iters"[, "parameters"]}; "rep" -> {"case", "rep_s"};
//       "quit".
//   bench_nn --mem NAME [--steps 5] [--threads 2]
//       builds the case, runs --steps calls and prints {"case", "maxrss_mb"} (getrusage ru_maxrss
//       of this process: run it in a fresh process per case).
// Case names are shared with bench_nn_torch.py: keep the two lists in step.
#include <cblas.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "bench/blas_check.h"
#include "engine/tessera.h"
#include "examples/attention_cnn/model.h"
#include "nn/activation.h"
#include "nn/attention.h"
#include "nn/conv.h"
#include "nn/embedding.h"
#include "nn/linear.h"
#include "nn/loss.h"
#include "nn/module.h"
#include "nn/optim.h"
#include "nn/transformer.h"

using namespace tessera;

namespace {

volatile scalar_t g_sink = 0;

struct Options {
  int threads = 2;
  int reps = 5;
  double rep_seconds = 0.3;
  double warmup_seconds = 0.2;
  int steps = 5;
  std::string filter, mem_case;
  bool list = false, serve = false, floor = false;
};

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Warm up (at least 2 calls), then choose how many calls make a repetition ~rep_seconds long.
int64_t calibrate(const std::function<void()>& body, const Options& opt) {
  const double start = now_seconds();
  double last = 0;
  int64_t calls = 0;
  while (calls < 2 || now_seconds() - start < opt.warmup_seconds) {
    const double t0 = now_seconds();
    body();
    last = now_seconds() - t0;
    ++calls;
  }
  return std::clamp<int64_t>(static_cast<int64_t>(std::llround(opt.rep_seconds / std::max(last, 1e-9))), 1, 1'000'000);
}

double one_rep(const std::function<void()>& body, int64_t iters) {
  const double t0 = now_seconds();
  for (int64_t i = 0; i < iters; ++i) body();
  return (now_seconds() - t0) / static_cast<double>(iters);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  return out + "\"";
}

std::string number(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6e", x);
  return buf;
}

// ', "parameters": N' for a case that counts them, else nothing.
std::string parameters_field(int64_t parameters) {
  return parameters > 0 ? ", \"parameters\": " + std::to_string(parameters) : "";
}

void emit(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

double maxrss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // Linux: kilobytes
}

IndexTensor random_ids(int64_t n, int64_t vocab, Generator& gen, const Shape& shape) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = gen.randint(vocab);
  return IndexTensor(std::move(v), shape);
}

// ---------------- the cases ----------------

// What a case builds: the call to time, and how many parameters its model has (0: not counted),
// which run_nn_bench.py compares with PyTorch's.
struct Bench {
  std::function<void()> step;
  int64_t parameters = 0;
  Bench(std::function<void()> s, int64_t p = 0) : step(std::move(s)), parameters(p) {}  // NOLINT: implicit
};

// 1. MLP 784-512-512-10, ReLU, batch 128, cross-entropy, Adam.
std::function<void()> mlp_case() {
  struct State {
    std::shared_ptr<nn::Sequential> net;
    std::unique_ptr<nn::optim::Adam> opt;
    Tensor x;
    IndexTensor y;
  };
  auto s = std::make_shared<State>();
  s->net = std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::UnaryModule>>{
      std::make_shared<nn::Linear>(784, 512), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(512, 512),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(512, 10)});
  s->opt = std::make_unique<nn::optim::Adam>(s->net->parameters(), nn::optim::AdamOptions{.lr = 1e-3});
  Generator gen(1);
  s->x = randn({128, 784}, &gen);
  s->y = random_ids(128, 10, gen, {128});
  return [s] {
    s->opt->zero_grad();
    Tensor logits = (*s->net)(s->x);
    Tensor loss = nn::cross_entropy(logits, s->y);
    loss.backward();
    s->opt->step();
    g_sink = g_sink + loss.item();
  };
}

// 2. MultiHeadAttention self-attention forward + backward, loss = sum of the output.
std::function<void()> mha_case(int64_t B, int64_t L, int64_t E, int64_t H) {
  struct State {
    std::shared_ptr<nn::MultiHeadAttention> mha;
    Tensor x;
  };
  auto s = std::make_shared<State>();
  s->mha = std::make_shared<nn::MultiHeadAttention>(E, H);
  Generator gen(2);
  s->x = randn({B, L, E}, &gen);
  s->x.requires_grad_();
  return [s] {
    s->mha->zero_grad();
    s->x.zero_grad();
    nn::MhaCall call;
    call.need_weights = false;
    Tensor out = s->mha->forward(s->x, s->x, s->x, call).output;
    Tensor loss = sum(out);
    loss.backward();
    g_sink = g_sink + loss.item();
  };
}

constexpr int64_t vocab = 1000;

// 3./4. Transformer train step: embeddings (vocab 1000) -> nn::Transformer -> Linear to vocab,
// causal tgt mask, dropout 0.1 (train mode), cross-entropy, Adam.
std::function<void()> transformer_case(int64_t d_model, int64_t nhead, int64_t ffn, int64_t layers, int64_t batch,
                                       int64_t length) {
  struct Model : nn::Module {
    std::shared_ptr<nn::Embedding> src_embed, tgt_embed;
    std::shared_ptr<nn::Transformer> transformer;
    std::shared_ptr<nn::Linear> out;
    Model(const nn::TransformerOptions& o) : nn::Module("Seq2Seq") {
      src_embed = register_module("src_embed", std::make_shared<nn::Embedding>(vocab, o.d_model));
      tgt_embed = register_module("tgt_embed", std::make_shared<nn::Embedding>(vocab, o.d_model));
      transformer = register_module("transformer", std::make_shared<nn::Transformer>(o));
      out = register_module("out", std::make_shared<nn::Linear>(o.d_model, vocab));
    }
  };
  struct State {
    std::shared_ptr<Model> model;
    std::unique_ptr<nn::optim::Adam> opt;
    IndexTensor src, tgt, labels;
    int64_t batch, length;
  };
  nn::TransformerOptions o;
  o.d_model = d_model;
  o.nhead = nhead;
  o.num_encoder_layers = layers;
  o.num_decoder_layers = layers;
  o.dim_feedforward = ffn;
  o.dropout = 0.1;
  auto s = std::make_shared<State>();
  s->model = std::make_shared<Model>(o);
  s->model->train(true);
  s->opt = std::make_unique<nn::optim::Adam>(s->model->parameters(), nn::optim::AdamOptions{.lr = 1e-4});
  Generator gen(3);
  s->src = random_ids(batch * length, vocab, gen, {batch, length});
  s->tgt = random_ids(batch * length, vocab, gen, {batch, length});
  s->labels = random_ids(batch * length, vocab, gen, {batch * length});
  s->batch = batch;
  s->length = length;
  return [s] {
    s->opt->zero_grad();
    Tensor src = (*s->model->src_embed)(s->src);
    Tensor tgt = (*s->model->tgt_embed)(s->tgt);
    nn::DecoderCall dc;
    dc.tgt_is_causal = true;
    Tensor h = s->model->transformer->forward(src, tgt, nn::EncoderCall{}, dc);
    Tensor logits = (*s->model->out)(h).reshape({s->batch * s->length, vocab});
    Tensor loss = nn::cross_entropy(logits, s->labels);
    loss.backward();
    s->opt->step();
    g_sink = g_sink + loss.item();
  };
}

// 5. Conv2d forward + backward, all three gradients (input, weight, bias); loss = sum of the output.
Bench conv_case(int64_t batch, int64_t in_channels, int64_t out_channels, int64_t size, int64_t kernel,
                int64_t padding) {
  struct State {
    std::shared_ptr<nn::Conv2d> conv;
    Tensor x;
  };
  auto s = std::make_shared<State>();
  s->conv = std::make_shared<nn::Conv2d>(in_channels, out_channels, kernel, 1, padding);
  Generator gen(4);
  s->x = randn({batch, in_channels, size, size}, &gen);
  s->x.requires_grad_();
  auto step = [s] {
    s->conv->zero_grad();
    s->x.zero_grad();
    Tensor loss = sum(s->conv->forward(s->x));
    loss.backward();
    g_sink = g_sink + loss.item();
  };
  return {step, s->conv->num_parameters()};
}

// 6. One training step of the attention CNN example (examples/attention_cnn/model.h), as its
// `train` runs it: forward in train mode, cross-entropy with label smoothing 0.1, backward,
// AdamW (lr 4e-3, weight decay 5e-4, the example's defaults). Random images and labels.
Bench cnn_train_case(std::vector<int64_t> widths, int64_t batch, int64_t in_channels, int64_t image_size) {
  struct State {
    std::shared_ptr<attention_cnn::AttentionCNN> model;
    std::unique_ptr<nn::optim::AdamW> opt;
    Tensor images;
    IndexTensor labels;
  };
  attention_cnn::ModelConfig config;
  config.widths = std::move(widths);
  config.in_channels = in_channels;
  config.image_size = image_size;
  auto s = std::make_shared<State>();
  s->model = std::make_shared<attention_cnn::AttentionCNN>(config);
  s->model->train(true);
  s->opt = std::make_unique<nn::optim::AdamW>(s->model->parameters(),
                                              nn::optim::AdamWOptions{.lr = 4e-3, .weight_decay = 5e-4});
  Generator gen(5);
  s->images = randn({batch, in_channels, image_size, image_size}, &gen);
  s->labels = random_ids(batch, config.num_classes, gen, {batch});
  auto step = [s] {
    s->opt->zero_grad();
    Tensor logits = s->model->forward(s->images);
    Tensor loss = nn::cross_entropy(logits, s->labels, {.label_smoothing = 0.1});
    loss.backward();
    s->opt->step();
    g_sink = g_sink + loss.item();
  };
  return {step, s->model->num_parameters()};
}

struct Case {
  std::string name;
  std::function<Bench()> make;
};

std::vector<Case> all_cases() {
  return {
      {"mlp train 784-512-512-10 b128", [] { return mlp_case(); }},
      {"mha fwd+bwd B32 L64 E128 H4", [] { return mha_case(32, 64, 128, 4); }},
      {"mha fwd+bwd B8 L512 E512 H8", [] { return mha_case(8, 512, 512, 8); }},
      {"transformer train d128 h4 ffn512 2+2 b32 l16", [] { return transformer_case(128, 4, 512, 2, 32, 16); }},
      {"transformer train d256 h8 ffn1024 3+3 b64 l24", [] { return transformer_case(256, 8, 1024, 3, 64, 24); }},
      {"cnn conv2d 64->64 3x3 (32,64,16,16) fwd+bwd", [] { return conv_case(32, 64, 64, 16, 3, 1); }},
      {"cnn train default w16,32,64 (128,1,28,28)", [] { return cnn_train_case({16, 32, 64}, 128, 1, 28); }},
      {"cnn train classic w64,128,256 (32,3,16,16)", [] { return cnn_train_case({64, 128, 256}, 32, 3, 16); }},
      {"cnn train classic w64,128,256 (32,3,32,32)", [] { return cnn_train_case({64, 128, 256}, 32, 3, 32); }},
  };
}

const Case* find_case(const std::string& name) {
  static const std::vector<Case> cases = all_cases();
  for (const Case& c : cases)
    if (c.name == name) return &c;
  return nullptr;
}

void usage_exit(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--threads N] [--reps N] [--rep-seconds S] [--warmup-seconds S] [--filter S] [--list]\n"
               "       %s --serve [--threads N] ...\n"
               "       %s --mem CASE [--steps N] [--threads N]\n"
               "       %s --floor [--threads N] [--reps N]\n",
               argv0, argv0, argv0, argv0);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_exit(argv[0]);
      return argv[++i];
    };
    if (a == "--threads") o.threads = std::stoi(value());
    else if (a == "--reps") o.reps = std::stoi(value());
    else if (a == "--rep-seconds") o.rep_seconds = std::stod(value());
    else if (a == "--warmup-seconds") o.warmup_seconds = std::stod(value());
    else if (a == "--steps") o.steps = std::stoi(value());
    else if (a == "--filter") o.filter = value();
    else if (a == "--mem") o.mem_case = value();
    else if (a == "--list") o.list = true;
    else if (a == "--serve") o.serve = true;
    else if (a == "--floor") o.floor = true;
    else usage_exit(argv[0]);
  }
  return o;
}

// The GEMM floor of a Transformer train step: every Linear's forward product and its two
// backward products (dX = G W, dW = Gᵀ X), timed with cblas_sgemm alone on OpenBLAS's own
// threads (opt.threads of them) — what BLAS needs for the step's matrix products, with nothing
// else (attention's small per-head products, elementwise work, the optimizer) counted. Shapes for
// tokens T = batch·length, width d, feed-forward f, vocabulary V, per layer:
//   encoder: qkv [T,d]x[d,3d], out [T,d]x[d,d], ffn [T,d]x[d,f], [T,f]x[f,d]
//   decoder: the same plus cross-attention q [T,d]x[d,d], kv (of the memory) [T,d]x[d,2d], out [T,d]x[d,d]
//   output projection [T,d]x[d,V]
void print_floor(const Options& opt) {
  struct Shape3 {
    int m, k, n;
  };
  struct Step {
    std::string name;
    int d, f, layers, batch, length;
  };
  const std::vector<Step> steps{{"transformer train d128 h4 ffn512 2+2 b32 l16", 128, 512, 2, 32, 16},
                                {"transformer train d256 h8 ffn1024 3+3 b64 l24", 256, 1024, 3, 64, 24}};
  openblas_set_num_threads(opt.threads);  // this process only: the floor is OpenBLAS on its own threads
  for (const Step& st : steps) {
    const int T = st.batch * st.length, d = st.d, f = st.f;
    std::vector<Shape3> linears;
    for (int l = 0; l < st.layers; ++l)
      for (Shape3 s : {Shape3{T, d, 3 * d}, Shape3{T, d, d}, Shape3{T, d, f}, Shape3{T, f, d}}) linears.push_back(s);
    for (int l = 0; l < st.layers; ++l)
      for (Shape3 s : {Shape3{T, d, 3 * d}, Shape3{T, d, d}, Shape3{T, d, d}, Shape3{T, d, 2 * d}, Shape3{T, d, d},
                       Shape3{T, d, f}, Shape3{T, f, d}})
        linears.push_back(s);
    linears.push_back({T, d, static_cast<int>(vocab)});
    size_t biggest = 0;
    double flops = 0;
    for (const Shape3& s : linears) {
      biggest = std::max({biggest, size_t(s.m) * s.k, size_t(s.k) * s.n, size_t(s.m) * s.n});
      flops += 3 * 2.0 * s.m * s.k * s.n;
    }
    std::vector<float> a(biggest, 0.5f), b(biggest, 0.25f), c(biggest);
    auto once = [&] {
      for (const Shape3& s : linears) {
        // forward  Y[m,n] = X[m,k] Wᵀ   (W stored [n,k])
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s.m, s.n, s.k, 1, a.data(), s.k, b.data(), s.k, 0,
                    c.data(), s.n);
        // dX[m,k] = G[m,n] W[n,k]
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s.m, s.k, s.n, 1, a.data(), s.n, b.data(), s.k, 0,
                    c.data(), s.k);
        // dW[n,k] = Gᵀ[n,m] X[m,k]
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, s.n, s.k, s.m, 1, a.data(), s.n, b.data(), s.k, 0,
                    c.data(), s.k);
      }
    };
    once();  // warm up
    std::vector<double> times;
    for (int r = 0; r < std::max(opt.reps, 5); ++r) {
      const double t0 = now_seconds();
      int calls = 0;
      do {
        once();
        ++calls;
      } while (now_seconds() - t0 < opt.rep_seconds);
      times.push_back((now_seconds() - t0) / calls);
    }
    std::sort(times.begin(), times.end());
    const double median = times[times.size() / 2];
    emit("{\"case\": " + json_string(st.name) + ", \"floor_s\": " + number(median) + ", \"gflop\": " +
         number(flops / 1e9) + ", \"gflops\": " + number(flops / median / 1e9) + ", \"corename\": " +
         json_string(openblas_get_corename()) + ", \"blas_threads\": " + std::to_string(opt.threads) + "}");
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse(argc, argv);
  if (opt.list) {
    for (const Case& c : all_cases()) std::printf("%s\n", c.name.c_str());
    return 0;
  }
  if (opt.floor) {
    print_floor(opt);
    return 0;
  }
  set_num_threads(opt.threads);
  manual_seed(0);

  if (!opt.mem_case.empty()) {
    const Case* c = find_case(opt.mem_case);
    if (!c) {
      emit("{\"case\": " + json_string(opt.mem_case) + ", \"error\": \"no such case\"}");
      return 1;
    }
    const double before = maxrss_mb();
    const std::function<void()> body = c->make().step;
    for (int i = 0; i < opt.steps; ++i) body();
    emit("{\"case\": " + json_string(c->name) + ", \"impl\": \"tessera\", \"maxrss_mb\": " + number(maxrss_mb()) +
         ", \"baseline_mb\": " + number(before) + "}");
    return 0;
  }

  emit("{\"meta\": {\"impl\": \"tessera\", \"threads\": " + std::to_string(get_num_threads()) + ", " +
       bench::check_blas().json_fields() + "}}");

  if (opt.serve) {
    std::string name;
    std::function<void()> body;
    int64_t iters = 0;
    std::string line;
    while (std::getline(std::cin, line)) {
      if (line == "quit") break;
      try {
        if (line.rfind("setup ", 0) == 0) {
          body = nullptr;  // drop the previous case's state first
          name = line.substr(6);
          const Case* c = find_case(name);
          if (!c) {
            emit("{\"case\": " + json_string(name) + ", \"error\": \"no such case\"}");
            continue;
          }
          Bench made = c->make();
          body = std::move(made.step);
          iters = calibrate(body, opt);
          emit("{\"case\": " + json_string(name) + ", \"iters\": " + std::to_string(iters) +
               parameters_field(made.parameters) + "}");
        } else if (line == "rep") {
          if (!body) {
            emit("{\"error\": \"rep before a successful setup\"}");
            continue;
          }
          emit("{\"case\": " + json_string(name) + ", \"rep_s\": " + number(one_rep(body, iters)) + "}");
        } else {
          emit("{\"error\": \"unknown command\"}");
        }
      } catch (const std::exception& e) {
        emit("{\"case\": " + json_string(name) + ", \"error\": " + json_string(e.what()) + "}");
      }
    }
    return 0;
  }

  for (const Case& c : all_cases()) {
    if (!opt.filter.empty() && c.name.find(opt.filter) == std::string::npos) continue;
    try {
      const Bench made = c.make();
      const std::function<void()>& body = made.step;
      const int64_t iters = calibrate(body, opt);
      std::vector<double> reps;
      for (int r = 0; r < opt.reps; ++r) reps.push_back(one_rep(body, iters));
      std::string list;
      for (double r : reps) list += (list.empty() ? "" : ", ") + number(r);
      emit("{\"case\": " + json_string(c.name) + ", \"impl\": \"tessera\", \"median_s\": " + number(median(reps)) +
           ", \"reps_s\": [" + list + "], \"iters\": " + std::to_string(iters) + parameters_field(made.parameters) + "}");
    } catch (const std::exception& e) {
      emit("{\"case\": " + json_string(c.name) + ", \"impl\": \"tessera\", \"error\": " + json_string(e.what()) + "}");
    }
  }
  return 0;
}
