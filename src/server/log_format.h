// --log-format text|json for `kiln serve`. Text is the classic "[time] level: message" line.
// JSON writes one object per line: {"time", "level", "message"} for ordinary lines, and for
// the access log (one line per request) the request's fields as separate keys: method,
// path, status, seconds, request_id, remote, note, and client_gone when the client left.
#pragma once

#include <string>
#include <string_view>

#include "util/status.h"

namespace kiln::server {

struct AccessRecord {
  std::string_view method, target, remote, request_id, note;
  int status = 0;
  double seconds = 0;
  bool client_gone = false;
};

// Sets the default logger's format and makes the access logger; "text" or "json".
Status configure_log_format(std::string_view format);
// One request's line, at warn for server errors other than 503, else info.
void log_access(const AccessRecord& r);

}  // namespace kiln::server
