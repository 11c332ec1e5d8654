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
// It also ignores SIGXFSZ, so that a write past the file size limit (`ulimit -f`) fails with
// EFBIG and a clear error naming the file, instead of killing the process without a word.
#pragma once

#include <cstdint>
#include <string>

namespace examples {

// Installs the handlers and remembers the command line (for resume_command()).
void install_stop_handlers(int argc, const char* const* argv);

// 0 while running; SIGINT or SIGTERM once one arrived (or request_stop was called).
int stop_signal();

// As if `signal` had arrived (tests); 0 clears the request.
void request_stop(int signal);

// The command line given to install_stop_handlers, shell-quoted, with `--resume` added when it
// is not there: what continues the run. "<program> train --resume" before install_stop_handlers.
std::string resume_command();

// "stopped by SIGINT after step 57 (epoch 2, step 12 of 45); checkpoint in runs/x/model.safetensors;
// resume with: ./translator train --out runs/x --resume"
std::string stop_message(int signal, int64_t global_step, int64_t epoch, int64_t step_in_epoch,
                         int64_t steps_per_epoch, const std::string& checkpoint);

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
