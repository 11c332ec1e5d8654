// tests/fuzz/make_seeds.cpp — writes the fuzz targets' seed corpora (tests/fuzz/targets.h):
//   fuzz_seeds DIR      -> DIR/<target>/<seed>, e.g. `fuzz_seeds tests/fuzz/corpus`
// Every seed is small and made by the project's own writers where it has one (safetensors_bytes,
// Vocab::to_json, ModelConfig::to_json, the checkpoints of two one-epoch training runs), so the
// fuzzer starts from the real formats. The dictionary seeds are synthetic dictd text: FreeDict's
// own data (GPL) never enters the repository.
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "examples/attention_cnn/idx.h"
#include "examples/attention_cnn/train.h"
#include "examples/common/base64.h"
#include "examples/common/files.h"
#include "examples/translator/freedict.h"
#include "examples/translator/train.h"
#include "nn/safetensors.h"
#include "tests/fuzz/targets.h"

namespace fs = std::filesystem;
using namespace tessera;

namespace {

using Seeds = std::vector<std::pair<std::string, std::string>>;

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>((v >> 16) & 0xFF), static_cast<char>((v >> 8) & 0xFF),
          static_cast<char>(v & 0xFF)};
}

// An IDX file: magic 00 00 08 <rank>, the sizes, then bytes 0, 1, 2, ...
std::string idx_bytes(const std::vector<uint32_t>& dims) {
  std::string out{'\0', '\0', '\x08', static_cast<char>(dims.size())};
  size_t count = 1;
  for (const uint32_t d : dims) out += be32(d), count *= d;
  for (size_t i = 0; i < count; ++i) out += static_cast<char>(i * 37 % 256);
  return out;
}

// gzip-compressed bytes; with `extra`, a header with an FEXTRA field as dictzip writes one.
std::string gzip(const std::string& bytes, const std::string& extra = "") {
  z_stream stream{};
  TS_CHECK(deflateInit2(&stream, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK, "gzip: deflateInit2");
  gz_header header{};
  std::string extra_field = extra;
  if (!extra.empty()) {
    header.extra = reinterpret_cast<Bytef*>(extra_field.data());
    header.extra_len = static_cast<uInt>(extra_field.size());
    deflateSetHeader(&stream, &header);
  }
  std::string out(deflateBound(&stream, bytes.size()) + 64, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  stream.avail_in = static_cast<uInt>(bytes.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  TS_CHECK(deflate(&stream, Z_FINISH) == Z_STREAM_END, "gzip: deflate");
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

// A synthetic dictd index + NUL + dictionary (run_freedict's input format).
std::string dictd_seed(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string index = "00databaseinfo\tA\tB\n", dict = "x";
  for (const auto& [headword, entry] : entries) {
    index += headword + "\t" + translator::encode_dictd_number(dict.size()) + "\t" +
             translator::encode_dictd_number(entry.size()) + "\n";
    dict += entry;
  }
  return index + std::string(1, '\0') + dict;
}

const std::vector<std::vector<std::string>> kSentences = {
    {"i", "am", "a", "student", "."}, {"she", "is", "a", "doctor", "."}, {"where", "are", "you", "?"},
    {"we", "are", "here", "!"}, {"he", "is", "not", "a", "student", "."}, {"you", "are", "a", "doctor", "?"}};
const std::vector<std::vector<std::string>> kTargets = {
    {"je", "suis", "étudiant", "."}, {"elle", "est", "médecin", "."}, {"où", "es-tu", "?"},
    {"nous", "sommes", "ici", "!"}, {"il", "n'est", "pas", "étudiant", "."}, {"tu", "es", "médecin", "?"}};

// The "config" and "training" metadata of a checkpoint written by a one-epoch run of each example.
std::map<std::string, std::string> translator_checkpoint_metadata(const fs::path& dir) {
  std::vector<translator::SentencePair> pairs;
  for (size_t i = 0; i < kSentences.size(); ++i)
    pairs.push_back({translator::detokenize(kSentences[i]), translator::detokenize(kTargets[i])});
  const translator::Vocab source = translator::Vocab::build(kSentences), target = translator::Vocab::build(kTargets);
  translator::ModelConfig config;
  config.source_vocab_size = source.size(), config.target_vocab_size = target.size();
  config.d_model = 8, config.nhead = 2, config.encoder_layers = 1, config.decoder_layers = 1;
  config.dim_feedforward = 16, config.max_length = 16;
  translator::TranslatorModel model(config);
  const translator::Dataset data = translator::make_dataset(pairs, source, target, 16);
  translator::TrainOptions options;
  options.epochs = 2, options.batch_size = 3, options.eval_sentences = 2, options.progress = false;
  options.checkpoint = (dir / "translator.safetensors").string();
  translator::train(model, source, target, data, data, options);
  return nn::load_safetensors(options.checkpoint).metadata;
}

std::map<std::string, std::string> cnn_checkpoint_metadata(const fs::path& dir) {
  attention_cnn::ModelConfig config;
  config.image_size = 8, config.widths = {8, 8}, config.num_classes = 3;
  attention_cnn::LabeledImages images;
  images.count = 4, images.rows = 8, images.cols = 8;
  for (int i = 0; i < 4 * 64; ++i) images.pixels.push_back(static_cast<uint8_t>(i * 7 % 256));
  images.labels = {0, 1, 2, 1};
  attention_cnn::TrainOptions options;
  options.epochs = 2, options.batch_size = 2, options.progress = false, options.evaluate_each_epoch = false;
  options.checkpoint = (dir / "cnn.safetensors").string();
  auto model = attention_cnn::make_model(config, 1);
  attention_cnn::train(*model, images, images, options);
  return nn::load_safetensors(options.checkpoint).metadata;
}

std::map<std::string, Seeds> all_seeds(const fs::path& scratch) {
  std::map<std::string, Seeds> seeds;
  nn::StateDict tensors;
  tensors.insert("encoder.weight", arange(6).reshape({2, 3}));
  tensors.insert("encoder.bias", full({3}, 0.5));
  seeds["safetensors"] = {{"two_tensors.safetensors", nn::safetensors_bytes(tensors, {{"format", "pt"}})},
                          {"empty.safetensors", nn::safetensors_bytes({})}};
  const std::string images = idx_bytes({2, 3, 3}), labels = idx_bytes({4});
  seeds["idx"] = {{"images.idx3", images}, {"labels.idx1", labels}};
  seeds["idx_gzip"] = {{"images.idx3.gz", gzip(images)},
                       {"labels.idx1.gz", gzip(labels)},
                       {"images_dictzip.idx3.dz", gzip(images, std::string("RA\x06\x00\x01\x00\x00\x10\x01\x00", 10))},
                       {"plain.idx1", labels}};
  seeds["tsv"] = {{"pairs.tsv", "Go.\tVa !\tCC-BY 2.0 (France)\nI am a student.\tJe suis étudiant.\r\n\n"
                                "Where are you?\tOù es-tu ?\n"},
                  {"bom.tsv", "\xEF\xBB\xBF" "She is a doctor.\tElle est médecin.\n"}};
  const std::vector<std::pair<std::string, std::string>> entries = {
      {"what was that", "What was that sound? /wɒt/\nWas war das für ein Laut?\n"},
      {"tipped", "tipped /tɪpt/\ngekippt\n   \"The cup was tipped over by the cat.\"  - Die Katze hat die Tasse "
                 "umgekippt., Die Tasse fiel um.\n"},
      {"sth", "to do sth. [coll.] /duː/\netw. tun {v}\n"}};
  seeds["freedict"] = {{"three_entries.dictd", dictd_seed(entries)}, {"one_entry.dictd", dictd_seed({entries[1]})}};
  const translator::Vocab words = translator::Vocab::build(kSentences),
                          subwords = translator::Vocab::build_subwords(kSentences, 30);
  seeds["vocab_json"] = {{"words.json", words.to_json()}, {"subwords.json", subwords.to_json()}};
  const nlohmann::json subword_json = nlohmann::json::parse(subwords.to_json());
  seeds["vocab_subword_model"] = {
      {"unigram.model", examples::base64_decode(subword_json.at("subword_model").get<std::string>())}};
  const auto translator_metadata = translator_checkpoint_metadata(scratch);
  translator::ModelConfig linformer;
  linformer.source_vocab_size = 50, linformer.target_vocab_size = 60, linformer.encoder_linformer_k = 16;
  seeds["translator_config"] = {{"checkpoint.json", translator_metadata.at("config")},
                                {"linformer.json", linformer.to_json()}};
  seeds["translator_training"] = {{"checkpoint.json", translator_metadata.at("training")}};
  const auto cnn_metadata = cnn_checkpoint_metadata(scratch);
  seeds["cnn_config"] = {{"checkpoint.json", cnn_metadata.at("config")},
                         {"default.json", attention_cnn::ModelConfig().to_json()}};
  seeds["cnn_training"] = {{"checkpoint.json", cnn_metadata.at("training")}};
  seeds["translate_input"] = {{"lines.txt", "I am a student. She is a doctor.\nWhere are you?\n"
                                            "J'ai « 2,5 » euros… vraiment ?!\nStraße Über\xC2\xA0the sea\n"}};
  return seeds;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR   (writes DIR/<target>/<seed>, e.g. tests/fuzz/corpus)\n", argv[0]);
    return 2;
  }
  try {
    const fs::path dir = argv[1];
    const fs::path scratch = fs::temp_directory_path() / ("tessera_fuzz_seeds_" + std::to_string(::getpid()));
    fs::create_directories(scratch);
    const std::map<std::string, Seeds> seeds = all_seeds(scratch);
    fs::remove_all(scratch);
    for (const fuzz::FuzzTarget& target : fuzz::fuzz_targets()) {
      TS_CHECK(seeds.count(target.name), "fuzz_seeds: no seeds for target {}", target.name);
      fs::create_directories(dir / target.name);
      for (const auto& [name, bytes] : seeds.at(target.name)) {
        examples::write_file_atomically((dir / target.name / name).string(), bytes);
        std::printf("%s/%s: %zu bytes\n", target.name, name.c_str(), bytes.size());
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
