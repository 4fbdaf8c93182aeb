#include "mcp_client/http_transport.h"

#include <curl/curl.h>

#include <memory>

#include "store/http_fetch.h"

namespace kiln::mcp_client {
namespace {

constexpr size_t kMaxBodyBytes = 16 << 20;

std::string lower(std::string s) {
  for (char& c : s) c = (char)std::tolower((unsigned char)c);
  return s;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace((unsigned char)s.back())) s.pop_back();
  size_t start = 0;
  while (start < s.size() && std::isspace((unsigned char)s[start])) ++start;
  return s.substr(start);
}

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

// What one transfer collects. The body is read as SSE when the reply says so; the transfer
// stops (a write error curl reports, which is success here) once the response is in.
struct Transfer {
  std::map<std::string, std::string> headers;
  std::string body;
  bool too_big = false;
  std::optional<SseResponseReader> sse;
  bool stopped_with_response = false;
  const std::atomic<bool>* cancel = nullptr;
  int64_t id = -1;  // the request's, which the SSE reader looks for
};

bool is_event_stream(const std::map<std::string, std::string>& headers) {
  auto it = headers.find("content-type");
  return it != headers.end() && lower(it->second).starts_with("text/event-stream");
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::string line(data, size * count);
  const size_t colon = line.find(':');
  if (colon != std::string::npos)
    t->headers[lower(line.substr(0, colon))] = trim(line.substr(colon + 1));
  // Headers arrive before any body byte: whether the body is SSE is known in time.
  if (!t->sse && is_event_stream(t->headers)) t->sse.emplace(t->id);
  return size * count;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (t->sse) {
    t->sse->feed(std::string_view(data, n));
    if (t->sse->response()) {
      t->stopped_with_response = true;
      return 0;  // a server may keep the stream open after the response: stop reading
    }
  }
  if (t->body.size() + n > kMaxBodyBytes) {
    t->too_big = true;
    return 0;
  }
  t->body.append(data, n);
  return n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  return t->cancel && t->cancel->load() ? 1 : 0;
}

}  // namespace

void SseResponseReader::feed(std::string_view bytes) {
  buffer_.append(bytes);
  size_t start = 0;
  for (size_t nl; (nl = buffer_.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::string line = buffer_.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {  // the blank line that ends an event
      if (!data_.empty()) on_event(data_);
      data_.clear();
    } else if (line.starts_with("data:")) {
      std::string value = line.substr(5);
      if (!value.empty() && value[0] == ' ') value.erase(0, 1);
      if (!data_.empty()) data_ += '\n';
      data_ += value;
    }  // event:, id:, retry: and comments say nothing kiln needs
  }
  buffer_.erase(0, start);
}

void SseResponseReader::on_event(const std::string& data) {
  if (response_) return;
  Json message = Json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (!message.is_object() || message.contains("method")) return;  // notifications, requests
  if (message.value("id", Json()) == Json(id_)) response_ = std::move(message);
}

struct HttpTransport::Reply {
  long status = 0;
  std::map<std::string, std::string> headers;
  std::optional<Json> response;  // the JSON-RPC response to the request, when one came
  std::string body;              // a non-SSE body as received
};

HttpTransport::HttpTransport(std::string url, std::map<std::string, std::string> headers)
    : url_(std::move(url)), headers_(std::move(headers)) {
  store::ensure_curl_initialised();
}

HttpTransport::~HttpTransport() {
  std::string session;
  {
    std::lock_guard lock(mu_);
    session = session_id_;
  }
  if (session.empty()) return;
  std::unique_ptr<CURL, EasyDeleter> easy(curl_easy_init());
  if (!easy) return;
  curl_slist* list = curl_slist_append(nullptr, ("Mcp-Session-Id: " + session).c_str());
  for (const auto& kv : headers_) list = curl_slist_append(list, (kv.first + ": " + kv.second).c_str());
  std::unique_ptr<curl_slist, SlistDeleter> headers(list);
  curl_easy_setopt(easy.get(), CURLOPT_URL, url_.c_str());
  curl_easy_setopt(easy.get(), CURLOPT_CUSTOMREQUEST, "DELETE");
  curl_easy_setopt(easy.get(), CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(easy.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy.get(), CURLOPT_TIMEOUT_MS, 1000L);
  curl_easy_setopt(easy.get(), CURLOPT_WRITEFUNCTION,
                   +[](char*, size_t size, size_t count, void*) { return size * count; });
  curl_easy_perform(easy.get());
}

void HttpTransport::set_protocol_version(const std::string& version) {
  std::lock_guard lock(mu_);
  protocol_version_ = version;
}

StatusOr<HttpTransport::Reply> HttpTransport::post(const Json& message, int64_t id,
                                                   Clock::time_point deadline,
                                                   const std::atomic<bool>* cancel) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return Status::Error("timed out before the request was sent");
  std::unique_ptr<CURL, EasyDeleter> easy(curl_easy_init());
  if (!easy) return Status::Error("libcurl could not start a transfer");
  curl_slist* list = nullptr;
  list = curl_slist_append(list, "Content-Type: application/json");
  list = curl_slist_append(list, "Accept: application/json, text/event-stream");
  {
    std::lock_guard lock(mu_);
    if (!session_id_.empty())
      list = curl_slist_append(list, ("Mcp-Session-Id: " + session_id_).c_str());
    if (!protocol_version_.empty())
      list = curl_slist_append(list, ("MCP-Protocol-Version: " + protocol_version_).c_str());
  }
  for (const auto& kv : headers_) list = curl_slist_append(list, (kv.first + ": " + kv.second).c_str());
  std::unique_ptr<curl_slist, SlistDeleter> headers(list);

  const std::string body = message.dump();
  Transfer t;
  t.cancel = cancel;
  t.id = id;
  CURL* e = easy.get();
  curl_easy_setopt(e, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)body.size());
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)left);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(e, CURLOPT_XFERINFODATA, &t);

  const CURLcode rc = curl_easy_perform(e);
  if (rc != CURLE_OK && !t.stopped_with_response) {
    if (cancel && cancel->load()) return Status::Error("cancelled");
    if (rc == CURLE_OPERATION_TIMEDOUT)
      return Status::Error("timed out waiting for the server's answer");
    if (t.too_big) return Status::Error("the reply is over 16 MiB");
    return Status::Error(std::string("HTTP transfer failed: ") + curl_easy_strerror(rc));
  }
  Reply r;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r.status);
  r.headers = std::move(t.headers);
  if (t.sse)
    r.response = t.sse->response();
  else
    r.body = std::move(t.body);
  return r;
}

StatusOr<Json> HttpTransport::request(const std::string& method, const Json& params,
                                      Clock::time_point deadline,
                                      const std::atomic<bool>* cancel) {
  const int64_t id = next_id_++;
  const Json message = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}};
  auto reply = post(message, id, deadline, cancel);
  if (!reply.ok()) return reply.status();
  if (auto it = reply->headers.find("mcp-session-id"); it != reply->headers.end()) {
    std::lock_guard lock(mu_);
    session_id_ = it->second;
  }
  if (reply->status == 404 && method != "initialize")
    return Status::Error("HTTP 404: the server no longer knows this session");
  if (reply->status < 200 || reply->status >= 300)
    return Status::Error("HTTP " + std::to_string(reply->status) +
                         (reply->body.empty() ? "" : ": " + reply->body.substr(0, 300)));
  if (reply->response) return read_response(*reply->response);
  if (is_event_stream(reply->headers))
    return Status::Error("malformed reply: the event stream ended without the response");
  const Json parsed = Json::parse(reply->body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded())
    return Status::Error("malformed reply: the body is not JSON (" + reply->body.substr(0, 100) +
                         ")");
  return read_response(parsed);
}

Status HttpTransport::notify(const std::string& method, const Json& params,
                             Clock::time_point deadline) {
  auto reply = post({{"jsonrpc", "2.0"}, {"method", method}, {"params", params}}, -1, deadline,
                    nullptr);
  if (!reply.ok()) return reply.status();
  if (reply->status < 200 || reply->status >= 300)
    return Status::Error("HTTP " + std::to_string(reply->status) + " to " + method);
  return Status::Ok();
}

}  // namespace kiln::mcp_client
