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
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/random.h"

namespace examples {

struct MidEpoch {
  int64_t epoch = 0;          // the epoch in progress; 0: none (the checkpoint is at an epoch's end)
  int64_t steps = 0;          // its steps done
  double seconds = 0;         // training time spent in it so far
  std::vector<double> sums;   // the loop's running sums (loss, counts), in the loop's own order
  std::vector<std::pair<uint64_t, uint64_t>> generators;  // (seed, offset) of each generator

  bool active() const { return epoch > 0; }
  // Saves / restores the generators' states, in the order given.
  void capture(std::initializer_list<const tessera::Generator*> from);
  void restore(std::initializer_list<tessera::Generator*> into) const;

  // JSON object text: {"epoch":..,"steps":..,"seconds":..,"sums":[..],"generators":[[seed,offset],..]}
  // (doubles printed so they read back bit for bit).
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
