// What a load run sends: a list of prompts with the number of tokens to ask for, from a
// synthetic dataset (random, shared-prefix) or a file (jsonl prompts, ShareGPT). Everything
// is drawn from a seeded generator, so two runs with the same flags, against any two
// servers, send the same prompts.
//
// Prompt lengths: with a tokenizer, a random prompt's text encodes (without BOS/EOS) to
// exactly its target length; the server's chat template adds its own tokens on top. Without
// one, prompts are that many random common English words, about one token each in most
// vocabularies, so lengths are approximate.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "util/status.h"

namespace kiln {
class Tokenizer;
}

namespace kiln::bench {

struct WorkItem {
  std::string prompt;
  int32_t output_len = 0;      // the request's max_tokens
  int32_t prompt_tokens = -1;  // the prompt's length by the tokenizer; -1 when unknown
};

struct WorkloadOptions {
  std::string dataset = "random";  // "random", "shared-prefix", or a .jsonl/.json path
  int32_t input_len = 256;
  int32_t output_len = 128;
  double range_ratio = 0.0;  // random: lengths uniform in [len*(1-r), len*(1+r)]
  int32_t num_prefixes = 4;  // shared-prefix
  int32_t prefix_len = 1000;
  uint64_t seed = 0;
};

// `count` items. File datasets are used in file order, cycling when `count` is larger;
// `tokenizer` may be null.
StatusOr<std::vector<WorkItem>> build_workload(const WorkloadOptions& options, size_t count,
                                               const Tokenizer* tokenizer);

// Reads a file dataset: each jsonl line (or JSON array entry) is {"prompt": TEXT,
// "output_len": N?} or a ShareGPT record {"conversations": [{"from": "human", "value": ...},
// {"from": "gpt", "value": ...}, ...]} (the first human turn and the reply after it; a
// record without that pair is skipped). Errors name FILE:LINE (or FILE: entry N).
StatusOr<std::vector<WorkItem>> read_dataset_file(const std::string& path,
                                                  int32_t default_output_len,
                                                  const Tokenizer* tokenizer);

// Random common English words whose tokenization is exactly `num_tokens` long (with a
// tokenizer; without one, `num_tokens` words). Exposed for the tests.
class PromptSynthesizer {
 public:
  PromptSynthesizer(uint64_t seed, const Tokenizer* tokenizer);
  std::string make(int32_t num_tokens);
  int32_t count_tokens(const std::string& text) const;  // -1 without a tokenizer

 private:
  std::string random_word();
  std::mt19937_64 rng_;
  const Tokenizer* tokenizer_;
};

}  // namespace kiln::bench
