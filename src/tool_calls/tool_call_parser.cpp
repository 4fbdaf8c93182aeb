#include "tool_calls/tool_call_parser.h"

#include <utility>

#include "tool_calls/call_syntax.h"

namespace kiln::tool_calls {
namespace {

bool is_space(uint8_t b) { return b == ' ' || b == '\t' || b == '\n' || b == '\r'; }

// Text held before a call is certain (marker, name, keys, whitespace) beyond this is not a
// call: it bounds what is held back and re-read.
constexpr size_t kMaxUncertain = 1024;

std::string_view marker_of(ToolCallFormat format) {
  switch (format) {
    case ToolCallFormat::kHermes:
      return "<tool_call>";
    case ToolCallFormat::kMistral:
    case ToolCallFormat::kMistralV11:
      return "[TOOL_CALLS]";
    case ToolCallFormat::kLlama3Json:
      return "";  // calls only at the start of the message
  }
  return "";
}

}  // namespace

struct ToolCallParser::Impl final : CallSink {
  ToolCallFormat format;
  std::string_view marker;
  std::vector<ToolCallEvent>* out = nullptr;
  size_t first_new = 0;  // out's events before this are the caller's: never merged into

  // The bytes still to read; a rejected call puts bytes back at `pos` to be read again.
  std::string queue;
  size_t pos = 0;

  // Content: `held` is the end of the text that is a proper prefix of the marker;
  // `pending_space` is whitespace not yet known to be content (it is layout before a call,
  // and after one).
  std::string held, pending_space;
  bool after_call = false;

  // In calls: `raw` is the text since the last complete call (or since the block began,
  // the marker included; `space_before` is the whitespace that preceded the marker).
  bool in_calls = false;
  CallSyntax syntax;
  std::string raw, space_before;
  bool certain = false;  // the current call has begun (kCallStart sent)
  int block_calls = 0;   // calls completed in this block
  int32_t next_index = 0;

  explicit Impl(ToolCallFormat f) : format(f), marker(marker_of(f)) {
    if (format == ToolCallFormat::kLlama3Json) enter_calls();
  }

  void emit(ToolCallEvent::Kind kind, int32_t index, std::string_view text) {
    // Adjacent content, and adjacent fragments of one call's arguments, make one event.
    const bool merges =
        kind == ToolCallEvent::Kind::kContent || kind == ToolCallEvent::Kind::kArguments;
    if (merges && text.empty()) return;
    if (merges && out->size() > first_new && out->back().kind == kind &&
        out->back().index == index) {
      out->back().text += text;
      return;
    }
    out->push_back(ToolCallEvent{kind, index, std::string(text)});
  }

  // Text known not to be a call; whitespace waits until the next non-space byte says
  // whether it is content (after a call it is layout and dropped).
  void content(std::string_view text) {
    for (char c : text) {
      if (is_space((uint8_t)c)) {
        pending_space += c;
        continue;
      }
      if (!after_call) emit(ToolCallEvent::Kind::kContent, -1, pending_space);
      pending_space.clear();
      after_call = false;
      emit(ToolCallEvent::Kind::kContent, -1, std::string_view(&c, 1));
    }
  }

  void enter_calls() {
    in_calls = true;
    syntax.reset(format);
    raw = held;  // the marker
    held.clear();
    space_before = std::move(pending_space);
    pending_space.clear();
    certain = false;
    block_calls = 0;
  }

  void leave_calls() {
    in_calls = false;
    raw.clear();
    space_before.clear();
  }

  void requeue(std::string_view bytes) { queue.insert(pos, bytes); }

  void content_byte(char c) {
    if (marker.empty()) {
      content(std::string_view(&c, 1));
      return;
    }
    held += c;
    if (held == marker) {
      enter_calls();
      return;
    }
    // Keep the longest end of `held` that can still begin the marker.
    size_t keep = held.size();
    while (keep > 0 && !marker.starts_with(std::string_view(held).substr(held.size() - keep)))
      --keep;
    content(std::string_view(held).substr(0, held.size() - keep));
    held.erase(0, held.size() - keep);
  }

  void call_byte(char c) {
    raw += c;
    switch (syntax.push((uint8_t)c, *this)) {
      case CallSyntax::Step::kTaken:
        if (!certain && !syntax.in_trailer() && raw.size() > kMaxUncertain) reject();
        return;
      case CallSyntax::Step::kBlockDone:
        leave_calls();
        return;
      case CallSyntax::Step::kReject:
        reject();
        return;
    }
  }

  // The last byte of `raw` cannot continue the calls.
  void reject() {
    const std::string bad(1, raw.back());
    raw.pop_back();
    std::string text = std::move(raw);
    std::string space = std::move(space_before);
    leave_calls();  // (Llama has no marker: after its start, everything is content)
    if (certain) {
      // A call already announced: its text goes back as a whole; reading resumes at the
      // byte that broke it.
      certain = false;
      after_call = false;
      emit(ToolCallEvent::Kind::kCallInvalid, next_index++, space + text);
      requeue(bad);
    } else if (block_calls == 0 && !text.empty()) {
      // The marker began no call: it was text. Resume right after its first byte, so a
      // marker inside the rejected bytes is still found.
      content(space);
      content(std::string_view(text).substr(0, 1));
      requeue(text.substr(1) + bad);
    } else {
      // After complete calls (a trailer, or a next call that did not begin): read it all
      // again as text.
      content(space);
      requeue(text + bad);
    }
  }

  void begin_call(std::string name) override {
    certain = true;  // (space_before stays until the call ends: if it breaks, it is text)
    emit(ToolCallEvent::Kind::kCallStart, next_index, name);
  }
  void argument_byte(char byte) override {
    emit(ToolCallEvent::Kind::kArguments, next_index, std::string_view(&byte, 1));
  }
  void end_call() override {
    emit(ToolCallEvent::Kind::kCallEnd, next_index++, "");
    certain = false;
    ++block_calls;
    after_call = true;
    raw.clear();
    space_before.clear();
  }

  void drain() {
    while (pos < queue.size()) {
      const char c = queue[pos++];
      if (in_calls) {
        call_byte(c);
      } else {
        content_byte(c);
      }
    }
    queue.clear();
    pos = 0;
  }

  void finish() {
    if (in_calls) {
      std::string text = std::move(raw);
      std::string space = std::move(space_before);
      const bool trailer = block_calls > 0 && syntax.in_trailer();
      leave_calls();
      if (certain) {
        certain = false;
        after_call = false;
        emit(ToolCallEvent::Kind::kCallInvalid, next_index++, space + text);
      } else if (!trailer) {
        content(space);
        content(text);
      }
    }
    content(held);
    held.clear();
    if (!after_call) emit(ToolCallEvent::Kind::kContent, -1, pending_space);
    pending_space.clear();
  }
};

ToolCallParser::ToolCallParser(ToolCallFormat format) : impl_(std::make_unique<Impl>(format)) {}
ToolCallParser::~ToolCallParser() = default;
ToolCallParser::ToolCallParser(ToolCallParser&&) noexcept = default;
ToolCallParser& ToolCallParser::operator=(ToolCallParser&&) noexcept = default;

void ToolCallParser::feed(std::string_view delta, std::vector<ToolCallEvent>& out) {
  impl_->out = &out;
  impl_->first_new = out.size();
  impl_->queue.append(delta);
  impl_->drain();
}

void ToolCallParser::finish(std::vector<ToolCallEvent>& out) {
  impl_->out = &out;
  impl_->first_new = out.size();
  impl_->finish();
}

int32_t ToolCallParser::num_calls() const { return impl_->next_index; }

ParsedToolCalls parse_tool_calls(ToolCallFormat format, std::string_view text) {
  ToolCallParser parser(format);
  std::vector<ToolCallEvent> events;
  parser.feed(text, events);
  parser.finish(events);
  ParsedToolCalls result;
  ParsedToolCall call;
  for (const ToolCallEvent& e : events) {
    switch (e.kind) {
      case ToolCallEvent::Kind::kContent:
      case ToolCallEvent::Kind::kCallInvalid:
        result.content += e.text;
        break;
      case ToolCallEvent::Kind::kCallStart:
        call = ParsedToolCall{e.text, ""};
        break;
      case ToolCallEvent::Kind::kArguments:
        call.arguments += e.text;
        break;
      case ToolCallEvent::Kind::kCallEnd:
        result.calls.push_back(std::move(call));
        break;
    }
  }
  return result;
}

}  // namespace kiln::tool_calls
