#include "server/http/sse.h"

namespace kiln::server {

void append_sse_data(std::string& out, const Json& payload) {
  out += "data: ";
  out += dump_json(payload);
  out += "\n\n";
}

void append_sse_event(std::string& out, std::string_view event, const Json& payload) {
  out += "event: ";
  out += event;
  out += "\ndata: ";
  out += dump_json(payload);
  out += "\n\n";
}

}  // namespace kiln::server
