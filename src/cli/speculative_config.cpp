#include "cli/speculative_config.h"

#include <nlohmann/json.hpp>

namespace kiln::cli {

StatusOr<SpeculativeConfig> parse_speculative_config(const std::string& text) {
  SpeculativeConfig c;
  if (text.empty()) return c;
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Status::Error("--speculative-config: not a JSON object: " + text);
  for (const auto& item : j.items()) {
    // NOTE: named references, not a structured binding: clang 14 (the fuzz and sanitizer
    // builds) cannot capture bindings in the lambda below.
    const std::string& key = item.key();
    const nlohmann::json& value = item.value();
    auto integer = [&](int32_t& field) -> Status {
      if (!value.is_number_integer())
        return Status::Error("--speculative-config: " + key + " must be an integer");
      const int64_t v = value.get<int64_t>();
      if (v < INT32_MIN || v > INT32_MAX)
        return Status::Error("--speculative-config: " + key + " is out of range");
      field = (int32_t)v;
      return Status::Ok();
    };
    Status s = Status::Ok();
    if (key == "method") {
      if (value == "ngram") {
        c.method = SpeculativeConfig::Method::kNgram;
      } else if (value == "draft" || value == "draft_model") {
        c.method = SpeculativeConfig::Method::kDraft;
      } else {
        return Status::Error("--speculative-config: unknown method " + value.dump() +
                             " (supported: \"ngram\", \"draft_model\")");
      }
    } else if (key == "model") {
      if (!value.is_string() || value.get<std::string>().empty())
        return Status::Error("--speculative-config: model must be a model file or store name");
      c.draft_model = value.get<std::string>();
    } else if (key == "num_speculative_tokens") {
      s = integer(c.num_speculative_tokens);
    } else if (key == "prompt_lookup_min") {
      s = integer(c.prompt_lookup_min);
    } else if (key == "prompt_lookup_max") {
      s = integer(c.prompt_lookup_max);
    } else if (key == "disable_by_batch_size") {
      s = integer(c.disable_by_batch_size);
    } else {
      return Status::Error("--speculative-config: unknown field \"" + key + "\"");
    }
    if (!s.ok()) return s;
  }
  // As in vLLM, a draft "model" alone means method draft_model.
  if (c.method == SpeculativeConfig::Method::kNone && !c.draft_model.empty())
    c.method = SpeculativeConfig::Method::kDraft;
  if (c.method == SpeculativeConfig::Method::kNone)
    return Status::Error("--speculative-config: \"method\" is required");
  if (c.num_speculative_tokens == 0)
    return Status::Error("--speculative-config: \"num_speculative_tokens\" is required");
  if (Status s = c.validate(); !s.ok()) return Status::Error("--speculative-config: " + s.message());
  return c;
}

}  // namespace kiln::cli
