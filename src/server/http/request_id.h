// X-Request-Id: the client's id when it sends a usable one (1-128 printable ASCII
// characters, no spaces), else a fresh random one; the transport echoes it on the reply and
// the access log prints it, so a client's report can be found in the server's log.
#pragma once

#include <string>

namespace kiln::server {

inline constexpr size_t kMaxRequestIdLength = 128;

// `given`: the request's X-Request-Id header, or null.
std::string request_id_for(const std::string* given);

}  // namespace kiln::server
