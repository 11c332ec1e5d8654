// tessera/nn/distributed.h — data-parallel training over MPI, like torch.distributed and
// torch.nn.parallel.DistributedDataParallel (docs/distributed.md has the walk-through).
//
// Data parallelism in one picture. One process with a global batch of B examples computes
//     g = ∇ (1/n) Σ_{i<B} ℓ_i             (n = the examples, or tokens, the loss counts)
// N processes ("ranks") each hold the same parameters and take a disjoint shard of B/N examples:
//     rank r:   g_r = ∇ (N n_r / n) · (1/n_r) Σ_{i ∈ shard r} ℓ_i       (its loss, re-weighted)
//     all:      g   = (1/N) Σ_r g_r        (an all-reduce: every rank receives the same sum)
// and then every rank takes the same optimizer step, so the parameters stay identical. The weight
// N n_r / n (global_batch_weight) makes uneven shards — sentences of different lengths — give
// exactly the single-process gradient; with equal shards it is 1.
//
//   dist::init(argc, argv);                          // MPI when run by mpirun, else one process
//   auto model = make_model();  dist::broadcast_parameters(*model);
//   dist::DistributedDataParallel ddp(*model);        // hooks every parameter
//   for (batch : batches) {                           // the same global batches on every rank
//     Batch mine = shard_of(batch, dist::shard_range(batch.size()));
//     Tensor loss = loss_fn(model(mine)) * dist::global_batch_weight(mine.size());
//     opt.zero_grad();  loss.backward();              // buckets are sent while this runs
//     ddp.synchronize_gradients();                    // wait, average; then as usual:
//     opt.step();
//   }
//
// Buckets (as PyTorch's DDP): the parameters, in reverse order of registration (roughly the
// order backward finishes them), are packed into buckets: the first of at most ~1 MiB, so that
// communication starts early even for a small model, the others ~25 MB. A hook on each parameter
// (Tensor::register_post_accumulate_grad_hook) copies its gradient into its bucket the moment
// it is final; when a bucket is full it is all-reduced with MPI_Iallreduce while the backward
// goes on. Buckets are started strictly in bucket order on every rank (a later bucket that is
// ready first waits for the earlier ones), so every rank issues the same collectives in the same
// order, and the sum's order is fixed by the MPI algorithm for the bucket's size and the number
// of ranks — never by timing. Runs are repeatable bit for bit.
// A parameter that got no gradient in a step (an unused layer, a frozen one is not bucketed at
// all) counts as zeros in its bucket; a parameter no rank gave a gradient keeps an undefined
// .grad() (so the optimizer skips it, as it would in one process). Tied weights are one
// parameter (Module::parameters lists them once) and are sent once.
//
// Before init() (or without it: a library user's tests) everything is one process of world size 1.
// Everything here works without MPI too: a build without Open MPI (or a program not started by
// mpirun) is one process of world size 1, where every collective is the identity; started by
// mpirun without MPI support, init() says how to get it. MPI is called only from the thread that
// called init() (MPI_THREAD_FUNNELED); the engine's pool threads never call it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nn/batchnorm.h"
#include "nn/module.h"

namespace tessera::dist {

// ---- the process group ----

// Starts MPI when this process was launched by mpirun (or when MPI is built in and the launcher
// set its environment); otherwise a single process. Idempotent. Unless TESSERA_NUM_THREADS is
// set, each rank's engine threads default to (this machine's cores) / (ranks on this machine).
// The MPI runtime is shut down at exit (finalize is called for you).
void init(int& argc, char**& argv);
void finalize();
bool built_with_mpi();
bool initialized();
int rank();              // 0 .. world_size() − 1
int world_size();
int local_rank();        // rank among the processes on this machine
int local_size();
inline bool is_main() { return rank() == 0; }

// Stops every rank of the job: prints "[rank r] message" on stderr and calls MPI_Abort (plain
// exit(code) in a single process). For an error on one rank, which the others cannot know of:
// they would otherwise wait in their next collective for ever.
[[noreturn]] void abort(const std::string& message, int exit_code = 1);

// ---- collectives (the identity in a single process) ----
void barrier();
void broadcast(Tensor& t, int root = 0);                 // in place, contiguous tensor
void all_reduce_sum(Tensor& t);                          // in place, contiguous tensor
void all_reduce_sum(std::vector<double>& values);        // in place
std::vector<std::string> all_gather(const std::string& mine);  // everyone's, in rank order
std::string broadcast(const std::string& text, int root = 0);
// Copies rank root's parameters and buffers into every rank's module (start of training, after
// a resume on rank 0 only, ...). Names and shapes must match.
void broadcast_parameters(nn::Module& module, int root = 0);
// Only the buffers (BatchNorm's running statistics, which each rank updates from its own shard):
// before evaluating or saving, so that every rank holds rank root's, as the checkpoint will.
void broadcast_buffers(nn::Module& module, int root = 0);

// Differentiable sum over the ranks, out of place (torch.distributed.nn.functional.all_reduce):
// every rank gets Σ_r x_r, and in the backward every rank's x receives Σ_r of the ranks' output
// gradients (each rank's loss depends on the sum through its own copy). What lets a layer use
// statistics of the global batch, as SyncBatchNorm2d does.
Tensor all_reduce(const Tensor& x);

// BatchNorm2d whose training statistics are those of the global batch: mean and variance over
// every rank's shard (two all_reduce calls forward, two backward, C and C values each), so N ranks
// normalise exactly as one process with the whole batch (torch.nn.SyncBatchNorm). Written with
// the engine's ops around all_reduce, so its backward is autograd's. Eval mode, parameters,
// buffers and their names are BatchNorm2d's: a checkpoint loads into either.
class SyncBatchNorm2d : public nn::BatchNorm2d {
 public:
  using nn::BatchNorm2d::BatchNorm2d;
  Tensor forward(const Tensor& x) override;
};

// ---- sharding a global batch ----
struct Range {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
};
// This rank's contiguous part of n items: sizes differ by at most one, ranks in order, so the
// shards of all ranks concatenated are the items in order.
Range shard_range(int64_t n, int rank = dist::rank(), int world_size = dist::world_size());
// N · n_r / n, with n = Σ_r n_r over all ranks (a collective): the factor that makes the average
// of the ranks' mean losses the mean over the global batch (top of this file).
double global_batch_weight(int64_t local_count);

// ---- gradient averaging ----
struct DdpOptions {
  double bucket_cap_mb = 25;  // PyTorch's default bucket size
  // The first bucket (the last layers' gradients, final first) is kept small, as PyTorch's
  // (1 MiB), so that its all-reduce starts early in the backward even when the whole model would
  // fit in one bucket; the rest pack into bucket_cap_mb.
  double first_bucket_cap_mb = 1.048576;
};

class DistributedDataParallel {
 public:
  // Hooks every parameter of `module` that requires grad. The module must outlive this object.
  explicit DistributedDataParallel(nn::Module& module, const DdpOptions& options = {});
  ~DistributedDataParallel();
  DistributedDataParallel(const DistributedDataParallel&) = delete;
  DistributedDataParallel& operator=(const DistributedDataParallel&) = delete;

  // After backward, before the optimizer step: sends the buckets not yet sent (parameters that
  // got no gradient count as zeros), waits for all, and writes the average into each .grad().
  void synchronize_gradients();

  struct Stats {
    int64_t steps = 0;
    double bytes_per_step = 0;   // gradient bytes each rank sends into the all-reduces
    double wait_seconds = 0;     // time synchronize_gradients spent waiting (not overlapped)
    double pack_seconds = 0;     // time the hooks spent copying gradients into buckets
  };
  const Stats& stats() const { return stats_; }
  void reset_stats() { stats_ = Stats{}; }
  int num_buckets() const { return static_cast<int>(buckets_.size()); }
  // Which bucket each parameter (in Module::parameters order) landed in: for tests and docs.
  std::vector<int> bucket_of_parameters() const;

 private:
  struct Slot {
    Tensor parameter;
    int bucket = 0;
    int64_t offset = 0;       // in the bucket's buffer
    int64_t flag_offset = 0;  // one element per parameter: 1 if this rank had a gradient
    bool ready = false;
  };
  struct Bucket {
    std::vector<int> slots;
    std::vector<scalar_t> buffer;  // the gradients, then one "had a gradient" flag per slot
    int pending = 0;               // slots not ready yet this step
    void* request = nullptr;       // the MPI request while in flight
    bool started = false;
  };
  void on_gradient_ready(int slot);
  void start_ready_buckets();
  void start(Bucket& bucket);
  void reset_for_next_step();

  std::vector<Slot> slots_;
  std::vector<Bucket> buckets_;
  int next_bucket_ = 0;  // buckets start strictly in this order
  Stats stats_;
};

}  // namespace tessera::dist
