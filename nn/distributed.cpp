// tessera/nn/distributed.cpp — the process group, collectives and DistributedDataParallel
// (nn/distributed.h has the model). The MPI calls are confined to the "transport" section below;
// a build without MPI compiles the same file with a single-process transport, so everything
// above it (sharding, buckets, hooks) is the same code in both builds.
#include "nn/distributed.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "engine/parallel.h"

#if TESSERA_HAVE_MPI
#include <mpi.h>
#endif

namespace tessera::dist {

namespace {

struct Group {
  bool initialized = false;
  bool using_mpi = false;
  int rank = 0, world_size = 1, local_rank = 0, local_size = 1;
};
Group g_group;

// The world size the launcher announced in the environment (Open MPI, PMIx, MPICH's Hydra),
// or 0 when this process was not started by an MPI launcher.
int launcher_world_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"})
    if (const char* v = std::getenv(name)) return std::max(1, std::atoi(v));
  return 0;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// ---- transport: the only place that calls MPI ----
#if TESSERA_HAVE_MPI
MPI_Comm g_grad_comm = MPI_COMM_NULL;  // the gradient buckets' own communicator (nn/distributed.h)

MPI_Datatype scalar_type() { return sizeof(scalar_t) == sizeof(float) ? MPI_FLOAT : MPI_DOUBLE; }

void check_mpi(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  abort(fmt::format("{} failed: {}", what, std::string(text, static_cast<size_t>(length))));
}

void transport_init(int& argc, char**& argv) {
  int already = 0;
  MPI_Initialized(&already);
  if (!already) {
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  }
  // errors come back as codes, so check_mpi can name the call instead of MPI printing its own
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_group.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_group.world_size);
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_group.rank, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &g_group.local_rank);
  MPI_Comm_size(local, &g_group.local_size);
  MPI_Comm_free(&local);
  MPI_Comm_dup(MPI_COMM_WORLD, &g_grad_comm);
  g_group.using_mpi = true;
}

void transport_finalize() {
  if (g_grad_comm != MPI_COMM_NULL) MPI_Comm_free(&g_grad_comm);
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

[[noreturn]] void transport_abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);  // not reached
}

void transport_barrier() { check_mpi(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

void transport_broadcast(void* data, int64_t bytes, int root) {
  check_mpi(MPI_Bcast(data, static_cast<int>(bytes), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
}

void transport_all_reduce(scalar_t* data, int64_t n) {
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, data, static_cast<int>(n), scalar_type(), MPI_SUM, MPI_COMM_WORLD),
            "MPI_Allreduce");
}

void transport_all_reduce(double* data, int64_t n) {
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, data, static_cast<int>(n), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD),
            "MPI_Allreduce");
}

std::vector<std::string> transport_all_gather(const std::string& mine) {
  const int n = g_group.world_size;
  int my_size = static_cast<int>(mine.size());
  std::vector<int> sizes(static_cast<size_t>(n)), offsets(static_cast<size_t>(n));
  check_mpi(MPI_Allgather(&my_size, 1, MPI_INT, sizes.data(), 1, MPI_INT, MPI_COMM_WORLD), "MPI_Allgather");
  int total = 0;
  for (int r = 0; r < n; ++r) offsets[static_cast<size_t>(r)] = total, total += sizes[static_cast<size_t>(r)];
  std::string all(static_cast<size_t>(total), '\0');
  check_mpi(MPI_Allgatherv(mine.data(), my_size, MPI_CHAR, all.data(), sizes.data(), offsets.data(), MPI_CHAR,
                           MPI_COMM_WORLD),
            "MPI_Allgatherv");
  std::vector<std::string> out;
  for (int r = 0; r < n; ++r)
    out.push_back(all.substr(static_cast<size_t>(offsets[static_cast<size_t>(r)]),
                             static_cast<size_t>(sizes[static_cast<size_t>(r)])));
  return out;
}

// A non-blocking in-place sum over the gradient communicator; the request lives in a heap cell
// so the header needs no <mpi.h>.
void* transport_start_all_reduce(scalar_t* data, int64_t n) {
  auto* request = new MPI_Request;
  check_mpi(MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(n), scalar_type(), MPI_SUM, g_grad_comm, request),
            "MPI_Iallreduce");
  return request;
}

// Lets MPI progress a request (Open MPI moves non-blocking collectives on only inside MPI calls).
void transport_poke(void* request) {
  int done = 0;
  check_mpi(MPI_Test(static_cast<MPI_Request*>(request), &done, MPI_STATUS_IGNORE), "MPI_Test");
}

void transport_wait(void* request) {
  auto* r = static_cast<MPI_Request*>(request);
  check_mpi(MPI_Wait(r, MPI_STATUS_IGNORE), "MPI_Wait");
  delete r;
}
#else
// One process: nothing to send, every collective is the identity.
void transport_init(int&, char**&) {
  const int n = launcher_world_size();
  TS_CHECK(n <= 1,
           "distributed: this program was started by an MPI launcher as one of {} processes, but tessera "
           "was built without MPI; install Open MPI (apt-get install openmpi-bin libopenmpi-dev), then "
           "configure the build again (meson finds it) — or run it as one process, without mpirun",
           n);
}
void transport_finalize() {}
[[noreturn]] void transport_abort(int code) { std::_Exit(code); }
void transport_barrier() {}
void transport_broadcast(void*, int64_t, int) {}
void transport_all_reduce(scalar_t*, int64_t) {}
void transport_all_reduce(double*, int64_t) {}
std::vector<std::string> transport_all_gather(const std::string& mine) { return {mine}; }
void* transport_start_all_reduce(scalar_t*, int64_t) { return nullptr; }
void transport_poke(void*) {}
void transport_wait(void*) {}
#endif

}  // namespace

// ---- the process group ----

void init(int& argc, char**& argv) {
  if (g_group.initialized) return;
#if TESSERA_HAVE_MPI
  if (launcher_world_size() > 0) transport_init(argc, argv);
#else
  transport_init(argc, argv);
#endif
  g_group.initialized = true;
  if (g_group.local_size > 1 && !std::getenv("TESSERA_NUM_THREADS")) {
    // share this machine's cores among its ranks (get_num_threads() already respects a binding
    // of this process to fewer cores, as mpirun's default binding does)
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    set_num_threads(std::max(1, std::min(get_num_threads(), cores / g_group.local_size)));
  }
}

void finalize() {
  if (!g_group.initialized) return;
  if (g_group.using_mpi) transport_finalize();
  g_group = Group{};
}

bool built_with_mpi() { return TESSERA_HAVE_MPI != 0; }
bool initialized() { return g_group.initialized; }
int rank() { return g_group.rank; }
int world_size() { return g_group.world_size; }
int local_rank() { return g_group.local_rank; }
int local_size() { return g_group.local_size; }

void abort(const std::string& message, int exit_code) {
  if (g_group.world_size > 1) std::fprintf(stderr, "[rank %d] %s\n", g_group.rank, message.c_str());
  else std::fprintf(stderr, "%s\n", message.c_str());
  std::fflush(stderr);
  if (g_group.using_mpi) transport_abort(exit_code);
  std::exit(exit_code);
}

// ---- collectives ----

void barrier() {
  if (g_group.world_size > 1) transport_barrier();
}

void broadcast(Tensor& t, int root) {
  if (g_group.world_size > 1) transport_broadcast(t.data(), t.numel() * static_cast<int64_t>(sizeof(scalar_t)), root);
}

std::string broadcast(const std::string& text, int root) {
  if (g_group.world_size == 1) return text;
  int64_t size = static_cast<int64_t>(text.size());
  transport_broadcast(&size, sizeof size, root);
  std::string out = g_group.rank == root ? text : std::string(static_cast<size_t>(size), '\0');
  transport_broadcast(out.data(), size, root);
  return out;
}

void all_reduce_sum(Tensor& t) {
  if (g_group.world_size > 1) transport_all_reduce(t.data(), t.numel());
}

void all_reduce_sum(std::vector<double>& values) {
  if (g_group.world_size > 1) transport_all_reduce(values.data(), static_cast<int64_t>(values.size()));
}

std::vector<std::string> all_gather(const std::string& mine) {
  if (g_group.world_size == 1) return {mine};
  return transport_all_gather(mine);
}

namespace {
void broadcast_tensors(std::vector<std::pair<std::string, Tensor>> tensors, int root) {
  // every rank must hold the same architecture: compare the list of names and shapes first
  std::string layout;
  for (const auto& [name, t] : tensors) layout += fmt::format("{} {}\n", name, t.shape());
  const std::vector<std::string> layouts = all_gather(layout);
  for (int r = 0; r < g_group.world_size; ++r)
    TS_CHECK(layouts[static_cast<size_t>(r)] == layouts[static_cast<size_t>(root)],
             "dist::broadcast_parameters: rank {}'s model differs from rank {}'s (parameter names or shapes); "
             "every rank must build the same model", r, root);
  for (auto& [name, t] : tensors) broadcast(t, root);
}
}  // namespace

void broadcast_parameters(nn::Module& module, int root) {
  if (g_group.world_size == 1) return;
  std::vector<std::pair<std::string, Tensor>> tensors = module.named_parameters();
  for (auto& named : module.named_buffers()) tensors.push_back(named);
  broadcast_tensors(std::move(tensors), root);
}

void broadcast_buffers(nn::Module& module, int root) {
  if (g_group.world_size == 1) return;
  broadcast_tensors(module.named_buffers(), root);
}

Tensor all_reduce(const Tensor& x) {
  Tensor out = x.detach().clone();  // contiguous, its own buffer
  all_reduce_sum(out);
  // y = Σ_r x_r on every rank; the objective is a sum over the ranks' losses, each seeing y through
  // its own copy, so dL/dx_r = Σ_r' dL_r'/dy: the same sum over the output gradients.
  record(out, "all_reduce", {&x}, [](const Tensor& grad, GradSink& sink) {
    Tensor g = grad.clone();
    all_reduce_sum(g);
    sink.add(0, g);
  });
  return out;
}

// Per channel, over the M values of the global batch (m_r on this rank):
//   μ = all_reduce(Σ x) / M,   σ² = all_reduce(Σ (x − μ)²) / M   (two passes: no cancellation)
//   y = (x − μ) / √(σ² + eps) · γ + β
// Running statistics as BatchNorm2d, with the unbiased σ² · M / (M − 1) of the global batch.
Tensor SyncBatchNorm2d::forward(const Tensor& x) {
  if (!is_training() && options.track_running_stats) return nn::BatchNorm2d::forward(x);
  TS_CHECK(x.dim() == 4 && x.shape()[1] == num_features, "SyncBatchNorm2d: expected input [N, {}, H, W], got {}",
           num_features, x.shape());
  const Shape per_channel{1, num_features, 1, 1};
  std::vector<double> count{static_cast<double>(x.numel() / num_features)};
  all_reduce_sum(count);
  const double m = count[0];
  TS_CHECK(m > 1, "SyncBatchNorm2d: expected more than 1 value per channel in the global batch, got {}", m);
  const scalar_t inverse_m = static_cast<scalar_t>(1 / m);
  const Tensor mean = all_reduce(sum(x, {0, 2, 3}, true)) * inverse_m;          // [1, C, 1, 1]
  const Tensor centred = x - mean;
  const Tensor variance = all_reduce(sum(centred * centred, {0, 2, 3}, true)) * inverse_m;
  Tensor y = centred / sqrt(variance + static_cast<scalar_t>(options.eps));
  if (weight.defined()) y = y * reshape(weight, per_channel) + reshape(bias, per_channel);
  if (options.track_running_stats) {
    NoGradGuard no_grad;
    double momentum = options.momentum.value_or(0);
    if (!options.momentum) momentum = 1 / (num_batches_tracked.item() + 1);
    const scalar_t* mu = mean.data();
    const scalar_t* var = variance.data();
    scalar_t* rm = running_mean.data();
    scalar_t* rv = running_var.data();
    for (int64_t c = 0; c < num_features; ++c) {
      rm[c] = static_cast<scalar_t>((1 - momentum) * rm[c] + momentum * mu[c]);
      rv[c] = static_cast<scalar_t>((1 - momentum) * rv[c] + momentum * var[c] * m / (m - 1));
    }
    num_batches_tracked.data()[0] += 1;
  }
  return y;
}

// ---- sharding ----

Range shard_range(int64_t n, int rank, int world_size) {
  TS_CHECK(world_size >= 1 && rank >= 0 && rank < world_size, "shard_range: rank {} of world size {}", rank,
           world_size);
  TS_CHECK(n >= 0, "shard_range: {} items", n);
  // the first n % N ranks take one item more
  const int64_t base = n / world_size, extra = n % world_size;
  const int64_t begin = rank * base + std::min<int64_t>(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

double global_batch_weight(int64_t local_count) {
  if (g_group.world_size == 1) return 1.0;
  std::vector<double> total{static_cast<double>(local_count)};
  all_reduce_sum(total);
  TS_CHECK(total[0] > 0, "global_batch_weight: the global batch is empty on every rank");
  return static_cast<double>(g_group.world_size) * static_cast<double>(local_count) / total[0];
}

// ---- DistributedDataParallel ----

DistributedDataParallel::DistributedDataParallel(nn::Module& module, const DdpOptions& options) {
  TS_CHECK(options.bucket_cap_mb > 0 && options.first_bucket_cap_mb > 0,
           "DistributedDataParallel: bucket_cap_mb and first_bucket_cap_mb must be positive, got {} and {}",
           options.bucket_cap_mb, options.first_bucket_cap_mb);
  std::vector<Tensor> parameters;
  for (const Tensor& p : module.parameters())
    if (p.requires_grad()) parameters.push_back(p);
  // Buckets in reverse registration order: the last layers' gradients are final first.
  auto floats = [](double mb) { return std::max<int64_t>(1, static_cast<int64_t>(mb * 1e6 / sizeof(scalar_t))); };
  const int64_t first_cap = std::min(floats(options.first_bucket_cap_mb), floats(options.bucket_cap_mb));
  const int64_t cap = floats(options.bucket_cap_mb);
  for (size_t k = parameters.size(); k-- > 0;) {
    const int64_t n = parameters[k].numel();
    const int64_t this_cap = buckets_.size() <= 1 ? first_cap : cap;  // bucket 0 is the small one
    if (buckets_.empty() || (buckets_.back().buffer.size() > 0 &&
                             static_cast<int64_t>(buckets_.back().buffer.size()) + n > this_cap))
      buckets_.emplace_back();
    Bucket& b = buckets_.back();
    Slot s;
    s.parameter = parameters[k];
    s.bucket = static_cast<int>(buckets_.size()) - 1;
    s.offset = static_cast<int64_t>(b.buffer.size());
    b.buffer.resize(b.buffer.size() + static_cast<size_t>(n));
    b.slots.push_back(static_cast<int>(slots_.size()));
    slots_.push_back(std::move(s));
  }
  for (Bucket& b : buckets_) {  // the flags after the gradients
    const int64_t gradients = static_cast<int64_t>(b.buffer.size());
    for (size_t j = 0; j < b.slots.size(); ++j)
      slots_[static_cast<size_t>(b.slots[j])].flag_offset = gradients + static_cast<int64_t>(j);
    b.buffer.resize(b.buffer.size() + b.slots.size());
  }
  reset_for_next_step();
  if (g_group.world_size == 1) return;  // nothing to average: no hooks, no cost
  for (size_t i = 0; i < slots_.size(); ++i)
    slots_[i].parameter.register_post_accumulate_grad_hook([this, i](Tensor&) { on_gradient_ready(static_cast<int>(i)); });
}

DistributedDataParallel::~DistributedDataParallel() {
  if (g_group.world_size == 1) return;
  for (Slot& s : slots_) s.parameter.register_post_accumulate_grad_hook(nullptr);
  for (Bucket& b : buckets_)
    if (b.request) transport_wait(b.request);
}

std::vector<int> DistributedDataParallel::bucket_of_parameters() const {
  // slots_ run in reverse parameter order
  std::vector<int> out(slots_.size());
  for (size_t i = 0; i < slots_.size(); ++i) out[slots_.size() - 1 - i] = slots_[i].bucket;
  return out;
}

void DistributedDataParallel::reset_for_next_step() {
  for (Slot& s : slots_) s.ready = false;
  for (Bucket& b : buckets_) {
    b.pending = static_cast<int>(b.slots.size());
    b.started = false;
    b.request = nullptr;
  }
  next_bucket_ = 0;
}

// A parameter's gradient is final for this backward: copy it into its bucket (zeros when the
// pass reached it without producing a gradient), and start every bucket that is now complete.
void DistributedDataParallel::on_gradient_ready(int index) {
  const auto start = std::chrono::steady_clock::now();
  Slot& s = slots_[static_cast<size_t>(index)];
  Bucket& b = buckets_[static_cast<size_t>(s.bucket)];
  TS_CHECK(!s.ready,
           "DistributedDataParallel: a second backward reached parameter {} (shape {}) before "
           "synchronize_gradients(); accumulate by summing the losses and calling backward once per step",
           index, s.parameter.shape());
  s.ready = true;
  const Tensor grad = s.parameter.impl().grad ? s.parameter.grad() : Tensor();
  scalar_t* dst = b.buffer.data() + s.offset;
  if (grad.defined()) std::memcpy(dst, grad.data(), sizeof(scalar_t) * static_cast<size_t>(grad.numel()));
  else std::fill(dst, dst + s.parameter.numel(), scalar_t(0));
  b.buffer[static_cast<size_t>(s.flag_offset)] = grad.defined() ? 1 : 0;
  --b.pending;
  stats_.pack_seconds += seconds_since(start);
  start_ready_buckets();
}

void DistributedDataParallel::start(Bucket& b) {
  b.request = transport_start_all_reduce(b.buffer.data(), static_cast<int64_t>(b.buffer.size()));
  b.started = true;
}

// Buckets go out in bucket order only, so every rank issues the same collectives in the same
// order whatever order its backward finished them in.
void DistributedDataParallel::start_ready_buckets() {
  while (next_bucket_ < static_cast<int>(buckets_.size()) && buckets_[static_cast<size_t>(next_bucket_)].pending == 0)
    start(buckets_[static_cast<size_t>(next_bucket_++)]);
  for (int k = 0; k < next_bucket_; ++k)  // let MPI move the ones in flight
    if (buckets_[static_cast<size_t>(k)].request) transport_poke(buckets_[static_cast<size_t>(k)].request);
}

void DistributedDataParallel::synchronize_gradients() {
  if (g_group.world_size == 1) {  // the gradients are already the average over one rank
    ++stats_.steps;
    return;
  }
  const auto start_time = std::chrono::steady_clock::now();
  // parameters the backward never reached (unused this step, on this rank) count as zeros
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    if (s.ready) continue;
    Bucket& b = buckets_[static_cast<size_t>(s.bucket)];
    s.ready = true;
    scalar_t* dst = b.buffer.data() + s.offset;
    const bool has = static_cast<bool>(s.parameter.impl().grad);  // e.g. a gradient set by hand
    if (has) std::memcpy(dst, s.parameter.grad().data(), sizeof(scalar_t) * static_cast<size_t>(s.parameter.numel()));
    else std::fill(dst, dst + s.parameter.numel(), scalar_t(0));
    b.buffer[static_cast<size_t>(s.flag_offset)] = has ? 1 : 0;
    --b.pending;
  }
  start_ready_buckets();
  const scalar_t inverse = scalar_t(1) / static_cast<scalar_t>(g_group.world_size);
  double bytes = 0;
  for (Bucket& b : buckets_) {
    transport_wait(b.request);
    b.request = nullptr;
    bytes += static_cast<double>(b.buffer.size() * sizeof(scalar_t));
    for (int index : b.slots) {
      Slot& s = slots_[static_cast<size_t>(index)];
      if (b.buffer[static_cast<size_t>(s.flag_offset)] == 0) {  // no rank had a gradient
        s.parameter.set_grad(Tensor());
        continue;
      }
      if (!s.parameter.impl().grad) s.parameter.set_grad(zeros(s.parameter.shape()));
      Tensor grad = s.parameter.grad();
      const scalar_t* src = b.buffer.data() + s.offset;
      scalar_t* dst = grad.data();
      for (int64_t j = 0; j < grad.numel(); ++j) dst[j] = src[j] * inverse;
    }
  }
  stats_.wait_seconds += seconds_since(start_time);
  stats_.bytes_per_step = bytes;
  ++stats_.steps;
  reset_for_next_step();
}

}  // namespace tessera::dist
