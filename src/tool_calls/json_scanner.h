// A JSON value checked byte by byte as a model writes it (RFC 8259, strictly: no comments,
// no trailing commas, UTF-8 only, surrogate escapes paired). Used by the tool call parser
// to know where a call's name and arguments end without waiting for the rest of the text,
// and to stream the arguments with the whitespace between tokens left out.
#pragma once

#include <cstdint>
#include <vector>

namespace kiln::tool_calls {

class JsonScanner {
 public:
  enum class Step : uint8_t {
    kToken,       // the byte belongs to the value
    kSpace,       // whitespace between tokens (the compact form leaves it out)
    kDone,        // the byte ends the value (a closing bracket, quote or literal letter)
    kDoneBefore,  // the value (a top-level number) ended before this byte, which is not its
    kError,       // the byte cannot continue a JSON value; the scanner stays failed
  };

  // Leading whitespace before the value is reported as kSpace.
  Step push(uint8_t byte);
  bool done() const { return state_ == State::kDone; }

  // Deeper nesting is an error: arguments are parsed again downstream (nlohmann), which
  // recurses.
  static constexpr int kMaxDepth = 64;

 private:
  enum class State : uint8_t {
    kValue,       // a value must follow (also: after '[', the array may close)
    kKeyOrClose,  // after '{'
    kKey,         // after ',' in an object
    kColon,
    kAfterValue,  // ',' or the container's close
    kString,
    kEscape,
    kUnicode,
    kNumber,
    kLiteral,
    kDone,
    kError,
  };
  // Number grammar positions: -? int frac? exp?
  enum class Num : uint8_t { kMinus, kZero, kInt, kDot, kFrac, kE, kESign, kExp };

  Step value_start(uint8_t b);
  Step string_byte(uint8_t b);
  Step unicode_byte(uint8_t b);
  Step number_byte(uint8_t b);
  Step end_value();  // a value finished: kDone at top level, else ',' or close expected
  Step fail() {
    state_ = State::kError;
    return Step::kError;
  }

  State state_ = State::kValue;
  std::vector<char> stack_;  // '{' or '[' per open container
  bool in_key_ = false;      // the string being scanned is an object key
  bool array_may_close_ = false;
  // Strings: pending UTF-8 continuation bytes and the allowed range of the next one.
  int utf8_left_ = 0;
  uint8_t utf8_lo_ = 0x80, utf8_hi_ = 0xBF;
  // \uXXXX: digits read, value so far, and whether a low surrogate must follow.
  int hex_digits_ = 0;
  uint32_t hex_value_ = 0;
  bool want_low_surrogate_ = false;
  Num num_ = Num::kMinus;
  const char* literal_ = nullptr;  // the rest of true/false/null still to match
};

}  // namespace kiln::tool_calls
