// Tokenizer::from_gguf: the tokenizer.ggml.* metadata -> TokenizerData.
#include "gguf/reader.h"
#include "tokenizer/tokenizer.h"

namespace kiln {

namespace {

// An optional id key: missing is fine (-1), present but not an integer is an error.
Status read_id(const gguf::File& file, std::string_view key, int32_t& id) {
  if (file.find(key) == nullptr) return Status::Ok();
  const auto v = file.get_int(key);
  if (!v) return Status::Error(file.path() + ": " + std::string(key) + " is not an integer");
  // NOTE: some converters write -1 (or UINT32_MAX) for "none".
  id = (*v < 0 || *v > INT32_MAX) ? -1 : static_cast<int32_t>(*v);
  return Status::Ok();
}

Status read_flag(const gguf::File& file, std::string_view key, std::optional<bool>& flag) {
  if (file.find(key) == nullptr) return Status::Ok();
  const auto v = file.get_bool(key);
  if (!v) return Status::Error(file.path() + ": " + std::string(key) + " is not a bool");
  flag = *v;
  return Status::Ok();
}

}  // namespace

StatusOr<TokenizerData> Tokenizer::data_from_gguf(const gguf::File& file) {
  TokenizerData d;
  auto model = file.require_string("tokenizer.ggml.model");
  if (!model.ok()) return model.status();
  d.model = std::string(*model);
  if (file.find("tokenizer.ggml.pre") != nullptr) {
    auto pre = file.require_string("tokenizer.ggml.pre");
    if (!pre.ok()) return pre.status();
    d.pre = std::string(*pre);
  }
  auto tokens = file.get_string_array("tokenizer.ggml.tokens");
  if (!tokens.ok()) return tokens.status();
  d.tokens.reserve(tokens->size());
  for (std::string_view t : *tokens) d.tokens.emplace_back(t);

  if (file.find("tokenizer.ggml.token_type") != nullptr) {
    auto types = file.get_int_array("tokenizer.ggml.token_type");
    if (!types.ok()) return types.status();
    d.token_types.reserve(types->size());
    for (int64_t v : *types) {
      d.token_types.push_back(v < INT32_MIN || v > INT32_MAX ? -1 : static_cast<int32_t>(v));
    }
  }
  if (d.model == "llama" || file.find("tokenizer.ggml.scores") != nullptr) {
    auto scores = file.get_float_array("tokenizer.ggml.scores");
    if (!scores.ok()) return scores.status();
    d.scores = std::move(scores.value());
  }
  if (d.model == "gpt2") {
    auto merges = file.get_string_array("tokenizer.ggml.merges");
    if (!merges.ok()) return merges.status();
    d.merges.reserve(merges->size());
    for (std::string_view m : *merges) d.merges.emplace_back(m);
  }
  KILN_RETURN_IF_ERROR(read_id(file, "tokenizer.ggml.bos_token_id", d.bos_id));
  KILN_RETURN_IF_ERROR(read_id(file, "tokenizer.ggml.eos_token_id", d.eos_id));
  KILN_RETURN_IF_ERROR(read_id(file, "tokenizer.ggml.eot_token_id", d.eot_id));
  KILN_RETURN_IF_ERROR(read_id(file, "tokenizer.ggml.unknown_token_id", d.unk_id));
  KILN_RETURN_IF_ERROR(read_id(file, "tokenizer.ggml.padding_token_id", d.pad_id));
  KILN_RETURN_IF_ERROR(read_flag(file, "tokenizer.ggml.add_bos_token", d.add_bos));
  KILN_RETURN_IF_ERROR(read_flag(file, "tokenizer.ggml.add_eos_token", d.add_eos));
  KILN_RETURN_IF_ERROR(read_flag(file, "tokenizer.ggml.add_space_prefix", d.add_space_prefix));
  return d;
}

StatusOr<Tokenizer> Tokenizer::from_gguf(const gguf::File& file) {
  auto data = data_from_gguf(file);
  if (!data.ok()) return data.status();
  auto tokenizer = from_data(std::move(data.value()));
  if (!tokenizer.ok()) return Status::Error(file.path() + ": " + tokenizer.message());
  return tokenizer;
}

}  // namespace kiln
