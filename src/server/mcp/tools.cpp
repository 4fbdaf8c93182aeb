#include "server/mcp/tools.h"

#include <algorithm>
#include <string_view>
#include <vector>

#include "server/chat_prompt.h"
#include "server/json_fields.h"

namespace kiln::server::mcp {
namespace {

// Generations an agent asks for are usually short; an unbounded default would let one call
// run to the end of the context.
constexpr int64_t kDefaultMaxTokens = 512;

Json sampling_schema_properties() {
  return {
      {"max_tokens",
       {{"type", "integer"},
        {"minimum", 1},
        {"description", "most tokens to generate (default 512, or what the context leaves)"}}},
      {"temperature",
       {{"type", "number"},
        {"minimum", 0},
        {"maximum", 2},
        {"description", "sampling temperature; 0 is greedy (default 1)"}}},
      {"top_p",
       {{"type", "number"},
        {"exclusiveMinimum", 0},
        {"maximum", 1},
        {"description", "nucleus sampling mass (default 1: off)"}}},
      {"model", {{"type", "string"}, {"description", "a served model name (default: the model)"}}},
  };
}

Json object_schema(Json properties, std::vector<std::string> required) {
  Json schema = {{"type", "object"}, {"properties", std::move(properties)}};
  if (!required.empty()) schema["required"] = required;
  schema["additionalProperties"] = false;
  return schema;
}

Json tool(std::string_view name, std::string_view description, Json schema) {
  return {{"name", name}, {"description", description}, {"inputSchema", std::move(schema)}};
}

// The schema says additionalProperties: false; a misspelt option would otherwise be
// silently ignored.
bool check_known_keys(const Json& args, std::initializer_list<std::string_view> known,
                      std::string& error) {
  for (const auto& [key, value] : args.items()) {
    bool found = false;
    for (std::string_view k : known) found = found || key == k;
    if (!found) {
      error = "unknown argument '" + key + "'";
      return false;
    }
  }
  return true;
}

std::optional<std::string> check_model(FieldReader& f, const ModelContext& model) {
  std::optional<std::string> name = f.string("model");
  if (name && !model.serves(*name))
    return "model '" + *name + "' is not served here (see list_models)";
  return std::nullopt;
}

// max_tokens, temperature, top_p onto `request`; an error message, or empty.
std::string read_sampling(FieldReader& f, const ModelContext& model, GenerationRequest& request) {
  SamplingParams& s = request.sampling;
  // -1 (not given) until the prompt is known: default_max_tokens then sets it.
  s.max_tokens = (int32_t)std::min<int64_t>(f.integer("max_tokens").value_or(-1), INT32_MAX);
  if (s.max_tokens == -1 && f.has("max_tokens")) s.max_tokens = 0;  // -1 given: invalid, as 0
  if (auto t = f.number("temperature")) {
    // The schema's (and OpenAI's) range; the engine alone would take any temperature.
    if (*t < 0 || *t > 2) return "temperature must be in [0, 2], got " + std::to_string(*t);
    s.temperature = (float)*t;
  }
  if (auto p = f.number("top_p")) s.top_p = (float)*p;
  if (!f.ok()) return f.error().message;
  if (auto bad = check_model(f, model)) return *bad;
  if (Status st = s.validate(model.tokenizer->vocab_size()); !st.ok()) return st.message();
  return {};
}

// Without max_tokens: kDefaultMaxTokens, cut to the room the prompt leaves in the context, so
// that a long conversation is not refused for a limit the caller never set.
void default_max_tokens(const ModelContext& model, GenerationRequest& request) {
  if (request.sampling.max_tokens != -1) return;
  const int64_t room = (int64_t)model.max_model_len - (int64_t)request.prompt.size();
  request.sampling.max_tokens = (int32_t)std::clamp<int64_t>(room, 1, kDefaultMaxTokens);
}

ToolCall error_call(const std::string& message) { return {text_result(message, true), {}}; }

ToolCall chat(const ModelContext& model, const Json& args) {
  std::string error;
  if (!check_known_keys(args, {"messages", "max_tokens", "temperature", "top_p", "model"}, error))
    return error_call(error);
  FieldReader f(args);
  f.require("messages");
  const Json* messages = f.array("messages");
  if (!f.ok()) return error_call(f.error().message);
  if (messages->empty()) return error_call("messages must hold at least one message");
  GenerationRequest request;
  if (error = read_sampling(f, model, request); !error.empty()) return error_call(error);
  auto normalized = normalize_openai_messages(*messages);
  if (!normalized.ok()) return error_call(normalized.error().message);
  auto text = render_chat_prompt(model, *normalized, {});
  if (!text.ok()) return error_call(text.error().message);
  request.prompt = tokenize_chat_prompt(model, *text);
  default_max_tokens(model, request);
  return {std::nullopt, std::move(request)};
}

ToolCall complete(const ModelContext& model, const Json& args) {
  std::string error;
  if (!check_known_keys(args, {"prompt", "max_tokens", "temperature", "top_p", "model"}, error))
    return error_call(error);
  FieldReader f(args);
  f.require("prompt");
  std::optional<std::string> prompt = f.string("prompt");
  if (!f.ok()) return error_call(f.error().message);
  if (prompt->empty()) return error_call("prompt must not be empty");
  GenerationRequest request;
  if (error = read_sampling(f, model, request); !error.empty()) return error_call(error);
  // As /v1/completions: BOS added when the model wants one, special tokens in the text parsed.
  request.prompt = model.tokenizer->encode(*prompt, true, true);
  default_max_tokens(model, request);
  return {std::nullopt, std::move(request)};
}

ToolCall tokenize(const ModelContext& model, const Json& args) {
  std::string error;
  if (!check_known_keys(args, {"text", "add_special_tokens"}, error)) return error_call(error);
  FieldReader f(args);
  f.require("text");
  std::optional<std::string> text = f.string("text");
  const bool add_special = f.boolean("add_special_tokens").value_or(true);
  if (!f.ok()) return error_call(f.error().message);
  std::vector<int32_t> ids = model.tokenizer->encode(*text, add_special, /*parse_special=*/true);
  Json out = {{"count", ids.size()}, {"tokens", ids}, {"max_model_len", model.max_model_len}};
  return {text_result(dump_json(out)), {}};
}

ToolCall list_models(const ModelContext& model, const Json& args) {
  std::string error;
  if (!check_known_keys(args, {}, error)) return error_call(error);
  Json models = Json::array();
  for (const std::string& name : model.served_names)
    models.push_back({{"id", name}, {"max_model_len", model.max_model_len}});
  return {text_result(dump_json({{"models", std::move(models)}})), {}};
}

}  // namespace

Json tool_definitions() {
  Json chat_props = sampling_schema_properties();
  Json message =
      object_schema({{"role", {{"type", "string"}, {"enum", {"system", "user", "assistant"}}}},
                     {"content", {{"type", "string"}}}},
                    {"role", "content"});
  chat_props["messages"] = {{"type", "array"}, {"minItems", 1}, {"items", std::move(message)}};
  Json complete_props = sampling_schema_properties();
  complete_props["prompt"] = {{"type", "string"}, {"minLength", 1}};
  return Json::array({
      tool("chat",
           "Chat with the local model: a conversation in, the assistant's reply as text out.",
           object_schema(std::move(chat_props), {"messages"})),
      tool("complete", "Continue a raw text prompt with the local model (no chat template).",
           object_schema(std::move(complete_props), {"prompt"})),
      tool("list_models", "The model names this server answers to, with their context length.",
           object_schema(Json::object(), {})),
      tool("tokenize", "Token ids of a text in the model's tokenizer, and their count.",
           object_schema({{"text", {{"type", "string"}}},
                          {"add_special_tokens",
                           {{"type", "boolean"},
                            {"description", "add BOS if the model uses one (default true)"}}}},
                         {"text"})),
  });
}

Json text_result(const std::string& text, bool is_error) {
  return {{"content", Json::array({{{"type", "text"}, {"text", text}}})}, {"isError", is_error}};
}

std::optional<ToolCall> prepare_tool_call(const ModelContext& model, const std::string& name,
                                          const Json& arguments) {
  if (name != "chat" && name != "complete" && name != "tokenize" && name != "list_models")
    return std::nullopt;
  const Json args = arguments.is_null() ? Json::object() : arguments;
  if (!args.is_object()) return error_call("arguments must be an object");
  if (name == "chat") return chat(model, args);
  if (name == "complete") return complete(model, args);
  if (name == "tokenize") return tokenize(model, args);
  return list_models(model, args);
}

}  // namespace kiln::server::mcp
