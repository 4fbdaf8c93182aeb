#include "server/router/render.h"

#include "server/openai/chat.h"
#include "server/openai/completions.h"

namespace kiln::server::router {
namespace {

// vLLM's GenerateRequest fields that kiln knows, plus the prompt's text (the ids decoded with
// their special tokens, which is what the chat template wrote).
Json rendered(const GenerationRequest& generation, const std::string& model,
              const ModelContext& context) {
  Json ids = Json::array();
  for (int32_t id : generation.prompt) ids.push_back(id);
  return Json{{"request_id", random_id("render-")},
              {"model", model},
              {"prompt", context.tokenizer->decode(generation.prompt)},
              {"token_ids", std::move(ids)},
              {"cache_salt", generation.cache_salt.empty() ? Json(nullptr)
                                                           : Json(generation.cache_salt)},
              {"priority", generation.priority}};
}

}  // namespace

ApiResult<Json> render_chat_completion(const Json& body, const ModelContext& model) {
  auto parsed = parse_chat_completion_request(body, model);
  if (!parsed.ok()) return parsed.error();
  return rendered(parsed->generation, parsed->model, model);
}

ApiResult<Json> render_completion(const Json& body, const ModelContext& model) {
  auto parsed = parse_completion_request(body, model);
  if (!parsed.ok()) return parsed.error();
  Json out = Json::array();
  for (const GenerationRequest& g : parsed->generations)
    out.push_back(rendered(g, parsed->model, model));
  return out;
}

}  // namespace kiln::server::router
