// MCP's server side, independent of the transport: one JSON-RPC message in, what to answer
// out. Handles initialize (protocol version negotiation), notifications/initialized, ping,
// tools/list and tools/call. A generating tools/call is handed back as a PendingGeneration
// so that each transport runs it its own way (the HTTP route as a job on the engine, the
// stdio command blocking), and GenerationReply turns the engine's outputs into progress
// notifications and the final result for both.
//
// Stateless: the handshake-era protocol lets a server answer each request on its own, so one
// Dispatcher serves every HTTP client at once (no Mcp-Session-Id).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/request.h"
#include "server/json_util.h"
#include "server/model_context.h"

namespace kiln::server::mcp {

// The handshake-era revisions (the `mcp` SDK's HANDSHAKE_PROTOCOL_VERSIONS), newest last.
// NOTE: 2026-07-28 replaced initialize with server/discover and a per-request envelope; kiln
// answers server/discover with "method not found", on which clients fall back to initialize.
inline constexpr std::string_view kProtocolVersions[] = {"2024-11-05", "2025-03-26", "2025-06-18",
                                                         "2025-11-25"};

struct PendingGeneration {
  Json id;              // the tools/call request's id
  Json progress_token;  // params._meta.progressToken; null: no progress notifications
  GenerationRequest request;
};

struct Step {
  std::optional<Json> reply;  // a response to write now; none for a notification
  std::optional<PendingGeneration> generation;
};

class Dispatcher {
 public:
  explicit Dispatcher(const ModelContext& model) : model_(model) {}

  // One message as received: bad JSON is a parse error reply, never an exception.
  Step handle_text(std::string_view text) const;
  Step handle(const Json& message) const;

 private:
  Json initialize(const Json& params) const;
  Step call_tool(const Json& id, const Json& params) const;

  const ModelContext& model_;
};

// One generating tools/call, fed the engine's outputs as they come.
class GenerationReply {
 public:
  GenerationReply(Json id, Json progress_token, int32_t max_tokens);

  // New output: a notifications/progress message when progress was asked for and more tokens
  // were generated since the last one.
  std::optional<Json> on_output(const RequestOutput& output);
  // The response once the generation finished (or failed: a tool error result).
  Json finish() const;
  // The engine refused the request (prompt too long, server at capacity): a tool error.
  static Json refused(const Json& id, const std::string& message);

 private:
  const Json id_, progress_token_;
  const int32_t max_tokens_;
  std::string text_;
  int32_t num_tokens_ = 0, reported_ = 0;
  std::optional<FinishReason> finish_reason_;
  std::string error_;
};

}  // namespace kiln::server::mcp
