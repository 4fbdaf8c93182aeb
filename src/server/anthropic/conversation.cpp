#include "server/anthropic/conversation.h"

#include <string>

#include "server/json_fields.h"

namespace kiln::server {
namespace {

// The block's `type`, or a 400 when the block is not an object with one.
ApiResult<std::string> block_type(const Json& block, const std::string& at) {
  if (!block.is_object() || !block.contains("type") || !block["type"].is_string())
    return ApiError::bad_request(at + " must be an object with a string `type`", at);
  return block["type"].get<std::string>();
}

ApiError unsupported_block(const std::string& type, const std::string& at, const char* allowed) {
  return ApiError::bad_request(
      at + ": content blocks of type \"" + type + "\" are not supported here (" + allowed + ")",
      at);
}

// Appends a text block's text, "\n" between blocks (vLLM's rule for string templates).
ApiResult<bool> append_text(const Json& block, const std::string& at, bool& first,
                            std::string& text) {
  if (!block.contains("text") || !block["text"].is_string())
    return ApiError::bad_request(at + ".text must be a string", at + ".text");
  if (!first) text += "\n";
  first = false;
  text += block["text"].get<std::string>();
  return true;
}

// A string, or text blocks joined; other block types are refused.
ApiResult<std::string> text_of(const Json& content, const std::string& where) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array())
    return ApiError::bad_request(where + " must be a string or an array of content blocks", where);
  std::string text;
  bool first = true;
  for (size_t j = 0; j < content.size(); ++j) {
    const std::string at = where + "[" + std::to_string(j) + "]";
    auto type = block_type(content[j], at);
    if (!type.ok()) return type.error();
    if (*type != "text") return unsupported_block(*type, at, "text only");
    if (auto r = append_text(content[j], at, first, text); !r.ok()) return r.error();
  }
  return text;
}

// {tool_use_id, content, is_error} as a role "tool" message.
ApiResult<Json> tool_message(const Json& block, const std::string& at) {
  FieldReader r(block, at + ".");
  r.require("tool_use_id");
  const std::string id = r.string("tool_use_id").value_or("");
  r.boolean("is_error");
  if (!r.ok()) return r.error();
  std::string text;
  if (const Json* content = r.any("content")) {
    auto t = text_of(*content, at + ".content");
    if (!t.ok()) return t.error();
    text = std::move(*t);
  }
  return Json{{"role", "tool"}, {"tool_call_id", id}, {"content", std::move(text)}};
}

// A user message's blocks: text runs become user messages, each tool_result a tool message.
ApiResult<bool> add_user(const Json& blocks, const std::string& where, Json& out) {
  std::string text;
  bool first = true, added = false;
  auto flush = [&] {
    if (first) return;  // no text since the last flush
    out.push_back({{"role", "user"}, {"content", std::move(text)}});
    text.clear();
    first = true;
    added = true;
  };
  for (size_t j = 0; j < blocks.size(); ++j) {
    const std::string at = where + "[" + std::to_string(j) + "]";
    auto type = block_type(blocks[j], at);
    if (!type.ok()) return type.error();
    if (*type == "text") {
      if (auto r = append_text(blocks[j], at, first, text); !r.ok()) return r.error();
    } else if (*type == "tool_result") {
      flush();
      auto msg = tool_message(blocks[j], at);
      if (!msg.ok()) return msg.error();
      out.push_back(std::move(*msg));
      added = true;
    } else {
      return unsupported_block(*type, at, "text and tool_result in user messages");
    }
  }
  flush();
  if (!added) out.push_back({{"role", "user"}, {"content", ""}});
  return true;
}

// An assistant message's blocks: the text, and the tool_use blocks as OpenAI tool_calls.
ApiResult<bool> add_assistant(const Json& blocks, const std::string& where, Json& out) {
  std::string text;
  bool first = true;
  Json calls = Json::array();
  for (size_t j = 0; j < blocks.size(); ++j) {
    const std::string at = where + "[" + std::to_string(j) + "]";
    auto type = block_type(blocks[j], at);
    if (!type.ok()) return type.error();
    if (*type == "text") {
      if (auto r = append_text(blocks[j], at, first, text); !r.ok()) return r.error();
    } else if (*type == "tool_use") {
      FieldReader r(blocks[j], at + ".");
      for (const char* key : {"id", "name", "input"}) r.require(key);
      const std::string id = r.string("id").value_or("");
      const std::string name = r.string("name").value_or("");
      const Json* input = r.object("input");
      if (!r.ok()) return r.error();
      calls.push_back({{"id", id},
                       {"type", "function"},
                       {"function", {{"name", name}, {"arguments", *input}}}});
    } else {
      return unsupported_block(*type, at, "text and tool_use in assistant messages");
    }
  }
  Json msg = {{"role", "assistant"}, {"content", std::move(text)}};
  if (!calls.empty()) msg["tool_calls"] = std::move(calls);
  out.push_back(std::move(msg));
  return true;
}

}  // namespace

ApiResult<Json> anthropic_template_messages(const Json* system, const Json& messages) {
  Json out = Json::array();
  if (system) {
    auto text = text_of(*system, "system");
    if (!text.ok()) return text.error();
    out.push_back({{"role", "system"}, {"content", *text}});
  }
  if (messages.empty())
    return ApiError::bad_request("messages must contain at least one message", "messages");
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string at = "messages[" + std::to_string(i) + "]";
    const Json& m = messages[i];
    if (!m.is_object()) return ApiError::bad_request(at + " must be an object", at);
    const std::string role =
        m.contains("role") && m["role"].is_string() ? m["role"].get<std::string>() : "";
    if (role != "user" && role != "assistant")
      return ApiError::bad_request(at + ".role must be \"user\" or \"assistant\"", at + ".role");
    if (!m.contains("content"))
      return ApiError::bad_request(at + ".content is required", at + ".content");
    const Json& content = m["content"];
    const std::string where = at + ".content";
    if (content.is_string()) {
      out.push_back({{"role", role}, {"content", content}});
      continue;
    }
    if (!content.is_array())
      return ApiError::bad_request(where + " must be a string or an array of content blocks",
                                   where);
    auto added =
        role == "user" ? add_user(content, where, out) : add_assistant(content, where, out);
    if (!added.ok()) return added.error();
  }
  if (out.back().contains("tool_calls"))
    return ApiError::bad_request(
        "messages[" + std::to_string(messages.size() - 1) +
            "]: a final assistant message is continued by the answer (prefill), so it may hold "
            "text only, not tool_use",
        "messages[" + std::to_string(messages.size() - 1) + "].content");
  return out;
}

}  // namespace kiln::server
