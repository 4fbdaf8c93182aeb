#include "tool_calls/call_syntax.h"

#include <nlohmann/json.hpp>

namespace kiln::tool_calls {
namespace {

using Step = CallSyntax::Step;

bool is_space(uint8_t b) { return b == ' ' || b == '\t' || b == '\n' || b == '\r'; }

// Mistral v11 writes the name bare; OpenAI's function names are [a-zA-Z0-9_-], and '.' is
// common in namespaced tools.
bool is_name_byte(uint8_t b) {
  return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '_' ||
         b == '-' || b == '.';
}

// A JSON string token's text, decoded (the scanner has checked it, so parsing succeeds).
std::string decode_string(const std::string& token) {
  const auto j = nlohmann::json::parse(token, nullptr, /*allow_exceptions=*/false);
  return j.is_string() ? j.get<std::string>() : std::string();
}

}  // namespace

void CallSyntax::reset(ToolCallFormat format) {
  format_ = format;
  switch (format) {
    case ToolCallFormat::kHermes:
      state_ = State::kHermesOpen;
      break;
    case ToolCallFormat::kLlama3Json:
      state_ = State::kLlamaStart;
      break;
    case ToolCallFormat::kMistral:
    case ToolCallFormat::kMistralV11:
      state_ = State::kMistralStart;
      break;
  }
}

bool CallSyntax::in_trailer() const {
  if (state_ == State::kLiteral) return after_literal_ == State::kHermesClose;
  return state_ == State::kHermesClose || state_ == State::kLlamaAfter ||
         state_ == State::kMistralAfter;
}

void CallSyntax::literal(const char* text, State then) {
  literal_ = text;
  lit_pos_ = 0;
  after_literal_ = then;
  state_ = State::kLiteral;
}

void CallSyntax::open_object() {
  state_ = State::kObjKey;
  have_name_ = have_args_ = false;
  first_key_ = true;
  name_.clear();
}

Step CallSyntax::push(uint8_t b, CallSink& sink) {
  switch (state_) {
    case State::kLiteral:
      if (b != (uint8_t)literal_[lit_pos_]) return Step::kReject;
      if (literal_[++lit_pos_] != '\0') return Step::kTaken;
      if (after_literal_ == State::kHermesClose) return Step::kBlockDone;  // "</tool_call>"
      state_ = after_literal_;
      return Step::kTaken;
    case State::kHermesOpen:
    case State::kLlamaBrace:
    case State::kMistralItem:
      if (is_space(b)) return Step::kTaken;
      if (b != '{') return Step::kReject;
      open_object();
      return Step::kTaken;
    case State::kHermesClose:
      if (is_space(b)) return Step::kTaken;
      if (b != '<') return Step::kReject;
      literal("</tool_call>", State::kHermesClose);
      lit_pos_ = 1;
      return Step::kTaken;
    case State::kLlamaStart:
      if (is_space(b)) return Step::kTaken;
      if (b == '{') {
        open_object();
        return Step::kTaken;
      }
      if (b != '<') return Step::kReject;
      literal("<|python_tag|>", State::kLlamaBrace);
      lit_pos_ = 1;
      return Step::kTaken;
    case State::kLlamaAfter:
      if (is_space(b)) return Step::kTaken;
      if (b != ';') return Step::kReject;
      state_ = State::kLlamaStart;
      return Step::kTaken;
    case State::kMistralStart:
      if (is_space(b)) return Step::kTaken;
      if (b == '[') {
        state_ = State::kMistralItem;
        return Step::kTaken;
      }
      if (!is_name_byte(b)) return Step::kReject;
      name_.assign(1, (char)b);
      had_call_id_ = false;
      state_ = State::kV11Name;
      return Step::kTaken;
    case State::kMistralAfter:
      if (is_space(b)) return Step::kTaken;
      if (b == ',') {
        state_ = State::kMistralItem;
        return Step::kTaken;
      }
      return b == ']' ? Step::kBlockDone : Step::kReject;
    case State::kV11Name:
    case State::kV11Tag:
    case State::kV11Id:
    case State::kV11BeforeArgs:
    case State::kV11Args:
      return v11_byte(b, sink);
    default:
      return object_byte(b, sink);
  }
}

Step CallSyntax::begin_arguments(CallSink& sink) {
  sink.begin_call(name_);
  scanner_ = JsonScanner();
  scanner_.push('{');
  sink.argument_byte('{');
  return Step::kTaken;
}

Step CallSyntax::v11_byte(uint8_t b, CallSink& sink) {
  switch (state_) {
    case State::kV11Name:
    case State::kV11Id:
      if (b == '[') {
        tag_.assign(1, '[');
        state_ = State::kV11Tag;
        return Step::kTaken;
      }
      if (b == '{') {  // [ARGS] left out (a tokenizer that drops control tokens)
        state_ = State::kV11Args;
        return begin_arguments(sink);
      }
      if (state_ == State::kV11Name) {
        if (!is_name_byte(b) || name_.size() >= kMaxName) return Step::kReject;
        name_ += (char)b;
      } else {
        if (!is_name_byte(b) || ++id_len_ > kMaxKey) return Step::kReject;
      }
      return Step::kTaken;
    case State::kV11Tag: {
      tag_ += (char)b;
      const std::string_view call_id = "[CALL_ID]", args = "[ARGS]";
      if (tag_ == args) {
        state_ = State::kV11BeforeArgs;
      } else if (tag_ == call_id && !had_call_id_) {
        had_call_id_ = true;
        id_len_ = 0;
        state_ = State::kV11Id;
      } else if (!args.starts_with(tag_) && (had_call_id_ || !call_id.starts_with(tag_))) {
        return Step::kReject;
      }
      return Step::kTaken;
    }
    case State::kV11BeforeArgs:
      if (is_space(b)) return Step::kTaken;
      if (b != '{') return Step::kReject;
      state_ = State::kV11Args;
      return begin_arguments(sink);
    default: {  // kV11Args
      const JsonScanner::Step s = scanner_.push(b);
      if (s == JsonScanner::Step::kError) return Step::kReject;
      if (s != JsonScanner::Step::kSpace) sink.argument_byte((char)b);
      if (s != JsonScanner::Step::kDone) return Step::kTaken;
      sink.end_call();
      return Step::kBlockDone;
    }
  }
}

Step CallSyntax::object_byte(uint8_t b, CallSink& sink) {
  switch (state_) {
    case State::kObjKey:
      if (is_space(b)) return Step::kTaken;
      if (b != '"') return Step::kReject;
      scanner_ = JsonScanner();
      scanner_.push(b);
      token_.assign(1, '"');
      state_ = State::kObjKeyString;
      return Step::kTaken;
    case State::kObjKeyString: {
      const JsonScanner::Step s = scanner_.push(b);
      token_ += (char)b;
      if (s == JsonScanner::Step::kError || token_.size() > kMaxKey + 2) return Step::kReject;
      if (s != JsonScanner::Step::kDone) return Step::kTaken;
      key_ = decode_string(token_);
      // The object is a call only if it begins with its name ("type" first: Llama's
      // {"type": "function", "name": ...}); deciding at the first key lets other JSON
      // objects be released as text early.
      if (first_key_ && key_ != "name" && key_ != "type") return Step::kReject;
      first_key_ = false;
      state_ = State::kObjColon;
      return Step::kTaken;
    }
    case State::kObjColon:
      if (is_space(b)) return Step::kTaken;
      if (b != ':') return Step::kReject;
      state_ = State::kObjValue;
      return Step::kTaken;
    case State::kObjValue:
      if (is_space(b)) return Step::kTaken;
      return object_value_start(b, sink);
    case State::kObjValueScan: {
      const JsonScanner::Step s = scanner_.push(b);
      if (s == JsonScanner::Step::kError) return Step::kReject;
      if (role_ == Role::kArguments) {
        if (s != JsonScanner::Step::kSpace) sink.argument_byte((char)b);
        if (s == JsonScanner::Step::kDone) have_args_ = true;
      } else if (role_ == Role::kName) {
        token_ += (char)b;
        if (token_.size() > kMaxName + 2) return Step::kReject;
        if (s == JsonScanner::Step::kDone) {
          name_ = decode_string(token_);
          if (name_.empty()) return Step::kReject;
          have_name_ = true;
        }
      }
      if (s == JsonScanner::Step::kDone) state_ = State::kObjAfterValue;
      if (s == JsonScanner::Step::kDoneBefore) {  // a number value ended before b
        state_ = State::kObjAfterValue;
        return object_byte(b, sink);
      }
      return Step::kTaken;
    }
    case State::kObjAfterValue:
      if (is_space(b)) return Step::kTaken;
      if (b == ',') {
        state_ = State::kObjKey;
        return Step::kTaken;
      }
      if (b != '}' || !have_name_ || !have_args_) return Step::kReject;
      return object_closed(sink);
    default:
      return Step::kReject;
  }
}

Step CallSyntax::object_value_start(uint8_t b, CallSink& sink) {
  scanner_ = JsonScanner();
  state_ = State::kObjValueScan;
  if (key_ == "name") {
    if (have_name_ || have_args_ || b != '"') return Step::kReject;
    role_ = Role::kName;
    token_.assign(1, '"');
    scanner_.push(b);
    return Step::kTaken;
  }
  if (key_ == "arguments" || key_ == "parameters") {
    if (!have_name_ || have_args_ || b != '{') return Step::kReject;
    role_ = Role::kArguments;
    return begin_arguments(sink);
  }
  // Another key ("type" before the name, Mistral's "id" after the arguments): its value
  // is checked as JSON and left out.
  role_ = Role::kSkip;
  return scanner_.push(b) == JsonScanner::Step::kError ? Step::kReject : Step::kTaken;
}

Step CallSyntax::object_closed(CallSink& sink) {
  sink.end_call();
  switch (format_) {
    case ToolCallFormat::kHermes:
      state_ = State::kHermesClose;
      break;
    case ToolCallFormat::kLlama3Json:
      state_ = State::kLlamaAfter;
      break;
    case ToolCallFormat::kMistral:
    case ToolCallFormat::kMistralV11:
      state_ = State::kMistralAfter;
      break;
  }
  return Step::kTaken;
}

}  // namespace kiln::tool_calls
