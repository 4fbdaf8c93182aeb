// The SSE parser: the same events whatever the split of the stream into reads (every byte
// boundary, and byte by byte), CR / LF / CRLF line ends, comments, multi-line data, [DONE],
// and an unfinished event at the end.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bench/sse_parser.h"

namespace kiln::bench {
namespace {

struct Event {
  std::string event, data;
  bool operator==(const Event&) const = default;
};

std::vector<Event> parse_in_pieces(const std::string& stream, const std::vector<size_t>& cuts,
                                   bool* partial = nullptr) {
  std::vector<Event> events;
  SseParser parser([&](std::string_view e, std::string_view d) { events.push_back({std::string(e), std::string(d)}); });
  size_t at = 0;
  for (size_t cut : cuts) {
    parser.feed(std::string_view(stream).substr(at, cut - at));
    at = cut;
  }
  parser.feed(std::string_view(stream).substr(at));
  if (partial) *partial = parser.has_partial_event();
  return events;
}

const std::string kStream =
    ": keep-alive comment\n\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\r\n\r\n"
    "event: ping\ndata:no-space\rdata:  two spaces\r\r"
    "id: 7\nretry: 100\ndata: [DONE]\n\n";

const std::vector<Event> kExpected = {
    {"", "{\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}"},
    {"", "{\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}"},
    {"ping", "no-space\n two spaces"},
    {"", "[DONE]"},
};

TEST(BenchSse, WholeStream) { EXPECT_EQ(parse_in_pieces(kStream, {}), kExpected); }

TEST(BenchSse, SplitAtEveryByteBoundary) {
  for (size_t cut = 0; cut <= kStream.size(); ++cut) {
    EXPECT_EQ(parse_in_pieces(kStream, {cut}), kExpected) << "cut at " << cut;
  }
  for (size_t a = 0; a <= kStream.size(); a += 3) {
    for (size_t b = a; b <= kStream.size(); b += 5) {
      EXPECT_EQ(parse_in_pieces(kStream, {a, b}), kExpected) << "cuts at " << a << ", " << b;
    }
  }
}

TEST(BenchSse, ByteByByte) {
  std::vector<size_t> cuts;
  for (size_t i = 1; i < kStream.size(); ++i) cuts.push_back(i);
  EXPECT_EQ(parse_in_pieces(kStream, cuts), kExpected);
}

TEST(BenchSse, UnfinishedEventIsDroppedAndReported) {
  bool partial = false;
  auto events = parse_in_pieces("data: a\n\ndata: b\n", {}, &partial);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "a");
  EXPECT_TRUE(partial);
  parse_in_pieces("data: a\n\n", {}, &partial);
  EXPECT_FALSE(partial);
  parse_in_pieces("data: a\n\ndata: b", {}, &partial);
  EXPECT_TRUE(partial);
}

TEST(BenchSse, CommentsAndFieldsWithoutDataDispatchNothing) {
  EXPECT_TRUE(parse_in_pieces(": hi\n\nevent: x\n\nid: 3\n\n\n\n", {}).empty());
  // A field name alone is an empty value; "data" alone is an empty data line.
  auto events = parse_in_pieces("data\n\n", {});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "");
}

}  // namespace
}  // namespace kiln::bench
