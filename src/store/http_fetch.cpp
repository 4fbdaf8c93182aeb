#include "store/http_fetch.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace kiln::store {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = (char)std::tolower((unsigned char)c);
  return s;
}

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

Slist auth_headers(const std::string& token) {
  curl_slist* list = nullptr;
  if (!token.empty()) list = curl_slist_append(list, ("Authorization: Bearer " + token).c_str());
  list = curl_slist_append(list, "User-Agent: kiln/0.1");
  return Slist(list);
}

void common_options(CURL* easy, const std::string& url, curl_slist* headers) {
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(easy, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, 30L);
  // A connection that delivers nothing for a minute is dead; the retry resumes it.
  curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, 60L);
}

size_t header_callback(char* data, size_t size, size_t count, void* user) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(user);
  std::string line(data, size * count);
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string key = lower(line.substr(0, colon));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && std::isspace((unsigned char)value.front())) value.erase(0, 1);
    while (!value.empty() && std::isspace((unsigned char)value.back())) value.pop_back();
    headers->emplace(key, value);  // the first along a redirect chain wins
  }
  return size * count;
}

struct BodySink {
  std::string* body;
  size_t max_bytes;
  bool too_big = false;
};

size_t body_callback(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<BodySink*>(user);
  if (sink->body->size() + size * count > sink->max_bytes) {
    sink->too_big = true;
    return 0;
  }
  sink->body->append(data, size * count);
  return size * count;
}

uint64_t file_size_or_zero(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? (uint64_t)st.st_size : 0;
}

// One transfer into one file: a range [offset, offset + length) of the remote file, or
// (length 0) everything from `have` to the end.
struct Transfer {
  std::string path;
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t have = 0;  // bytes in `path`
  int attempts = 0;
  bool done = false;
  bool range_requested = false;
  bool checked_status = false;
  std::FILE* out = nullptr;
  CURL* easy = nullptr;
  std::string range;
  long http_status = 0;
  int write_errno = 0;
  std::string fatal;  // set by the write callback for a problem retrying cannot fix
};

size_t transfer_write(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (!t->checked_status) {
    t->checked_status = true;
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    t->http_status = status;
    if (status >= 400) return 0;
    if (t->range_requested && status == 200) {
      // The server sent the whole file instead of the range.
      if (t->length != 0 || t->offset != 0) {
        t->fatal =
            "the server ignores range requests (needed for parallel chunks; try --connections 1)";
        return 0;
      }
      if (std::freopen(t->path.c_str(), "wb", t->out) == nullptr) {
        t->write_errno = errno;
        return 0;
      }
      t->have = 0;
    }
  }
  if (t->length != 0 && t->have + n > t->length) {
    t->fatal = "the server sent more bytes than the range asked for";
    return 0;
  }
  if (std::fwrite(data, 1, n, t->out) != n || std::fflush(t->out) != 0) {
    t->write_errno = errno ? errno : EIO;
    return 0;
  }
  t->have += n;
  return n;
}

Status start_transfer(CURLM* multi, Transfer& t, const std::string& url, curl_slist* headers) {
  t.have = file_size_or_zero(t.path);
  if (t.length != 0 && t.have > t.length) {
    if (::truncate(t.path.c_str(), 0) != 0)
      return Status::Error(t.path + ": " + std::strerror(errno));
    t.have = 0;
  }
  if (t.length != 0 && t.have == t.length) {
    t.done = true;
    return Status::Ok();
  }
  t.out = std::fopen(t.path.c_str(), "ab");
  if (!t.out) return Status::Error(t.path + ": " + std::strerror(errno));
  t.easy = curl_easy_init();
  if (!t.easy) return Status::Error("libcurl: cannot create a transfer");
  common_options(t.easy, url, headers);
  t.range_requested = t.length != 0 || t.have != 0;
  if (t.range_requested) {
    const uint64_t start = t.offset + t.have;
    t.range =
        std::to_string(start) + "-" + (t.length ? std::to_string(t.offset + t.length - 1) : "");
    curl_easy_setopt(t.easy, CURLOPT_RANGE, t.range.c_str());
  }
  t.checked_status = false;
  t.http_status = 0;
  curl_easy_setopt(t.easy, CURLOPT_WRITEFUNCTION, transfer_write);
  curl_easy_setopt(t.easy, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(t.easy, CURLOPT_PRIVATE, &t);
  ++t.attempts;
  if (curl_multi_add_handle(multi, t.easy) != CURLM_OK)
    return Status::Error("libcurl: cannot start a transfer");
  return Status::Ok();
}

void finish_transfer(CURLM* multi, Transfer& t) {
  if (t.easy) {
    curl_multi_remove_handle(multi, t.easy);
    curl_easy_cleanup(t.easy);
    t.easy = nullptr;
  }
  if (t.out) {
    std::fclose(t.out);
    t.out = nullptr;
  }
}

// Appends `src` to the open descriptor `out_fd`, in the kernel where it can.
Status append_file(int out_fd, const std::string& src, const std::string& dest) {
  int in = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return Status::Error(src + ": " + std::strerror(errno));
  std::vector<char> buf;
  while (true) {
    ssize_t n = ::copy_file_range(in, nullptr, out_fd, nullptr, 1 << 30, 0);
    if (n == 0) break;
    if (n > 0) continue;
    if (errno == EINTR) continue;
    if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP) {
      int err = errno;
      ::close(in);
      return Status::Error(dest + ": " + std::strerror(err));
    }
    // No in-kernel copy here: plain reads and writes.
    buf.resize(1 << 20);
    ssize_t r = 0;
    while ((r = ::read(in, buf.data(), buf.size())) > 0) {
      for (ssize_t off = 0; off < r;) {
        ssize_t w = ::write(out_fd, buf.data() + off, (size_t)(r - off));
        if (w < 0) {
          if (errno == EINTR) continue;
          int err = errno;
          ::close(in);
          return Status::Error(dest + ": " + std::strerror(err));
        }
        off += w;
      }
    }
    break;
  }
  ::close(in);
  return Status::Ok();
}

}  // namespace

void ensure_curl_initialised() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

StatusOr<HttpReply> http_request(const std::string& url, const std::string& token, bool head,
                                 size_t max_body_bytes) {
  ensure_curl_initialised();
  HttpReply reply;
  std::unique_ptr<CURL, void (*)(CURL*)> easy(curl_easy_init(), curl_easy_cleanup);
  if (!easy) return Status::Error("libcurl: cannot create a request");
  Slist headers = auth_headers(token);
  common_options(easy.get(), url, headers.get());
  BodySink sink{&reply.body, max_body_bytes};
  if (head) curl_easy_setopt(easy.get(), CURLOPT_NOBODY, 1L);
  curl_easy_setopt(easy.get(), CURLOPT_TIMEOUT, 120L);
  curl_easy_setopt(easy.get(), CURLOPT_HEADERFUNCTION, header_callback);
  curl_easy_setopt(easy.get(), CURLOPT_HEADERDATA, &reply.headers);
  curl_easy_setopt(easy.get(), CURLOPT_WRITEFUNCTION, body_callback);
  curl_easy_setopt(easy.get(), CURLOPT_WRITEDATA, &sink);
  CURLcode rc = curl_easy_perform(easy.get());
  if (sink.too_big)
    return Status::Error(url + ": the reply is larger than " + std::to_string(max_body_bytes) +
                         " bytes");
  if (rc != CURLE_OK) return Status::Error(url + ": " + curl_easy_strerror(rc));
  curl_easy_getinfo(easy.get(), CURLINFO_RESPONSE_CODE, &reply.status);
  curl_off_t length = -1;
  curl_easy_getinfo(easy.get(), CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
  reply.content_length = length;
  return reply;
}

Status download_file(const std::string& url, const std::string& dest, uint64_t size_bytes,
                     const DownloadOptions& o, DownloadError* error) {
  ensure_curl_initialised();
  if (size_bytes > 0 && file_size_or_zero(dest) == size_bytes) {
    if (o.on_progress) o.on_progress(size_bytes);
    return Status::Ok();
  }
  std::vector<Transfer> transfers;
  const bool chunked =
      size_bytes > 0 && o.num_connections > 1 && size_bytes >= o.parallel_threshold_bytes;
  if (chunked) {
    ::unlink(dest.c_str());  // a single-stream leftover; the chunks hold this attempt's bytes
    const uint64_t n = (uint64_t)o.num_connections;
    const uint64_t chunk = (size_bytes + n - 1) / n;
    for (uint64_t i = 0; i < n && i * chunk < size_bytes; ++i) {
      Transfer t;
      t.path = dest + ".chunk" + std::to_string(i + 1) + "-of-" + std::to_string(n);
      t.offset = i * chunk;
      t.length = std::min(chunk, size_bytes - t.offset);
      transfers.push_back(std::move(t));
    }
  } else {
    Transfer t;
    t.path = dest;
    t.length = size_bytes;
    transfers.push_back(std::move(t));
  }

  Slist headers = auth_headers(o.token);
  std::unique_ptr<CURLM, CURLMcode (*)(CURLM*)> multi(curl_multi_init(), curl_multi_cleanup);
  if (!multi) return Status::Error("libcurl: cannot create a transfer set");
  Status result = Status::Ok();
  auto fail = [&](Status s) {
    for (Transfer& t : transfers) finish_transfer(multi.get(), t);
    return s;
  };
  for (Transfer& t : transfers) {
    if (Status s = start_transfer(multi.get(), t, url, headers.get()); !s.ok()) return fail(s);
  }
  auto bytes_on_disk = [&] {
    uint64_t total = 0;
    for (const Transfer& t : transfers) total += t.have;
    return total;
  };
  auto last_report = std::chrono::steady_clock::now();
  while (true) {
    if (o.cancel && o.cancel->load()) return fail(Status::Error("cancelled"));
    int running = 0;
    curl_multi_perform(multi.get(), &running);
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi.get(), &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Transfer* t = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
      const CURLcode rc = msg->data.result;
      long status = t->http_status;
      if (status == 0) curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
      finish_transfer(multi.get(), *t);
      if (!t->fatal.empty()) return fail(Status::Error(url + ": " + t->fatal));
      if (t->write_errno != 0)
        return fail(Status::Error(t->path + ": " + std::strerror(t->write_errno)));
      if (status >= 400) {
        if (error) error->http_status = status;
        return fail(Status::Error("HTTP " + std::to_string(status)));
      }
      const bool complete = rc == CURLE_OK && (t->length == 0 || t->have == t->length);
      if (complete) {
        t->done = true;
        continue;
      }
      if (t->attempts >= o.max_attempts)
        return fail(Status::Error(url + ": " +
                                  (rc == CURLE_OK ? std::string("the transfer ended early")
                                                  : std::string(curl_easy_strerror(rc))) +
                                  " (after " + std::to_string(t->attempts) +
                                  " attempts; pull again to resume)"));
      // A dropped connection: continue from what arrived.
      std::this_thread::sleep_for(std::chrono::milliseconds(100 * t->attempts));
      if (Status s = start_transfer(multi.get(), *t, url, headers.get()); !s.ok()) return fail(s);
    }
    const bool all_done =
        std::all_of(transfers.begin(), transfers.end(), [](const Transfer& t) { return t.done; });
    auto now = std::chrono::steady_clock::now();
    if (o.on_progress && (all_done || now - last_report > std::chrono::milliseconds(100))) {
      o.on_progress(bytes_on_disk());
      last_report = now;
    }
    if (all_done) break;
    curl_multi_poll(multi.get(), nullptr, 0, 100, nullptr);
  }
  if (!chunked) return result;

  // Join the chunks in order. On failure (disk full) the chunks stay for the next try.
  int out = ::open(dest.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) return Status::Error(dest + ": " + std::strerror(errno));
  for (const Transfer& t : transfers) {
    if (Status s = append_file(out, t.path, dest); !s.ok()) {
      ::close(out);
      ::unlink(dest.c_str());
      return s;
    }
  }
  if (::close(out) != 0) {
    int err = errno;
    ::unlink(dest.c_str());
    return Status::Error(dest + ": " + std::strerror(err));
  }
  for (const Transfer& t : transfers) ::unlink(t.path.c_str());
  return Status::Ok();
}

}  // namespace kiln::store
