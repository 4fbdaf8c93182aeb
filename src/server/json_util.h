// Small JSON helpers shared by the routes: the ordered JSON type (keys stay in the order
// written, as the APIs document them), dumping that never throws on bad UTF-8, and ids.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace kiln::server {

using Json = nlohmann::ordered_json;

// Compact JSON. NOTE: token texts can hold partial UTF-8 (a byte-level token split inside a
// character); those bytes become U+FFFD instead of making dump() throw.
std::string dump_json(const Json& value);

// `prefix` followed by 24 random hex digits, e.g. "chatcmpl-3f2a...".
std::string random_id(std::string_view prefix);

// Seconds since the Unix epoch (OpenAI's `created`).
int64_t unix_seconds();

}  // namespace kiln::server
