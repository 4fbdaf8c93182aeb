#include "server/responses/request.h"

#include "server/json_fields.h"
#include "server/openai/structured_output.h"
#include "server/responses/items.h"
#include "server/tool_request.h"
#include "structured/json_schema_compiler.h"
#include "tool_calls/tool_call_grammar.h"

namespace kiln::server {
namespace {

using tool_calls::ToolChoice;

// Fields whose request kiln cannot honour; ignoring them would change what was asked.
void refuse_unsupported(FieldReader& f) {
  if (f.boolean("background").value_or(false))
    f.fail("background", "is not supported: kiln answers responses in the request");
  if (f.has("conversation"))
    f.fail("conversation",
           "is not supported: kiln keeps no conversation objects; continue a conversation with "
           "previous_response_id");
  if (f.has("prompt"))
    f.fail("prompt", "is not supported: kiln has no stored prompt templates; send input");
}

// text.format: the output's shape, as chat's response_format. `echo` gets the `text` object.
void read_text_format(FieldReader& f, const ModelContext& model, GenerationRequest& request,
                      Json& echo) {
  echo = {{"format", {{"type", "text"}}}};
  const Json* text = f.object("text");
  if (!text) return;
  FieldReader t(*text, "text.");
  const Json* format = t.object("format");
  t.string("verbosity");
  if (!t.ok()) return f.fail(t.error());
  if (!format) return;
  echo["format"] = *format;
  FieldReader o(*format, "text.format.");
  o.require("type");
  const std::string type = o.string("type").value_or("");
  if (!o.ok()) return f.fail(o.error());
  if (type == "text") return;
  if (type == "json_object")
    return attach_grammar(f, "text.format", model, structured::grammar_any_json_object(),
                          request);
  if (type != "json_schema")
    return f.fail("text.format.type",
                  "must be \"text\", \"json_object\" or \"json_schema\", got \"" + type + "\"");
  o.string("name");
  o.string("description");
  o.boolean("strict");  // the output is always held to the schema
  o.require("schema");
  const Json* schema = o.object("schema");
  if (!o.ok()) return f.fail(o.error());
  auto grammar = structured::grammar_from_json_schema(*schema);
  if (!grammar.ok())
    return f.fail(ApiError::bad_request("text.format.schema: " + grammar.message(),
                                        "text.format.schema"));
  attach_grammar(f, "text.format", model, *grammar, request);
}

// tools[i] = {"type": "function", "name", "description", "parameters", "strict"} (flat, not
// nested under "function" as in chat). `template_tools` gets them in chat's shape.
void read_tool_list(FieldReader& f, const Json& tools, Json& template_tools,
                    std::vector<tool_calls::ToolDefinition>& out, const McpOptions& mcp,
                    std::vector<McpServerRef>& mcp_out) {
  for (size_t i = 0; i < tools.size(); ++i) {
    const std::string at = "tools[" + std::to_string(i) + "]";
    if (!tools[i].is_object()) return f.fail(ApiError::bad_request(at + " must be an object", at));
    FieldReader t(tools[i], at + ".");
    t.require("type");
    const std::string type = t.string("type").value_or("");
    if (!t.ok()) return f.fail(t.error());
    if (type == "mcp") {
      auto ref = read_mcp_tool(tools[i], at, mcp);
      if (!ref.ok()) return f.fail(ref.error());
      mcp_out.push_back(std::move(*ref));
      continue;
    }
    if (type != "function")
      return f.fail(ApiError::bad_request(
          at + ".type \"" + type + "\" is not supported: kiln runs function and mcp tools",
          at + ".type"));
    if (t.has("function") && !t.has("name"))
      return f.fail(ApiError::bad_request(
          at + ".name is required: the Responses API takes function tools flat ({\"type\": "
               "\"function\", \"name\", \"parameters\"}), not nested under \"function\" as "
               "in chat completions",
          at + ".name"));
    t.require("name");
    tool_calls::ToolDefinition def;
    def.name = t.string("name").value_or("");
    const std::optional<std::string> description = t.string("description");
    t.boolean("strict");  // calls are always constrained to the schema
    const Json* params = t.object("parameters");
    if (!t.ok()) return f.fail(t.error());
    // A function without parameters takes no arguments (OpenAI's rule).
    def.parameters = params ? *params
                            : Json{{"type", "object"},
                                   {"properties", Json::object()},
                                   {"additionalProperties", false}};
    Json function = {{"name", def.name}};
    if (description) function["description"] = *description;
    function["parameters"] = def.parameters;
    template_tools.push_back({{"type", "function"}, {"function", std::move(function)}});
    out.push_back(std::move(def));
  }
}

// "none" | "auto" | "required" | {"type": "function", "name"} | {"type": "mcp",
// "server_label", "name"} (`choice_server` gets the label); nullopt for "none" (and for the
// default without tools).
std::optional<ToolChoice> read_tool_choice(FieldReader& f, bool have_tools, Json& echo,
                                           std::optional<std::string>& choice_server) {
  const Json* choice = f.any("tool_choice");
  echo = choice ? *choice : Json("auto");
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
    f.fail("tool_choice", "must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", "
                          "\"name\"}, got \"" + s + "\"");
    return std::nullopt;
  }
  if (!choice->is_object()) {
    f.fail("tool_choice", "must be a string or {\"type\": \"function\", \"name\"}");
    return std::nullopt;
  }
  FieldReader o(*choice, "tool_choice.");
  o.require("type");
  const std::string type = o.string("type").value_or("");
  if (o.ok() && type != "function" && type != "mcp")
    o.fail("type", "\"" + type + "\" is not supported: kiln runs function and mcp tools");
  if (type == "mcp") {
    o.require("server_label");
    choice_server = o.string("server_label").value_or("");
  }
  o.require("name");
  c.mode = ToolChoice::Mode::kNamed;
  c.name = o.string("name").value_or("");
  if (!o.ok()) {
    f.fail(o.error());
    return std::nullopt;
  }
  return c;
}

// MCP servers offered: the plan the tool loop builds each turn from (mcp_tools.h says when
// the configured servers join in). False when no server is offered.
bool plan_tool_loop(FieldReader& f, ResponsesRequest& r, const McpOptions& mcp,
                    std::vector<McpServerRef> requested, const tool_calls::ToolCallGrammarRequest& g,
                    const std::optional<ToolChoice>& choice,
                    const std::optional<std::string>& choice_server, const Json& template_tools) {
  if (!requested.empty()) {
    if (!choice) return false;  // "none": the servers are not even asked for their tools
    if (r.generation.grammar)
      return f.fail("tools", "mcp tools cannot be combined with a text.format constraint"),
             false;
  }
  const bool configured = mcp.pool && choice && !r.generation.grammar;
  if (configured)
    for (const auto& server : mcp.pool->servers()) {
      bool named = false;
      for (const McpServerRef& ref : requested) named |= !ref.own && ref.label == server.name;
      if (!named) requested.push_back(McpServerRef{server.name, std::nullopt, std::nullopt});
    }
  if (requested.empty()) {
    if (choice_server)
      f.fail("tool_choice", "names the mcp server \"" + *choice_server +
                                "\", but no mcp tool of that server_label is offered");
    return false;
  }
  if (choice_server) {
    bool found = false;
    for (const McpServerRef& ref : requested) found |= ref.label == *choice_server;
    if (!found)
      return f.fail("tool_choice", "names the mcp server \"" + *choice_server +
                                       "\", which no mcp tool names"),
             false;
  }
  ToolLoopPlan plan;
  plan.servers = std::move(requested);
  plan.function_tools = g.tools;
  plan.function_template_tools = template_tools.is_array() ? template_tools : Json::array();
  plan.first_choice = choice ? *choice : ToolChoice{};
  plan.choice_server = choice_server;
  plan.parallel_tool_calls = g.parallel_tool_calls;
  plan.format = g.format;
  r.tool_loop = std::move(plan);
  return true;
}

// Tools and tool_choice into the tool-call constraint (tool_request.h), as chat does.
void read_tools(FieldReader& f, const ModelContext& model, ResponsesRequest& r,
                Json& template_tools, const McpOptions& mcp) {
  tool_calls::ToolCallGrammarRequest g;
  g.format = model.tool_call_format;
  const Json* tools = f.array("tools");
  r.echo["tools"] = tools ? *tools : Json::array();
  std::vector<McpServerRef> requested;
  if (tools && !tools->empty()) {
    template_tools = Json::array();
    read_tool_list(f, *tools, template_tools, g.tools, mcp, requested);
  }
  Json choice_echo;
  std::optional<std::string> choice_server;
  std::optional<ToolChoice> choice =
      read_tool_choice(f,
                       !g.tools.empty() || !requested.empty() ||
                           (mcp.pool && !r.generation.grammar),
                       choice_echo, choice_server);
  r.echo["tool_choice"] = std::move(choice_echo);
  g.parallel_tool_calls = f.boolean("parallel_tool_calls").value_or(true);
  r.echo["parallel_tool_calls"] = g.parallel_tool_calls;
  if (!f.ok()) return;
  if (plan_tool_loop(f, r, mcp, std::move(requested), g, choice, choice_server, template_tools))
    return;
  if (!f.ok()) return;
  if (!choice) {
    // "none": the tools are only shown, but a broken definition is still a mistake.
    if (!g.tools.empty())
      if (auto checked = tool_calls::build_tool_call_grammar(g); !checked.ok())
        f.fail(ApiError::bad_request("tools: " + checked.message(), "tools"));
    return;
  }
  if (g.tools.empty()) return f.fail("tool_choice", "needs tools: no tools were given");
  g.choice = *choice;
  r.tool_format = constrain_to_tool_calls(f, model, g, "text.format", /*compile=*/true,
                                          r.generation);
}

void read_sampling(FieldReader& f, ResponsesRequest& r) {
  SamplingParams& p = r.generation.sampling;
  const std::optional<double> temperature = f.number("temperature");
  const std::optional<double> top_p = f.number("top_p");
  if (temperature) p.temperature = (float)*temperature;
  if (top_p) p.top_p = (float)*top_p;
  r.echo["temperature"] = temperature.value_or(1.0);
  r.echo["top_p"] = top_p.value_or(1.0);
  r.echo["max_output_tokens"] = nullptr;
  if (const std::optional<int64_t> max = f.integer("max_output_tokens")) {
    if (*max < 1) return f.fail("max_output_tokens", "must be >= 1, got " + std::to_string(*max));
    p.max_tokens = (int32_t)std::min<int64_t>(*max, INT32_MAX);
    r.echo["max_output_tokens"] = *max;
  }
}

}  // namespace

ApiResult<ResponsesRequest> parse_responses_request(const Json& body, const ModelContext& model,
                                                    ResponseStore& store,
                                                    const McpOptions& mcp) {
  FieldReader f(body);
  ResponsesRequest r;
  f.require("model");
  r.model = f.string("model").value_or("");
  f.require("input");
  const Json* input = f.any("input");
  if (!f.ok()) return f.error();
  if (!model.serves(r.model)) return ApiError::model_not_found(r.model);

  refuse_unsupported(f);
  r.stream = f.boolean("stream").value_or(false);
  r.store = f.boolean("store").value_or(true);
  const std::optional<std::string> instructions = f.string("instructions");
  const std::optional<std::string> previous_id = f.string("previous_response_id");
  const Json* metadata = f.object("metadata");
  const std::optional<std::string> user = f.string("user");  // accepted, not used
  read_sampling(f, r);
  if (!f.ok()) return f.error();

  auto items = normalize_responses_input(*input);
  if (!items.ok()) return items.error();
  r.input_items = std::move(*items);
  if (previous_id) {
    std::optional<StoredResponse> previous = store.get(*previous_id);
    if (!previous) {
      ApiError e = ApiError::not_found("Previous response with id '" + *previous_id +
                                       "' not found: it was never stored (store: false), was "
                                       "deleted, or has expired",
                                       "previous_response_not_found");
      e.param = "previous_response_id";
      return e;
    }
    r.previous = std::move(previous->conversation);
  }

  // The constraints last: they compile grammars.
  Json text_echo;
  read_text_format(f, model, r.generation, text_echo);
  Json template_tools;
  read_tools(f, model, r, template_tools, mcp);
  if (!f.ok()) return f.error();

  r.echo["instructions"] = instructions ? Json(*instructions) : Json();
  r.echo["metadata"] = metadata ? *metadata : Json::object();
  r.echo["previous_response_id"] = previous_id ? Json(*previous_id) : Json();
  r.echo["store"] = r.store;
  r.echo["text"] = std::move(text_echo);
  r.echo["user"] = user ? Json(*user) : Json();

  Json conversation = conversation_items(r.previous);
  for (const Json& item : r.input_items) conversation.push_back(item);
  if (r.tool_loop) {
    r.tool_loop->instructions = instructions;
    r.tool_loop->conversation = std::move(conversation);
    return r;
  }
  auto prompt = render_responses_prompt(model, instructions, conversation, template_tools);
  if (!prompt.ok()) return prompt.error();
  r.generation.prompt = std::move(*prompt);
  return r;
}

}  // namespace kiln::server
