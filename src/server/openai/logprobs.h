// Logprobs in OpenAI's two shapes: the chat API's {"content": [{token, logprob, bytes,
// top_logprobs}]} and the legacy completions API's {tokens, token_logprobs, top_logprobs,
// text_offset}. A token's text is its vocabulary bytes, which may be part of a UTF-8
// character; `bytes` carries them exactly.
#pragma once

#include <span>

#include "engine/sampler.h"
#include "server/json_util.h"
#include "tokenizer/tokenizer.h"

namespace kiln::server {

// The entries for `tokens`, to append to a chat choice's logprobs.content.
Json chat_logprob_entries(const Tokenizer& tokenizer, std::span<const SampledToken> tokens);

// Legacy completions logprobs, accumulated across stream chunks so text_offset keeps
// counting from the start of the choice's text.
class CompletionLogprobs {
 public:
  // Appends `tokens`; text offsets continue from the characters already counted.
  void add(const Tokenizer& tokenizer, std::span<const SampledToken> tokens);
  // The object for the tokens added since the last take() (streaming) or all (buffered).
  Json take();

 private:
  Json tokens_ = Json::array(), token_logprobs_ = Json::array(), top_ = Json::array(),
       offsets_ = Json::array();
  int64_t text_offset_ = 0;  // characters (UTF-8 code points) before the next token
};

}  // namespace kiln::server
