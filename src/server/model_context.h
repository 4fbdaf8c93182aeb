// What the routes need to know about the served model. Built once the model has loaded and
// immutable after; shared by every connection (Engine and Tokenizer are thread-safe,
// ChatTemplate is immutable).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/chat_template.h"
#include "engine/engine.h"
#include "tool_calls/tool_call_format.h"
#include "tokenizer/tokenizer.h"

namespace kiln::server {

struct ModelContext {
  Engine* engine = nullptr;
  const Tokenizer* tokenizer = nullptr;
  std::optional<chat::ChatTemplate> chat_template;
  std::string bos_token, eos_token;       // the texts templates see as bos_token / eos_token
  // How the model writes tool calls: from its chat template, or --tool-call-parser.
  tool_calls::ToolCallFormat tool_call_format = tool_calls::ToolCallFormat::kHermes;
  std::vector<std::string> served_names;  // the first is the id /v1/models lists first
  int32_t max_model_len = 0;
  int32_t max_num_seqs = 0;
  int64_t created = 0;  // Unix seconds the model was loaded

  bool serves(std::string_view name) const;  // by model_names_match
  const std::string& name() const { return served_names.front(); }
};

// Ollama's rule for names: "qwen" and "qwen:latest" are the same model.
bool model_names_match(std::string_view a, std::string_view b);

}  // namespace kiln::server
