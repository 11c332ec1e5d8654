// examples/common/interrupt.cpp — see interrupt.h.
#include "examples/common/interrupt.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

#include <fmt/format.h>

namespace examples {

namespace {

// Lock-free, so both async-signal-safe and safe to read from the training thread while a handler
// runs in another thread.
std::atomic<int> g_stop_signal{0};
std::atomic<int> g_signals_received{0};  // by this process (a stop agreed with other ranks is not one)
static_assert(std::atomic<int>::is_always_lock_free);

std::mutex g_command_mutex;
std::vector<std::string> g_command;  // argv, remembered by install_stop_handlers

// Only async-signal-safe calls here: lock-free atomics, write(2) and _exit(2).
extern "C" void on_stop_signal(int signal) {
  int none = 0;
  g_stop_signal.compare_exchange_strong(none, signal);  // a stop agreed with other ranks keeps its signal
  if (g_signals_received.fetch_add(1) != 0) {
    static const char message[] = "\nstopping at once (second signal); the last complete checkpoint is kept\n";
    (void)!::write(STDERR_FILENO, message, sizeof message - 1);
    ::_exit(128 + signal);
  }
  static const char message[] =
      "\nstopping after this step to write a checkpoint (press Ctrl-C again to stop at once)\n";
  (void)!::write(STDERR_FILENO, message, sizeof message - 1);
}

}  // namespace

void install_stop_handlers(int argc, const char* const* argv) {
  {
    std::lock_guard lock(g_command_mutex);
    g_command.assign(argv, argv + argc);
  }
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // reads and writes in progress continue; the loop polls the flag
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
  std::signal(SIGXFSZ, SIG_IGN);
}

int stop_signal() { return g_stop_signal.load(); }

void request_stop(int signal) {
  g_stop_signal.store(signal);
  g_signals_received.store(signal != 0 ? 1 : 0);
}

int agree_on_stop(const std::vector<double>& signals) {
  int agreed = 0;
  for (const double signal : signals) {
    if (signal == 0) continue;
    agreed = static_cast<int>(signal);
    break;
  }
  // one rank may have seen the signal during the all-reduce: it follows the others, here and at exit
  if (agreed != 0) g_stop_signal.store(agreed);
  return agreed;
}

bool stop_agreed(int rank, int world_size, const std::function<void(std::vector<double>&)>& all_reduce_sum) {
  if (world_size <= 1) return stop_signal() != 0;
  std::vector<double> signals(static_cast<size_t>(world_size), 0.0);
  signals.at(static_cast<size_t>(rank)) = stop_signal();
  all_reduce_sum(signals);
  return agree_on_stop(signals) != 0;
}

std::string shell_quote(const std::string& word) {
  if (word.empty()) return "''";
  bool plain = true;
  for (const char c : word) {
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      std::string_view("_./=,:+@%-").find(c) != std::string_view::npos;
    plain = plain && safe;
  }
  if (plain) return word;
  std::string quoted = "'";
  for (const char c : word) {
    if (c == '\'') quoted += "'\\''";  // end the quote, an escaped quote, quote again
    else quoted += c;
  }
  quoted += '\'';
  return quoted;
}

std::string resume_command(int world_size) {
  std::lock_guard lock(g_command_mutex);
  if (g_command.empty()) return "<program> train --resume";
  std::string command = world_size > 1 ? fmt::format("mpirun -np {}", world_size) : "";
  bool has_resume = false;
  for (const std::string& word : g_command) {
    if (!command.empty()) command += ' ';
    command += shell_quote(word);
    has_resume = has_resume || word == "--resume";
  }
  return has_resume ? command : command + " --resume";
}

std::string signal_name(int signal) {
  if (signal == SIGINT) return "SIGINT";
  if (signal == SIGTERM) return "SIGTERM";
  return fmt::format("signal {}", signal);
}

std::string stop_message(int signal, int64_t global_step, int64_t epoch, int64_t step_in_epoch,
                         int64_t steps_per_epoch, const std::string& checkpoint, int world_size) {
  return fmt::format("stopped by {} after step {} (epoch {}, step {} of {}); checkpoint in {}; resume with: {}",
                     signal_name(signal), global_step, epoch, step_in_epoch, steps_per_epoch, checkpoint,
                     resume_command(world_size));
}

int exit_status(int signal) { return 128 + signal; }

void exit_if_stopped() {
  const int signal = stop_signal();
  if (signal == 0) {
    // training is over and its checkpoint complete: from here a signal may stop the program at once
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    return;
  }
  std::fflush(stdout);
  std::fflush(stderr);
  std::exit(exit_status(signal));
}

}  // namespace examples
