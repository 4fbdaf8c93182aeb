#include "server/openai/tokenize_routes.h"

#include "server/chat_prompt.h"
#include "server/json_fields.h"

namespace kiln::server {
namespace {

// The model field is optional here (as in vLLM), but when given it must be served.
std::optional<ApiError> check_model(FieldReader& f, const ModelContext& model) {
  const auto name = f.string("model");
  if (!f.ok()) return f.error();
  if (name && !model.serves(*name)) return ApiError::model_not_found(*name);
  return std::nullopt;
}

}  // namespace

ApiResult<Json> tokenize(const Json& body, const ModelContext& model) {
  FieldReader f(body);
  if (auto e = check_model(f, model)) return *e;
  const bool return_strs = f.boolean("return_token_strs").value_or(false);
  std::vector<int32_t> ids;
  if (const Json* messages = f.array("messages")) {
    ChatPromptOptions options;
    options.add_generation_prompt = f.boolean("add_generation_prompt").value_or(true);
    options.continue_final_message = f.boolean("continue_final_message").value_or(false);
    if (const Json* kwargs = f.object("chat_template_kwargs")) options.template_kwargs = *kwargs;
    if (const Json* tools = f.array("tools"); tools && !tools->empty()) options.tools = *tools;
    const bool add_special = f.boolean("add_special_tokens").value_or(false);
    if (!f.ok()) return f.error();
    auto normalized = normalize_openai_messages(*messages);
    if (!normalized.ok()) return normalized.error();
    auto text = render_chat_prompt(model, *normalized, options);
    if (!text.ok()) return text.error();
    ids = model.tokenizer->encode(*text, add_special, /*parse_special=*/true);
  } else {
    if (!f.has("messages")) f.require("prompt");
    const auto prompt = f.string("prompt");
    const bool add_special = f.boolean("add_special_tokens").value_or(true);
    if (!f.ok()) return f.error();
    ids = model.tokenizer->encode(*prompt, add_special, /*parse_special=*/true);
  }
  Json tokens = Json::array();
  for (int32_t id : ids) tokens.push_back(id);
  Json strs;
  if (return_strs) {
    strs = Json::array();
    for (int32_t id : ids) strs.push_back(std::string(model.tokenizer->token_bytes(id)));
  }
  return Json{{"count", ids.size()},
              {"max_model_len", model.max_model_len},
              {"tokens", std::move(tokens)},
              {"token_strs", std::move(strs)}};
}

ApiResult<Json> detokenize(const Json& body, const ModelContext& model) {
  FieldReader f(body);
  if (auto e = check_model(f, model)) return *e;
  f.require("tokens");
  const Json* tokens = f.array("tokens");
  if (!f.ok()) return f.error();
  std::vector<int32_t> ids;
  const int64_t vocab = model.tokenizer->vocab_size();
  for (const Json& t : *tokens) {
    if (!t.is_number_integer())
      return ApiError::bad_request("tokens must be an array of token ids", "tokens");
    const int64_t id = t.get<int64_t>();
    if (id < 0 || id >= vocab)
      return ApiError::bad_request("tokens holds " + std::to_string(id) +
                                       ", outside the vocabulary of " + std::to_string(vocab),
                                   "tokens");
    ids.push_back((int32_t)id);
  }
  return Json{{"prompt", model.tokenizer->decode(ids)}};
}

}  // namespace kiln::server
