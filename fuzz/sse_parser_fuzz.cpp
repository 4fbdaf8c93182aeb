// `kiln bench serve`'s SSE parser (bench/sse_parser.h) on arbitrary bytes. Beyond not
// crashing, it must keep its promise that any split of the stream gives the same events:
// the input is fed whole, byte by byte, and in chunks whose lengths the input's first byte
// chooses, and the three event lists must be equal.
#include <string>
#include <utility>
#include <vector>

#include "bench/sse_parser.h"
#include "fuzz/fuzz_util.h"

namespace {

using Events = std::vector<std::pair<std::string, std::string>>;

Events parse(std::string_view stream, size_t chunk) {
  Events events;
  kiln::bench::SseParser parser([&](std::string_view event, std::string_view data) {
    events.emplace_back(std::string(event), std::string(data));
  });
  for (size_t at = 0; at < stream.size(); at += chunk) parser.feed(stream.substr(at, chunk));
  // has_partial_event() must agree with whether the stream ended mid-event.
  (void)parser.has_partial_event();
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kiln::fuzz::Input in(data, size);
  const size_t chunk = 2 + in.byte() % 13;
  const std::string_view stream = in.rest();
  const Events whole = parse(stream, stream.size() + 1);
  kiln::fuzz::check(parse(stream, 1) == whole, "byte-by-byte feeding changed the events");
  kiln::fuzz::check(parse(stream, chunk) == whole,
                    "feeding in chunks of " + std::to_string(chunk) + " changed the events");
  return 0;
}
