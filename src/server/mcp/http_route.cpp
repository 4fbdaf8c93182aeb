#include "server/mcp/http_route.h"

#include "server/http/sse.h"
#include "server/mcp/jsonrpc.h"

namespace kiln::server::mcp {
namespace {

class McpFormatter final : public ResponseFormatter {
 public:
  McpFormatter(const PendingGeneration& pending, bool stream)
      : id_(pending.id),
        reply_(pending.id, stream ? pending.progress_token : Json(),
               pending.request.sampling.max_tokens),
        stream_(stream) {}

  void on_output(size_t, const RequestOutput& output, std::string& body) override {
    if (auto progress = reply_.on_output(output)) append_sse_event(body, "message", *progress);
  }
  void on_finished(std::string& body) override {
    if (stream_) {
      append_sse_event(body, "message", reply_.finish());
    } else {
      body = dump_json(reply_.finish());
    }
  }
  void on_stream_error(const ApiError& error, std::string& body) override {
    append_sse_event(body, "message", rpc_error(id_, kInternalError, error.message));
  }

 private:
  const Json id_;
  GenerationReply reply_;
  const bool stream_;
};

}  // namespace

std::unique_ptr<ResponseFormatter> make_mcp_formatter(const PendingGeneration& pending,
                                                      bool stream) {
  return std::make_unique<McpFormatter>(pending, stream);
}

bool accepts_event_stream(const std::string* accept) {
  return accept && accept->find("text/event-stream") != std::string::npos;
}

}  // namespace kiln::server::mcp
