#include "server/responses/output.h"

#include "server/http/sse.h"

namespace kiln::server {
namespace {

using tool_calls::ToolCallEvent;

Json text_part(std::string text) {
  return {{"type", "output_text"}, {"text", std::move(text)}, {"annotations", Json::array()}};
}

}  // namespace

void EventWriter::emit(std::string* body, Json event) {
  event["sequence_number"] = next_++;
  if (!body) return;
  const std::string type = event["type"].get<std::string>();
  append_sse_event(*body, type, event);
}

OutputBuilder::OutputBuilder(std::optional<tool_calls::ToolCallFormat> format,
                             size_t first_index, ServerToolLookup server_tool)
    : first_index_(first_index), server_tool_(std::move(server_tool)) {
  if (format) parser_.emplace(*format);
}

void OutputBuilder::feed(std::string_view text, EventWriter& events, std::string* body) {
  if (!parser_) return this->text(text, events, body);
  events_.clear();
  parser_->feed(text, events_);
  convert(events, body);
}

void OutputBuilder::finish(bool cut_off, EventWriter& events, std::string* body) {
  if (parser_) {
    events_.clear();
    parser_->finish(events_);
    convert(events, body);
  }
  if (items_.empty()) add({{"id", random_id("msg_")},
                           {"type", "message"},
                           {"status", "in_progress"},
                           {"role", "assistant"},
                           {"content", Json::array()}},
                          Open::kMessage, events, body);
  close(cut_off ? "incomplete" : "completed", events, body);
}

void OutputBuilder::convert(EventWriter& events, std::string* body) {
  for (ToolCallEvent& e : events_) {
    switch (e.kind) {
      case ToolCallEvent::Kind::kContent:
        text(e.text, events, body);
        break;
      case ToolCallEvent::Kind::kCallStart:
        open_call(std::move(e.text), events, body);
        open_call_ = e.index;
        break;
      case ToolCallEvent::Kind::kArguments: {
        if (!call_open(e.index)) break;
        Json& item = items_.back();
        item["arguments"].get_ref<std::string&>() += e.text;
        events.emit(body, {{"type", open_ == Open::kCall
                                        ? "response.function_call_arguments.delta"
                                        : "response.mcp_call_arguments.delta"},
                           {"item_id", item["id"]},
                           {"output_index", index_of_last()},
                           {"delta", e.text}});
        break;
      }
      case ToolCallEvent::Kind::kCallEnd:
        if (call_open(e.index)) close("completed", events, body);
        break;
      case ToolCallEvent::Kind::kCallInvalid:
        if (call_open(e.index)) close("incomplete", events, body);
        break;
    }
  }
}

void OutputBuilder::text(std::string_view text, EventWriter& events, std::string* body) {
  if (text.empty()) return;
  if (open_ != Open::kMessage)
    add({{"id", random_id("msg_")},
         {"type", "message"},
         {"status", "in_progress"},
         {"role", "assistant"},
         {"content", Json::array()}},
        Open::kMessage, events, body);
  Json& item = items_.back();
  Json& part = item["content"][0];
  part["text"].get_ref<std::string&>() += text;
  events.emit(body, {{"type", "response.output_text.delta"},
                     {"item_id", item["id"]},
                     {"output_index", index_of_last()},
                     {"content_index", 0},
                     {"delta", text},
                     {"logprobs", Json::array()}});
}

void OutputBuilder::open_call(std::string name, EventWriter& events, std::string* body) {
  if (server_tool_)
    if (std::optional<std::string> label = server_tool_(name))
      return add({{"id", random_id("mcp_")},
                  {"type", "mcp_call"},
                  {"status", "in_progress"},
                  {"server_label", *label},
                  {"name", std::move(name)},
                  {"arguments", ""},
                  {"output", nullptr},
                  {"error", nullptr}},
                 Open::kServerCall, events, body);
  add({{"id", random_id("fc_")},
       {"type", "function_call"},
       {"status", "in_progress"},
       {"arguments", ""},
       {"call_id", random_id("call_")},
       {"name", std::move(name)}},
      Open::kCall, events, body);
}

void OutputBuilder::add(Json item, Open kind, EventWriter& events, std::string* body) {
  close("completed", events, body);
  items_.push_back(std::move(item));
  const size_t index = index_of_last();
  events.emit(body, {{"type", "response.output_item.added"},
                     {"output_index", index},
                     {"item", items_.back()}});
  open_ = kind;
  if (kind != Open::kMessage) return;
  // A message's one text part opens with it.
  items_.back()["content"].push_back(text_part(""));
  events.emit(body, {{"type", "response.content_part.added"},
                     {"item_id", items_.back()["id"]},
                     {"output_index", index},
                     {"content_index", 0},
                     {"part", text_part("")}});
}

void OutputBuilder::close(const char* status, EventWriter& events, std::string* body) {
  if (open_ == Open::kNone) return;
  Json& item = items_.back();
  const size_t index = index_of_last();
  if (open_ == Open::kServerCall) {
    // The call itself is still to run: its status and output_item.done come from the loop.
    if (std::string_view(status) == "completed")
      events.emit(body, {{"type", "response.mcp_call_arguments.done"},
                         {"item_id", item["id"]},
                         {"output_index", index},
                         {"arguments", item["arguments"]}});
    else
      item["status"] = status;
    open_ = Open::kNone;
    open_call_ = -1;
    return;
  }
  item["status"] = status;
  if (open_ == Open::kMessage) {
    const Json& part = item["content"][0];
    events.emit(body, {{"type", "response.output_text.done"},
                       {"item_id", item["id"]},
                       {"output_index", index},
                       {"content_index", 0},
                       {"text", part["text"]},
                       {"logprobs", Json::array()}});
    events.emit(body, {{"type", "response.content_part.done"},
                       {"item_id", item["id"]},
                       {"output_index", index},
                       {"content_index", 0},
                       {"part", part}});
  } else if (item["status"] == "completed") {
    events.emit(body, {{"type", "response.function_call_arguments.done"},
                       {"item_id", item["id"]},
                       {"output_index", index},
                       {"name", item["name"]},
                       {"arguments", item["arguments"]}});
  }
  events.emit(body,
              {{"type", "response.output_item.done"}, {"output_index", index}, {"item", item}});
  open_ = Open::kNone;
  open_call_ = -1;
}

}  // namespace kiln::server
