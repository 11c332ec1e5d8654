// tests/test_distributed.cpp — data-parallel training (nn/distributed.h), checked against one
// process. A program of its own, run by `./run test` twice: as one process (world size 1) and
// under `mpirun -np 2 --oversubscribe` (tests/meson.build). Every rank runs the same test cases
// in the same order (their collectives must match); a failure on any rank fails the job.
//
// The reference in each case is one process trained on the same global batches, computed by
// every rank itself (no communication), so the comparison needs no file or second program.
//
//   --fail-on-rank R   instead of the tests: rank R throws a tessera::Error while the others wait
//                      in a barrier; the job must end with rank R's message (tests/meson.build
//                      checks the exit code, the message and that it ends within seconds).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "engine/tessera.h"
#include "examples/translator/batching.h"
#include "examples/translator/model.h"
#include "nn/batchnorm.h"
#include "nn/conv.h"
#include "nn/distributed.h"
#include "nn/linear.h"
#include "nn/loss.h"
#include "nn/optim.h"

using namespace tessera;
namespace dist = tessera::dist;

namespace {

// max |a − b| over every parameter of two models of the same architecture
double max_parameter_difference(const nn::Module& a, const nn::Module& b) {
  const auto pa = a.named_parameters(), pb = b.named_parameters();
  REQUIRE(pa.size() == pb.size());
  double worst = 0;
  for (size_t i = 0; i < pa.size(); ++i)
    for (int64_t j = 0; j < pa[i].second.numel(); ++j)
      worst = std::max(worst, std::fabs(static_cast<double>(pa[i].second.data()[j]) - pb[i].second.data()[j]));
  return worst;
}

// the fraction of parameter entries where |a − b| <= tolerance
double fraction_within(const nn::Module& a, const nn::Module& b, double tolerance) {
  const auto pa = a.named_parameters(), pb = b.named_parameters();
  int64_t close = 0, total = 0;
  for (size_t i = 0; i < pa.size(); ++i)
    for (int64_t j = 0; j < pa[i].second.numel(); ++j, ++total)
      close += std::fabs(static_cast<double>(pa[i].second.data()[j]) - pb[i].second.data()[j]) <= tolerance;
  return static_cast<double>(close) / static_cast<double>(total);
}

// Do all ranks hold exactly these bits? (rank 0's copy is broadcast and compared bitwise)
bool same_bits_on_every_rank(const nn::Module& m) {
  bool same = true;
  for (const auto& [name, p] : m.named_parameters()) {
    Tensor mine = p.detach().clone(), root = p.detach().clone();
    dist::broadcast(root, 0);
    same = same && std::memcmp(mine.data(), root.data(), sizeof(scalar_t) * static_cast<size_t>(p.numel())) == 0;
  }
  std::vector<double> all{same ? 0.0 : 1.0};
  dist::all_reduce_sum(all);
  return all[0] == 0;
}

}  // namespace

TEST_CASE("shard_range cuts n items into contiguous shards, in rank order, sizes within one") {
  for (int world = 1; world <= 5; ++world)
    for (int64_t n : {0, 1, 4, 7, 64}) {
      int64_t next = 0;
      for (int r = 0; r < world; ++r) {
        const dist::Range s = dist::shard_range(n, r, world);
        CHECK(s.begin == next);
        CHECK((s.size() == n / world || s.size() == n / world + 1));
        next = s.end;
      }
      CHECK(next == n);
    }
  CHECK_THROWS_AS(dist::shard_range(4, 2, 2), Error);
}

TEST_CASE("collectives: broadcast, all-reduce and all-gather") {
  const int r = dist::rank(), n = dist::world_size();
  Tensor t = full({3}, static_cast<scalar_t>(r + 1));
  dist::broadcast(t, 0);
  CHECK(t.to_vector() == std::vector<scalar_t>{1, 1, 1});
  Tensor s = full({2}, static_cast<scalar_t>(r + 1));
  dist::all_reduce_sum(s);
  CHECK(s.at({1}) == static_cast<scalar_t>(n * (n + 1) / 2));
  const std::vector<std::string> names = dist::all_gather(std::string(static_cast<size_t>(r), 'x'));
  REQUIRE(static_cast<int>(names.size()) == n);
  for (int k = 0; k < n; ++k) CHECK(names[static_cast<size_t>(k)] == std::string(static_cast<size_t>(k), 'x'));
  CHECK(dist::broadcast(r == 0 ? std::string("from rank 0") : std::string(), 0) == "from rank 0");
  // the weights of uneven shards (w_r = N n_r / n) sum to N, and are 1 for equal shards
  const int64_t local = 3 + r;
  const double w = dist::global_batch_weight(local);
  CHECK(w == doctest::Approx(static_cast<double>(n) * local / (n * 3 + n * (n - 1) / 2)));
  std::vector<double> sum{w};
  dist::all_reduce_sum(sum);
  CHECK(sum[0] == doctest::Approx(n));
  CHECK(dist::global_batch_weight(5) == doctest::Approx(1));
}

namespace {

translator::ModelConfig tiny_translator() {
  translator::ModelConfig c;
  c.source_vocab_size = 23;
  c.target_vocab_size = 19;
  c.d_model = 16;
  c.nhead = 2;
  c.encoder_layers = 1;
  c.decoder_layers = 1;
  c.dim_feedforward = 32;
  c.dropout = 0;  // the N-rank run would draw other dropout masks than one process (docs/distributed.md)
  c.max_length = 16;
  return c;
}

// Sentence pairs of random lengths (1–9 tokens), so shards carry different numbers of tokens.
std::vector<translator::Batch> random_batches(const translator::ModelConfig& c, int64_t pairs, int64_t batch_size) {
  Generator gen(11);
  std::vector<std::vector<int64_t>> sources, targets;
  for (int64_t i = 0; i < pairs; ++i) {
    auto sentence = [&](int64_t vocab) {
      std::vector<int64_t> ids(1 + gen.next_u32() % 9);
      for (int64_t& id : ids) id = 4 + static_cast<int64_t>(gen.next_u32() % static_cast<uint32_t>(vocab - 4));
      return ids;
    };
    sources.push_back(sentence(c.source_vocab_size));
    targets.push_back(sentence(c.target_vocab_size));
  }
  return translator::make_batches(sources, targets, batch_size, true, 5, 1);
}

Tensor translator_loss(translator::TranslatorModel& model, const translator::Batch& b) {
  const Tensor logits = model.forward(b.source, translator::non_padding_mask(b.source), b.target_input, Tensor());
  const int64_t v = logits.shape()[2];
  return nn::cross_entropy(reshape(logits, Shape{-1, v}), b.target_output.reshape(Shape{b.target_output.numel()}),
                           {.ignore_index = 0, .label_smoothing = 0.1});
}

template <class Optimizer>
void translator_ddp_matches_one_process(double max_difference, double min_fraction_close, const char* optimizer_name,
                                        std::function<Optimizer(std::vector<Tensor>)> make_optimizer) {
  CAPTURE(optimizer_name);
  const translator::ModelConfig config = tiny_translator();
  manual_seed(3);
  translator::TranslatorModel model(config);
  manual_seed(3);
  translator::TranslatorModel reference(config);
  if (dist::rank() != 0) {  // start the ranks apart: broadcast_parameters must bring them together
    NoGradGuard no_grad;
    for (Tensor p : model.parameters()) p.data()[0] += 1;
  }
  dist::broadcast_parameters(model);
  REQUIRE(max_parameter_difference(model, reference) == 0);

  dist::DistributedDataParallel ddp(model, {.bucket_cap_mb = 0.004});  // ~1,000 floats: several buckets
  CHECK(ddp.num_buckets() > 3);
  Optimizer opt = make_optimizer(model.parameters());
  Optimizer reference_opt = make_optimizer(reference.parameters());
  const std::vector<translator::Batch> batches = random_batches(config, 48, 12);
  REQUIRE(batches.size() == 4);
  for (const translator::Batch& global : batches) {
    // one process: the whole global batch
    reference_opt.zero_grad();
    translator_loss(reference, global).backward();
    reference_opt.step();
    // this rank: its shard, re-weighted by its share of the batch's tokens
    const dist::Range mine = dist::shard_range(global.size());
    const translator::Batch shard = translator::slice_rows(global, mine.begin, mine.end);
    const double weight = dist::global_batch_weight(shard.num_target_tokens);
    opt.zero_grad();
    (translator_loss(model, shard) * static_cast<scalar_t>(weight)).backward();
    ddp.synchronize_gradients();
    opt.step();
  }
  CHECK(same_bits_on_every_rank(model));
  const double difference = max_parameter_difference(model, reference);
  const double close = fraction_within(model, reference, 1e-6);
  MESSAGE(std::string(optimizer_name) << ": after 4 steps max |N ranks − one process| = " << difference << ", "
                         << 100 * close << "% of the parameters within 1e-6");
  CHECK(difference <= max_difference);
  CHECK(close >= min_fraction_close);
  CHECK(ddp.stats().steps == 4);
}

}  // namespace

// Why these tolerances: the two runs differ only in the order of the float32 sums over the batch
// (one GEMM over B rows vs N GEMMs over B/N rows, then the all-reduce): a relative error of a few
// 1e-7 in each gradient. SGD (lr 0.5) turns that into parameter differences of about lr × 1e-7.
// Adam divides each gradient by its running RMS, so an entry whose contributions nearly cancel
// (true gradient ~0) can change its normalised step by up to 2·lr however small the rounding: the
// worst entry may move by up to 2·lr per step (measured 3.8e-4 after 4 steps at lr 1e-3), while
// nearly all entries stay within 1e-6. So Adam's check is "≥ 99% within 1e-6, none beyond the
// 2·lr·steps bound". With one rank both runs are the same computation, bit for bit.
TEST_CASE("translator model: N ranks with DDP equal one process on the same global batches (SGD)") {
  const bool one = dist::world_size() == 1;
  translator_ddp_matches_one_process<nn::optim::SGD>(one ? 0 : 1e-6, 1.0, "SGD", [](std::vector<Tensor> p) {
    return nn::optim::SGD(std::move(p), 0.5);
  });
}

TEST_CASE("translator model: N ranks with DDP equal one process on the same global batches (Adam)") {
  const bool one = dist::world_size() == 1;
  translator_ddp_matches_one_process<nn::optim::Adam>(one ? 0 : 2 * 1e-3 * 4, one ? 1.0 : 0.99, "Adam",
                                                      [](std::vector<Tensor> p) {
                                                        return nn::optim::Adam(std::move(p), {.lr = 1e-3});
                                                      });
}

namespace {
// conv → batch norm (synchronised or not) → relu → linear, on 1×6×6 images
struct SmallCnn : nn::Module {
  explicit SmallCnn(bool sync_bn = false) : Module("SmallCnn") {
    conv = register_module("conv", std::make_shared<nn::Conv2d>(1, 4, 3, 1, 1));
    bn = register_module("bn", sync_bn ? std::make_shared<dist::SyncBatchNorm2d>(4) : std::make_shared<nn::BatchNorm2d>(4));
    head = register_module("head", std::make_shared<nn::Linear>(4 * 6 * 6, 3));
  }
  Tensor forward(const Tensor& x) {
    const Tensor h = relu(bn->forward(conv->forward(x)));
    return head->forward(reshape(h, Shape{x.shape()[0], -1}));
  }
  std::shared_ptr<nn::Conv2d> conv;
  std::shared_ptr<nn::BatchNorm2d> bn;
  std::shared_ptr<nn::Linear> head;
};
}  // namespace

// BatchNorm normalises each rank's shard with the shard's own statistics (PyTorch's default), so
// the single-process run that matches it normalises each shard of the global batch separately
// ("ghost batches") and sums their weighted losses.
TEST_CASE("CNN with BatchNorm: N ranks equal one process that normalises each shard separately") {
  manual_seed(4);
  SmallCnn model;
  manual_seed(4);
  SmallCnn reference;
  dist::DistributedDataParallel ddp(model);
  CHECK(ddp.num_buckets() == 1);
  nn::optim::SGD opt(model.parameters(), nn::optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
  nn::optim::SGD reference_opt(reference.parameters(), nn::optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
  Generator gen(8);
  const int64_t batch = 10;  // uneven over 3 or 4 ranks too
  for (int step = 0; step < 4; ++step) {
    const Tensor x = randn({batch, 1, 6, 6}, &gen);
    std::vector<int64_t> labels(batch);
    for (int64_t& y : labels) y = static_cast<int64_t>(gen.next_u32() % 3);
    auto shard_loss = [&](SmallCnn& m, dist::Range s) {
      const Tensor xs = narrow(x, 0, s.begin, s.size());
      const IndexTensor ys(std::vector<int64_t>(labels.begin() + s.begin, labels.begin() + s.end));
      return nn::cross_entropy(m.forward(xs), ys);
    };
    reference_opt.zero_grad();
    Tensor total;
    for (int r = 0; r < dist::world_size(); ++r) {
      const dist::Range s = dist::shard_range(batch, r);
      const Tensor part = shard_loss(reference, s) * static_cast<scalar_t>(static_cast<double>(s.size()) / batch);
      total = total.defined() ? total + part : part;
    }
    total.backward();
    reference_opt.step();
    const dist::Range mine = dist::shard_range(batch);
    opt.zero_grad();
    (shard_loss(model, mine) * static_cast<scalar_t>(dist::global_batch_weight(mine.size()))).backward();
    ddp.synchronize_gradients();
    opt.step();
  }
  CHECK(same_bits_on_every_rank(model));
  const double difference = max_parameter_difference(model, reference);
  MESSAGE("CNN + BatchNorm: max |N ranks − one process| after 4 steps = " << difference);
  CHECK(difference <= (dist::world_size() == 1 ? 1e-6 : 1e-5));
}

// SyncBatchNorm2d normalises with the statistics of the global batch: N ranks equal one process
// with plain BatchNorm2d over the whole batch (parameters and running statistics).
TEST_CASE("CNN with SyncBatchNorm2d: N ranks equal one process with BatchNorm2d on the whole batch") {
  manual_seed(4);
  SmallCnn model(true);
  manual_seed(4);
  SmallCnn reference(false);
  dist::DistributedDataParallel ddp(model);
  nn::optim::SGD opt(model.parameters(), nn::optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
  nn::optim::SGD reference_opt(reference.parameters(), nn::optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
  Generator gen(9);
  const int64_t batch = 10;
  for (int step = 0; step < 4; ++step) {
    const Tensor x = randn({batch, 1, 6, 6}, &gen) * scalar_t(2) + scalar_t(1);
    std::vector<int64_t> labels(batch);
    for (int64_t& y : labels) y = static_cast<int64_t>(gen.next_u32() % 3);
    reference_opt.zero_grad();
    nn::cross_entropy(reference.forward(x), IndexTensor(labels)).backward();
    reference_opt.step();
    const dist::Range mine = dist::shard_range(batch);
    const IndexTensor ys(std::vector<int64_t>(labels.begin() + mine.begin, labels.begin() + mine.end));
    opt.zero_grad();
    (nn::cross_entropy(model.forward(narrow(x, 0, mine.begin, mine.size())), ys) *
     static_cast<scalar_t>(dist::global_batch_weight(mine.size())))
        .backward();
    ddp.synchronize_gradients();
    opt.step();
  }
  CHECK(same_bits_on_every_rank(model));
  const double difference = max_parameter_difference(model, reference);
  MESSAGE("SyncBatchNorm2d: max |N ranks − one process| after 4 steps = " << difference);
  CHECK(difference <= 1e-5);
  for (int64_t c = 0; c < 4; ++c) {
    CHECK(model.bn->running_mean.data()[c] == doctest::Approx(reference.bn->running_mean.data()[c]).epsilon(1e-5));
    CHECK(model.bn->running_var.data()[c] == doctest::Approx(reference.bn->running_var.data()[c]).epsilon(1e-5));
  }
  // eval mode: the running statistics, as BatchNorm2d
  model.eval();
  reference.eval();
  const Tensor x = randn({3, 1, 6, 6}, &gen);
  const Tensor a = model.forward(x), b = reference.forward(x);
  for (int64_t j = 0; j < a.numel(); ++j) CHECK(a.data()[j] == doctest::Approx(b.data()[j]).epsilon(1e-4));
}

namespace {
// A parameter for every awkward case of bucketing.
struct Awkward : nn::Module {
  Awkward() : Module("Awkward") {
    used = register_module("used", std::make_shared<nn::Linear>(4, 4));
    unused = register_module("unused", std::make_shared<nn::Linear>(4, 4));
    frozen = register_module("frozen", std::make_shared<nn::Linear>(4, 4));
    for (Tensor p : frozen->parameters()) p.requires_grad_(false);
    first_only = register_parameter("first_only", full({4}, 0.5));
    tied_a = register_module("tied_a", std::make_shared<nn::Linear>(4, 4, false));
    tied_b = register_module("tied_b", tied_a);  // the same module twice: one weight
  }
  // rank_zero_part: the rows that use first_only (only the first shard's rows)
  Tensor forward(const Tensor& x, bool use_first_only) {
    Tensor h = frozen->forward(used->forward(x)).tanh();
    if (use_first_only) h = h * first_only;
    return tied_b->forward(tied_a->forward(h)).sum();
  }
  std::shared_ptr<nn::Linear> used, unused, frozen, tied_a, tied_b;
  Tensor first_only;
};
}  // namespace

TEST_CASE("buckets: unused, frozen, tied and one-rank-only parameters, one bucket per parameter") {
  manual_seed(5);
  Awkward model;
  manual_seed(5);
  Awkward reference;
  dist::DistributedDataParallel ddp(model, {.bucket_cap_mb = 1e-6});  // every parameter its own bucket
  // used (2) + unused (2) + first_only + the tied weight once; frozen ones are not bucketed
  CHECK(ddp.num_buckets() == 6);
  Generator gen(2);
  const Tensor x = randn({6, 4}, &gen);
  const int n = dist::world_size();
  for (int step = 0; step < 2; ++step) {
    model.zero_grad();
    reference.zero_grad();
    for (int r = 0; r < n; ++r) {  // one process: each shard's loss, weighted by its share
      const dist::Range s = dist::shard_range(6, r);
      (reference.forward(narrow(x, 0, s.begin, s.size()), r == 0) * static_cast<scalar_t>(s.size() / 6.0)).backward();
    }
    const dist::Range mine = dist::shard_range(6);
    (model.forward(narrow(x, 0, mine.begin, mine.size()), dist::rank() == 0) *
     static_cast<scalar_t>(dist::global_batch_weight(mine.size())))
        .backward();
    ddp.synchronize_gradients();
    CHECK_FALSE(model.unused->weight.grad().defined());  // no rank used it: stays undefined
    CHECK_FALSE(reference.unused->weight.grad().defined());
    REQUIRE(model.first_only.grad().defined());  // rank 0 used it: the others sent zeros
    const auto mp = model.named_parameters(), rp = reference.named_parameters();
    for (size_t i = 0; i < mp.size(); ++i) {
      CAPTURE(mp[i].first);
      if (!mp[i].second.requires_grad()) continue;  // frozen
      const Tensor a = mp[i].second.grad(), b = rp[i].second.grad();
      REQUIRE(a.defined() == b.defined());
      if (!a.defined()) continue;
      for (int64_t j = 0; j < a.numel(); ++j) CHECK(a.data()[j] == doctest::Approx(b.data()[j]).epsilon(1e-5));
    }
  }
}

// Like PyTorch's DDP, the first bucket (the last layers) holds at most ~1 MiB, so its all-reduce
// starts early in the backward; the rest pack into bucket_cap_mb. Three 300x300 layers are
// 3 x 90,300 floats = 1.08 MB: the first bucket takes the last two layers and the first one's bias.
TEST_CASE("buckets: the first bucket is small, the rest fill bucket_cap_mb, in reverse registration order") {
  manual_seed(7);
  nn::Sequential model;
  for (int i = 0; i < 3; ++i) model.push_back(std::make_shared<nn::Linear>(300, 300));
  dist::DistributedDataParallel ddp(model);  // defaults: first 1 MiB, then 25 MB
  CHECK(ddp.num_buckets() == 2);
  // parameters in registration order: weight, bias of layer 1, 2, 3
  CHECK(ddp.bucket_of_parameters() == std::vector<int>{1, 0, 0, 0, 0, 0});
  dist::DistributedDataParallel one_bucket(model, {.bucket_cap_mb = 25, .first_bucket_cap_mb = 25});
  CHECK(one_bucket.num_buckets() == 1);
  CHECK_THROWS_AS(dist::DistributedDataParallel(model, {.first_bucket_cap_mb = 0}), Error);
}

TEST_CASE("a second backward before synchronize_gradients is an error, not a silent double count") {
  if (dist::world_size() == 1) return;  // one process has no hooks: nothing to count
  manual_seed(6);
  nn::Linear layer(3, 2);
  dist::DistributedDataParallel ddp(layer);
  const Tensor x = ones({1, 3});
  layer.forward(x).sum().backward();
  CHECK_THROWS_AS(layer.forward(x).sum().backward(), Error);
}

int main(int argc, char** argv) {
  try {
    dist::init(argc, argv);
    for (int i = 1; i + 1 < argc; ++i)
      if (std::strcmp(argv[i], "--fail-on-rank") == 0) {
        if (dist::rank() == std::atoi(argv[i + 1]))
          throw Error(fmt::format("bad input on rank {}: the data file does not exist (a deliberate failure)",
                                  dist::rank()));
        dist::barrier();  // would wait for ever for the failed rank without dist::abort
        dist::finalize();
        return 0;
      }
    doctest::Context context(argc, argv);
    const int failed = context.run();
    if (context.shouldExit()) {
      dist::finalize();
      return failed;
    }
    std::vector<double> failures{failed != 0 ? 1.0 : 0.0};
    dist::all_reduce_sum(failures);  // a failure on any rank fails every rank
    dist::finalize();
    return failures[0] > 0 ? 1 : 0;
  } catch (const std::exception& e) {
    dist::abort(fmt::format("error: {}", e.what()));
  }
}
