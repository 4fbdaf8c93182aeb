#include "server/openapi.h"

#include "server/http/auth.h"
#include "server/json_util.h"
#include "util/version.h"

namespace kiln::server {
namespace {

Json type(const char* t, const char* description = nullptr) {
  Json j = {{"type", t}};
  if (description) j["description"] = description;
  return j;
}

// A field the server sends as null when it has no value (param, code, stop_sequence, ...).
Json nullable(const char* t, const char* description = nullptr) {
  Json j = {{"type", Json::array({t, "null"})}};
  if (description) j["description"] = description;
  return j;
}

// A number or integer in [min, max] (engine/sampling_params.cpp holds the same bounds).
Json range(const char* t, double min, double max, const char* description = nullptr) {
  Json j = type(t, description);
  j["minimum"] = min;
  j["maximum"] = max;
  return j;
}

Json at_least(const char* t, double min, const char* description = nullptr) {
  Json j = type(t, description);
  j["minimum"] = min;
  return j;
}

Json enum_of(std::initializer_list<const char*> values, const char* description = nullptr) {
  Json j = type("string", description);
  j["enum"] = Json::array();
  for (const char* v : values) j["enum"].push_back(v);
  return j;
}

Json array_of(Json items) { return {{"type", "array"}, {"items", std::move(items)}}; }

Json one_of(std::initializer_list<Json> options) {
  Json list = Json::array();
  for (const Json& o : options) list.push_back(o);
  return {{"oneOf", std::move(list)}};
}

Json object(Json properties, std::initializer_list<const char*> required = {}) {
  Json j = {{"type", "object"}, {"properties", std::move(properties)}};
  if (required.size() > 0) {
    j["required"] = Json::array();
    for (const char* r : required) j["required"].push_back(r);
  }
  return j;
}

Json ref(const char* name) { return {{"$ref", std::string("#/components/schemas/") + name}}; }

// The sampling fields chat and completions share (openai/sampling.h).
Json sampling_properties() {
  Json stop = one_of({type("string"), array_of(type("string"))});
  Json top_p = range("number", 0, 1, "(0, 1]");
  top_p["exclusiveMinimum"] = 0;
  top_p.erase("minimum");
  Json repetition_penalty = type("number", "vLLM extension; > 0, 1: off");
  repetition_penalty["exclusiveMinimum"] = 0;
  return {{"temperature", at_least("number", 0, "0: greedy; default 1")},
          {"top_p", top_p},
          {"top_k", at_least("integer", -1, "vLLM extension; 0 or -1: off")},
          {"min_p", range("number", 0, 1, "vLLM extension")},
          {"presence_penalty", range("number", -2, 2)},
          {"frequency_penalty", range("number", -2, 2)},
          {"repetition_penalty", repetition_penalty},
          {"logit_bias",
           {{"type", "object"},
            {"additionalProperties", range("number", -100, 100)},
            {"description", "token id (as a string) -> bias in [-100, 100]"}}},
          {"seed", type("integer")},
          {"n", at_least("integer", 1, "samples per prompt, at most --max-num-seqs")},
          {"max_tokens", at_least("integer", 1)},
          {"min_tokens", at_least("integer", 0, "vLLM extension; <= max_tokens")},
          {"stop", stop},
          {"stop_token_ids", array_of(type("integer"))},
          {"ignore_eos", type("boolean")},
          {"include_stop_str_in_output", type("boolean")},
          {"skip_special_tokens", type("boolean")},
          {"priority", type("integer", "lower runs first")},
          {"cache_salt", type("string", "requests with different salts never share cached KV")},
          {"user", type("string", "accepted, not used")},
          {"stream", type("boolean")},
          {"stream_options", object({{"include_usage", type("boolean")}})}};
}

Json error_responses(bool anthropic) {
  const Json e = {
      {"content",
       {{"application/json", {{"schema", ref(anthropic ? "AnthropicError" : "Error")}}}}}};
  Json r = Json::object();
  for (const char* code : {"400", "401", "404", "413", "429", "503"}) {
    Json x = e;
    x["description"] = code;
    r[code] = x;
  }
  return r;
}

Json post(const char* summary, Json body_schema, Json ok_schema, bool streams,
          bool anthropic = false, Json responses = nullptr) {
  Json ok_content = {{"application/json", {{"schema", std::move(ok_schema)}}}};
  // One server-sent event (before OpenAPI 3.2, an event stream's schema describes each event):
  // `data` is a JSON object (or OpenAI's final "[DONE]"), `event` the type Anthropic's and the
  // Responses API's events name.
  if (streams)
    ok_content["text/event-stream"] = {
        {"schema", object({{"event", type("string")},
                           {"data", type("string", "a JSON object, or [DONE]")},
                           {"id", type("string")}},
                          {"data"})}};
  if (responses.is_null()) responses = error_responses(anthropic);
  responses["200"] = {{"description", "OK"}, {"content", std::move(ok_content)}};
  return {{"post",
           {{"summary", summary},
            {"requestBody",
             {{"required", true},
              {"content", {{"application/json", {{"schema", std::move(body_schema)}}}}}}},
            {"responses", std::move(responses)}}}};
}

// /mcp answers in JSON-RPC: a message that cannot be read as a request is a 400 with a
// JSON-RPC error (id null); notifications and client responses get a 202 with no body. Auth,
// body size, capacity and draining refusals come from the HTTP layer in kiln's error shape.
Json mcp_responses() {
  Json r = error_responses(false);
  r["400"]["content"]["application/json"]["schema"] = ref("JsonRpcResponse");
  r["202"] = {{"description", "a notification or a client's response: accepted, no body"}};
  return r;
}

Json get(const char* summary, Json ok_content) {
  return {
      {"get",
       {{"summary", summary},
        {"responses", {{"200", {{"description", "OK"}, {"content", std::move(ok_content)}}}}}}}};
}

Json build() {
  Json chat = object({{"model", type("string")},
                      {"messages", array_of(ref("ChatMessage"))},
                      {"max_completion_tokens", at_least("integer", 1)},
                      {"logprobs", type("boolean")},
                      {"top_logprobs", range("integer", 0, 20)},
                      {"tools", array_of(type("object"))},
                      {"tool_choice", type("string", "none or auto")},
                      {"add_generation_prompt", type("boolean")},
                      {"continue_final_message", type("boolean")},
                      {"chat_template_kwargs", type("object")}},
                     {"model", "messages"});
  const Json sampling = sampling_properties();
  for (const auto& [k, v] : sampling.items()) chat["properties"][k] = v;
  chat["properties"]["messages"]["minItems"] = 1;
  // stream_options only beside "stream": true.
  const Json stream_options_needs_stream = {
      {"stream_options",
       {{"required", {"stream"}}, {"properties", {{"stream", {{"const", true}}}}}}}};
  chat["dependentSchemas"] = stream_options_needs_stream;

  Json completion =
      object({{"model", type("string")},
              {"prompt", one_of({type("string"), array_of(type("string")),
                                 array_of(type("integer")), array_of(array_of(type("integer")))})},
              {"logprobs", range("integer", 0, 20)},
              {"echo", type("boolean", "only false")},
              {"suffix", type("string", "not supported")}},
             {"model", "prompt"});
  for (const auto& [k, v] : sampling.items()) completion["properties"][k] = v;
  completion["dependentSchemas"] = stream_options_needs_stream;

  // Anthropic's content: a string or blocks; a block's type decides its other fields (text,
  // tool_use, tool_result, ...; docs/api.md), so only `type` is required of every block.
  Json text_blocks = one_of(
      {type("string"),
       array_of(object({{"type", type("string")}, {"text", type("string")}}, {"type"}))});
  Json messages =
      object({{"model", type("string")},
              {"max_tokens", at_least("integer", 1)},
              {"system", text_blocks},
              {"messages", array_of(object({{"role", enum_of({"user", "assistant"})},
                                            {"content", text_blocks}},
                                           {"role", "content"}))},
              {"stop_sequences", array_of({{"type", "string"}, {"minLength", 1}})},
              {"temperature", range("number", 0, 1)},
              {"top_p", range("number", 0, 1)},
              {"top_k", at_least("integer", 0)},
              {"stream", type("boolean")},
              {"metadata", type("object")}},
             {"model", "max_tokens", "messages"});
  messages["properties"]["messages"]["minItems"] = 1;
  Json count = messages;
  count["required"] = {"model", "messages"};

  // /v1/responses (src/server/responses/request.h).
  Json responses = object(
      {{"model", type("string")},
       {"input", one_of({type("string"), array_of(ref("ResponseItem"))})},
       {"instructions", type("string", "a system message in front; not carried over")},
       {"previous_response_id", type("string", "a stored response this one continues")},
       {"tools", array_of(object({{"type", type("string", "function")},
                                  {"name", type("string")},
                                  {"description", type("string")},
                                  {"parameters", type("object")},
                                  {"strict", type("boolean")}},
                                 {"type", "name"}))},
       {"tool_choice", one_of({type("string", "none, auto or required"),
                               object({{"type", type("string", "function")},
                                       {"name", type("string")}},
                                      {"type", "name"})})},
       {"parallel_tool_calls", type("boolean")},
       {"max_output_tokens", at_least("integer", 1)},
       {"temperature", at_least("number", 0)},
       {"top_p", range("number", 0, 1)},
       {"text", object({{"format", object({{"type", type("string",
                                                         "text, json_object or json_schema")},
                                           {"name", type("string")},
                                           {"schema", type("object")},
                                           {"strict", type("boolean")}},
                                          {"type"})}})},
       {"store", type("boolean", "default true")},
       {"stream", type("boolean")},
       {"metadata", type("object")},
       {"user", type("string", "accepted, not used")}},
      {"model", "input"});

  // /tokenize takes a prompt or chat messages: exactly one of them.
  Json tokenize = object({{"model", type("string")},
                          {"prompt", type("string")},
                          {"messages", array_of(ref("ChatMessage"))},
                          {"add_special_tokens", type("boolean")},
                          {"add_generation_prompt", type("boolean")},
                          {"return_token_strs", type("boolean")}});
  tokenize["oneOf"] = Json::array({{{"required", {"prompt"}}}, {{"required", {"messages"}}}});

  Json schemas = {
      {"ChatMessage",
       object({{"role", enum_of({"system", "developer", "user", "assistant", "tool"})},
               {"content",
                one_of({type("string"),
                        array_of(object({{"type", type("string")}, {"text", type("string")}})),
                        type("null")})},
               {"name", type("string")},
               {"tool_calls", array_of(type("object"))},
               {"tool_call_id", type("string")}},
              {"role"})},
      {"Usage", object({{"prompt_tokens", type("integer")},
                        {"completion_tokens", type("integer")},
                        {"total_tokens", type("integer")},
                        {"prompt_tokens_details", object({{"cached_tokens", type("integer")}})}})},
      {"Error", object({{"error", object({{"message", type("string")},
                                          {"type", type("string")},
                                          {"param", nullable("string")},
                                          {"code", nullable("string")}})}})},
      {"JsonRpcResponse",
       object({{"jsonrpc", type("string")},
               {"id", {{"type", Json::array({"string", "integer", "null"})}}},
               {"result", type("object")},
               {"error", object({{"code", type("integer")},
                                 {"message", type("string")},
                                 {"data", Json::object()}},
                                {"code", "message"})}},
              {"jsonrpc"})},
      {"AnthropicError",
       object({{"type", type("string")},
               {"error", object({{"type", type("string")}, {"message", type("string")}})}})},
      {"ChatCompletion", object({{"id", type("string")},
                                 {"object", type("string")},
                                 {"created", type("integer")},
                                 {"model", type("string")},
                                 {"choices", array_of(type("object"))},
                                 {"usage", ref("Usage")}})},
      {"Completion", object({{"id", type("string")},
                             {"object", type("string")},
                             {"created", type("integer")},
                             {"model", type("string")},
                             {"choices", array_of(type("object"))},
                             {"usage", ref("Usage")}})},
      {"Message", object({{"id", type("string")},
                          {"type", type("string")},
                          {"role", type("string")},
                          {"content", array_of(type("object"))},
                          {"stop_reason", nullable("string")},
                          {"stop_sequence", nullable("string")},
                          {"usage", type("object")}})},
      {"ResponseItem",
       object({{"type", type("string", "message, function_call or function_call_output")},
               {"role", type("string", "user, system, developer or assistant")},
               {"content", one_of({type("string"),
                                   array_of(object({{"type", type("string",
                                                                  "input_text or output_text")},
                                                    {"text", type("string")}}))})},
               {"call_id", type("string")},
               {"name", type("string")},
               {"arguments", type("string")},
               {"output", type("string")}})},
      {"Response", object({{"id", type("string")},
                           {"object", type("string", "response")},
                           {"created_at", type("integer")},
                           {"status", type("string", "completed, incomplete or failed")},
                           {"incomplete_details", nullable("object")},
                           {"output", array_of(type("object"))},
                           {"usage", object({{"input_tokens", type("integer")},
                                             {"input_tokens_details",
                                              object({{"cached_tokens", type("integer")}})},
                                             {"output_tokens", type("integer")},
                                             {"output_tokens_details",
                                              object({{"reasoning_tokens", type("integer")}})},
                                             {"total_tokens", type("integer")}})},
                           {"previous_response_id", nullable("string")}})},
      {"RenderedPrompt", object({{"request_id", type("string")},
                                 {"model", type("string")},
                                 {"prompt", type("string")},
                                 {"token_ids", array_of(type("integer"))},
                                 {"cache_salt", nullable("string")},
                                 {"priority", type("integer")}})},
      {"Model", object({{"id", type("string")},
                        {"object", type("string")},
                        {"created", type("integer")},
                        {"owned_by", type("string")},
                        {"max_model_len", type("integer")}})}};

  Json paths = {
      {"/v1/chat/completions", post("Chat completion (OpenAI)", chat, ref("ChatCompletion"), true)},
      {"/v1/completions", post("Text completion (OpenAI)", completion, ref("Completion"), true)},
      {"/v1/messages", post("Message (Anthropic)", messages, ref("Message"), true, true)},
      {"/v1/messages/count_tokens", post("Count a message's input tokens (Anthropic)", count,
                                         object({{"input_tokens", type("integer")}}), false, true)},
      {"/v1/responses", post("Response (OpenAI Responses API)", responses, ref("Response"), true)},
      {"/v1/responses/{id}",
       {{"get",
         {{"summary", "A stored response"},
          {"responses", {{"200", {{"description", "OK"},
                                  {"content",
                                   {{"application/json", {{"schema", ref("Response")}}}}}}},
                         {"404", error_responses(false)["404"]}}}}},
        {"delete",
         {{"summary", "Delete a stored response"},
          {"responses", {{"200", {{"description", "OK"},
                                  {"content",
                                   {{"application/json",
                                     {{"schema", object({{"id", type("string")},
                                                         {"object", type("string")},
                                                         {"deleted", type("boolean")}})}}}}}}},
                         {"404", error_responses(false)["404"]}}}}}}},
      {"/tokenize", post("Tokenize a prompt or chat messages (vLLM)", tokenize,
                         object({{"count", type("integer")},
                                 {"max_model_len", type("integer")},
                                 {"tokens", array_of(type("integer"))},
                                 {"token_strs", {{"type", Json::array({"array", "null"})},
                                                 {"items", type("string")},
                                                 {"description", "null unless return_token_strs"}}}}),
                         false)},
      {"/mcp", post("MCP over streamable HTTP: one JSON-RPC 2.0 message (docs/api.md, MCP)",
                    object({{"jsonrpc", type("string", "2.0")},
                            {"id", one_of({type("string"), type("integer")})},
                            {"method", type("string")},
                            {"params", type("object")}},
                           {"jsonrpc", "method"}),
                    ref("JsonRpcResponse"), true, false, mcp_responses())},
      {"/detokenize",
       post("Token ids to text (vLLM)",
            object({{"model", type("string")}, {"tokens", array_of(type("integer"))}}, {"tokens"}),
            object({{"prompt", type("string")}}), false)},
      {"/v1/models", get("List the served model names",
                         {{"application/json",
                           {{"schema", object({{"object", type("string")},
                                               {"data", array_of(ref("Model"))}})}}}})},
      {"/v1/models/{id}",
       get("One served model", {{"application/json", {{"schema", ref("Model")}}}})},
      {"/health", get("200 when ready; 503 while loading or shutting down",
                      {{"text/plain", {{"schema", type("string")}}}})},
      {"/metrics", get("Prometheus metrics (vLLM's names, prefix kiln:)",
                       {{"text/plain", {{"schema", type("string")}}}})},
      {"/openapi.json",
       get("This document", {{"application/json", {{"schema", type("object")}}}})},
      // For routers (vllm-router, SGLang's router) and SGLang-style clients.
      {"/v1/chat/completions/render",
       post("The prompt a chat request would run on, without generating (vLLM)", chat,
            ref("RenderedPrompt"), false)},
      {"/v1/completions/render",
       post("The prompts a completion request would run on, one per prompt (vLLM)", completion,
            array_of(ref("RenderedPrompt")), false)},
      {"/get_load", get("Requests running and waiting, KV cache usage (load = running + waiting)",
                        {{"application/json",
                          {{"schema", object({{"load", type("integer")},
                                              {"num_reqs", type("integer")},
                                              {"num_running_reqs", type("integer")},
                                              {"num_waiting_reqs", type("integer")},
                                              {"kv_cache_usage", type("number")},
                                              {"models", array_of(type("object"))}})}}}})},
      {"/get_server_info", get("Serving settings: block_size, max_model_len, ... (SGLang)",
                               {{"application/json", {{"schema", type("object")}}}})},
      {"/get_model_info", get("The default model's path (SGLang)",
                              {{"application/json", {{"schema", type("object")}}}})},
      {"/health_generate", get("200 once one token was generated on the default model (SGLang)",
                               {{"application/json", {{"schema", ref("Completion")}}}})},
      {"/version", get("kiln's version", {{"application/json",
                                          {{"schema", object({{"version", type("string")}})}}}})}};
  const Json id_param = Json::array(
      {{{"name", "id"}, {"in", "path"}, {"required", true}, {"schema", type("string")}}});
  paths["/v1/models/{id}"]["get"]["parameters"] = id_param;
  paths["/v1/models/{id}"]["get"]["responses"]["404"] = error_responses(false)["404"];
  paths["/v1/responses/{id}"]["parameters"] = id_param;
  // With --api-key, the API (path_needs_key: /v1/*, /api/*, /tokenize, /detokenize, /mcp)
  // answers 401 without a key; probes, scrapers and routers' worker-info routes stay open.
  for (auto& [path, item] : paths.items()) {
    for (auto& [method, operation] : item.items()) {
      if (method == "parameters") continue;
      if (!path_needs_key(path))
        operation["security"] = Json::array();
      else if (!operation["responses"].contains("401"))
        operation["responses"]["401"] = error_responses(false)["401"];
    }
  }
  paths["/health"]["get"]["responses"]["503"] = error_responses(false)["503"];

  return {{"openapi", "3.1.0"},
          {"info",
           {{"title", "kiln"},
            {"version", kKilnVersion},
            {"description", "OpenAI- (chat, completions, responses) and Anthropic-compatible LLM serving. See docs/api.md."}}},
          {"paths", std::move(paths)},
          {"components",
           {{"schemas", std::move(schemas)},
            {"securitySchemes",
             {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}},
              {"x-api-key", {{"type", "apiKey"}, {"in", "header"}, {"name", "x-api-key"}}}}}}},
          {"security", Json::array({{{"bearer", Json::array()}}, {{"x-api-key", Json::array()}}})}};
}

}  // namespace

const std::string& openapi_document() {
  static const std::string document = dump_json(build());
  return document;
}

}  // namespace kiln::server
