// The byte syntax of tool calls after their marker, one state machine for every format
// (internal to the parser; tool_call_parser.h states the rules). It reads one byte at a time
// and says whether the byte belongs to the calls, reporting names and arguments through a
// sink; the parser around it owns the text, the events and what happens to rejected bytes.
#pragma once

#include <cstdint>
#include <string>

#include "tool_calls/json_scanner.h"
#include "tool_calls/tool_call_format.h"

namespace kiln::tool_calls {

class CallSink {
 public:
  virtual ~CallSink() = default;
  // The call is certain from here on: its name is known and its arguments object begins.
  virtual void begin_call(std::string name) = 0;
  virtual void argument_byte(char byte) = 0;  // the compact arguments text, byte by byte
  virtual void end_call() = 0;
};

class CallSyntax {
 public:
  enum class Step : uint8_t {
    kTaken,      // the byte is part of the calls' syntax
    kReject,     // the byte cannot continue the calls
    kBlockDone,  // the byte ends the block of calls (Hermes' "</tool_call>", Mistral's "]")
  };

  // Starts reading a block: Hermes and Mistral right after their marker, Llama at the start
  // of the message.
  void reset(ToolCallFormat format);
  Step push(uint8_t byte, CallSink& sink);
  // Whether the bytes since the last complete call are only the closing syntax that may
  // follow it (whitespace, part of "</tool_call>", before ";" or "," or "]").
  bool in_trailer() const;

  // Longest name and object key read (a model looping inside a string is not a call).
  static constexpr size_t kMaxName = 256;
  static constexpr size_t kMaxKey = 64;

 private:
  enum class State : uint8_t {
    kLiteral,        // matching literal_ from lit_pos_, then state after_literal_
    kHermesOpen,     // ws, '{'
    kHermesClose,    // ws, "</tool_call>"
    kLlamaStart,     // ws, "<|python_tag|>" or '{'
    kLlamaBrace,     // ws, '{'
    kLlamaAfter,     // ws, ';'
    kMistralStart,   // ws, '[' (array form) or a name byte (v11 form)
    kMistralItem,    // ws, '{'
    kMistralAfter,   // ws, ',' or ']'
    kV11Name,        // name bytes, then '[' or '{'
    kV11Tag,         // "[CALL_ID]" or "[ARGS]"
    kV11Id,          // call id bytes, then '[' or '{'
    kV11BeforeArgs,  // ws, '{'
    kV11Args,        // the arguments object
    kObjKey,         // ws, '"' opening a key
    kObjKeyString,   // the key
    kObjColon,       // ws, ':'
    kObjValue,       // ws, the value's first byte
    kObjValueScan,   // the rest of the value
    kObjAfterValue,  // ws, ',' or '}'
  };
  enum class Role : uint8_t { kName, kArguments, kSkip };

  Step object_byte(uint8_t b, CallSink& sink);
  Step object_value_start(uint8_t b, CallSink& sink);
  Step object_closed(CallSink& sink);  // after the call object's '}'
  Step v11_byte(uint8_t b, CallSink& sink);
  Step begin_arguments(CallSink& sink);  // the '{' of the arguments: the call is certain
  void literal(const char* text, State then);
  void open_object();

  ToolCallFormat format_ = ToolCallFormat::kHermes;
  State state_ = State::kHermesOpen;
  const char* literal_ = "";
  size_t lit_pos_ = 0;
  State after_literal_ = State::kHermesOpen;

  // The call object being read.
  JsonScanner scanner_;
  std::string token_;  // a key's or the name's JSON text
  std::string key_;
  Role role_ = Role::kSkip;
  std::string name_;
  bool have_name_ = false, have_args_ = false, first_key_ = true;
  // Mistral v11.
  std::string tag_;
  bool had_call_id_ = false;
  size_t id_len_ = 0;
};

}  // namespace kiln::tool_calls
