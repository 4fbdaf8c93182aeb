// A response's output items, built from the model's text as it arrives, and the Responses
// stream events that announce them. One code path serves both modes: a buffered response
// is the same builder fed without an event sink, so its items are exactly what a stream
// of the same text would have announced.
//
// Text goes into a `message` item {id "msg_...", role "assistant", content: [one
// output_text part]}; each tool call the parser reads (tools given, tool_choice not "none")
// becomes a `function_call` item {id "fc_...", call_id "call_...", name, arguments}. Items
// are numbered by output_index in the order they open; text after a call opens a new
// message item. Events (with `sequence_number` from the EventWriter):
//   message:  output_item.added, content_part.added, output_text.delta..., output_text.done,
//             content_part.done, output_item.done
//   call:     output_item.added, function_call_arguments.delta...,
//             function_call_arguments.done, output_item.done
// Calls of tools the server runs itself (MCP tools, when a ServerToolLookup names their
// server) become `mcp_call` items {id "mcp_...", server_label, name, arguments, output null,
// error null, status "in_progress"} announced with response.mcp_call_arguments.delta and
// .done; their output_item.done is left to whoever runs the call (tool_loop.h).
// An item open when generation is cut off (max_output_tokens) ends with status
// "incomplete". A call the parser finds broken after it was announced (in practice: cut
// off, since calls are grammar-constrained) cannot be taken back: its item ends
// "incomplete" with the arguments it had, and its raw text is not repeated as a message.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/json_util.h"
#include "tool_calls/tool_call_parser.h"

namespace kiln::server {

// Frames events as "event: TYPE\ndata: JSON\n\n", numbering them from 0 in order. The
// number is the stream's, shared by every part of a response (and by every turn, should a
// response ever span several generations).
class EventWriter {
 public:
  // Sets event["sequence_number"] and appends the framed event. `body` null: counts only.
  void emit(std::string* body, Json event);
  int64_t next() const { return next_; }

 private:
  int64_t next_ = 0;
};

// The server label of a tool the server runs; nullopt for the client's own tools.
using ServerToolLookup = std::function<std::optional<std::string>(const std::string& name)>;

class OutputBuilder {
 public:
  // `first_index`: the output_index of the first item (items of earlier turns come before).
  explicit OutputBuilder(std::optional<tool_calls::ToolCallFormat> format,
                         size_t first_index = 0, ServerToolLookup server_tool = nullptr);

  // `body` null: build items only (buffered responses).
  void feed(std::string_view text, EventWriter& events, std::string* body);
  // End of generation: flushes the parser and closes the open item ("incomplete" when
  // `cut_off`). A response with no item at all gets one empty message, so there is always
  // an assistant turn to store.
  void finish(bool cut_off, EventWriter& events, std::string* body);

  const Json& items() const { return items_; }

 private:
  enum class Open : uint8_t { kNone, kMessage, kCall, kServerCall };

  void convert(EventWriter& events, std::string* body);
  void text(std::string_view text, EventWriter& events, std::string* body);
  void open_call(std::string name, EventWriter& events, std::string* body);
  void close(const char* status, EventWriter& events, std::string* body);
  void add(Json item, Open kind, EventWriter& events, std::string* body);

  size_t index_of_last() const { return first_index_ + items_.size() - 1; }
  bool call_open(int32_t index) const {
    return (open_ == Open::kCall || open_ == Open::kServerCall) && open_call_ == index;
  }

  const size_t first_index_;
  const ServerToolLookup server_tool_;
  std::optional<tool_calls::ToolCallParser> parser_;
  std::vector<tool_calls::ToolCallEvent> events_;
  Json items_ = Json::array();
  Open open_ = Open::kNone;
  int32_t open_call_ = -1;  // the parser's index of the call whose item is open
};

}  // namespace kiln::server
