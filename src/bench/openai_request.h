// The OpenAI side of one benchmark request: the streamed request body, and the reading of
// the chunks that come back (text timing, usage, [DONE]) into a RequestRecord.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "bench/request_record.h"
#include "bench/sse_stream_client.h"
#include "bench/workload.h"

namespace kiln {
class Tokenizer;
}

namespace kiln::bench {

struct RequestShape {
  bool chat = true;  // /v1/chat/completions with one user message; else /v1/completions
  std::string model;
  bool ignore_eos = false;
  nlohmann::json extra_body = nlohmann::json::object();  // merged last
};

std::string request_path(const RequestShape& shape);
std::string request_body(const RequestShape& shape, const WorkItem& item);

// Feeds on the events of one response; not thread-safe (it lives on the client's thread).
class OpenAiStreamReader {
 public:
  explicit OpenAiStreamReader(SteadyTime start) : start_(start) {}
  void on_data(std::string_view data, SteadyTime received);
  // `tokenizer` (may be null) counts the output when the server sent no usage.
  RequestRecord finish(const StreamEnd& end, const WorkItem& item, const Tokenizer* tokenizer);

 private:
  SteadyTime start_;
  std::vector<SteadyTime> text_times_;
  std::string text_;
  bool saw_done_ = false;
  bool saw_finish_reason_ = false;
  std::string bad_;  // why the stream could not be read, if it could not
  int64_t usage_prompt_ = -1, usage_completion_ = -1;
};

// The message of an OpenAI-style error body ({"error": {"message": ...}}, {"error": "..."},
// {"detail": ...}, {"message": ...}), else the body's start.
std::string error_message_from_body(std::string_view body);

}  // namespace kiln::bench
