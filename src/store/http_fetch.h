// The HTTP side of `kiln pull`, on libcurl: small requests (the hub's listing, a HEAD of a
// file) and the download of one file with range requests, resume and parallel chunks.
// Redirects are followed; the bearer token goes only to the host it was given for (curl
// drops custom Authorization headers on a redirect to another host, so a CDN never sees it).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "util/status.h"

namespace kiln::store {

// Initialises libcurl once per process (thread-safe).
void ensure_curl_initialised();

struct HttpReply {
  long status = 0;
  std::string body;
  // Lower-cased header names; the first value seen along a redirect chain wins, so
  // the hub's x-linked-etag / x-repo-commit survive the redirect to its CDN.
  std::map<std::string, std::string> headers;
  int64_t content_length = -1;  // of the final response; -1 when not told
};

// GET (or HEAD when `head`); an error only when no HTTP reply arrived (the message says
// why: no connection, timeout, ...). Bodies above `max_body_bytes` are an error.
StatusOr<HttpReply> http_request(const std::string& url, const std::string& token, bool head,
                                 size_t max_body_bytes = 64 << 20);

struct DownloadOptions {
  std::string token;
  int num_connections = 4;
  uint64_t parallel_threshold_bytes = 64ull << 20;
  int max_attempts = 4;
  const std::atomic<bool>* cancel = nullptr;
  // Called from the downloading thread with the bytes on disk so far (at most ~10 times
  // a second, and once at the end).
  std::function<void(uint64_t completed_bytes)> on_progress;
};

// Downloads `url` into `dest`. With `size_bytes` known (> 0), a file at least
// parallel_threshold_bytes long goes as num_connections ranges into `dest.chunkI-of-N`
// files that are then joined into `dest`; a smaller one streams into `dest` directly.
// Whatever is already on disk is kept and continued with a range request (resume); a
// server that ignores ranges restarts the single-stream download from zero. A dropped
// connection is retried (max_attempts per transfer), each time from what arrived.
// Errors: "HTTP 404" etc. (the caller turns them into messages), write errors with the
// system's reason (disk full), "cancelled".
struct DownloadError {
  long http_status = 0;  // 0: not an HTTP status error
};
Status download_file(const std::string& url, const std::string& dest, uint64_t size_bytes,
                     const DownloadOptions& options, DownloadError* error = nullptr);

}  // namespace kiln::store
