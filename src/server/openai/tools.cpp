#include "server/openai/tools.h"

#include "server/tool_request.h"
#include "tool_calls/tool_call_grammar.h"

namespace kiln::server {
namespace {

using tool_calls::ToolCallEvent;
using tool_calls::ToolChoice;

// tools[i] = {"type": "function", "function": {"name", "description", "parameters",
// "strict"}}. A function without parameters takes no arguments (OpenAI's rule).
void read_tool_list(FieldReader& f, const Json& tools,
                    std::vector<tool_calls::ToolDefinition>& out) {
  for (size_t i = 0; i < tools.size(); ++i) {
    const std::string at = "tools[" + std::to_string(i) + "]";
    if (!tools[i].is_object()) return f.fail(ApiError::bad_request(at + " must be an object", at));
    FieldReader t(tools[i], at + ".");
    const std::string type = t.string("type").value_or("function");
    if (type != "function")
      return f.fail(ApiError::bad_request(at + ".type must be \"function\", got \"" + type + "\"",
                                          at + ".type"));
    t.require("function");
    const Json* fn = t.object("function");
    if (!t.ok()) return f.fail(t.error());
    FieldReader fr(*fn, at + ".function.");
    fr.require("name");
    tool_calls::ToolDefinition def;
    def.name = fr.string("name").value_or("");
    fr.string("description");
    fr.boolean("strict");
    if (const Json* params = fr.object("parameters"))
      def.parameters = *params;
    else
      def.parameters =
          Json{{"type", "object"}, {"properties", Json::object()}, {"additionalProperties", false}};
    if (!fr.ok()) return f.fail(fr.error());
    out.push_back(std::move(def));
  }
}

// "none" | "auto" | "required" | {"type": "function", "function": {"name": ...}}; nullopt
// for "none".
std::optional<ToolChoice> read_tool_choice(FieldReader& f, bool have_tools) {
  const Json* choice = f.any("tool_choice");
  ToolChoice c;
  if (!choice) return have_tools ? std::optional<ToolChoice>(c) : std::nullopt;
  if (choice->is_string()) {
    const std::string s = choice->get<std::string>();
    if (s == "none") return std::nullopt;
    if (s == "auto") return c;
    if (s == "required") {
      c.mode = ToolChoice::Mode::kRequired;
      return c;
    }
    f.fail("tool_choice", "must be \"none\", \"auto\", \"required\" or a named function");
    return std::nullopt;
  }
  if (!choice->is_object()) {
    f.fail("tool_choice", "must be a string or {\"type\": \"function\", \"function\": {\"name\"}}");
    return std::nullopt;
  }
  FieldReader o(*choice, "tool_choice.");
  const std::string type = o.string("type").value_or("function");
  o.require("function");
  const Json* fn = o.object("function");
  if (!o.ok()) {
    f.fail(o.error());
    return std::nullopt;
  }
  if (type != "function") {
    f.fail("tool_choice.type", "must be \"function\"");
    return std::nullopt;
  }
  FieldReader fr(*fn, "tool_choice.function.");
  fr.require("name");
  c.mode = ToolChoice::Mode::kNamed;
  c.name = fr.string("name").value_or("");
  if (!fr.ok()) f.fail(fr.error());
  return c;
}

}  // namespace

OpenAIToolSettings read_openai_tools(FieldReader& f, const ModelContext& model,
                                     Json& template_tools, GenerationRequest& request) {
  OpenAIToolSettings settings;
  tool_calls::ToolCallGrammarRequest g;
  g.format = model.tool_call_format;
  const Json* tools = f.array("tools");
  if (tools && !tools->empty()) {
    template_tools = *tools;
    read_tool_list(f, *tools, g.tools);
  }
  std::optional<ToolChoice> choice = read_tool_choice(f, !g.tools.empty());
  g.parallel_tool_calls = f.boolean("parallel_tool_calls").value_or(true);
  if (!f.ok()) return settings;
  if (!choice) {
    // "none": the tools are only shown to the model, but a broken definition is still
    // the client's mistake (OpenAI checks them whatever tool_choice says).
    if (!g.tools.empty()) {
      auto checked = tool_calls::build_tool_call_grammar(g);
      if (!checked.ok()) f.fail(ApiError::bad_request("tools: " + checked.message(), "tools"));
    }
    return settings;
  }
  if (g.tools.empty()) {
    f.fail("tool_choice", "needs tools: no tools were given");
    return settings;
  }
  g.choice = *choice;
  settings.parse_format = constrain_to_tool_calls(f, model, g, "response_format or guided_*",
                                                  /*compile=*/true, request);
  return settings;
}

OpenAIMessageParts openai_message_parts(const OpenAIToolSettings& settings,
                                        const std::string& text) {
  OpenAIMessageParts parts;
  if (!settings.parse_format) {
    parts.content = text;
    return parts;
  }
  tool_calls::ParsedToolCalls parsed = tool_calls::parse_tool_calls(*settings.parse_format, text);
  if (parsed.calls.empty()) {
    parts.content = parsed.content;
    return parts;
  }
  if (!parsed.content.empty()) parts.content = parsed.content;
  parts.tool_calls = Json::array();
  for (const auto& call : parsed.calls)
    parts.tool_calls.push_back(
        {{"id", random_id("call_")},
         {"type", "function"},
         {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
  return parts;
}

void OpenAIToolCallStream::feed(const std::string& text, std::vector<Json>& deltas) {
  events_.clear();
  parser_.feed(text, events_);
  convert(deltas);
}

void OpenAIToolCallStream::finish(std::vector<Json>& deltas) {
  events_.clear();
  parser_.finish(events_);
  convert(deltas);
}

// Content and call events to deltas. A call that turns out malformed after its start was
// sent cannot be taken back; its text follows as content, and the indexes sent to the
// client stay dense because a call gets its index only when it starts.
void OpenAIToolCallStream::convert(std::vector<Json>& deltas) {
  for (const ToolCallEvent& e : events_) {
    switch (e.kind) {
      case ToolCallEvent::Kind::kCallInvalid:
        --num_valid_calls_;
        [[fallthrough]];
      case ToolCallEvent::Kind::kContent:
        if (!e.text.empty()) deltas.push_back({{"content", e.text}});
        break;
      case ToolCallEvent::Kind::kCallStart: {
        if ((int32_t)api_index_.size() <= e.index) api_index_.resize(e.index + 1, -1);
        api_index_[e.index] = next_api_index_++;
        ++num_valid_calls_;
        deltas.push_back(
            {{"tool_calls", Json::array({{{"index", api_index_[e.index]},
                                          {"id", random_id("call_")},
                                          {"type", "function"},
                                          {"function", {{"name", e.text}, {"arguments", ""}}}}})}});
        break;
      }
      case ToolCallEvent::Kind::kArguments:
        deltas.push_back({{"tool_calls", Json::array({{{"index", api_index_[e.index]},
                                                       {"function", {{"arguments", e.text}}}}})}});
        break;
      case ToolCallEvent::Kind::kCallEnd:
        break;
    }
  }
}

}  // namespace kiln::server
