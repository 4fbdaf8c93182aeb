// Shorthands for building the Exprs of JSON Schema's grammars (json_schema_compiler.cpp,
// json_schema_numbers.cpp, json_schema_formats.cpp).
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>

#include "structured/grammar.h"

namespace kiln::structured::json_schema {

inline Expr ch(char c) { return Expr::byte((uint8_t)c); }
inline Expr lit(std::string_view s) { return Expr::literal(s); }

// A byte set from a class body such as "0-9a-f_" (ranges written lo-hi).
inline ByteSet bytes_of(std::string_view spec) {
  ByteSet s;
  for (size_t i = 0; i < spec.size(); ++i) {
    if (i + 2 < spec.size() && spec[i + 1] == '-') {
      s.add_range((uint8_t)spec[i], (uint8_t)spec[i + 2]);
      i += 2;
    } else {
      s.add((uint8_t)spec[i]);
    }
  }
  return s;
}

inline Expr cls(std::string_view spec) { return Expr::byte_set(bytes_of(spec)); }
inline Expr digit() { return cls("0-9"); }
inline Expr hexdig() { return cls("0-9a-fA-F"); }
inline Expr times(Expr e, int32_t n) { return Expr::repeat(std::move(e), n, n); }
inline Expr opt(Expr e) { return Expr::optional(std::move(e)); }
inline bool is_nothing(const Expr& e) { return e.kind == Expr::Kind::kNothing; }

}  // namespace kiln::structured::json_schema
