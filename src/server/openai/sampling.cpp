#include "server/openai/sampling.h"

#include <algorithm>
#include <charconv>

namespace kiln::server {
namespace {

void read_logit_bias(FieldReader& fields, SamplingParams& p) {
  const Json* bias = fields.object("logit_bias");
  if (!bias) return;
  for (const auto& [key, value] : bias->items()) {
    int32_t id = 0;
    const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
    if (ec != std::errc() || end != key.data() + key.size())
      return fields.fail("logit_bias", "keys must be token ids, got \"" + key + "\"");
    if (!value.is_number())
      return fields.fail("logit_bias", "values must be numbers (the bias for token " + key + ")");
    p.logit_bias.emplace_back(id, value.get<float>());
  }
}

void read_token_ids(FieldReader& fields, std::string_view key, std::vector<int32_t>& out) {
  const Json* ids = fields.array(key);
  if (!ids) return;
  for (const Json& id : *ids) {
    if (!id.is_number_integer()) return fields.fail(key, "must be an array of token ids");
    const int64_t v = id.get<int64_t>();
    if (v < INT32_MIN || v > INT32_MAX) return fields.fail(key, "holds a token id out of range");
    out.push_back((int32_t)v);
  }
}

void refuse_unsupported(FieldReader& fields) {
  if (fields.boolean("use_beam_search").value_or(false))
    fields.fail("use_beam_search", "is not supported: kiln does not do beam search");
  if (const auto best_of = fields.integer("best_of")) {
    const int64_t n = fields.integer("n").value_or(1);
    if (*best_of != n) fields.fail("best_of", "is not supported unless it equals n");
  }
}

}  // namespace

void read_stop_strings(FieldReader& fields, std::string_view key, std::vector<std::string>& out) {
  const Json* stop = fields.any(key);
  if (!stop) return;
  if (stop->is_string()) {
    out.push_back(stop->get<std::string>());
    return;
  }
  if (!stop->is_array()) return fields.fail(key, "must be a string or an array of strings");
  for (const Json& s : *stop) {
    if (!s.is_string()) return fields.fail(key, "must be a string or an array of strings");
    out.push_back(s.get<std::string>());
  }
}

void read_openai_sampling(FieldReader& f, const OpenAISamplingDefaults& defaults,
                          GenerationRequest& request) {
  SamplingParams& p = request.sampling;
  if (auto v = f.number("temperature")) p.temperature = (float)*v;
  if (auto v = f.number("top_p")) p.top_p = (float)*v;
  if (auto v = f.integer("top_k")) p.top_k = (int32_t)std::clamp<int64_t>(*v, -2, INT32_MAX);
  if (auto v = f.number("min_p")) p.min_p = (float)*v;
  if (auto v = f.number("presence_penalty")) p.presence_penalty = (float)*v;
  if (auto v = f.number("frequency_penalty")) p.frequency_penalty = (float)*v;
  if (auto v = f.number("repetition_penalty")) p.repetition_penalty = (float)*v;
  read_logit_bias(f, p);
  // NOTE: OpenAI's seed is a signed 64-bit integer; its bits seed the RNG as they are.
  if (auto v = f.integer("seed")) p.seed = (uint64_t)*v;
  if (auto v = f.integer("n")) p.n = (int32_t)std::clamp<int64_t>(*v, INT32_MIN, INT32_MAX);

  p.max_tokens = defaults.max_tokens;
  // max_completion_tokens is the chat API's newer name; it wins when both are sent.
  std::optional<int64_t> max_tokens = f.integer("max_completion_tokens");
  if (!max_tokens) max_tokens = f.integer("max_tokens");
  if (max_tokens) {
    // -1 is the engine's "unset", not a value a client may send.
    if (*max_tokens < 1) {
      f.fail(f.has("max_completion_tokens") ? "max_completion_tokens" : "max_tokens",
             "must be >= 1, got " + std::to_string(*max_tokens));
    } else {
      p.max_tokens = (int32_t)std::min<int64_t>(*max_tokens, INT32_MAX);
    }
  }
  if (auto v = f.integer("min_tokens"))
    p.min_tokens = (int32_t)std::clamp<int64_t>(*v, -1, INT32_MAX);
  read_stop_strings(f, "stop", p.stop);
  read_token_ids(f, "stop_token_ids", p.stop_token_ids);
  if (auto v = f.boolean("ignore_eos")) p.ignore_eos = *v;
  if (auto v = f.boolean("include_stop_str_in_output")) p.include_stop_str_in_output = *v;
  if (auto v = f.boolean("skip_special_tokens")) p.skip_special_tokens = *v;
  if (auto v = f.integer("priority"))
    request.priority = (int32_t)std::clamp<int64_t>(*v, INT32_MIN, INT32_MAX);
  if (auto v = f.string("cache_salt")) request.cache_salt = *v;
  f.string("user");  // accepted for its type only: kiln keeps no per-user state
  refuse_unsupported(f);
}

}  // namespace kiln::server
