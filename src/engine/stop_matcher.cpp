#include "engine/stop_matcher.h"

#include <algorithm>
#include <utility>

namespace kiln {

StopMatcher::StopMatcher(std::vector<std::string> stops, bool include_stop_str_in_output)
    : stops_(std::move(stops)), include_stop_(include_stop_str_in_output) {
  std::erase_if(stops_, [](const std::string& s) { return s.empty(); });
}

StopMatcher::Result StopMatcher::push(std::string_view delta) {
  Result r;
  if (stopped_) {
    r.stopped = true;
    r.stop = matched_;
    return r;
  }
  if (stops_.empty()) {
    r.emit.assign(delta);
    return r;
  }
  held_.append(delta);
  // NOTE: held_ never contains the start of a stop string that fit in an earlier held_,
  // so searching it alone finds every match (everything emitted before was cleared).
  // The first stop string to complete wins (then the one that starts first): what a
  // token-by-token check would find, whatever the deltas' boundaries.
  size_t stop_pos = std::string::npos, stop_end = std::string::npos;
  const std::string* stop = nullptr;
  for (const std::string& s : stops_) {
    const size_t pos = held_.find(s);
    if (pos == std::string::npos) continue;
    const size_t end = pos + s.size();
    if (end < stop_end || (end == stop_end && pos < stop_pos)) {
      stop_pos = pos;
      stop_end = end;
      stop = &s;
    }
  }
  if (stop) {
    r.emit = held_.substr(0, include_stop_ ? stop_end : stop_pos);
    r.stopped = stopped_ = true;
    r.stop = matched_ = *stop;
    held_.clear();
    return r;
  }
  // Hold back the longest suffix of held_ that is a proper prefix of some stop string.
  size_t hold = 0;
  for (const std::string& s : stops_) {
    for (size_t len = std::min(s.size() - 1, held_.size()); len > hold; --len) {
      if (std::string_view(held_).substr(held_.size() - len) ==
          std::string_view(s).substr(0, len)) {
        hold = len;
        break;
      }
    }
  }
  r.emit = held_.substr(0, held_.size() - hold);
  held_.erase(0, held_.size() - hold);
  return r;
}

std::string StopMatcher::flush() { return std::exchange(held_, std::string()); }

}  // namespace kiln
