// `kiln run --chat`: a conversation in the terminal, rendered with the model's own chat
// template.
#pragma once

#include <string>

#include "cli/loaded_model.h"
#include "engine/sampler.h"
#include "tokenizer/tokenizer.h"

namespace kiln::cli {

struct RunOptions {
  std::string model;
  std::string prompt;
  bool prompt_given = false;
  bool chat = false;
  std::string system_prompt;
  int num_predict = 128;
  int threads = 0;
  int context = 4096;
  SamplingParams sampling;
};

// Interactive (line editing and history through readline when stdin is a terminal) unless
// a prompt was given, in which case it answers that one message and returns.
int run_chat(const RunOptions& options, LoadedModel& loaded, const Tokenizer& tokenizer);

}  // namespace kiln::cli
