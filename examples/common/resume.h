// examples/common/resume.h — what the training loops need so that a run stopped at any moment
// resumes from its last complete checkpoint and ends with the same weights as a run that never
// stopped.
//
// A checkpoint is one safetensors file (weights, optimizer, schedule, and the settings and history
// as metadata), written to a temporary name and renamed: a kill leaves either the old or the new
// file, never a mix of the two, and at worst a stale `<path>.tmp.<pid>.<n>` beside it, which
// remove_stale_temporaries() deletes at the next start.
//
// Checkpoints are written at the end of each epoch, and when a run is stopped by SIGINT/SIGTERM
// (interrupt.h) also after the step in progress. Such a mid-epoch checkpoint records a MidEpoch
// in its "training" metadata: the epoch and how many of its steps are done, the loop's running
// sums, and the state of every random generator the epoch draws from. The epoch's batches are a
// function of (seed, epoch), so resuming rebuilds them, skips the steps done, restores the sums and
// the generators, and continues bit for bit.
//
// Under mpirun every rank has its own dropout stream, so a mid-epoch checkpoint holds every rank's
// generator states (gathered to rank 0, which writes it), and on resume each rank restores its own.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/random.h"

namespace examples {

using GeneratorStates = std::vector<std::pair<uint64_t, uint64_t>>;  // (seed, offset) of each generator

struct MidEpoch {
  int64_t epoch = 0;          // the epoch in progress; 0: none (the checkpoint is at an epoch's end)
  int64_t steps = 0;          // its steps done
  double seconds = 0;         // training time spent in it so far
  std::vector<double> sums;   // the loop's running sums (loss, counts), in the loop's own order
  GeneratorStates generators;  // rank 0's (in one process, its own)
  // Under mpirun: every rank's, in rank order (entry 0 is `generators`). Empty in one process and in
  // checkpoints written before the ranks' states were kept.
  std::vector<GeneratorStates> generators_by_rank;

  bool active() const { return epoch > 0; }
  // Saves this process's generator states into `generators`, in the order given.
  void capture(std::initializer_list<const tessera::Generator*> from);
  // After capture() on every rank (a collective): `all_gather` is dist::all_gather (every rank's
  // text, in rank order). Sets generators_by_rank to every rank's states and `generators` to rank
  // 0's; in one process (one text) it leaves them as they are.
  void gather_ranks(const std::function<std::vector<std::string>(const std::string&)>& all_gather);
  // Restores rank `rank`'s states into the generators capture() saved, in the same order. The first
  // `shared` of them are drawn alike by every rank (the attention CNN's batch order and
  // augmentation), so rank 0's state is every rank's; the rest are the rank's own streams (dropout).
  // A rank the checkpoint holds no states for (it was written by fewer ranks, or before their states
  // were kept) takes rank 0's shared states and keeps the fresh per-epoch seeds of its own streams:
  // it cannot replay draws nobody recorded, and rank 0's stream would give it rank 0's masks.
  void restore(std::initializer_list<tessera::Generator*> into, int rank = 0, size_t shared = 0) const;
  // "" at an epoch's end, or when the checkpoint holds the states of as many ranks as the run has
  // (`world_size`; an old checkpoint counts as one rank's); otherwise a note for rank 0 to print:
  // the rest of the epoch's dropout masks will differ from an uninterrupted run's.
  std::string ranks_note(const std::string& checkpoint, int world_size) const;

  // JSON object text: {"epoch":..,"steps":..,"seconds":..,"sums":[..],"generators":[[seed,offset],..]}
  // and, under mpirun, "generators_by_rank":[[[seed,offset],..],..] (doubles printed so they read
  // back bit for bit).
  std::string to_json() const;
  // The "mid_epoch" member of a checkpoint's "training" record; an inactive MidEpoch when there
  // is none (every checkpoint written at an epoch's end). Throws tessera::Error naming what is wrong.
  static MidEpoch from_training_record(const std::string& training_json);

  // "resuming from PATH after epoch 1" or "... after epoch 1 and step 62 of epoch 2".
  std::string resuming_message(const std::string& checkpoint, int64_t epochs_done) const;
};

// Which program wrote a checkpoint, from its safetensors metadata: the "program" entry (written
// since checkpoints name their writer), else what older files hold ("source_vocab": translator;
// a config with "widths": attention_cnn); "" when neither.
std::string checkpoint_writer(const std::map<std::string, std::string>& metadata);
// Throws tessera::Error "PATH was written by attention_cnn, not translator: ..." when another
// program (or none of the two) wrote it.
void check_checkpoint_writer(const std::map<std::string, std::string>& metadata, const std::string& path,
                             const std::string& program);

// Deletes the temporaries `<file>.tmp.<pid>.<n>` in `path`'s directory (the checkpoint's, and the
// curve's or a page's beside it) that a process killed while writing left behind: their pid no
// longer runs. Returns how many were deleted.
int remove_stale_temporaries(const std::string& path);

}  // namespace examples
