#include "server/responses/items.h"

#include "server/chat_prompt.h"
#include "server/json_fields.h"

namespace kiln::server {
namespace {

bool is_string_field(const Json& object, const char* key) {
  return object.contains(key) && object[key].is_string();
}

// Text parts (input_text, output_text) joined with "\n", or the string itself.
ApiResult<std::string> text_of(const Json& content, const std::string& where) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array())
    return ApiError::bad_request(where + " must be a string or an array of content parts",
                                 where);
  std::string text;
  for (size_t j = 0; j < content.size(); ++j) {
    const std::string at = where + "[" + std::to_string(j) + "]";
    const Json& part = content[j];
    if (!part.is_object() || !is_string_field(part, "type"))
      return ApiError::bad_request(at + " must be an object with a string `type`", at);
    const std::string type = part["type"].get<std::string>();
    if (type != "input_text" && type != "output_text")
      return ApiError::bad_request(at + ".type \"" + type +
                                       "\" is not supported: kiln serves text-only models "
                                       "(input_text and output_text parts only)",
                                   at + ".type");
    if (!is_string_field(part, "text"))
      return ApiError::bad_request(at + ".text must be a string", at + ".text");
    if (j > 0) text += "\n";
    text += part["text"].get<std::string>();
  }
  return text;
}

ApiResult<Json> check_message(Json item, const std::string& at) {
  if (!is_string_field(item, "role"))
    return ApiError::bad_request(at + ".role must be a string", at + ".role");
  const std::string role = item["role"].get<std::string>();
  if (role != "user" && role != "system" && role != "developer" && role != "assistant")
    return ApiError::bad_request(
        at + ".role must be \"user\", \"system\", \"developer\" or \"assistant\", got \"" + role +
            "\"",
        at + ".role");
  if (!item.contains("content") || item["content"].is_null())
    return ApiError::bad_request(at + ".content is required", at + ".content");
  auto text = text_of(item["content"], at + ".content");
  if (!text.ok()) return text.error();
  item["type"] = "message";
  return item;
}

ApiResult<Json> check_function_call(const Json& item, const std::string& at) {
  FieldReader f(item, at + ".");
  for (const char* key : {"call_id", "name", "arguments"}) f.require(key);
  for (const char* key : {"call_id", "name", "arguments"}) f.string(key);
  if (!f.ok()) return f.error();
  return item;
}

ApiResult<Json> check_function_call_output(const Json& item, const std::string& at) {
  FieldReader f(item, at + ".");
  f.require("call_id");
  f.string("call_id");
  f.require("output");
  if (!f.ok()) return f.error();
  auto text = text_of(item["output"], at + ".output");
  if (!text.ok()) return text.error();
  return item;
}

// The assistant message a function_call item joins: the template message right before it
// when that is the assistant's, else a new one.
Json& assistant_for_call(Json& messages) {
  if (messages.empty() || messages.back()["role"] != "assistant")
    messages.push_back({{"role", "assistant"}, {"content", ""}});
  Json& m = messages.back();
  if (!m.contains("tool_calls")) m["tool_calls"] = Json::array();
  return m;
}

}  // namespace

ApiResult<Json> normalize_responses_input(const Json& input) {
  if (input.is_string())
    return Json::array({{{"type", "message"}, {"role", "user"}, {"content", input}}});
  if (!input.is_array())
    return ApiError::bad_request("input must be a string or an array of items", "input");
  if (input.empty())
    return ApiError::bad_request("input must contain at least one item", "input");
  Json out = Json::array();
  for (size_t i = 0; i < input.size(); ++i) {
    const std::string at = "input[" + std::to_string(i) + "]";
    const Json& item = input[i];
    if (!item.is_object()) return ApiError::bad_request(at + " must be an object", at);
    std::string type = "message";
    if (item.contains("type") && !item["type"].is_null()) {
      if (!item["type"].is_string())
        return ApiError::bad_request(at + ".type must be a string", at + ".type");
      type = item["type"].get<std::string>();
    }
    ApiResult<Json> checked = ApiError{};
    if (type == "message")
      checked = check_message(item, at);
    else if (type == "function_call")
      checked = check_function_call(item, at);
    else if (type == "function_call_output")
      checked = check_function_call_output(item, at);
    else
      return ApiError::bad_request(
          at + ".type \"" + type +
              "\" is not supported: kiln takes message, function_call and function_call_output "
              "items",
          at + ".type");
    if (!checked.ok()) return checked.error();
    out.push_back(std::move(*checked));
  }
  return out;
}

ApiResult<Json> responses_template_messages(const std::optional<std::string>& instructions,
                                            const Json& conversation) {
  Json messages = Json::array();
  if (instructions) messages.push_back({{"role", "system"}, {"content", *instructions}});
  // Items were checked when they were taken in (normalize_responses_input) or made by kiln.
  for (size_t i = 0; i < conversation.size(); ++i) {
    const Json& item = conversation[i];
    const std::string type = item.value("type", "message");
    if (type == "message") {
      auto text = text_of(item["content"], "input[" + std::to_string(i) + "].content");
      if (!text.ok()) return text.error();
      messages.push_back({{"role", item["role"]}, {"content", std::move(*text)}});
    } else if (type == "function_call") {
      // Arguments stay a string here; normalize_openai_messages makes them the object that
      // templates render with tojson.
      assistant_for_call(messages)["tool_calls"].push_back(
          {{"id", item["call_id"]},
           {"type", "function"},
           {"function", {{"name", item["name"]}, {"arguments", item["arguments"]}}}});
    } else if (type == "mcp_call") {
      // A call kiln ran for an earlier response: the call and its result, as the model saw
      // them then. (mcp_list_tools items say nothing the next turn's tools do not.)
      assistant_for_call(messages)["tool_calls"].push_back(
          {{"id", item["id"]},
           {"type", "function"},
           {"function", {{"name", item["name"]}, {"arguments", item["arguments"]}}}});
      std::string output = item["output"].is_string() ? item["output"].get<std::string>()
                                                      : "Error: " + item["error"].dump();
      messages.push_back(
          {{"role", "tool"}, {"tool_call_id", item["id"]}, {"content", std::move(output)}});
    } else if (type == "function_call_output") {
      auto text = text_of(item["output"], "input[" + std::to_string(i) + "].output");
      if (!text.ok()) return text.error();
      messages.push_back(
          {{"role", "tool"}, {"tool_call_id", item["call_id"]}, {"content", std::move(*text)}});
    }
  }
  return normalize_openai_messages(messages);
}

ApiResult<std::vector<int32_t>> render_responses_prompt(
    const ModelContext& model, const std::optional<std::string>& instructions,
    const Json& conversation, const Json& template_tools) {
  auto messages = responses_template_messages(instructions, conversation);
  if (!messages.ok()) return messages.error();
  ChatPromptOptions options;
  options.tools = template_tools;
  auto text = render_chat_prompt(model, *messages, options);
  if (!text.ok()) {
    ApiError e = text.error();
    e.param = "input";
    return e;
  }
  return tokenize_chat_prompt(model, *text);
}

}  // namespace kiln::server
