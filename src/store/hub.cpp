#include "store/hub.h"

#include <algorithm>
#include <cstdio>
#include <cctype>
#include <map>
#include <nlohmann/json.hpp>

namespace kiln::store {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = (char)std::tolower((unsigned char)c);
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = (char)std::toupper((unsigned char)c);
  return out;
}

bool ends_with_gguf(std::string_view s) { return lower(s).ends_with(".gguf"); }

std::string base_name(std::string_view path) {
  size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

// A name part from free text: characters a model name cannot hold become '-'.
std::string sanitize(std::string_view s) {
  std::string out;
  for (char c : s) {
    bool ok = std::isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-';
    out += ok ? c : '-';
  }
  if (out.empty() || out == "." || out == "..") out = "model";
  return out;
}

std::string stem_of(std::string_view path) {
  std::string name = base_name(path);
  if (ends_with_gguf(name)) name.resize(name.size() - 5);
  return name;
}

bool is_projector(std::string_view path) {
  return lower(base_name(path)).find("mmproj") != std::string::npos;
}

std::string default_hub_name(std::string_view repo, std::string_view tag) {
  return "hf.co/" + std::string(repo) + ":" + std::string(tag.empty() ? "latest" : tag);
}

const char kSourceHelp[] =
    "expected hf.co/OWNER/REPO[:QUANT], [hf.co/]OWNER/REPO/FILE.gguf, an http(s) URL of a "
    ".gguf file, or the path of a local .gguf file";

}  // namespace

StatusOr<PullSource> parse_pull_source(std::string_view source, bool file_exists) {
  PullSource out;
  const std::string text(source);
  if (text.empty()) return Status::Error("the source is empty; " + std::string(kSourceHelp));
  if (file_exists) {
    out.kind = SourceKind::kLocalFile;
    out.path = text;
    // A split GGUF's first part names the model without its -00001-of-0000N.
    const auto split = split_part_of(base_name(text));
    out.default_name = sanitize(stem_of(split ? split->group + ".gguf" : text)) + ":latest";
    return out;
  }
  const std::string low = lower(text);
  if (low.starts_with("http://") || low.starts_with("https://")) {
    out.kind = SourceKind::kUrl;
    out.url = text;
    std::string file = url_file_name(text);
    if (file.empty()) return Status::Error("'" + text + "': the URL names no file");
    out.default_name = sanitize(stem_of(file)) + ":latest";
    return out;
  }
  std::string rest = text;
  for (const char* prefix : {"hf.co/", "huggingface.co/"}) {
    if (low.starts_with(prefix)) rest = text.substr(std::string_view(prefix).size());
  }
  if (text.starts_with("/") || text.starts_with("./") || text.starts_with("../") ||
      (ends_with_gguf(text) && rest.find('/') == std::string::npos))
    return Status::Error("'" + text + "': no such file");
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    size_t slash = rest.find('/', start);
    parts.push_back(rest.substr(start, slash == std::string::npos ? slash : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  for (const std::string& p : parts) {
    if (p.empty())
      return Status::Error("'" + text + "' is not a source kiln can pull: " + kSourceHelp);
  }
  if (parts.size() == 2) {
    out.kind = SourceKind::kHubRepo;
    std::string repo_name = parts[1];
    if (size_t colon = repo_name.find(':'); colon != std::string::npos) {
      out.quant = repo_name.substr(colon + 1);
      repo_name.resize(colon);
      if (out.quant.empty() || repo_name.empty())
        return Status::Error("'" + text + "' is not a source kiln can pull: " + kSourceHelp);
    }
    out.repo = parts[0] + "/" + repo_name;
    out.default_name = default_hub_name(out.repo, out.quant);
    return out;
  }
  if (parts.size() >= 3 && ends_with_gguf(parts.back())) {
    out.kind = SourceKind::kHubFile;
    out.repo = parts[0] + "/" + parts[1];
    for (size_t i = 2; i < parts.size(); ++i) out.file += (i > 2 ? "/" : "") + parts[i];
    std::string quant = quantization_in_filename(out.file);
    out.default_name =
        default_hub_name(out.repo, quant.empty() ? sanitize(stem_of(out.file)) : quant);
    return out;
  }
  return Status::Error("'" + text + "' is not a source kiln can pull: " + kSourceHelp);
}

StatusOr<std::vector<HubFile>> parse_hub_tree(std::string_view json_text) {
  auto j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_array())
    return Status::Error("the hub's file listing is not a JSON array");
  std::vector<HubFile> out;
  for (const auto& e : j) {
    if (!e.is_object() || e.value("type", "") != "file") continue;
    auto path = e.find("path");
    if (path == e.end() || !path->is_string()) continue;
    HubFile f;
    f.path = path->get<std::string>();
    if (auto size = e.find("size"); size != e.end() && size->is_number_unsigned())
      f.size_bytes = size->get<uint64_t>();
    if (auto lfs = e.find("lfs"); lfs != e.end() && lfs->is_object()) {
      if (auto oid = lfs->find("oid"); oid != lfs->end() && oid->is_string())
        f.sha256 = lower(oid->get<std::string>());
      if (auto size = lfs->find("size"); size != lfs->end() && size->is_number_unsigned())
        f.size_bytes = size->get<uint64_t>();
    }
    out.push_back(std::move(f));
  }
  return out;
}

std::string split_part_path(const SplitPart& p, int index) {
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, "-%05d-of-%05d.gguf", index, p.count);
  return p.group + suffix;
}

std::optional<SplitPart> split_part_of(std::string_view path) {
  // NAME-NNNNN-of-NNNNN.gguf (llama.cpp's gguf-split naming).
  constexpr size_t kSuffix = 15;  // "-00001-of-00003"
  if (!ends_with_gguf(path)) return std::nullopt;
  std::string_view stem = path.substr(0, path.size() - 5);
  if (stem.size() <= kSuffix) return std::nullopt;
  std::string_view suffix = stem.substr(stem.size() - kSuffix);
  auto digits = [](std::string_view d) {
    return std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (suffix[0] != '-' || lower(suffix.substr(6, 4)) != "-of-" || !digits(suffix.substr(1, 5)) ||
      !digits(suffix.substr(10, 5)))
    return std::nullopt;
  SplitPart p;
  p.group = std::string(stem.substr(0, stem.size() - kSuffix));
  p.index = std::stoi(std::string(suffix.substr(1, 5)));
  p.count = std::stoi(std::string(suffix.substr(10, 5)));
  if (p.index < 1 || p.count < 1 || p.index > p.count) return std::nullopt;
  return p;
}

namespace {

// A quantization's name: (i)(t)q<digits>(_<alnum>)*, or a float type. Case-insensitive.
bool is_quantization_token(std::string_view token) {
  const std::string t = lower(token);
  if (t == "bf16" || t == "f16" || t == "fp16" || t == "f32") return true;
  size_t i = 0;
  if (i < t.size() && t[i] == 'i') ++i;
  if (i < t.size() && t[i] == 't') ++i;
  if (i >= t.size() || t[i] != 'q') return false;
  ++i;
  const size_t digits_start = i;
  while (i < t.size() && std::isdigit((unsigned char)t[i])) ++i;
  if (i == digits_start) return false;
  while (i < t.size()) {
    if (t[i] != '_') return false;
    const size_t part_start = ++i;
    while (i < t.size() && std::isalnum((unsigned char)t[i])) ++i;
    if (i == part_start) return false;
  }
  return true;
}

}  // namespace

std::string quantization_in_filename(std::string_view path) {
  std::string stem = stem_of(path);
  if (auto split = split_part_of(base_name(path))) stem = stem_of(split->group + ".gguf");
  std::vector<std::string> tokens;
  std::string token;
  for (char c : stem) {
    if (c == '-' || c == '.') {
      tokens.push_back(token);
      token.clear();
    } else {
      token += c;
    }
  }
  tokens.push_back(token);
  for (auto it = tokens.rbegin(); it != tokens.rend(); ++it) {
    if (is_quantization_token(*it)) return upper(*it);
  }
  return "";
}

namespace {

// GGUF files grouped into models: a single file, or the parts of a split file in order.
std::map<std::string, std::vector<HubFile>> gguf_models(const std::vector<HubFile>& files) {
  std::map<std::string, std::vector<HubFile>> out;
  for (const HubFile& f : files) {
    if (!ends_with_gguf(f.path) || is_projector(f.path)) continue;
    auto split = split_part_of(f.path);
    out[split ? split->group : f.path].push_back(f);
  }
  for (auto& [group, parts] : out) {
    std::sort(parts.begin(), parts.end(),
              [](const HubFile& a, const HubFile& b) { return a.path < b.path; });
  }
  return out;
}

Status check_complete(const std::vector<HubFile>& parts, std::string_view repo) {
  auto split = split_part_of(parts.front().path);
  if (!split) return Status::Ok();
  if ((int)parts.size() != split->count)
    return Status::Error("hf.co/" + std::string(repo) + ": split GGUF " + split->group + " has " +
                         std::to_string(parts.size()) + " of its " + std::to_string(split->count) +
                         " parts");
  return Status::Ok();
}

}  // namespace

StatusOr<std::vector<HubFile>> select_by_quantization(const std::vector<HubFile>& files,
                                                      std::string_view quant,
                                                      std::string_view repo) {
  auto models = gguf_models(files);
  const std::string where = "hf.co/" + std::string(repo);
  if (models.empty()) return Status::Error(where + " holds no .gguf files");
  std::string available;
  std::vector<std::string> seen;
  for (const auto& [group, parts] : models) {
    std::string q = quantization_in_filename(parts.front().path);
    if (q.empty()) q = stem_of(group);
    if (std::find(seen.begin(), seen.end(), q) == seen.end()) {
      seen.push_back(q);
      available += (available.empty() ? "" : ", ") + q;
    }
  }
  std::string wanted = upper(quant);
  if (wanted.empty()) {
    if (models.size() == 1) {
      KILN_RETURN_IF_ERROR(check_complete(models.begin()->second, repo));
      return models.begin()->second;
    }
    wanted = "Q4_K_M";  // Ollama's default when a repository holds several
  }
  for (const auto& [group, parts] : models) {
    if (quantization_in_filename(parts.front().path) == wanted) {
      KILN_RETURN_IF_ERROR(check_complete(parts, repo));
      return parts;
    }
  }
  if (quant.empty())
    return Status::Error(where + " holds several GGUF files and none is Q4_K_M; name one as " +
                         where + ":QUANT (available: " + available + ")");
  return Status::Error(where + " has no GGUF file for quantization '" + std::string(quant) +
                       "' (available: " + available + ")");
}

StatusOr<std::vector<HubFile>> select_by_path(const std::vector<HubFile>& files,
                                              std::string_view path, std::string_view repo) {
  auto models = gguf_models(files);
  auto split = split_part_of(path);
  auto it = models.find(split ? split->group : std::string(path));
  bool present = false;
  if (it != models.end()) {
    for (const HubFile& f : it->second) present = present || f.path == path;
  }
  if (!present) {
    std::string names;
    for (const auto& [group, parts] : models) {
      for (const HubFile& f : parts) names += (names.empty() ? "" : ", ") + f.path;
    }
    return Status::Error("hf.co/" + std::string(repo) + " has no file '" + std::string(path) + "'" +
                         (names.empty() ? std::string(" (it holds no .gguf files)")
                                        : " (its GGUF files: " + names + ")"));
  }
  KILN_RETURN_IF_ERROR(check_complete(it->second, repo));
  return it->second;
}

std::string url_file_name(std::string_view url) {
  std::string_view u = url.substr(0, url.find_first_of("?#"));
  size_t scheme = u.find("://");
  if (scheme != std::string_view::npos) u = u.substr(scheme + 3);
  size_t slash = u.rfind('/');
  if (slash == std::string_view::npos) return "";
  return std::string(u.substr(slash + 1));
}

}  // namespace kiln::store
