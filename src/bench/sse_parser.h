// An incremental parser of server-sent events (the WHATWG "text/event-stream" format) as
// bytes arrive: lines end in LF, CRLF or CR (a CR at the end of one read and the LF at the
// start of the next are one line end); a blank line dispatches the event; lines starting
// with ':' are comments; `data:` lines of one event are joined with '\n'. An event not
// ended by a blank line before the stream closes is dropped, as the standard says.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace kiln::bench {

class SseParser {
 public:
  // Called once per dispatched event that carried at least one `data:` line; `event` is the
  // `event:` field ("" when absent). The views are valid only during the call.
  using OnEvent = std::function<void(std::string_view event, std::string_view data)>;

  explicit SseParser(OnEvent on_event) : on_event_(std::move(on_event)) {}

  // Feeds the next bytes of the stream; any split of the stream gives the same events.
  void feed(std::string_view bytes);
  // Bytes held in an unfinished line or event (for telling a clean end from a cut one).
  bool has_partial_event() const { return !line_.empty() || has_data_ || !event_.empty(); }

 private:
  void on_line(std::string_view line);

  OnEvent on_event_;
  std::string line_;  // the current line, without its end
  bool after_cr_ = false;
  std::string event_;
  std::string data_;
  bool has_data_ = false;
};

}  // namespace kiln::bench
