// Tests for examples/common/interrupt.h and resume.h: the stop flag and its message, shell
// quoting of the resume command, mid-epoch state round trips, stale temporaries.
#include <doctest/doctest.h>

#include "tests/examples_helpers.h"

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <string>

#include "examples/common/interrupt.h"
#include "examples/common/resume.h"
#include "tests/helpers.h"

using namespace examples;
using tessera::testing::TempDir;
using tessera::testing::throws_with;

TEST_CASE("interrupt: shell_quote leaves plain words alone and quotes the rest so a shell reads them back") {
  CHECK(shell_quote("--out") == "--out");
  CHECK(shell_quote("runs/x_1.safetensors") == "runs/x_1.safetensors");
  CHECK(shell_quote("") == "''");
  CHECK(shell_quote("two words") == "'two words'");
  CHECK(shell_quote("it's") == "'it'\\''s'");
  CHECK(shell_quote("$HOME") == "'$HOME'");
}

TEST_CASE("interrupt: a signal sets the flag; the message says where the checkpoint is and how to resume") {
  request_stop(0);
  const char* argv[] = {"./translator", "train", "--out", "my runs/x"};
  install_stop_handlers(4, argv);
  CHECK(stop_signal() == 0);
  std::raise(SIGTERM);  // the handler only sets the flag: the test goes on
  CHECK(stop_signal() == SIGTERM);
  CHECK(exit_status(stop_signal()) == 143);
  CHECK(stop_message(SIGTERM, 57, 2, 12, 45, "my runs/x/model.safetensors") ==
        "stopped by SIGTERM after step 57 (epoch 2, step 12 of 45); checkpoint in my runs/x/model.safetensors; "
        "resume with: ./translator train --out 'my runs/x' --resume");
  const char* resumed[] = {"./translator", "train", "--resume"};
  install_stop_handlers(3, resumed);
  CHECK(resume_command() == "./translator train --resume");  // --resume is not added twice
  CHECK(resume_command(2) == "mpirun -np 2 ./translator train --resume");
  request_stop(0);
  CHECK(stop_signal() == 0);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  std::signal(SIGXFSZ, SIG_DFL);
}

TEST_CASE("interrupt: a second signal ends the process at once with 128 + signal") {
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const char* argv[] = {"child"};
    install_stop_handlers(1, argv);
    std::raise(SIGINT);
    std::raise(SIGINT);
    ::_exit(0);  // not reached
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
}

TEST_CASE("resume: MidEpoch survives its JSON bit for bit, generators included") {
  tessera::Generator g(5);
  (void)g.next_u32();
  MidEpoch m{3, 17, 1.25, {0.1 + 0.2, 1e-300, 123456789.0}, {}, {}};
  m.capture({&g});
  const std::string training = "{\"epoch\":2,\"mid_epoch\":" + m.to_json() + "}";
  const MidEpoch back = MidEpoch::from_training_record(training);
  CHECK(back.epoch == 3);
  CHECK(back.steps == 17);
  CHECK(back.seconds == 1.25);
  CHECK(back.sums == m.sums);
  tessera::Generator h(0);
  back.restore({&h});
  CHECK(h.next_u32() == g.next_u32());
  CHECK_FALSE(MidEpoch::from_training_record("{\"epoch\":2}").active());  // written at an epoch's end
  CHECK(throws_with([] { MidEpoch::from_training_record("{\"mid_epoch\":{\"epoch\":1}}"); }, "mid_epoch entry is damaged"));
  CHECK(throws_with([&] { tessera::Generator a(1), b(2); back.restore({&a, &b}); }, "1 random generator states"));
}

// Two ranks' captures, as dist::all_gather would hand them to each: rank 0's dropout stream, then
// rank 1's (their generators at different places).
namespace {
MidEpoch two_rank_capture(tessera::Generator& rank0, tessera::Generator& rank1) {
  MidEpoch m{2, 5, 0.5, {1.5}, {}, {}};
  m.capture({&rank1});
  std::string rank1_text;
  m.gather_ranks([&](const std::string& mine) { rank1_text = mine; return std::vector<std::string>{mine}; });
  m.capture({&rank0});
  m.gather_ranks([&](const std::string& mine) { return std::vector<std::string>{mine, rank1_text}; });
  return m;
}
}  // namespace

TEST_CASE("resume: under mpirun every rank's generator states survive the JSON and each rank gets its own back") {
  tessera::Generator rank0(11), rank1(12);
  (void)rank0.next_u32(), (void)rank1.next_u32(), (void)rank1.next_u32();
  const MidEpoch written = two_rank_capture(rank0, rank1);
  const MidEpoch back = MidEpoch::from_training_record("{\"mid_epoch\":" + written.to_json() + "}");
  REQUIRE(back.generators_by_rank.size() == 2);
  CHECK(back.generators == back.generators_by_rank[0]);  // "generators" stays rank 0's: older readers see it
  tessera::Generator into0(0), into1(0);
  back.restore({&into0}, 0);
  back.restore({&into1}, 1);
  CHECK(into0.next_u32() == rank0.next_u32());
  CHECK(into1.next_u32() == rank1.next_u32());
  CHECK(back.ranks_note("m.safetensors", 2).empty());
  CHECK(back.ranks_note("m.safetensors", 1) ==
        "note: m.safetensors holds the random generator states of 2 ranks and this run has 1: the rest of epoch 2's "
        "dropout masks will differ from an uninterrupted run's");
  CHECK(back.ranks_note("m.safetensors", 4).find("this run has 4: ranks 2 to 3 start fresh streams, and the rest") !=
        std::string::npos);
  CHECK(throws_with([&] { back.restore({&into0, &into1}, 1); }, "1 random generator states"));
}

TEST_CASE("resume: a rank the checkpoint has no states for takes rank 0's shared generators and keeps its own fresh") {
  tessera::Generator shared(3), own(4);
  (void)shared.next_u32(), (void)own.next_u32();
  MidEpoch one_process{1, 2, 0, {}, {}, {}};  // or a checkpoint from before every rank's states were kept
  one_process.capture({&shared, &own});
  const MidEpoch back = MidEpoch::from_training_record("{\"mid_epoch\":" + one_process.to_json() + "}");
  CHECK(back.generators_by_rank.empty());
  tessera::Generator rank1_shared(0), rank1_own(99), fresh(99);
  back.restore({&rank1_shared, &rank1_own}, 1, 1);
  CHECK(rank1_shared.next_u32() == shared.next_u32());
  CHECK(rank1_own.next_u32() == fresh.next_u32());
  CHECK(back.ranks_note("m.safetensors", 1).empty());
  CHECK(back.ranks_note("m.safetensors", 2).find("states of 1 rank and this run has 2: rank 1 starts a fresh stream") !=
        std::string::npos);
  CHECK(MidEpoch{}.ranks_note("m.safetensors", 2).empty());  // written at an epoch's end: nothing to restore
}

TEST_CASE("resume: a mid_epoch entry whose ranks' states do not fit together is refused") {
  const std::string generators = R"("epoch":1,"steps":1,"seconds":0,"sums":[],"generators":[[1,2]])";
  CHECK(throws_with([&] { MidEpoch::from_training_record(R"({"mid_epoch":{)" + generators +
                                                          R"(,"generators_by_rank":[[[1,2]],[]]}})"); },
                    "rank 1 has 0 generator states"));
  CHECK(throws_with([&] { MidEpoch::from_training_record(R"({"mid_epoch":{)" + generators +
                                                          R"(,"generators_by_rank":[[[1,3]],[[4,5]]]}})"); },
                    "rank 0's generator states differ"));
  CHECK(throws_with([&] { MidEpoch::from_training_record(R"({"mid_epoch":{)" + generators +
                                                          R"(,"generators_by_rank":[[[1,-2]]]}})"); },
                    "mid_epoch entry is damaged"));
}

TEST_CASE("interrupt: ranks agree on the lowest rank's signal; a stop agreed on is not a received signal") {
  request_stop(0);
  const char* argv[] = {"./translator", "train"};
  install_stop_handlers(2, argv);
  CHECK(agree_on_stop({0, 0}) == 0);
  CHECK(stop_signal() == 0);
  CHECK(agree_on_stop({0, SIGTERM, SIGINT}) == SIGTERM);
  CHECK(stop_signal() == SIGTERM);  // exit_if_stopped would end this rank with 143, as the rank that got it
  std::raise(SIGINT);  // mpirun's forwarded signal arriving late: this rank's first, so it goes on
  CHECK(stop_signal() == SIGTERM);
  CHECK(agree_on_stop({SIGINT, SIGTERM}) == SIGINT);
  CHECK(stop_signal() == SIGINT);
  request_stop(0);
  // rank 0 of 2, through a stand-in for the all-reduce in which rank 1 reports SIGTERM
  CHECK_FALSE(stop_agreed(0, 2, [](std::vector<double>& slots) { CHECK(slots == std::vector<double>{0, 0}); }));
  CHECK(stop_agreed(0, 2, [](std::vector<double>& slots) { slots[1] += SIGTERM; }));
  CHECK(stop_signal() == SIGTERM);
  request_stop(0);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  std::signal(SIGXFSZ, SIG_DFL);
}

TEST_CASE("resume: remove_stale_temporaries deletes what dead writers left beside the checkpoint, not a live writer's file") {
  TempDir dir;
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) ::_exit(0);
  REQUIRE(::waitpid(child, nullptr, 0) == child);  // a process id that no longer runs
  const std::string path = dir.file("model.safetensors");
  const std::string dead = path + ".tmp." + std::to_string(child) + ".0";
  const std::string live = path + ".tmp." + std::to_string(::getpid()) + ".3";
  const std::string other = dir.file("other.safetensors.tmp." + std::to_string(child) + ".0");
  for (const std::string& p : {path, dead, live, other}) std::ofstream(p) << "x";
  CHECK(remove_stale_temporaries(path) == 2);
  CHECK_FALSE(std::filesystem::exists(dead));
  CHECK(std::filesystem::exists(live));
  CHECK_FALSE(std::filesystem::exists(other));
  CHECK(std::filesystem::exists(path));
}

TEST_CASE("resume: a checkpoint names its writer, and the other program's checkpoint is refused by name") {
  CHECK(checkpoint_writer({{"program", "translator"}}) == "translator");
  CHECK(checkpoint_writer({{"source_vocab", "{}"}, {"config", "{}"}}) == "translator");  // older files
  CHECK(checkpoint_writer({{"config", "{\"widths\":[16,32]}"}}) == "attention_cnn");
  CHECK(checkpoint_writer({{"format", "pt"}}).empty());
  CHECK_NOTHROW(check_checkpoint_writer({{"program", "translator"}}, "m.safetensors", "translator"));
  CHECK(throws_with([] { check_checkpoint_writer({{"program", "attention_cnn"}}, "m.safetensors", "translator"); },
                    "m.safetensors was written by attention_cnn, not translator"));
  CHECK(throws_with([] { check_checkpoint_writer({}, "m.safetensors", "attention_cnn"); },
                    "not an attention_cnn checkpoint"));
}
