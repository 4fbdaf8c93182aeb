// What `kiln pull` is given, and which files of a Hugging Face repository it means: plain
// functions over strings and the hub's tree listing (no network), so they are unit-tested
// directly. The protocol is the hub's: GET {endpoint}/api/models/{repo}/tree/{revision}
// lists files (LFS files carry `lfs.oid`, their sha256), and
// GET {endpoint}/{repo}/resolve/{revision}/{path} serves a file (usually a redirect).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace kiln::store {

enum class SourceKind {
  kHubRepo,    // hf.co/OWNER/REPO[:QUANT] (also without hf.co/)
  kHubFile,    // [hf.co/]OWNER/REPO/PATH.gguf
  kUrl,        // http(s)://.../FILE.gguf
  kLocalFile,  // an existing file: imported
};

struct PullSource {
  SourceKind kind = SourceKind::kHubRepo;
  std::string repo;   // OWNER/REPO (hub kinds)
  std::string quant;  // kHubRepo: the requested quantization, as typed; empty: pick one
  std::string file;   // kHubFile: the path inside the repository
  std::string url;    // kUrl
  std::string path;   // kLocalFile
  std::string revision = "main";
  std::string default_name;  // the model's name in the store when the user gives none
};

// `file_exists` is injected so tests need no files: it says whether a text is a local path.
StatusOr<PullSource> parse_pull_source(std::string_view source, bool file_exists);

struct HubFile {
  std::string path;
  uint64_t size_bytes = 0;
  std::string sha256;  // lfs.oid; empty for a file not in LFS
};

// Parses the tree listing (a JSON array); only `type: "file"` entries are kept.
StatusOr<std::vector<HubFile>> parse_hub_tree(std::string_view json_text);

// The quantization a GGUF's file name carries, upper-cased ("Q4_K_M", "IQ4_XS", "F16"),
// or empty. A split suffix (-00001-of-00003) and the directory are ignored.
std::string quantization_in_filename(std::string_view path);

struct SplitPart {
  int index = 0;  // 1-based
  int count = 0;
  std::string group;  // the path without the -NNNNN-of-NNNNN suffix
};
std::optional<SplitPart> split_part_of(std::string_view path);
// The path of part `index` (1-based) of the split that `p` belongs to: GROUP-0000I-of-0000N.gguf.
std::string split_part_path(const SplitPart& p, int index);

// The file(s) of one model: a single GGUF, or every part of a split one, in order.
// `quant` empty: the only GGUF, else the Q4_K_M one. Errors list the quantizations there.
StatusOr<std::vector<HubFile>> select_by_quantization(const std::vector<HubFile>& files,
                                                      std::string_view quant,
                                                      std::string_view repo);
// `path` and, when it is one part of a split GGUF, all its siblings.
StatusOr<std::vector<HubFile>> select_by_path(const std::vector<HubFile>& files,
                                              std::string_view path, std::string_view repo);

// The file name a URL ends in ("" when none), without query or fragment.
std::string url_file_name(std::string_view url);

}  // namespace kiln::store
