// `kiln run --chat`: a conversation in the terminal, rendered with the model's own chat
// template.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "cli/engine_setup.h"
#include "cli/structured_flags.h"
#include "engine/sampler.h"
#include "model/kv_storage.h"
#include "tokenizer/tokenizer.h"

namespace kiln::cli {

// `kiln run`'s own defaults (llama.cpp's), not the OpenAI ones SamplingParams starts with.
inline SamplingParams cli_sampling_defaults() {
  SamplingParams p;
  p.temperature = 0.8f;
  p.top_k = 40;
  p.top_p = 0.95f;
  return p;
}

struct RunOptions {
  std::string model;
  std::string prompt;
  bool prompt_given = false;
  bool chat = false;
  std::string system_prompt;
  std::optional<std::string> chat_template;  // a stored model's TEMPLATE; else the file's
  int num_predict = 128;
  int threads = 0;
  int context = 4096;
  KvDType kv_dtype = KvDType::kF16;
  std::string speculative_config;  // --speculative-config
  SamplingParams sampling = cli_sampling_defaults();
  uint64_t seed = 0;  // fixed by default, so a run is reproducible
  StructuredFlags structured;
  std::shared_ptr<const structured::CompiledGrammar> grammar;  // compiled from `structured`
  std::string mcp_config;  // --mcp-config: MCP servers whose tools the chat offers
  double mcp_timeout = 60;
  int max_tool_turns = 8;
  std::string tool_choice = "auto";  // "required": each answer's first turn calls a tool
};

// Interactive (line editing and history through readline when stdin is a terminal) unless
// a prompt was given, in which case it answers that one message and returns.
int run_chat(const RunOptions& options, RunningEngine& running);

}  // namespace kiln::cli
