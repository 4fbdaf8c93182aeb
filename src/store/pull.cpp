// ModelStore::pull: from a source to an installed model. Downloads land in
// ROOT/.tmp/<model dir>.partial/ and stay there when a pull fails (the next pull of the
// same name resumes them); only verified, runnable files move into a model directory.
#include <curl/curl.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "store/http_fetch.h"
#include "store/hub.h"
#include "store/model_store.h"
#include "store/sha256.h"

namespace kiln::store {

namespace fs = std::filesystem;

namespace {

struct RemoteFile {
  std::string url;
  std::string name;  // the file name in the model's directory
  uint64_t size_bytes = 0;
  std::string sha256;           // expected; empty when the source publishes none
  bool parallel_ranges = true;  // the server announced range support (the hub always does)
};

std::string env_or(const char* key, const std::string& fallback) {
  const char* v = std::getenv(key);
  return v && *v ? std::string(v) : fallback;
}

std::string escape_path(const std::string& path) {
  std::string out;
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    std::string part = path.substr(start, slash == std::string::npos ? slash : slash - start);
    char* esc = curl_easy_escape(nullptr, part.c_str(), (int)part.size());
    out += esc ? esc : part;
    curl_free(esc);
    if (slash == std::string::npos) break;
    out += '/';
    start = slash + 1;
  }
  return out;
}

bool is_sha256_hex(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!std::isxdigit((unsigned char)c)) return false;
  }
  return true;
}

std::string unquote_etag(std::string s) {
  if (s.starts_with("W/")) s = s.substr(2);
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  for (char& c : s) c = (char)std::tolower((unsigned char)c);
  return s;
}

// The message for an HTTP error status from the hub or a URL.
Status http_error(long status, const std::string& what, bool have_token) {
  if (status == 401 || status == 403) {
    return Status::Error(
        what + ": access denied (HTTP " + std::to_string(status) + "): " +
        (have_token ? "the token in HF_TOKEN was refused; check that it is valid and that "
                      "you accepted the model's terms on the hub"
                    : "the repository is gated or private; accept its terms on the hub "
                      "and set HF_TOKEN to an access token"));
  }
  if (status == 404) return Status::Error(what + ": not found (HTTP 404)");
  return Status::Error(what + ": HTTP " + std::to_string(status));
}

std::string file_name_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

StatusOr<Manifest> ModelStore::pull(std::string_view source_text, const PullProgressFn& progress,
                                    const std::atomic<bool>* cancel, const PullOptions& options) {
  std::error_code ec;
  auto report = [&](const std::string& status, uint64_t total = 0, uint64_t completed = 0) {
    if (progress) progress(PullProgress{status, total, completed});
  };
  auto source = parse_pull_source(source_text, fs::is_regular_file(std::string(source_text), ec));
  if (!source.ok()) return source.status();
  auto name = ModelName::parse(options.name.empty() ? source->default_name : options.name);
  if (!name.ok()) return name.status();
  const std::string endpoint = [&] {
    std::string e = options.endpoint.empty() ? env_or("HF_ENDPOINT", "https://huggingface.co")
                                             : options.endpoint;
    while (e.ends_with("/")) e.pop_back();
    return e;
  }();
  const std::string token = options.token.empty() ? env_or("HF_TOKEN", "") : options.token;

  Manifest m;
  m.name = name->full();
  m.source = std::string(source_text);
  m.added = utc_now_iso8601();

  if (source->kind == SourceKind::kLocalFile) {
    // An import is a create with nothing but FROM.
    std::lock_guard lock(write_mu_);
    report("importing " + source->path);
    auto facts = inspect_gguf(source->path);
    if (!facts.ok()) return facts.status();
    auto staging = make_staging_dir();
    if (!staging.ok()) return staging.status();
    report("verifying sha256 digest");
    if (Status s = stage_local_gguf(source->path, *staging, m); !s.ok()) {
      fs::remove_all(*staging, ec);
      return s;
    }
    m.source = fs::absolute(source->path).string();
    m.architecture = facts->architecture;
    m.quantization = facts->quantization;
    report("writing manifest");
    if (Status s = install(*staging, m); !s.ok()) {
      fs::remove_all(*staging, ec);
      return s;
    }
    report("success");
    return m;
  }

  // 1. Which files, how large, with which sha256.
  report("pulling manifest");
  std::vector<RemoteFile> files;
  if (source->kind == SourceKind::kUrl) {
    auto head = http_request(source->url, "", /*head=*/true);
    if (!head.ok()) return head.status();
    if (head->status >= 400) return http_error(head->status, source->url, false);
    std::vector<std::string> urls{source->url};
    const std::string fname = url_file_name(source->url);
    if (auto split = split_part_of(fname); split && split->index == 1) {
      // Every part: the same URL with the part number replaced.
      const std::string first = fname.substr(split->group.size());
      urls.clear();
      for (int i = 1; i <= split->count; ++i) {
        char suffix[32];
        std::snprintf(suffix, sizeof suffix, "-%05d-of-%05d", i, split->count);
        std::string url = source->url;
        url.replace(url.rfind(first), first.size(),
                    std::string(suffix) + first.substr(first.size() - 5));
        urls.push_back(url);
      }
    }
    for (const std::string& url : urls) {
      RemoteFile f;
      f.url = url;
      f.name = url_file_name(url);
      if (url == source->url) {
        f.size_bytes = head->content_length > 0 ? (uint64_t)head->content_length : 0;
        if (auto it = head->headers.find("x-linked-etag");
            it != head->headers.end() && is_sha256_hex(unquote_etag(it->second)))
          f.sha256 = unquote_etag(it->second);
        auto ranges = head->headers.find("accept-ranges");
        f.parallel_ranges = ranges != head->headers.end() && ranges->second == "bytes";
      }
      files.push_back(std::move(f));
    }
  } else {
    const std::string where = "hf.co/" + source->repo;
    const std::string tree_url = endpoint + "/api/models/" + source->repo + "/tree/" +
                                 escape_path(source->revision) + "?recursive=true";
    auto tree = http_request(tree_url, token, /*head=*/false);
    if (!tree.ok()) return tree.status();
    if (tree->status == 404)
      return Status::Error(where + ": repository not found on " + endpoint + " (HTTP 404)");
    if (tree->status >= 400) return http_error(tree->status, where, !token.empty());
    auto listing = parse_hub_tree(tree->body);
    if (!listing.ok()) return Status::Error(where + ": " + listing.message());
    auto chosen = source->kind == SourceKind::kHubRepo
                      ? select_by_quantization(*listing, source->quant, source->repo)
                      : select_by_path(*listing, source->file, source->repo);
    if (!chosen.ok()) return chosen.status();
    for (const HubFile& hf : *chosen) {
      RemoteFile f;
      f.url = endpoint + "/" + source->repo + "/resolve/" + escape_path(source->revision) + "/" +
              escape_path(hf.path);
      f.name = file_name_of(hf.path);
      f.size_bytes = hf.size_bytes;
      f.sha256 = hf.sha256;
      files.push_back(std::move(f));
    }
    // The first file's headers: access (a gated repository lists its files but refuses
    // them), the commit the revision points at, and the sha256 when the listing lacked it.
    auto head = http_request(files.front().url, token, /*head=*/true);
    if (!head.ok()) return head.status();
    if (head->status >= 400)
      return http_error(head->status, where + "/" + (*chosen)[0].path, !token.empty());
    if (auto it = head->headers.find("x-repo-commit"); it != head->headers.end())
      m.revision = it->second;
    if (auto it = head->headers.find("x-linked-etag"); it != head->headers.end() &&
                                                       files.front().sha256.empty() &&
                                                       is_sha256_hex(unquote_etag(it->second)))
      files.front().sha256 = unquote_etag(it->second);
    if (m.revision.empty()) m.revision = source->revision;
  }

  // 2. Download into the partial area (kept on failure for the next pull to resume).
  const std::string partial_dir = tmp_dir() + "/" + name->directory() + ".partial";
  fs::create_directories(partial_dir, ec);
  if (ec) return Status::Error(partial_dir + ": " + ec.message());
  uint64_t total = 0;
  for (const RemoteFile& f : files) total += f.size_bytes;
  uint64_t finished_bytes = 0;
  for (const RemoteFile& f : files) {
    DownloadOptions d;
    d.token = token;
    d.num_connections = f.parallel_ranges ? options.num_connections : 1;
    d.parallel_threshold_bytes = options.parallel_threshold_bytes;
    d.max_attempts = options.max_attempts;
    d.cancel = cancel;
    const std::string status = "pulling " + f.name;
    d.on_progress = [&](uint64_t done) { report(status, total, finished_bytes + done); };
    report(status, total, finished_bytes);
    DownloadError error;
    const std::string dest = partial_dir + "/" + f.name;
    Status s = download_file(f.url, dest, f.size_bytes, d, &error);
    if (!s.ok()) {
      if (error.http_status != 0) {
        const std::string what =
            source->kind == SourceKind::kUrl ? f.url : "hf.co/" + source->repo + "/" + f.name;
        return http_error(error.http_status, what, !token.empty());
      }
      return Status::Error("pulling " + f.name + ": " + s.message());
    }
    finished_bytes += fs::file_size(dest, ec);
    if (total < finished_bytes) total = finished_bytes;
  }

  // 3. Verify: sizes, sha256, and that kiln can run it. A file that fails is deleted:
  // resuming it could only repeat the failure.
  report("verifying sha256 digest");
  auto discard = [&](Status s) -> StatusOr<Manifest> {
    fs::remove_all(partial_dir, ec);
    return s;
  };
  for (const RemoteFile& f : files) {
    const std::string path = partial_dir + "/" + f.name;
    if (f.size_bytes != 0 && fs::file_size(path, ec) != f.size_bytes)
      return discard(Status::Error(f.name + ": " + std::to_string(fs::file_size(path, ec)) +
                                   " bytes arrived, " + std::to_string(f.size_bytes) +
                                   " were announced; the download was deleted"));
    if (f.sha256.empty()) continue;
    auto sha = sha256_file(path);
    if (!sha.ok()) return sha.status();
    if (*sha != f.sha256)
      return discard(Status::Error(f.name + ": sha256 mismatch: the hub publishes " + f.sha256 +
                                   ", the download has " + *sha +
                                   "; the download was deleted (pull again)"));
  }
  const std::string first = partial_dir + "/" + files.front().name;
  auto facts = inspect_gguf(first);
  if (!facts.ok())
    return discard(Status::Error(std::string(source_text) +
                                 " is not a model kiln can run: " + facts.message()));

  // 4. Assemble the model's directory and install it in one rename.
  report("writing manifest");
  std::lock_guard lock(write_mu_);
  auto staging = make_staging_dir();
  if (!staging.ok()) return staging.status();
  for (const RemoteFile& f : files) {
    fs::rename(partial_dir + "/" + f.name, *staging + "/" + f.name, ec);
    if (ec) {
      fs::remove_all(*staging, ec);
      return Status::Error("moving " + f.name + " into the store: " + ec.message());
    }
    m.parts.push_back(f.name);
    m.size_bytes += fs::file_size(*staging + "/" + f.name, ec);
  }
  m.file = files.front().name;
  if (files.front().sha256.empty()) {
    auto sha = sha256_file(*staging + "/" + m.file);
    if (!sha.ok()) return sha.status();
    m.sha256 = *sha;
  } else {
    m.sha256 = files.front().sha256;
  }
  m.architecture = facts->architecture;
  m.quantization = facts->quantization;
  if (Status s = install(*staging, m); !s.ok()) {
    fs::remove_all(*staging, ec);
    return s;
  }
  fs::remove_all(partial_dir, ec);
  report("success");
  return m;
}

}  // namespace kiln::store
