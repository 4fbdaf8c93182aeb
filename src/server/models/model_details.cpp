#include "server/models/model_details.h"

#include <cstdio>
#include <map>

#include "gguf/file_type.h"
#include "gguf/reader.h"
#include "tensor/dtype.h"

namespace kiln::server {
namespace {

Json scalar_json(const gguf::Value& v) {
  if (v.is_string()) return std::string(*v.as_string());
  if (auto b = v.as_bool()) return *b;
  if (v.is_integer()) return *v.as_int();
  if (auto f = v.as_float()) return *f;
  return nullptr;
}

}  // namespace

StatusOr<ModelDetails> read_model_details(const std::string& gguf_path) {
  auto file = gguf::File::open(gguf_path);
  if (!file.ok()) return file.status();
  const gguf::File& f = *file;
  ModelDetails d;
  d.architecture = std::string(f.get_string("general.architecture").value_or(""));
  std::map<std::string, uint64_t> bytes_by_type;
  for (const gguf::TensorInfo& t : f.tensors()) {
    d.parameters += (uint64_t)t.num_elements;
    bytes_by_type[std::string(dtype_name(t.type))] += t.num_bytes;
  }
  if (auto ft = f.get_int("general.file_type")) {
    d.quantization = gguf::file_type_name(*ft);
  } else {
    uint64_t most = 0;
    for (const auto& [type, bytes] : bytes_by_type)
      if (bytes > most) most = bytes, d.quantization = type;
  }
  d.chat_template = std::string(f.get_string("tokenizer.chat_template").value_or(""));
  d.license = std::string(f.get_string("general.license").value_or(""));
  const std::string arch_prefix = d.architecture + ".";
  for (const gguf::MetadataEntry& e : f.metadata()) {
    if (!e.key.starts_with("general.") && !e.key.starts_with(arch_prefix)) continue;
    if (e.value.is_array()) continue;
    d.model_info[std::string(e.key)] = scalar_json(e.value);
  }
  d.model_info["general.parameter_count"] = d.parameters;
  return d;
}

std::string human_parameter_count(uint64_t n) {
  char buf[32];
  if (n >= 1000000000ull)
    std::snprintf(buf, sizeof buf, "%.1fB", (double)n / 1e9);
  else if (n >= 1000000ull)
    std::snprintf(buf, sizeof buf, "%.1fM", (double)n / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.1fK", (double)n / 1e3);
  return buf;
}

Json ollama_details(const ModelDetails& d) {
  return {{"parent_model", ""},
          {"format", "gguf"},
          {"family", d.architecture},
          {"families", Json::array({d.architecture})},
          {"parameter_size", human_parameter_count(d.parameters)},
          {"quantization_level", d.quantization}};
}

}  // namespace kiln::server
