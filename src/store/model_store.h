// The model store: one directory per model under a root, each holding its GGUF (all parts
// of a split file) and `manifest.json`; a `kiln create`d variant holds only the manifest,
// which names its base. Knows no HTTP server; `kiln serve` and the CLI both use it.
//
// Layout (docs/models.md): ROOT/<ModelName::directory()>/{manifest.json, *.gguf} and
// ROOT/.tmp/ for downloads in progress and models being assembled. Anything else under
// ROOT (the loose .gguf files scripts/fetch_model.sh puts there, directories without a
// manifest) is ignored, so the store shares ~/.cache/kiln/models with them.
//
// Atomicity: a model appears by one rename of a complete directory (weights verified,
// manifest written) from .tmp/ into ROOT, so list() and find() never see half a model.
// Thread safety: reads (list, find) touch only the file system and may run from any
// number of threads, also while another thread or process writes; writes through one
// ModelStore are serialised by its mutex.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "store/manifest.h"
#include "store/model_name.h"
#include "util/status.h"

namespace kiln::store {

// A named model made usable: its own manifest, where its weights are (following a
// created variant to its base) and its defaults merged along that chain.
struct ResolvedModel {
  Manifest manifest;          // the named model's own (empty name for a bare file path)
  Manifest weights_manifest;  // the manifest that holds the weights (== manifest unless created)
  std::string gguf_path;      // absolute path of the GGUF (the first part of a split file)
  ModelDefaults defaults;     // base first, each variant over it
  bool from_store = false;    // false: a file path given directly
};

// What a pull reports as it goes, in Ollama's `/api/pull` terms: a status line
// ("pulling manifest", "pulling <file>", "verifying sha256 digest", "writing manifest",
// "success") and, while bytes move, the total and completed byte counts of the transfer.
struct PullProgress {
  std::string status;
  uint64_t total_bytes = 0;
  uint64_t completed_bytes = 0;
};
using PullProgressFn = std::function<void(const PullProgress&)>;

struct PullOptions {
  std::string name;  // the model's name in the store; empty: derived from the source
  // Files of at least this size are fetched as `num_connections` parallel ranges.
  uint64_t parallel_threshold_bytes = 64ull << 20;
  int num_connections = 4;
  int max_attempts = 4;  // per transfer: a dropped connection resumes from what arrived
  // Empty: HF_ENDPOINT, else https://huggingface.co; and HF_TOKEN.
  std::string endpoint;
  std::string token;
};

// Facts read from a GGUF's metadata.
struct GgufFacts {
  std::string architecture;
  std::string quantization;
};
// Opens `path` with kiln's GGUF reader and checks that kiln runs its architecture; the
// error names the file, the architecture and the supported ones.
StatusOr<GgufFacts> inspect_gguf(const std::string& path);

class ModelStore {
 public:
  explicit ModelStore(std::string root);
  ModelStore(const ModelStore&) = delete;
  ModelStore& operator=(const ModelStore&) = delete;

  // $KILN_HOME/models when KILN_HOME is set, else ~/.cache/kiln/models.
  static std::string default_root();

  const std::string& root() const { return root_; }

  // Every model, sorted by name. A directory whose manifest does not read is skipped.
  std::vector<Manifest> list() const;
  // `name` may omit the tag (":latest"). Not found: the error lists what the store holds.
  StatusOr<ResolvedModel> find(std::string_view name) const;

  // Refused while another model is created from it (the error names them).
  Status remove(std::string_view name);
  // A new name for the same weights (hard-linked; copied where links are impossible).
  Status copy(std::string_view src, std::string_view dst);
  // A variant from a Modelfile. A FROM that names an existing file is imported as the
  // variant's weights (hard link, else copy); otherwise it is a store name, and the
  // variant refers to it. `base_dir` resolves a relative FROM path (the Modelfile's folder).
  StatusOr<Manifest> create(std::string_view name, std::string_view modelfile_text,
                            const std::string& base_dir = ".");
  // Fetch a model (pull.cpp; docs/models.md lists the sources). `cancel` (may be null)
  // stops it at the next chunk of bytes; a cancelled or failed pull leaves no model, only
  // its partial download under .tmp/ to resume from.
  StatusOr<Manifest> pull(std::string_view source, const PullProgressFn& progress,
                          const std::atomic<bool>* cancel, const PullOptions& options = {});

  // --- for pull.cpp ---
  std::string tmp_dir() const { return root_ + "/.tmp"; }
  // A fresh empty directory under .tmp/ to assemble a model in.
  StatusOr<std::string> make_staging_dir() const;
  // Links (else copies) the local GGUF `path` into `staging_dir`, every part of a split one
  // (named NAME-00001-of-0000N.gguf; the reader has opened them all), and fills the
  // manifest's file, parts, size_bytes and sha256 (of the first part). Also for create().
  static Status stage_local_gguf(const std::string& path, const std::string& staging_dir,
                                 Manifest& m);
  // Writes the manifest into `staging_dir` and renames it to the model's directory,
  // replacing a model of the same name (exchanged in one rename, then deleted).
  Status install(const std::string& staging_dir, const Manifest& manifest);

 private:
  StatusOr<Manifest> read_manifest(const ModelName& name) const;
  std::string model_dir(const ModelName& name) const { return root_ + "/" + name.directory(); }
  std::string names_for_message() const;

  std::string root_;
  std::mutex write_mu_;
};

}  // namespace kiln::store
