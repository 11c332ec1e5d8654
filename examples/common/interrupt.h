// examples/common/interrupt.h — stopping a training run cleanly on Ctrl-C or `kill`.
//
// install_stop_handlers() makes the first SIGINT or SIGTERM set a flag and nothing else; a
// training loop polls stop_signal() after every step, writes its checkpoint and prints
// stop_message() (what happened, where the checkpoint is and the exact command that resumes),
// and the program then ends with exit_status() (130 after SIGINT, 143 after SIGTERM, as shells
// report a process killed by that signal). A second SIGINT or SIGTERM ends the process at once with
// the same status, even in the middle of a checkpoint write: checkpoints are written to a
// temporary name and renamed (files.h), so the previous one stays whole.
//
// Under mpirun the ranks agree after every step on whether to stop and with which signal
// (agree_on_stop), so a signal that reached only some of them still stops every rank after the
// same step, and all print and exit alike.
//
// Ctrl-C on mpirun (Open MPI 4.1, measured): the terminal signals mpirun alone (each rank has its
// own process group); mpirun sends the ranks SIGCONT, SIGTERM one second later and SIGKILL one
// more second later (odls_base_sigkill_timeout, default 1 s, is both waits), and exits with 1. So
// the step in progress and the checkpoint must fit in that second: they do for both programs'
// default settings (about 0.15 s), not for a model whose step takes seconds. Then signal one rank
// instead (`kill -INT <a pid from pgrep -P <mpirun's pid>>`: the others follow, and mpirun exits
// with 130) or give mpirun `--mca odls_base_sigkill_timeout 60` (its SIGTERM comes later too).
//
// It also ignores SIGXFSZ, so that a write past the file size limit (`ulimit -f`) fails with
// EFBIG and a clear error naming the file, instead of killing the process without a word.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace examples {

// Installs the handlers and remembers the command line (for resume_command()).
void install_stop_handlers(int argc, const char* const* argv);

// 0 while running; SIGINT or SIGTERM once one arrived (or request_stop was called).
int stop_signal();

// As if `signal` had arrived (tests); 0 clears the request.
void request_stop(int signal);

// Under mpirun, after every step: `signals` holds every rank's stop_signal(), in rank order (an
// all-reduce sum of one slot per rank gives it to all). Returns the lowest rank's signal, 0 when no
// rank got one, and makes it this process's stop_signal(), so every rank prints and exits the same
// way. A rank that stops because another got the signal has not received one itself: the signal
// mpirun forwards to it a moment later is its first (it still finishes the checkpoint), not the
// second that ends the process at once.
int agree_on_stop(const std::vector<double>& signals);

// Whether to stop after this step: stop_signal() != 0 in one process; with world_size > 1 ranks a
// collective (every rank calls it after the same step) giving all the same answer: each rank puts
// its stop_signal() in its own slot, `all_reduce_sum` (dist::all_reduce_sum) sums the slots, and
// agree_on_stop decides.
bool stop_agreed(int rank, int world_size, const std::function<void(std::vector<double>&)>& all_reduce_sum);

// The command line given to install_stop_handlers, shell-quoted, with `--resume` added when it
// is not there: what continues the run. "<program> train --resume" before install_stop_handlers.
// A run of world_size > 1 ranks gets `mpirun -np N` in front (a rank's own command line does not
// show how it was launched: a hostfile, say, the user adds back).
std::string resume_command(int world_size = 1);

// "stopped by SIGINT after step 57 (epoch 2, step 12 of 45); checkpoint in runs/x/model.safetensors;
// resume with: ./translator train --out runs/x --resume"
std::string stop_message(int signal, int64_t global_step, int64_t epoch, int64_t step_in_epoch,
                         int64_t steps_per_epoch, const std::string& checkpoint, int world_size = 1);

// 128 + the signal: what the program returns after stopping on it.
int exit_status(int signal);

// When a stop was requested: flushes stdout and stderr and exits with exit_status(). For the
// program after the training loop returned early; otherwise restores the default actions of
// SIGINT and SIGTERM (the checkpoint is complete: a signal during the final evaluation or report
// may end the program at once) and returns.
void exit_if_stopped();

// "SIGINT", "SIGTERM", or "signal N".
std::string signal_name(int signal);

// `word`, single-quoted for a POSIX shell when it holds anything but [A-Za-z0-9_./=,:+@%-].
std::string shell_quote(const std::string& word);

}  // namespace examples
