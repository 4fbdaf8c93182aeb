// MCP's streamable HTTP transport, the part that is not the Api's plumbing: how a
// generating tools/call's outputs become the HTTP body. Plain JSON (one JSON-RPC response)
// unless the call asked for progress and the client accepts text/event-stream; then an SSE
// stream of notifications/progress messages ending with the response.
#pragma once

#include <memory>

#include "server/generation_job.h"
#include "server/mcp/dispatcher.h"

namespace kiln::server::mcp {

std::unique_ptr<ResponseFormatter> make_mcp_formatter(const PendingGeneration& pending,
                                                      bool stream);

// Whether an Accept header lets the reply be an SSE stream.
bool accepts_event_stream(const std::string* accept);

}  // namespace kiln::server::mcp
