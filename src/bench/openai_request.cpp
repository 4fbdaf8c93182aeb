#include "bench/openai_request.h"

#include "tokenizer/tokenizer.h"

namespace kiln::bench {
namespace {

using nlohmann::json;

double seconds(SteadyTime from, SteadyTime to) {
  return std::chrono::duration<double>(to - from).count();
}

std::string clip(std::string_view text, size_t max) {
  std::string out(text.substr(0, max));
  if (text.size() > max) out += "...";
  return out;
}

// Generated text of a chunk: delta.content (and reasoning) for chat, text for completions.
void append_text(const json& choice, std::string& out) {
  auto add = [&](const json& obj, const char* key) {
    if (auto it = obj.find(key); it != obj.end() && it->is_string()) out += it->get_ref<const std::string&>();
  };
  add(choice, "text");
  if (auto d = choice.find("delta"); d != choice.end() && d->is_object()) {
    add(*d, "content");
    add(*d, "reasoning_content");
    add(*d, "reasoning");
  }
}

}  // namespace

std::string request_path(const RequestShape& shape) {
  return shape.chat ? "/v1/chat/completions" : "/v1/completions";
}

std::string request_body(const RequestShape& shape, const WorkItem& item) {
  json body;
  body["model"] = shape.model;
  if (shape.chat) {
    body["messages"] = json::array({{{"role", "user"}, {"content", item.prompt}}});
  } else {
    body["prompt"] = item.prompt;
  }
  body["max_tokens"] = item.output_len;
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  body["temperature"] = 0;
  if (shape.ignore_eos) {
    body["ignore_eos"] = true;
    body["min_tokens"] = item.output_len;
  }
  for (const auto& [key, value] : shape.extra_body.items()) body[key] = value;
  return body.dump();
}

std::string error_message_from_body(std::string_view body) {
  json v = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (v.is_object()) {
    for (const char* key : {"error", "detail", "message"}) {
      auto it = v.find(key);
      if (it == v.end()) continue;
      if (it->is_string()) return it->get<std::string>();
      if (it->is_object()) {
        if (auto m = it->find("message"); m != it->end() && m->is_string()) return m->get<std::string>();
      }
      return clip(it->dump(), 300);
    }
  }
  return clip(body, 300);
}

void OpenAiStreamReader::on_data(std::string_view data, SteadyTime received) {
  if (!bad_.empty() || saw_done_) return;
  if (data == "[DONE]") {
    saw_done_ = true;
    return;
  }
  json chunk = json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (!chunk.is_object()) {
    bad_ = "unparsable SSE data: " + clip(data, 200);
    return;
  }
  if (auto e = chunk.find("error"); e != chunk.end() && !e->is_null()) {
    bad_ = "error in stream: " + error_message_from_body(data);
    return;
  }
  std::string text;
  if (auto choices = chunk.find("choices"); choices != chunk.end() && choices->is_array()) {
    for (const json& choice : *choices) {
      if (!choice.is_object()) continue;
      append_text(choice, text);
      if (auto f = choice.find("finish_reason"); f != choice.end() && !f->is_null()) saw_finish_reason_ = true;
    }
  }
  if (auto u = chunk.find("usage"); u != chunk.end() && u->is_object()) {
    if (auto p = u->find("prompt_tokens"); p != u->end() && p->is_number_integer()) usage_prompt_ = p->get<int64_t>();
    if (auto c = u->find("completion_tokens"); c != u->end() && c->is_number_integer()) {
      usage_completion_ = c->get<int64_t>();
    }
  }
  if (!text.empty()) {
    text_times_.push_back(received);
    text_ += text;
  }
}

RequestRecord OpenAiStreamReader::finish(const StreamEnd& end, const WorkItem& item,
                                         const Tokenizer* tokenizer) {
  RequestRecord r;
  r.e2e_s = seconds(start_, end.end_time);
  switch (end.kind) {
    case StreamEnd::Kind::kConnectError:
      r.error = "connect";
      r.error_message = end.message;
      break;
    case StreamEnd::Kind::kTimeout:
      r.error = "timeout";
      r.error_message = end.message;
      break;
    case StreamEnd::Kind::kHttpError:
      r.error = "http_" + std::to_string(end.http_status);
      r.error_message = error_message_from_body(end.body);
      break;
    case StreamEnd::Kind::kBadResponse:
      r.error = "bad_response";
      r.error_message = end.message;
      break;
    case StreamEnd::Kind::kEnded:
      if (!bad_.empty()) {
        r.error = "bad_response";
        r.error_message = bad_;
      } else if (!saw_done_ && !saw_finish_reason_) {
        r.error = "closed_mid_stream";
        r.error_message = "the stream ended without [DONE] or a finish_reason" +
                          (end.message.empty() ? std::string() : " (" + end.message + ")");
      }
      break;
  }
  if (!text_times_.empty()) {
    r.ttft_s = seconds(start_, text_times_.front());
    for (size_t i = 1; i < text_times_.size(); ++i) r.itl_s.push_back(seconds(text_times_[i - 1], text_times_[i]));
  }
  if (usage_completion_ >= 0) {
    r.output_tokens = usage_completion_;
  } else if (tokenizer) {
    r.output_tokens = (int64_t)tokenizer->encode(text_, false, false).size();
  } else {
    r.output_tokens = (int64_t)text_times_.size();
  }
  if (usage_prompt_ >= 0) {
    r.input_tokens = usage_prompt_;
  } else {
    r.input_tokens = item.prompt_tokens >= 0 ? item.prompt_tokens : 0;
  }
  return r;
}

}  // namespace kiln::bench
