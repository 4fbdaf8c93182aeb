#include "store/model_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "chat/chat_template.h"
#include "gguf/file_type.h"
#include "gguf/reader.h"
#include "model/model.h"
#include "store/hub.h"
#include "store/modelfile.h"
#include "store/sha256.h"

namespace kiln::store {

namespace fs = std::filesystem;

namespace {

constexpr const char* kManifestFile = "manifest.json";
constexpr int kMaxBaseDepth = 16;

std::string errno_text(int err) { return std::strerror(err); }

StatusOr<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Error(path + ": " + errno_text(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes and fsyncs, so a renamed directory never holds a torn manifest.
Status write_text_file(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::Error(path + ": " + errno_text(errno));
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return Status::Error(path + ": " + errno_text(err));
    }
    done += (size_t)n;
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) return Status::Error(path + ": " + errno_text(errno));
  return Status::Ok();
}

// A hard link where the file system allows one (no bytes copied), else a copy.
Status link_or_copy(const std::string& src, const std::string& dst) {
  std::error_code ec;
  fs::create_hard_link(src, dst, ec);
  if (!ec) return Status::Ok();
  fs::copy_file(src, dst, fs::copy_options::overwrite_existing, ec);
  if (ec) {
    fs::remove(dst, ec);
    return Status::Error("copying " + src + " to " + dst + ": " + ec.message());
  }
  return Status::Ok();
}

}  // namespace

Status ModelStore::stage_local_gguf(const std::string& path, const std::string& staging_dir,
                                    Manifest& m) {
  std::vector<std::string> sources{path};
  if (auto split = split_part_of(path); split && split->index == 1) {
    std::vector<std::string> parts;
    for (int i = 1; i <= split->count; ++i) parts.push_back(split_part_path(*split, i));
    // A real split's parts all exist (the reader opened them); a single file that is only
    // named like a first part has none beside it.
    std::error_code ec;
    if (std::all_of(parts.begin(), parts.end(),
                    [&](const std::string& p) { return fs::exists(p, ec); }))
      sources = std::move(parts);
  }
  m.parts.clear();
  m.size_bytes = 0;
  for (const std::string& src : sources) {
    const std::string name = fs::path(src).filename().string();
    KILN_RETURN_IF_ERROR(link_or_copy(src, staging_dir + "/" + name));
    std::error_code ec;
    m.parts.push_back(name);
    m.size_bytes += fs::file_size(staging_dir + "/" + name, ec);
  }
  m.file = m.parts.front();
  auto sha = sha256_file(staging_dir + "/" + m.file);
  if (!sha.ok()) return sha.status();
  m.sha256 = *sha;
  return Status::Ok();
}

namespace {

std::string random_suffix() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)rng());
  return buf;
}

}  // namespace

StatusOr<GgufFacts> inspect_gguf(const std::string& path) {
  auto file = gguf::File::open(path);
  if (!file.ok()) return file.status();
  GgufFacts facts;
  auto arch = file->get_string("general.architecture");
  if (!arch) return Status::Error(path + ": no general.architecture in its metadata");
  facts.architecture = std::string(*arch);
  std::string supported;
  bool ok = false;
  for (std::string_view a : supported_architectures()) {
    supported += (supported.empty() ? "" : ", ") + std::string(a);
    ok = ok || a == facts.architecture;
  }
  if (!ok)
    return Status::Error(path + ": kiln cannot run architecture '" + facts.architecture +
                         "' (supported: " + supported + ")");
  if (auto ft = file->get_int("general.file_type")) {
    facts.quantization = gguf::file_type_name(*ft);
  } else {
    facts.quantization = "unknown";
  }
  return facts;
}

ModelStore::ModelStore(std::string root) : root_(std::move(root)) {}

std::string ModelStore::default_root() {
  if (const char* home = std::getenv("KILN_HOME"); home && *home)
    return std::string(home) + "/models";
  const char* user_home = std::getenv("HOME");
  return std::string(user_home && *user_home ? user_home : ".") + "/.cache/kiln/models";
}

StatusOr<Manifest> ModelStore::read_manifest(const ModelName& name) const {
  const std::string path = model_dir(name) + "/" + kManifestFile;
  std::error_code ec;
  if (!fs::exists(path, ec)) return Status::Error("not found");
  auto text = read_text_file(path);
  if (!text.ok()) return text.status();
  auto j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Error(path + ": not valid JSON");
  auto m = Manifest::from_json(j);
  if (!m.ok()) return Status::Error(path + ": " + m.message());
  if (m->name != name.full())
    return Status::Error(path + ": names '" + m->name + "', not '" + name.full() + "'");
  return m;
}

std::vector<Manifest> ModelStore::list() const {
  std::vector<Manifest> out;
  std::error_code ec;
  for (fs::directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string dir = it->path().filename().string();
    if (dir.empty() || dir[0] == '.' || !it->is_directory(ec)) continue;
    auto name = ModelName::from_directory(dir);
    if (!name.ok()) continue;
    auto m = read_manifest(*name);
    if (m.ok()) out.push_back(std::move(*m));
  }
  std::sort(out.begin(), out.end(),
            [](const Manifest& a, const Manifest& b) { return a.name < b.name; });
  return out;
}

std::string ModelStore::names_for_message() const {
  std::vector<Manifest> models = list();
  if (models.empty())
    return "the store (" + root_ + ") is empty; `kiln pull SOURCE` fetches a model";
  std::string names;
  for (const Manifest& m : models) names += (names.empty() ? "" : ", ") + m.name;
  return "the store (" + root_ + ") holds: " + names;
}

StatusOr<ResolvedModel> ModelStore::find(std::string_view text) const {
  auto name = ModelName::parse(text);
  if (!name.ok()) return name.status();
  auto own = read_manifest(*name);
  if (!own.ok()) {
    if (own.message() == "not found")
      return Status::Error("model '" + name->full() + "' not found; " + names_for_message());
    return own.status();
  }
  ResolvedModel r;
  r.from_store = true;
  r.manifest = *own;
  // Walk to the weights, collecting defaults from the base up.
  std::vector<ModelDefaults> chain{own->defaults};
  Manifest current = *own;
  ModelName current_name = *name;
  for (int depth = 0; current.file.empty(); ++depth) {
    if (depth >= kMaxBaseDepth)
      return Status::Error("model '" + name->full() + "': its chain of bases is longer than " +
                           std::to_string(kMaxBaseDepth) + " (a cycle?)");
    auto base_name = ModelName::parse(current.base);
    if (!base_name.ok()) return base_name.status();
    auto base = read_manifest(*base_name);
    if (!base.ok())
      return Status::Error("model '" + name->full() + "': its base '" + current.base + "' is " +
                           (base.message() == "not found" ? "gone" : base.message()));
    current = *base;
    current_name = *base_name;
    chain.push_back(current.defaults);
  }
  for (auto it = chain.rbegin(); it != chain.rend(); ++it)
    r.defaults = ModelDefaults::merge(r.defaults, *it);
  r.weights_manifest = current;
  r.gguf_path = fs::absolute(model_dir(current_name) + "/" + current.file).string();
  return r;
}

StatusOr<std::string> ModelStore::make_staging_dir() const {
  std::error_code ec;
  fs::create_directories(tmp_dir(), ec);
  if (ec) return Status::Error(tmp_dir() + ": " + ec.message());
  std::string dir = tmp_dir() + "/stage-" + random_suffix();
  if (!fs::create_directory(dir, ec) || ec)
    return Status::Error(dir + ": " + (ec ? ec.message() : std::string("exists")));
  return dir;
}

Status ModelStore::install(const std::string& staging_dir, const Manifest& manifest) {
  auto name = ModelName::parse(manifest.name);
  if (!name.ok()) return name.status();
  KILN_RETURN_IF_ERROR(
      write_text_file(staging_dir + "/" + kManifestFile, manifest.to_json().dump(2) + "\n"));
  const std::string target = model_dir(*name);
  if (::rename(staging_dir.c_str(), target.c_str()) == 0) return Status::Ok();
  if (errno != ENOTEMPTY && errno != EEXIST)
    return Status::Error("installing " + target + ": " + errno_text(errno));
  // A model of that name exists: swap the two directories in one step, so a reader sees
  // the old model or the new one, never neither; then delete the old one.
  if (::renameat2(AT_FDCWD, staging_dir.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) != 0)
    return Status::Error("replacing " + target + ": " + errno_text(errno));
  std::error_code ec;
  fs::remove_all(staging_dir, ec);
  return Status::Ok();
}

Status ModelStore::remove(std::string_view text) {
  std::lock_guard lock(write_mu_);
  auto name = ModelName::parse(text);
  if (!name.ok()) return name.status();
  auto own = read_manifest(*name);
  if (!own.ok())
    return Status::Error(own.message() == "not found"
                             ? "model '" + name->full() + "' not found; " + names_for_message()
                             : own.message());
  std::string dependents;
  for (const Manifest& m : list()) {
    if (m.base == name->full()) dependents += (dependents.empty() ? "" : ", ") + m.name;
  }
  if (!dependents.empty())
    return Status::Error("model '" + name->full() + "' is the base of " + dependents +
                         "; remove those first");
  std::error_code ec;
  fs::create_directories(tmp_dir(), ec);
  // Out of sight in one rename, then deleted at leisure.
  const std::string doomed = tmp_dir() + "/removed-" + random_suffix();
  if (::rename(model_dir(*name).c_str(), doomed.c_str()) != 0)
    return Status::Error("removing " + model_dir(*name) + ": " + errno_text(errno));
  fs::remove_all(doomed, ec);
  return Status::Ok();
}

Status ModelStore::copy(std::string_view src_text, std::string_view dst_text) {
  std::lock_guard lock(write_mu_);
  auto src = ModelName::parse(src_text);
  if (!src.ok()) return src.status();
  auto dst = ModelName::parse(dst_text);
  if (!dst.ok()) return dst.status();
  auto m = read_manifest(*src);
  if (!m.ok())
    return Status::Error(m.message() == "not found"
                             ? "model '" + src->full() + "' not found; " + names_for_message()
                             : m.message());
  if (src->full() == dst->full()) return Status::Error("'" + src->full() + "' is the same model");
  auto staging = make_staging_dir();
  if (!staging.ok()) return staging.status();
  std::vector<std::string> files =
      m->parts.empty() && !m->file.empty() ? std::vector<std::string>{m->file} : m->parts;
  for (const std::string& f : files) {
    Status s = link_or_copy(model_dir(*src) + "/" + f, *staging + "/" + f);
    if (!s.ok()) {
      std::error_code ec;
      fs::remove_all(*staging, ec);
      return s;
    }
  }
  Manifest copy = *m;
  copy.name = dst->full();
  copy.added = utc_now_iso8601();
  Status s = install(*staging, copy);
  if (!s.ok()) {
    std::error_code ec;
    fs::remove_all(*staging, ec);
  }
  return s;
}

StatusOr<Manifest> ModelStore::create(std::string_view name_text, std::string_view modelfile_text,
                                      const std::string& base_dir) {
  auto name = ModelName::parse(name_text);
  if (!name.ok()) return name.status();
  auto mf = parse_modelfile(modelfile_text);
  if (!mf.ok()) return Status::Error("Modelfile " + mf.message());
  if (mf->defaults.chat_template) {
    auto t = chat::ChatTemplate::parse(*mf->defaults.chat_template);
    if (!t.ok()) return Status::Error("Modelfile TEMPLATE: " + t.message());
  }
  Manifest m;
  m.name = name->full();
  m.source = "create";
  m.added = utc_now_iso8601();
  m.defaults = mf->defaults;

  fs::path from_path(mf->from);
  if (from_path.is_relative()) from_path = fs::path(base_dir) / from_path;
  std::error_code ec;
  const bool from_file = fs::is_regular_file(from_path, ec);

  std::lock_guard lock(write_mu_);
  auto staging = make_staging_dir();
  if (!staging.ok()) return staging.status();
  auto fail = [&](Status s) -> StatusOr<Manifest> {
    std::error_code ignored;
    fs::remove_all(*staging, ignored);
    return s;
  };
  if (from_file) {
    auto facts = inspect_gguf(from_path.string());
    if (!facts.ok()) return fail(facts.status());
    if (Status s = stage_local_gguf(from_path.string(), *staging, m); !s.ok()) return fail(s);
    m.architecture = facts->architecture;
    m.quantization = facts->quantization;
    m.source = fs::absolute(from_path).string();
  } else {
    auto base_name = ModelName::parse(mf->from);
    if (!base_name.ok())
      return fail(Status::Error("Modelfile FROM '" + mf->from +
                                "' is neither a file nor a model name: " + base_name.message()));
    auto base = find(base_name->full());
    if (!base.ok())
      return fail(Status::Error("Modelfile FROM '" + mf->from +
                                "' is neither a file nor a model in the store: " + base.message()));
    if (base_name->full() == m.name)
      return fail(Status::Error("a model cannot be created FROM itself"));
    m.base = base_name->full();
    m.sha256 = base->weights_manifest.sha256;
    m.size_bytes = base->weights_manifest.size_bytes;
    m.architecture = base->weights_manifest.architecture;
    m.quantization = base->weights_manifest.quantization;
  }
  if (Status s = install(*staging, m); !s.ok()) return fail(s);
  return m;
}

}  // namespace kiln::store
