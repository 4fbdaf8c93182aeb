// The string formats of JSON Schema that kiln's grammars can hold (date, time, date-time,
// duration, uuid, ipv4, ipv6, email, hostname, uri), as the decoded content of a JSON
// string: none of them needs escaping.
#pragma once

#include <optional>
#include <string_view>

#include "structured/grammar.h"

namespace kiln::structured::json_schema {

// The grammar of a format's content; nullopt for a format kiln does not know.
std::optional<Expr> format_expr(std::string_view name);

}  // namespace kiln::structured::json_schema
