// examples/common/resume.cpp — see resume.h.
#include "examples/common/resume.h"

#include <signal.h>

#include <cerrno>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "examples/common/json_fields.h"

namespace examples {

void MidEpoch::capture(std::initializer_list<const tessera::Generator*> from) {
  generators.clear();
  for (const tessera::Generator* g : from) generators.emplace_back(g->seed(), g->offset());
}

void MidEpoch::restore(std::initializer_list<tessera::Generator*> into) const {
  TS_CHECK(into.size() == generators.size(),
           "resume: the checkpoint holds {} random generator states but this training loop has {}; it was written "
           "by another version of the program",
           generators.size(), into.size());
  size_t i = 0;
  for (tessera::Generator* g : into) {
    g->set_state(generators[i].first, generators[i].second);
    ++i;
  }
}

std::string MidEpoch::to_json() const {
  nlohmann::json g = nlohmann::json::array();
  for (const auto& [seed, offset] : generators) g.push_back({seed, offset});
  return nlohmann::json{{"epoch", epoch}, {"steps", steps}, {"seconds", seconds}, {"sums", sums}, {"generators", g}}
      .dump();
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
    for (const auto& g : j.at("generators")) m.generators.emplace_back(json_uint64(g.at(0)), json_uint64(g.at(1)));
  } catch (const nlohmann::json::exception& e) {
    tessera::fail("the training record's mid_epoch entry is damaged ({})", e.what());
  }
  TS_CHECK(m.epoch >= 1 && m.steps >= 0, "the training record's mid_epoch entry is damaged (epoch {}, steps {})",
           m.epoch, m.steps);
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
