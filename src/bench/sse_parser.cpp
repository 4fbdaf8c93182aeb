#include "bench/sse_parser.h"

namespace kiln::bench {

void SseParser::feed(std::string_view bytes) {
  for (char c : bytes) {
    if (after_cr_) {
      after_cr_ = false;
      if (c == '\n') continue;  // the LF of a CRLF split or not
    }
    if (c == '\r' || c == '\n') {
      after_cr_ = (c == '\r');
      std::string line = std::move(line_);
      line_.clear();
      on_line(line);
    } else {
      line_ += c;
    }
  }
}

void SseParser::on_line(std::string_view line) {
  if (line.empty()) {
    if (has_data_) on_event_(event_, data_);
    event_.clear();
    data_.clear();
    has_data_ = false;
    return;
  }
  if (line.front() == ':') return;  // comment
  const size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) data_ += '\n';
    data_.append(value);
    has_data_ = true;
  } else if (field == "event") {
    event_.assign(value);
  }
  // id, retry and unknown fields do not matter to a benchmark.
}

}  // namespace kiln::bench
