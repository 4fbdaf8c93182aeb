#include "server/openai/logprobs.h"

#include <cmath>
#include <string>

namespace kiln::server {
namespace {

// NOTE: -inf (a token the sampler could not have drawn) is not JSON; OpenAI and vLLM report
// a large negative number instead.
double finite_logprob(float logprob) { return std::isfinite(logprob) ? logprob : -9999.0; }

Json byte_list(std::string_view bytes) {
  Json list = Json::array();
  for (unsigned char c : bytes) list.push_back((int)c);
  return list;
}

int64_t count_code_points(std::string_view bytes) {
  int64_t n = 0;
  for (unsigned char c : bytes) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace

Json chat_logprob_entries(const Tokenizer& tokenizer, std::span<const SampledToken> tokens) {
  Json entries = Json::array();
  for (const SampledToken& t : tokens) {
    const std::string_view text = tokenizer.token_bytes(t.token);
    Json top = Json::array();
    for (const TokenLogprob& alt : t.top) {
      const std::string_view alt_text = tokenizer.token_bytes(alt.token);
      top.push_back({{"token", std::string(alt_text)},
                     {"logprob", finite_logprob(alt.logprob)},
                     {"bytes", byte_list(alt_text)}});
    }
    entries.push_back({{"token", std::string(text)},
                       {"logprob", finite_logprob(t.logprob)},
                       {"bytes", byte_list(text)},
                       {"top_logprobs", std::move(top)}});
  }
  return entries;
}

void CompletionLogprobs::add(const Tokenizer& tokenizer, std::span<const SampledToken> tokens) {
  for (const SampledToken& t : tokens) {
    const std::string_view text = tokenizer.token_bytes(t.token);
    tokens_.push_back(std::string(text));
    token_logprobs_.push_back(finite_logprob(t.logprob));
    Json top = Json::object();
    for (const TokenLogprob& alt : t.top)
      top[std::string(tokenizer.token_bytes(alt.token))] = finite_logprob(alt.logprob);
    top_.push_back(std::move(top));
    offsets_.push_back(text_offset_);
    text_offset_ += count_code_points(text);
  }
}

Json CompletionLogprobs::take() {
  Json out = {{"tokens", std::move(tokens_)},
              {"token_logprobs", std::move(token_logprobs_)},
              {"top_logprobs", std::move(top_)},
              {"text_offset", std::move(offsets_)}};
  tokens_ = Json::array();
  token_logprobs_ = Json::array();
  top_ = Json::array();
  offsets_ = Json::array();
  return out;
}

}  // namespace kiln::server
