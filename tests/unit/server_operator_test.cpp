// The transport's operator switches that need no socket: CORS decisions and X-Request-Id.
#include <gtest/gtest.h>

#include "server/http/cors.h"
#include "server/http/request_id.h"

namespace kiln::server {
namespace {

HttpRequest request(std::string method, HeaderList headers) {
  HttpRequest r;
  r.method = std::move(method);
  r.headers = std::move(headers);
  return r;
}

std::string header(const HeaderList& h, std::string_view name) {
  for (const auto& [n, v] : h)
    if (n == name) return v;
  return "<none>";
}

TEST(OperatorCors, SplitsCommaSeparatedAndRepeatedValues) {
  EXPECT_EQ(split_list_flag({"a, b", "c", ",d,,"}),
            (std::vector<std::string>{"a", "b", "c", "d"}));
}

TEST(OperatorCors, HeadersOnlyForAllowedOrigins) {
  CorsOptions cors;
  HeaderList h;
  append_cors_headers(cors, request("GET", {{"origin", "https://a.example"}}), h);
  EXPECT_TRUE(h.empty());  // off by default
  cors.allowed_origins = {"https://a.example"};
  append_cors_headers(cors, request("GET", {{"origin", "https://b.example"}}), h);
  EXPECT_TRUE(h.empty());
  append_cors_headers(cors, request("GET", {{"origin", "https://a.example"}}), h);
  EXPECT_EQ(header(h, "Access-Control-Allow-Origin"), "https://a.example");
  EXPECT_EQ(header(h, "Vary"), "Origin");

  HeaderList any;
  cors.allowed_origins = {"*"};
  append_cors_headers(cors, request("GET", {{"origin", "https://z.example"}}), any);
  EXPECT_EQ(header(any, "Access-Control-Allow-Origin"), "*");
  HeaderList credentials;
  cors.allow_credentials = true;  // then the origin must be named, never "*"
  append_cors_headers(cors, request("GET", {{"origin", "https://z.example"}}), credentials);
  EXPECT_EQ(header(credentials, "Access-Control-Allow-Origin"), "https://z.example");
  EXPECT_EQ(header(credentials, "Access-Control-Allow-Credentials"), "true");
}

TEST(OperatorCors, Preflight) {
  CorsOptions cors;
  cors.allowed_origins = {"https://a.example"};
  cors.allowed_methods = {"GET", "POST"};
  cors.allowed_headers = {"Authorization", "Content-Type"};
  const HttpRequest ok = request("OPTIONS", {{"origin", "https://a.example"},
                                             {"access-control-request-method", "POST"},
                                             {"access-control-request-headers",
                                              "authorization,content-type"}});
  ASSERT_TRUE(is_cors_preflight(ok));
  EXPECT_FALSE(is_cors_preflight(request("OPTIONS", {{"origin", "https://a.example"}})));
  HttpReply r = cors_preflight_reply(cors, ok);
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(header(r.headers, "Access-Control-Allow-Methods"), "GET, POST");
  EXPECT_EQ(header(r.headers, "Access-Control-Allow-Headers"), "authorization,content-type");

  HttpRequest bad_method = ok;
  bad_method.headers[1].second = "DELETE";
  EXPECT_EQ(cors_preflight_reply(cors, bad_method).status, 403);
  HttpRequest bad_header = ok;
  bad_header.headers[2].second = "x-custom";
  EXPECT_EQ(cors_preflight_reply(cors, bad_header).status, 403);
  HttpRequest bad_origin = ok;
  bad_origin.headers[0].second = "https://evil.example";
  r = cors_preflight_reply(cors, bad_origin);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(header(r.headers, "Access-Control-Allow-Origin"), "<none>");
}

TEST(OperatorRequestId, KeepsUsableIdsAndMakesTheRest) {
  const std::string given = "abc-123_XYZ:/.";
  EXPECT_EQ(request_id_for(&given), given);
  const std::string made = request_id_for(nullptr);
  EXPECT_EQ(made.size(), 32u);
  EXPECT_EQ(made.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(request_id_for(nullptr), made);
  for (const std::string& bad : {std::string(), std::string(129, 'x'), std::string("a b"),
                                std::string("a\nb"), std::string("\x7f"),
                                std::string("caf\xc3\xa9")}) {
    const std::string id = request_id_for(&bad);
    EXPECT_NE(id, bad);
    EXPECT_EQ(id.size(), 32u);
  }
  const std::string longest(kMaxRequestIdLength, 'y');
  EXPECT_EQ(request_id_for(&longest), longest);
}

}  // namespace
}  // namespace kiln::server
