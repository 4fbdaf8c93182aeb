// What listings say about a model file (Ollama's /api/tags, /api/show, /api/ps `details` and
// `model_info`), read from its GGUF metadata without loading the weights.
#pragma once

#include <cstdint>
#include <string>

#include "server/json_util.h"
#include "util/status.h"

namespace kiln::server {

struct ModelDetails {
  std::string architecture;   // general.architecture: llama, qwen2, ...
  std::string quantization;   // general.file_type's name (Q4_K_M), else the commonest type's
  uint64_t parameters = 0;    // elements of every tensor
  std::string chat_template;  // tokenizer.chat_template; empty when absent
  std::string license;        // general.license; empty when absent
  // general.* and the architecture's hyper-parameters ("qwen2.context_length", ...), scalar
  // values only, under their GGUF keys (Ollama's model_info).
  Json model_info = Json::object();
};

StatusOr<ModelDetails> read_model_details(const std::string& gguf_path);

// Ollama's details object: parent_model, format, family, families, parameter_size,
// quantization_level.
Json ollama_details(const ModelDetails& details);

// "494.0M", "1.5B": Ollama's parameter_size.
std::string human_parameter_count(uint64_t n);

}  // namespace kiln::server
