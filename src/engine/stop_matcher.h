// Applies a request's stop strings to text arriving in pieces (token text deltas). Text
// that might be the start of a stop string is held back until it is known not to be, so a
// stop string is never emitted (unless include_stop_str_in_output), even when it spans
// tokens or arrives split across deltas.
//
// Which stop string: the first to complete in the text; of several completing at the same
// byte, the one that starts first. That is OpenAI's and vLLM's "truncate at the earliest
// occurrence" except where one stop string lies strictly inside another ("bc" in "abcd"):
// the inner one completes first, and waiting for the outer one would mean generating past
// a stop string. NOTE: unlike vLLM's rule (the first in list order found in the newest
// text), this one gives the same result however the text is split into deltas.
//
// Matching is by bytes. The deltas hold whole UTF-8 characters and a stop string cannot
// begin with a continuation byte, so every cut falls on a character boundary.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kiln {

class StopMatcher {
 public:
  // stops: non-empty strings (SamplingParams::validate checks).
  StopMatcher(std::vector<std::string> stops, bool include_stop_str_in_output);

  struct Result {
    std::string emit;
    bool stopped = false;
    std::string stop;  // the stop string that matched, once stopped
  };
  // The text safe to emit now. stopped: a stop string completed; emit then ends right
  // before it (or after it, when included) and the rest of the delta is dropped. After a
  // stop, push() returns nothing more and stays stopped.
  Result push(std::string_view delta);
  // At the end of generation (length, EOS): the held-back text.
  std::string flush();

  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  bool include_stop_;
  bool stopped_ = false;
  std::string matched_;
  std::string held_;  // text not yet emitted: a possible start of a stop string
};

}  // namespace kiln
