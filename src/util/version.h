// kiln's version, as /api/version, the OpenAPI document and MCP's serverInfo report it.
#pragma once

#include <string_view>

namespace kiln {

inline constexpr std::string_view kKilnVersion = "0.1.0";

}  // namespace kiln
