#include "server/mcp/dispatcher.h"

#include "server/mcp/jsonrpc.h"
#include "server/mcp/tools.h"
#include "util/version.h"

namespace kiln::server::mcp {
namespace {

// A valid JSON-RPC id: a string or a number (null is for errors only).
bool valid_id(const Json& id) {
  return id.is_string() || id.is_number_integer() || id.is_number_unsigned();
}

Json reply_error(const Json& id, int code, const std::string& message) {
  return rpc_error(id, code, message);
}

}  // namespace

Step Dispatcher::handle_text(std::string_view text) const {
  Json message = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (message.is_discarded())
    return {rpc_error(nullptr, kParseError, "parse error: the message is not valid JSON"), {}};
  return handle(message);
}

Step Dispatcher::handle(const Json& message) const {
  // NOTE: JSON-RPC batches were dropped from MCP in 2025-06-18.
  if (!message.is_object())
    return {rpc_error(nullptr, kInvalidRequest, "invalid request: expected one JSON-RPC object"),
            {}};
  const bool has_id = message.contains("id");
  const Json id = has_id ? message["id"] : Json();
  if (has_id && !valid_id(id))
    return {
        rpc_error(nullptr, kInvalidRequest, "invalid request: id must be a string or an integer"),
        {}};
  if (message.value("jsonrpc", Json()) != "2.0")
    return {rpc_error(id, kInvalidRequest, "invalid request: jsonrpc must be \"2.0\""), {}};
  if (!message.contains("method")) {
    // A response from the client: kiln never sends requests, so there is nothing to match.
    if (message.contains("result") || message.contains("error")) return {};
    return {rpc_error(id, kInvalidRequest, "invalid request: no method"), {}};
  }
  if (!message["method"].is_string())
    return {rpc_error(id, kInvalidRequest, "invalid request: method must be a string"), {}};
  const std::string method = message["method"];
  const Json params = message.value("params", Json::object());
  if (!has_id) return {};  // notifications (initialized, cancelled, ...) need no answer
  if (!params.is_object()) return {reply_error(id, kInvalidParams, "params must be an object"), {}};

  if (method == "initialize") {
    if (!params.contains("protocolVersion") || !params["protocolVersion"].is_string())
      return {reply_error(id, kInvalidParams, "initialize needs params.protocolVersion (a string)"),
              {}};
    return {rpc_result(id, initialize(params)), {}};
  }
  if (method == "ping") return {rpc_result(id, Json::object()), {}};
  if (method == "tools/list") return {rpc_result(id, {{"tools", tool_definitions()}}), {}};
  if (method == "tools/call") return call_tool(id, params);
  return {reply_error(id, kMethodNotFound, "method not found: " + method), {}};
}

Json Dispatcher::initialize(const Json& params) const {
  // The client's version if kiln speaks it, else kiln's newest: the client then decides
  // whether it can go on (the spec's negotiation).
  const std::string asked = params["protocolVersion"];
  std::string version(std::end(kProtocolVersions)[-1]);
  for (std::string_view v : kProtocolVersions)
    if (asked == v) version = asked;
  return {{"protocolVersion", version},
          {"capabilities", {{"tools", {{"listChanged", false}}}}},
          {"serverInfo", {{"name", "kiln"}, {"version", kKilnVersion}}},
          {"instructions", "Tools that run the local model '" + model_.name() +
                               "': chat, complete, tokenize, list_models."}};
}

Step Dispatcher::call_tool(const Json& id, const Json& params) const {
  if (!params.contains("name") || !params["name"].is_string())
    return {reply_error(id, kInvalidParams, "tools/call needs params.name (a string)"), {}};
  const std::string name = params["name"];
  const Json arguments = params.value("arguments", Json());
  auto call = prepare_tool_call(model_, name, arguments);
  if (!call) return {reply_error(id, kInvalidParams, "unknown tool: " + name), {}};
  if (call->result) return {rpc_result(id, std::move(*call->result)), {}};
  Json token;
  if (params.contains("_meta") && params["_meta"].is_object())
    token = params["_meta"].value("progressToken", Json());
  if (!token.is_null() && !valid_id(token)) token = nullptr;  // progress tokens: string or integer
  return {std::nullopt, PendingGeneration{id, std::move(token), std::move(*call->generation)}};
}

GenerationReply::GenerationReply(Json id, Json progress_token, int32_t max_tokens)
    : id_(std::move(id)), progress_token_(std::move(progress_token)), max_tokens_(max_tokens) {}

std::optional<Json> GenerationReply::on_output(const RequestOutput& output) {
  if (!output.error.ok()) error_ = output.error.message();
  if (output.samples.empty()) return std::nullopt;
  const SampleOutput& s = output.samples.front();
  text_ += s.text;
  num_tokens_ += (int32_t)s.token_ids.size();
  if (s.finish_reason) finish_reason_ = s.finish_reason;
  if (progress_token_.is_null() || num_tokens_ <= reported_) return std::nullopt;
  reported_ = num_tokens_;
  Json params = {{"progressToken", progress_token_}, {"progress", num_tokens_}};
  if (max_tokens_ > 0) params["total"] = max_tokens_;
  params["message"] = std::to_string(num_tokens_) + " tokens generated";
  return rpc_notification("notifications/progress", std::move(params));
}

Json GenerationReply::finish() const {
  if (!error_.empty()) return rpc_result(id_, text_result("generation failed: " + error_, true));
  Json result = text_result(text_);
  // Why it stopped (a length cut matters to the caller), where MCP puts extra data.
  const FinishReason reason = finish_reason_.value_or(FinishReason::kAbort);
  result["_meta"] = {{"kiln/finish_reason", finish_reason_name(reason)},
                     {"kiln/completion_tokens", num_tokens_}};
  return rpc_result(id_, std::move(result));
}

Json GenerationReply::refused(const Json& id, const std::string& message) {
  return rpc_result(id, text_result(message, true));
}

}  // namespace kiln::server::mcp
