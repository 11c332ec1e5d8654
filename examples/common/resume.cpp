// examples/common/resume.cpp — see resume.h.
#include "examples/common/resume.h"

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "examples/common/json_fields.h"

namespace examples {

namespace {

nlohmann::json states_json(const GeneratorStates& states) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& [seed, offset] : states) j.push_back({seed, offset});
  return j;
}

GeneratorStates states_from_json(const nlohmann::json& j) {
  GeneratorStates states;
  for (const auto& g : j) states.emplace_back(json_uint64(g.at(0)), json_uint64(g.at(1)));
  return states;
}

}  // namespace

void MidEpoch::capture(std::initializer_list<const tessera::Generator*> from) {
  generators.clear();
  for (const tessera::Generator* g : from) generators.emplace_back(g->seed(), g->offset());
}

void MidEpoch::gather_ranks(const std::function<std::vector<std::string>(const std::string&)>& all_gather) {
  const std::vector<std::string> texts = all_gather(states_json(generators).dump());
  if (texts.size() <= 1) return;
  generators_by_rank.clear();
  for (const std::string& text : texts) generators_by_rank.push_back(states_from_json(nlohmann::json::parse(text)));
  generators = generators_by_rank.front();
}

void MidEpoch::restore(std::initializer_list<tessera::Generator*> into, int rank, size_t shared) const {
  TS_CHECK(into.size() == generators.size(),
           "resume: the checkpoint holds {} random generator states but this training loop has {}; it was written "
           "by another version of the program",
           generators.size(), into.size());
  TS_CHECK(rank >= 0 && shared <= into.size(), "MidEpoch::restore: rank {} and {} shared generators of {}", rank,
           shared, into.size());
  const bool has_own = rank == 0 || static_cast<size_t>(rank) < generators_by_rank.size();
  const GeneratorStates& states = has_own && rank > 0 ? generators_by_rank[static_cast<size_t>(rank)] : generators;
  size_t i = 0;
  for (tessera::Generator* g : into) {
    if (has_own || i < shared) g->set_state(states[i].first, states[i].second);  // else: the fresh seed stays
    ++i;
  }
}

std::string MidEpoch::ranks_note(const std::string& checkpoint, int world_size) const {
  const size_t held = std::max<size_t>(1, generators_by_rank.size());
  if (!active() || held == static_cast<size_t>(world_size)) return "";
  const auto ranks = static_cast<size_t>(world_size);
  std::string fresh;  // the ranks with no states of their own
  if (ranks == held + 1) fresh = fmt::format("rank {} starts a fresh stream, and ", held);
  if (ranks > held + 1) fresh = fmt::format("ranks {} to {} start fresh streams, and ", held, ranks - 1);
  return fmt::format("note: {} holds the random generator states of {} rank{} and this run has {}: {}the rest of "
                     "epoch {}'s dropout masks will differ from an uninterrupted run's", checkpoint, held,
                     held == 1 ? "" : "s", world_size, fresh, epoch);
}

std::string MidEpoch::to_json() const {
  nlohmann::json j{{"epoch", epoch}, {"steps", steps}, {"seconds", seconds}, {"sums", sums},
                   {"generators", states_json(generators)}};
  if (!generators_by_rank.empty()) {
    j["generators_by_rank"] = nlohmann::json::array();
    for (const GeneratorStates& states : generators_by_rank) j["generators_by_rank"].push_back(states_json(states));
  }
  return j.dump();
}

MidEpoch MidEpoch::from_training_record(const std::string& training_json) {
  MidEpoch m;
  try {
    const nlohmann::json training = nlohmann::json::parse(training_json);
    if (!training.contains("mid_epoch")) return m;
    const nlohmann::json& j = training.at("mid_epoch");
    m.epoch = json_epoch(j.at("epoch"));
    m.steps = json_int64(j.at("steps"));
    m.seconds = j.at("seconds").get<double>();
    m.sums = j.at("sums").get<std::vector<double>>();
    m.generators = states_from_json(j.at("generators"));
    if (j.contains("generators_by_rank"))
      for (const auto& states : j.at("generators_by_rank")) m.generators_by_rank.push_back(states_from_json(states));
  } catch (const nlohmann::json::exception& e) {
    tessera::fail("the training record's mid_epoch entry is damaged ({})", e.what());
  }
  TS_CHECK(m.epoch >= 1 && m.steps >= 0, "the training record's mid_epoch entry is damaged (epoch {}, steps {})",
           m.epoch, m.steps);
  for (size_t r = 0; r < m.generators_by_rank.size(); ++r)
    TS_CHECK(m.generators_by_rank[r].size() == m.generators.size(), "the training record's mid_epoch entry is "
             "damaged (rank {} has {} generator states, \"generators\" {})", r, m.generators_by_rank[r].size(),
             m.generators.size());
  TS_CHECK(m.generators_by_rank.empty() || m.generators_by_rank[0] == m.generators, "the training record's mid_epoch "
           "entry is damaged (rank 0's generator states differ from \"generators\")");
  return m;
}

std::string MidEpoch::resuming_message(const std::string& checkpoint, int64_t epochs_done) const {
  std::string message = "resuming from " + checkpoint + " after epoch " + std::to_string(epochs_done);
  if (active()) message += " and step " + std::to_string(steps) + " of epoch " + std::to_string(epoch);
  return message;
}

std::string checkpoint_writer(const std::map<std::string, std::string>& metadata) {
  if (const auto program = metadata.find("program"); program != metadata.end()) return program->second;
  if (metadata.count("source_vocab")) return "translator";
  if (const auto config = metadata.find("config"); config != metadata.end() &&
                                                     config->second.find("\"widths\"") != std::string::npos)
    return "attention_cnn";
  return "";
}

void check_checkpoint_writer(const std::map<std::string, std::string>& metadata, const std::string& path,
                             const std::string& program) {
  const std::string writer = checkpoint_writer(metadata);
  if (writer == program) return;
  if (writer.empty())
    tessera::fail("{} is not {} {} checkpoint: its metadata names no program that wrote it; pass a checkpoint that "
                  "`{} train` wrote", path, std::string("aeiou").find(program.at(0)) != std::string::npos ? "an" : "a",
                  program, program);
  tessera::fail("{} was written by {}, not {}: pass a checkpoint that `{} train` wrote", path, writer, program,
                program);
}

int remove_stale_temporaries(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path directory = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string marker = ".tmp.";
  std::error_code ec;
  int removed = 0;
  for (const fs::directory_entry& entry : fs::directory_iterator(directory, ec)) {
    const std::string name = entry.path().filename().string();
    const size_t at = name.rfind(marker);
    if (at == std::string::npos || at == 0) continue;
    // <file>.tmp.<pid>.<n>: the writer's process id, then a counter
    const std::string rest = name.substr(at + marker.size());
    const size_t dot = rest.find('.');
    if (dot == 0 || dot > 9 || dot == std::string::npos || rest.find_first_not_of("0123456789.") != std::string::npos) continue;
    const long pid = std::stol(rest.substr(0, dot));
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM) continue;  // still running: its write goes on
    if (fs::remove(entry.path(), ec)) ++removed;
  }
  return removed;
}

}  // namespace examples
