#include "server/anthropic/tools.h"

#include "server/http/sse.h"
#include "server/tool_request.h"
#include "tool_calls/tool_call_grammar.h"

namespace kiln::server {
namespace {

using tool_calls::ToolCallEvent;
using tool_calls::ToolChoice;

// tools[i] = {"name", "description", "input_schema", "strict", "cache_control"}; `type` is
// absent or "custom" for a client tool. Anthropic's server tools (web search, code
// execution, ...) run on Anthropic's side and have no meaning here.
void read_tool_list(FieldReader& f, const Json& tools, Json& template_tools,
                    std::vector<tool_calls::ToolDefinition>& out) {
  for (size_t i = 0; i < tools.size(); ++i) {
    const std::string at = "tools[" + std::to_string(i) + "]";
    if (!tools[i].is_object()) return f.fail(ApiError::bad_request(at + " must be an object", at));
    FieldReader t(tools[i], at + ".");
    if (std::optional<std::string> type = t.string("type"); type && *type != "custom")
      return f.fail(ApiError::bad_request(
          at + ".type \"" + *type +
              "\" is not supported: kiln runs client tools only ({name, description, "
              "input_schema}), not Anthropic's server tools",
          at + ".type"));
    t.require("name");
    t.require("input_schema");
    tool_calls::ToolDefinition def;
    def.name = t.string("name").value_or("");
    const std::optional<std::string> description = t.string("description");
    const Json* schema = t.object("input_schema");
    t.boolean("strict");  // calls are always constrained to the schema
    t.object("cache_control");
    if (!t.ok()) return f.fail(t.error());
    if (schema->contains("type") && (*schema)["type"] != "object")
      return f.fail(ApiError::bad_request(
          at + ".input_schema must be an object schema (\"type\": \"object\")",
          at + ".input_schema"));
    def.parameters = *schema;
    Json function = {{"name", def.name}};
    if (description) function["description"] = *description;
    function["parameters"] = *schema;
    template_tools.push_back({{"type", "function"}, {"function", std::move(function)}});
    out.push_back(std::move(def));
  }
}

// {"type": "auto" | "any" | "tool" (with "name") | "none", "disable_parallel_tool_use"};
// auto when absent and there are tools. nullopt for "none".
std::optional<ToolChoice> read_tool_choice(FieldReader& f, bool have_tools, bool& parallel) {
  const Json* choice = f.object("tool_choice");
  ToolChoice c;
  if (!choice) return have_tools ? std::optional<ToolChoice>(c) : std::nullopt;
  FieldReader o(*choice, "tool_choice.");
  o.require("type");
  const std::string type = o.string("type").value_or("");
  parallel = !o.boolean("disable_parallel_tool_use").value_or(false);
  if (type == "tool") {
    o.require("name");
    c.mode = ToolChoice::Mode::kNamed;
    c.name = o.string("name").value_or("");
  }
  if (!o.ok()) {
    f.fail(o.error());
    return std::nullopt;
  }
  if (type == "any") c.mode = ToolChoice::Mode::kRequired;
  if (type == "auto" || type == "any" || type == "tool") return c;
  if (type != "none")
    f.fail("tool_choice.type",
           "must be \"auto\", \"any\", \"tool\" or \"none\", got \"" + type + "\"");
  return std::nullopt;
}

Json text_block(std::string text) { return {{"type", "text"}, {"text", std::move(text)}}; }

Json tool_use_block(std::string name, Json input) {
  return {{"type", "tool_use"},
          {"id", random_id("toolu_")},
          {"name", std::move(name)},
          {"input", std::move(input)}};
}

}  // namespace

std::optional<tool_calls::ToolCallFormat> read_anthropic_tools(FieldReader& f,
                                                               const ModelContext& model,
                                                               bool compile, Json& template_tools,
                                                               GenerationRequest& request) {
  tool_calls::ToolCallGrammarRequest g;
  g.format = model.tool_call_format;
  const Json* tools = f.array("tools");
  if (tools && !tools->empty()) {
    template_tools = Json::array();
    read_tool_list(f, *tools, template_tools, g.tools);
  }
  std::optional<ToolChoice> choice = read_tool_choice(f, !g.tools.empty(), g.parallel_tool_calls);
  if (!f.ok() || !choice) return std::nullopt;
  if (g.tools.empty()) {
    f.fail("tool_choice", "needs tools: no tools were given");
    return std::nullopt;
  }
  g.choice = *choice;
  return constrain_to_tool_calls(f, model, g, "output_config.format", compile, request);
}

AnthropicContent anthropic_content(const std::optional<tool_calls::ToolCallFormat>& format,
                                   const std::string& text) {
  AnthropicContent c;
  if (!format) {
    c.blocks.push_back(text_block(text));
    return c;
  }
  tool_calls::ParsedToolCalls parsed = tool_calls::parse_tool_calls(*format, text);
  if (!parsed.content.empty() || parsed.calls.empty())
    c.blocks.push_back(text_block(std::move(parsed.content)));
  for (tool_calls::ParsedToolCall& call : parsed.calls) {
    // The parser returns a complete, strictly checked JSON object.
    Json input = Json::parse(call.arguments, nullptr, /*allow_exceptions=*/false);
    if (!input.is_object()) input = Json::object();
    c.blocks.push_back(tool_use_block(std::move(call.name), std::move(input)));
  }
  c.has_calls = !parsed.calls.empty();
  return c;
}

AnthropicBlockStream::AnthropicBlockStream(std::optional<tool_calls::ToolCallFormat> format) {
  if (format) parser_.emplace(*format);
}

void AnthropicBlockStream::open_text(std::string& body) { open(Open::kText, text_block(""), body); }

void AnthropicBlockStream::feed(const std::string& delta, std::string& body) {
  if (!parser_) return text(delta, body);
  events_.clear();
  parser_->feed(delta, events_);
  convert(body);
}

void AnthropicBlockStream::finish(std::string& body) {
  if (parser_) {
    events_.clear();
    parser_->finish(events_);
    convert(body);
  }
  if (next_index_ == 0) open_text(body);
  close(body);
}

void AnthropicBlockStream::convert(std::string& body) {
  for (ToolCallEvent& e : events_) {
    switch (e.kind) {
      case ToolCallEvent::Kind::kContent:
        text(e.text, body);
        break;
      case ToolCallEvent::Kind::kCallStart:
        open(Open::kToolUse, tool_use_block(std::move(e.text), Json::object()), body);
        open_call_ = e.index;
        ++num_valid_calls_;
        break;
      case ToolCallEvent::Kind::kArguments:
        if (open_ != Open::kToolUse || open_call_ != e.index) break;
        append_sse_event(body, "content_block_delta",
                         {{"type", "content_block_delta"},
                          {"index", next_index_ - 1},
                          {"delta", {{"type", "input_json_delta"}, {"partial_json", e.text}}}});
        break;
      case ToolCallEvent::Kind::kCallEnd:
        if (open_ == Open::kToolUse && open_call_ == e.index) close(body);
        break;
      case ToolCallEvent::Kind::kCallInvalid:
        --num_valid_calls_;
        if (open_ == Open::kToolUse && open_call_ == e.index) close(body);
        text(e.text, body);
        break;
    }
  }
}

void AnthropicBlockStream::text(const std::string& text, std::string& body) {
  if (text.empty()) return;
  if (open_ != Open::kText) open(Open::kText, text_block(""), body);
  append_sse_event(body, "content_block_delta",
                   {{"type", "content_block_delta"},
                    {"index", next_index_ - 1},
                    {"delta", {{"type", "text_delta"}, {"text", text}}}});
}

void AnthropicBlockStream::open(Open kind, Json block, std::string& body) {
  close(body);
  append_sse_event(body, "content_block_start",
                   {{"type", "content_block_start"},
                    {"index", next_index_++},
                    {"content_block", std::move(block)}});
  open_ = kind;
}

void AnthropicBlockStream::close(std::string& body) {
  if (open_ == Open::kNone) return;
  append_sse_event(body, "content_block_stop",
                   {{"type", "content_block_stop"}, {"index", next_index_ - 1}});
  open_ = Open::kNone;
  open_call_ = -1;
}

}  // namespace kiln::server
