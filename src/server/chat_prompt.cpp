#include "server/chat_prompt.h"

#include "server/json_fields.h"

namespace kiln::server {
namespace {

bool known_role(const std::string& role) {
  return role == "system" || role == "developer" || role == "user" || role == "assistant" ||
         role == "tool" || role == "function";
}

// Text parts joined with "\n"; anything else is refused.
ApiResult<std::string> flatten_parts(const Json& parts, const std::string& where) {
  std::string text;
  for (size_t j = 0; j < parts.size(); ++j) {
    const std::string at = where + "[" + std::to_string(j) + "]";
    const Json& part = parts[j];
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
      return ApiError::bad_request(at + " must be an object with a string `type`", at);
    const std::string type = part["type"].get<std::string>();
    if (type != "text" && type != "input_text")
      return ApiError::bad_request(at + ": content parts of type \"" + type +
                                       "\" are not supported (kiln serves text-only models)",
                                   at);
    if (!part.contains("text") || !part["text"].is_string())
      return ApiError::bad_request(at + ".text must be a string", at + ".text");
    if (j > 0) text += "\n";
    text += part["text"].get<std::string>();
  }
  return text;
}

// An assistant message's tool_calls as templates expect them (vLLM's
// _postprocess_messages): each call's function.arguments an object. OpenAI clients send the
// arguments as a JSON string, and templates render them with `| tojson` (Qwen2.5, Llama 3)
// or iterate them (`| items`), which a string would break ("{\"city\": ..." quoted again).
// An argument string that is empty, not JSON or not an object becomes {}, as in vLLM: the
// call lives in the conversation's history, and refusing it would fail every later turn.
// An empty list is dropped so templates take their plain-assistant path.
ApiResult<bool> normalize_tool_calls(Json& msg, const std::string& at) {
  auto calls = msg.find("tool_calls");
  if (calls == msg.end() || calls->is_null()) return true;
  if (!calls->is_array())
    return ApiError::bad_request(at + ".tool_calls must be an array", at + ".tool_calls");
  if (calls->empty()) {
    msg.erase("tool_calls");
    return true;
  }
  for (size_t j = 0; j < calls->size(); ++j) {
    const std::string call_at = at + ".tool_calls[" + std::to_string(j) + "]";
    Json& call = (*calls)[j];
    if (!call.is_object()) return ApiError::bad_request(call_at + " must be an object", call_at);
    if (call.contains("type") && call["type"] != "function")
      return ApiError::bad_request(call_at + ".type must be \"function\"", call_at + ".type");
    if (!call.contains("function") || !call["function"].is_object())
      return ApiError::bad_request(call_at + ".function must be an object", call_at + ".function");
    Json& function = call["function"];
    Json& arguments = function["arguments"];  // (created null when missing)
    if (arguments.is_object()) continue;
    // (parse_json_object also refuses deep nesting, which would overflow the stack later.)
    auto parsed = arguments.is_string() ? parse_json_object(arguments.get<std::string>())
                                        : ApiResult<Json>(ApiError{});
    arguments = parsed.ok() ? std::move(*parsed) : Json::object();
  }
  return true;
}

}  // namespace

ApiResult<Json> normalize_openai_messages(const Json& messages) {
  if (!messages.is_array()) return ApiError::bad_request("messages must be an array", "messages");
  if (messages.empty())
    return ApiError::bad_request("messages must contain at least one message", "messages");
  Json out = Json::array();
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string at = "messages[" + std::to_string(i) + "]";
    const Json& m = messages[i];
    if (!m.is_object()) return ApiError::bad_request(at + " must be an object", at);
    if (!m.contains("role") || !m["role"].is_string())
      return ApiError::bad_request(at + ".role must be a string", at + ".role");
    std::string role = m["role"].get<std::string>();
    if (!known_role(role))
      return ApiError::bad_request(
          at + ".role \"" + role + "\" is not one of system, developer, user, assistant, tool",
          at + ".role");
    Json msg = m;  // keeps tool_calls, tool_call_id, name, ... for templates that use them
    if (role == "developer") msg["role"] = "system";
    auto content = m.find("content");
    if (content == m.end() || content->is_null()) {
      const bool may_omit = role == "assistant" && m.contains("tool_calls");
      if (!may_omit) return ApiError::bad_request(at + ".content is required", at + ".content");
      // Templates read message.content on every message ('\n' + content, content.split(..));
      // an absent one is jinja2's Undefined, which fails there, and None fails in Python
      // too. vLLM renders a missing or null content as "" (no text parts, joined), and so
      // does kiln.
      msg["content"] = "";
    } else if (content->is_array()) {
      auto text = flatten_parts(*content, at + ".content");
      if (!text.ok()) return text.error();
      msg["content"] = *text;
    } else if (!content->is_string()) {
      return ApiError::bad_request(at + ".content must be a string or an array of content parts",
                                   at + ".content");
    }
    if (role == "assistant") {
      auto calls = normalize_tool_calls(msg, at);
      if (!calls.ok()) return calls.error();
    }
    out.push_back(std::move(msg));
  }
  return out;
}

ApiResult<std::string> render_chat_prompt(const ModelContext& model, const Json& messages,
                                          const ChatPromptOptions& options) {
  chat::ChatTemplateInputs in;
  in.messages = messages;
  in.tools = options.tools;
  in.add_generation_prompt = options.add_generation_prompt && !options.continue_final_message;
  in.bos_token = model.bos_token;
  in.eos_token = model.eos_token;
  for (const auto& [key, value] : options.template_kwargs.items()) {
    // The template's own inputs may not be replaced (ChatTemplateInputs' rule).
    if (key == "messages" || key == "tools" || key == "documents" ||
        key == "add_generation_prompt" || key == "bos_token" || key == "eos_token")
      return ApiError::bad_request("chat_template_kwargs may not set \"" + key + "\"",
                                   "chat_template_kwargs");
    in.extra_context[key] = value;
  }
  auto rendered = chat::apply_chat_template(*model.chat_template, in);
  if (!rendered.ok())
    return ApiError::bad_request(
        "the chat template failed to render these messages: " + rendered.message(), "messages");
  if (!options.continue_final_message) return *rendered;

  const Json& last = messages.back();
  if (!last.contains("content") || !last["content"].is_string() ||
      last.value("role", "") != "assistant")
    return ApiError::bad_request(
        "continuing the final message needs the last message to be the assistant's text",
        "messages");
  std::string final_text = last["content"].get<std::string>();
  std::string& text = *rendered;
  size_t at = final_text.empty() ? std::string::npos : text.rfind(final_text);
  if (at == std::string::npos) {
    // Templates commonly strip the content; try its stripped form.
    const size_t b = final_text.find_first_not_of(" \t\r\n");
    const size_t e = final_text.find_last_not_of(" \t\r\n");
    if (b != std::string::npos) {
      final_text = final_text.substr(b, e - b + 1);
      at = text.rfind(final_text);
    }
  }
  if (at == std::string::npos)
    return ApiError::bad_request(
        "cannot continue the final assistant message: the chat template does not render its "
        "text verbatim",
        "messages");
  text.resize(at + final_text.size());
  return std::move(text);
}

std::vector<int32_t> tokenize_chat_prompt(const ModelContext& model, const std::string& text) {
  return model.tokenizer->encode(text, /*add_special=*/false, /*parse_special=*/true);
}

}  // namespace kiln::server
