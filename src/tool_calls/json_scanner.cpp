#include "tool_calls/json_scanner.h"

namespace kiln::tool_calls {
namespace {

bool is_space(uint8_t b) { return b == ' ' || b == '\t' || b == '\n' || b == '\r'; }
bool is_digit(uint8_t b) { return b >= '0' && b <= '9'; }
int hex_value(uint8_t b) {
  if (is_digit(b)) return b - '0';
  if (b >= 'a' && b <= 'f') return b - 'a' + 10;
  if (b >= 'A' && b <= 'F') return b - 'A' + 10;
  return -1;
}

}  // namespace

JsonScanner::Step JsonScanner::push(uint8_t b) {
  switch (state_) {
    case State::kValue:
      return value_start(b);
    case State::kKeyOrClose:
    case State::kKey:
      if (is_space(b)) return Step::kSpace;
      if (b == '"') {
        state_ = State::kString;
        in_key_ = true;
        return Step::kToken;
      }
      if (b == '}' && state_ == State::kKeyOrClose) {
        stack_.pop_back();
        return end_value();
      }
      return fail();
    case State::kColon:
      if (is_space(b)) return Step::kSpace;
      if (b != ':') return fail();
      state_ = State::kValue;
      array_may_close_ = false;
      return Step::kToken;
    case State::kAfterValue:
      if (is_space(b)) return Step::kSpace;
      if (b == ',') {
        state_ = stack_.back() == '{' ? State::kKey : State::kValue;
        array_may_close_ = false;
        return Step::kToken;
      }
      if ((b == '}' && stack_.back() == '{') || (b == ']' && stack_.back() == '[')) {
        stack_.pop_back();
        return end_value();
      }
      return fail();
    case State::kString:
      return string_byte(b);
    case State::kEscape:
      if (want_low_surrogate_ && b != 'u') return fail();
      if (b == 'u') {
        state_ = State::kUnicode;
        hex_digits_ = 0;
        hex_value_ = 0;
        return Step::kToken;
      }
      if (b != '"' && b != '\\' && b != '/' && b != 'b' && b != 'f' && b != 'n' && b != 'r' &&
          b != 't')
        return fail();
      state_ = State::kString;
      return Step::kToken;
    case State::kUnicode:
      return unicode_byte(b);
    case State::kNumber: {
      const Step s = number_byte(b);
      if (s != Step::kDoneBefore) return s;
      // The number ended before b: a top-level number is complete, a nested one is
      // followed by b as by any value.
      if (stack_.empty()) {
        state_ = State::kDone;
        return Step::kDoneBefore;
      }
      state_ = State::kAfterValue;
      return push(b);
    }
    case State::kLiteral:
      if (b != (uint8_t)*literal_) return fail();
      if (*++literal_ == '\0') return end_value();
      return Step::kToken;
    case State::kDone:
    case State::kError:
      return fail();
  }
  return fail();
}

JsonScanner::Step JsonScanner::value_start(uint8_t b) {
  if (is_space(b)) return Step::kSpace;
  if (b == '{' || b == '[') {
    if ((int)stack_.size() >= kMaxDepth) return fail();
    stack_.push_back((char)b);
    state_ = b == '{' ? State::kKeyOrClose : State::kValue;
    array_may_close_ = b == '[';
    return Step::kToken;
  }
  if (b == ']' && array_may_close_) {
    stack_.pop_back();
    array_may_close_ = false;
    return end_value();
  }
  array_may_close_ = false;
  if (b == '"') {
    state_ = State::kString;
    in_key_ = false;
    return Step::kToken;
  }
  if (b == '-' || is_digit(b)) {
    state_ = State::kNumber;
    num_ = b == '-' ? Num::kMinus : b == '0' ? Num::kZero : Num::kInt;
    return Step::kToken;
  }
  if (b == 't' || b == 'f' || b == 'n') {
    state_ = State::kLiteral;
    literal_ = b == 't' ? "rue" : b == 'f' ? "alse" : "ull";
    return Step::kToken;
  }
  return fail();
}

JsonScanner::Step JsonScanner::string_byte(uint8_t b) {
  if (utf8_left_ > 0) {
    if (b < utf8_lo_ || b > utf8_hi_) return fail();
    --utf8_left_;
    utf8_lo_ = 0x80;
    utf8_hi_ = 0xBF;
    return Step::kToken;
  }
  // After a high surrogate escape only the low surrogate's escape may follow.
  if (want_low_surrogate_ && b != '\\') return fail();
  if (b == '"') {
    if (in_key_) {
      state_ = State::kColon;
      return Step::kToken;
    }
    return end_value();
  }
  if (b == '\\') {
    state_ = State::kEscape;
    return Step::kToken;
  }
  if (b < 0x20) return fail();
  if (b < 0x80) return Step::kToken;
  // A UTF-8 lead byte: how many continuation bytes follow and the range of the first
  // (which rules out overlong forms, surrogates and code points above U+10FFFF).
  if (b >= 0xC2 && b <= 0xDF) {
    utf8_left_ = 1;
  } else if (b >= 0xE0 && b <= 0xEF) {
    utf8_left_ = 2;
    if (b == 0xE0) utf8_lo_ = 0xA0;
    if (b == 0xED) utf8_hi_ = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    utf8_left_ = 3;
    if (b == 0xF0) utf8_lo_ = 0x90;
    if (b == 0xF4) utf8_hi_ = 0x8F;
  } else {
    return fail();
  }
  return Step::kToken;
}

JsonScanner::Step JsonScanner::unicode_byte(uint8_t b) {
  const int v = hex_value(b);
  if (v < 0) return fail();
  hex_value_ = hex_value_ * 16 + (uint32_t)v;
  if (++hex_digits_ < 4) return Step::kToken;
  const bool high = hex_value_ >= 0xD800 && hex_value_ <= 0xDBFF;
  const bool low = hex_value_ >= 0xDC00 && hex_value_ <= 0xDFFF;
  if (want_low_surrogate_ != low) return fail();  // unpaired surrogate
  want_low_surrogate_ = high;
  state_ = State::kString;
  return Step::kToken;
}

JsonScanner::Step JsonScanner::number_byte(uint8_t b) {
  const bool digit = is_digit(b);
  switch (num_) {
    case Num::kMinus:
      if (!digit) return fail();
      num_ = b == '0' ? Num::kZero : Num::kInt;
      return Step::kToken;
    case Num::kZero:
    case Num::kInt:
      if (digit && num_ == Num::kInt) return Step::kToken;
      if (b == '.') {
        num_ = Num::kDot;
        return Step::kToken;
      }
      if (b == 'e' || b == 'E') {
        num_ = Num::kE;
        return Step::kToken;
      }
      if (digit) return fail();  // a leading zero followed by digits
      return Step::kDoneBefore;
    case Num::kDot:
      if (!digit) return fail();
      num_ = Num::kFrac;
      return Step::kToken;
    case Num::kFrac:
      if (digit) return Step::kToken;
      if (b == 'e' || b == 'E') {
        num_ = Num::kE;
        return Step::kToken;
      }
      return Step::kDoneBefore;
    case Num::kE:
      if (b == '+' || b == '-') {
        num_ = Num::kESign;
        return Step::kToken;
      }
      [[fallthrough]];
    case Num::kESign:
      if (!digit) return fail();
      num_ = Num::kExp;
      return Step::kToken;
    case Num::kExp:
      return digit ? Step::kToken : Step::kDoneBefore;
  }
  return fail();
}

JsonScanner::Step JsonScanner::end_value() {
  if (stack_.empty()) {
    state_ = State::kDone;
    return Step::kDone;
  }
  state_ = State::kAfterValue;
  return Step::kToken;
}

}  // namespace kiln::tool_calls
