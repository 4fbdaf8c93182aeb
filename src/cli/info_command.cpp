// `kiln info MODEL [--json] [--metadata] [--tensors] [--ctx-size N]`: what a GGUF file
// holds (architecture, hyper-parameters, tokenizer, tensors by type) and an estimate of the
// memory a run needs. The report is built once as JSON; the text view renders that JSON,
// so both always say the same.
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/model_arg.h"
#include "model/kv_storage.h"
#include "gguf/file_type.h"
#include "gguf/reader.h"

namespace kiln::cli {
namespace {

// Insertion order, so the report reads in a sensible order.
using json = nlohmann::ordered_json;

struct InfoOptions {
  std::string model;
  bool json = false;
  bool metadata = false;
  bool tensors = false;
  int64_t ctx_size = 0;  // 0: the model's context_length
  KvDType kv_dtype = KvDType::kF16;
};

// NOTE: the scratch figure assumes this many tokens per forward step (the engine's default
// prefill chunk); it is a rough guide, not what the engine allocates.
constexpr int64_t kScratchBatchTokens = 512;
constexpr size_t kMaxJsonArrayItems = 64;

void report_error(const std::string& message) {
  std::fprintf(stderr, "kiln: %s\n", message.c_str());
}

// A FLOAT32 as the double with the float's shortest decimal form (1e-05, not
// 9.99999974737875e-06).
double float_json(double f32_value) {
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof buf, static_cast<float>(f32_value));
  *res.ptr = '\0';
  return std::strtod(buf, nullptr);
}

// Scalars become JSON numbers/strings/bools; arrays up to kMaxJsonArrayItems become arrays,
// longer ones a summary {type, count}.
json value_to_json(const gguf::Value& v) {
  using gguf::ValueType;
  switch (v.type) {
    case ValueType::BOOL:
      return *v.as_bool();
    case ValueType::FLOAT32:
      return float_json(v.f64);
    case ValueType::FLOAT64:
      return v.f64;
    case ValueType::STRING:
      return std::string(v.str);
    case ValueType::ARRAY:
      break;
    default:
      if (v.as_int()) return *v.as_int();
      return v.u64;
  }
  if (v.count > kMaxJsonArrayItems) return json{{"type", v.type_name()}, {"count", v.count}};
  json out = json::array();
  for (uint64_t i = 0; i < v.count; ++i) {
    if (v.elem_type == ValueType::STRING) {
      out.push_back(std::string(v.strings[i]));
    } else if (v.elem_type == ValueType::ARRAY) {
      out.push_back(value_to_json(v.items[i]));
    } else if (v.elem_type == ValueType::FLOAT32) {
      out.push_back(float_json(*v.float_at(i)));
    } else if (v.elem_type == ValueType::FLOAT64) {
      out.push_back(*v.float_at(i));
    } else if (v.elem_type == ValueType::BOOL) {
      out.push_back(v.raw[i] != 0);
    } else if (auto x = v.int_at(i)) {
      out.push_back(*x);
    } else {
      out.push_back(static_cast<uint64_t>(*v.float_at(i)));
    }
  }
  return out;
}

// An integer hyper-parameter that may be stored per layer (an array): the per-layer values.
std::vector<int64_t> per_layer(const gguf::File& f, const std::string& key, int64_t n_layer) {
  const gguf::Value* v = f.find(key);
  if (!v) return {};
  if (auto x = v->as_int()) return std::vector<int64_t>(static_cast<size_t>(n_layer), *x);
  if (v->is_array() && v->count == static_cast<uint64_t>(n_layer)) {
    std::vector<int64_t> out;
    for (uint64_t i = 0; i < v->count; ++i) {
      auto x = v->int_at(i);
      if (!x) return {};
      out.push_back(*x);
    }
    return out;
  }
  return {};
}

std::string human_bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double x = static_cast<double>(n);
  int u = 0;
  while (x >= 1024 && u < 4) {
    x /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", x, units[u]);
  return buf;
}

std::string human_count(uint64_t n) {
  char buf[32];
  if (n >= 1000000000) {
    std::snprintf(buf, sizeof buf, "%.2f B", static_cast<double>(n) / 1e9);
  } else if (n >= 1000000) {
    std::snprintf(buf, sizeof buf, "%.2f M", static_cast<double>(n) / 1e6);
  } else if (n >= 1000) {
    std::snprintf(buf, sizeof buf, "%.2f K", static_cast<double>(n) / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%" PRIu64, n);
  }
  return buf;
}

json build_report(const gguf::File& f, const InfoOptions& o) {
  json r;
  r["file"] = f.path();
  r["gguf_version"] = f.version();
  r["file_size_bytes"] = f.total_size();  // every part of a split GGUF
  r["parts"] = f.num_parts();
  r["alignment"] = f.alignment();
  const std::string arch(f.get_string("general.architecture").value_or(""));
  r["architecture"] = arch.empty() ? json(nullptr) : json(arch);
  for (const char* key : {"name", "size_label", "quantization_version"}) {
    if (const gguf::Value* v = f.find(std::string("general.") + key)) r[key] = value_to_json(*v);
  }
  if (auto ft = f.get_int("general.file_type")) {
    r["file_type"] = {{"id", *ft}, {"name", gguf::file_type_name(*ft)}};
  }

  // Hyper-parameters, under their names without the "<arch>." prefix.
  json hp = json::object();
  const std::string p = arch + ".";
  for (const char* key :
       {"block_count", "context_length", "embedding_length", "feed_forward_length",
        "attention.head_count", "attention.head_count_kv", "attention.key_length",
        "attention.value_length", "attention.layer_norm_rms_epsilon",
        "attention.layer_norm_epsilon", "attention.sliding_window", "rope.freq_base",
        "rope.dimension_count", "rope.scaling.type", "rope.scaling.factor",
        "rope.scaling.original_context_length", "expert_count", "expert_used_count",
        "vocab_size"}) {
    if (const gguf::Value* v = f.find(p + key)) hp[key] = value_to_json(*v);
  }

  // Tokenizer.
  json tok = json::object();
  auto tokens = f.get_string_array("tokenizer.ggml.tokens");
  for (const char* key : {"model", "pre"}) {
    if (auto s = f.get_string(std::string("tokenizer.ggml.") + key)) tok[key] = std::string(*s);
  }
  if (tokens.ok()) tok["vocab_size"] = tokens->size();
  if (const gguf::Value* m = f.find("tokenizer.ggml.merges"); m && m->is_array()) {
    tok["merges"] = m->count;
  }
  for (const char* which : {"bos", "eos", "eot", "unknown", "padding"}) {
    auto id = f.get_int(std::string("tokenizer.ggml.") + which + "_token_id");
    if (!id) continue;
    tok[std::string(which) + "_token_id"] = *id;
    if (tokens.ok() && *id >= 0 && static_cast<uint64_t>(*id) < tokens->size()) {
      tok[std::string(which) + "_token"] = std::string((*tokens)[static_cast<size_t>(*id)]);
    }
  }
  if (auto add_bos = f.get_bool("tokenizer.ggml.add_bos_token")) tok["add_bos_token"] = *add_bos;
  tok["chat_template"] = f.find("tokenizer.chat_template") != nullptr;
  r["tokenizer"] = tok;

  // Vocabulary size: the architecture's key, else the tokenizer's, else the embedding rows.
  int64_t n_vocab = f.get_int(p + "vocab_size").value_or(0);
  if (n_vocab == 0 && tokens.ok()) n_vocab = static_cast<int64_t>(tokens->size());
  if (const gguf::TensorInfo* e = f.find_tensor("token_embd.weight");
      n_vocab == 0 && e && e->shape.size() == 2) {
    n_vocab = e->shape[1];
  }
  if (n_vocab > 0) hp["vocab_size"] = n_vocab;

  // Tensors.
  std::map<std::string, json> by_type;
  uint64_t total_params = 0;
  uint64_t total_bytes = 0;
  json list = json::array();
  for (const gguf::TensorInfo& t : f.tensors()) {
    json& e = by_type[std::string(dtype_name(t.type))];
    if (e.is_null()) e = {{"count", 0}, {"parameters", 0}, {"bytes", 0}};
    e["count"] = e["count"].get<uint64_t>() + 1;
    e["parameters"] = e["parameters"].get<uint64_t>() + static_cast<uint64_t>(t.num_elements);
    e["bytes"] = e["bytes"].get<uint64_t>() + t.num_bytes;
    total_params += static_cast<uint64_t>(t.num_elements);
    total_bytes += t.num_bytes;
    if (o.tensors) {
      list.push_back({{"name", t.name},
                      {"type", std::string(dtype_name(t.type))},
                      {"shape", t.shape},
                      {"offset", t.offset},
                      {"part", t.split_part + 1},
                      {"bytes", t.num_bytes}});
    }
  }
  json tensors = {{"count", f.tensors().size()},
                  {"parameters", total_params},
                  {"bytes", total_bytes},
                  {"by_type", json(by_type)}};
  if (o.tensors) tensors["list"] = list;
  r["tensors"] = tensors;

  // Memory estimate: weights are mapped, or on AVX-512 packed into anonymous memory of about
  // the same size (at most 3% more) while their mapped pages are dropped
  // (kernels/cpu/packed_weights.h); the KV cache holds K and V (in the element type
  // --kv-cache-dtype picks) for every layer and position of the context.
  json mem = json::object();
  // A block count no file could back (negative, or more layers than tensors) gets no KV
  // estimate: per-layer tables sized from it once made `kiln info` die of std::bad_alloc.
  int64_t n_layer = f.get_int(p + "block_count").value_or(0);
  if (n_layer < 0 || n_layer > static_cast<int64_t>(f.tensors().size())) n_layer = 0;
  const int64_t n_ctx = o.ctx_size > 0 ? o.ctx_size : f.get_int(p + "context_length").value_or(0);
  const int64_t n_embd = f.get_int(p + "embedding_length").value_or(0);
  const int64_t n_ff = f.get_int(p + "feed_forward_length").value_or(0);
  const std::vector<int64_t> heads = per_layer(f, p + "attention.head_count", n_layer);
  std::vector<int64_t> heads_kv = per_layer(f, p + "attention.head_count_kv", n_layer);
  if (heads_kv.empty()) heads_kv = heads;
  mem["weights_bytes"] = total_bytes;
  uint64_t total = total_bytes;
  if (n_layer > 0 && n_ctx > 0 && !heads.empty() && heads[0] > 0 && n_embd > 0) {
    const int64_t head_dim = n_embd / heads[0];
    const int64_t k_len = f.get_int(p + "attention.key_length").value_or(head_dim);
    const int64_t v_len = f.get_int(p + "attention.value_length").value_or(k_len);
    hp["head_dim"] = k_len;
    uint64_t kv = 0;
    for (int64_t l = 0; l < n_layer; ++l) {
      kv += static_cast<uint64_t>(heads_kv[static_cast<size_t>(l)]) *
            static_cast<uint64_t>(k_len + v_len) * static_cast<uint64_t>(n_ctx) *
            static_cast<uint64_t>(cpu::kv_dtype_bytes(o.kv_dtype));
    }
    mem["context_length"] = n_ctx;
    mem["kv_cache_dtype"] = kv_dtype_name(o.kv_dtype);
    mem["kv_cache_bytes"] = kv;
    total += kv;
  }
  if (n_embd > 0) {
    const uint64_t scratch = static_cast<uint64_t>(kScratchBatchTokens) *
                             static_cast<uint64_t>(4 * n_embd + 3 * n_ff + n_vocab) * 4;
    mem["scratch_bytes"] = scratch;
    mem["scratch_batch_tokens"] = kScratchBatchTokens;
    total += scratch;
  }
  mem["total_bytes"] = total;
  r["hyperparameters"] = hp;
  r["memory"] = mem;

  if (o.metadata) {
    json md = json::object();
    for (const gguf::MetadataEntry& e : f.metadata()) {
      md[std::string(e.key)] = {{"type", e.value.type_name()}, {"value", value_to_json(e.value)}};
    }
    r["metadata"] = md;
  }
  return r;
}

// Invalid UTF-8 in a file's strings is shown as U+FFFD rather than throwing.
std::string dump(const json& v, int indent = -1) {
  return v.dump(indent, ' ', false, json::error_handler_t::replace);
}

std::string scalar_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v.get<double>());
    return buf;
  }
  return dump(v);
}

void print_row(const char* label, const std::string& value) {
  std::printf("  %-38s %s\n", label, value.c_str());
}

void print_text(const gguf::File& f, const json& r, const InfoOptions& o) {
  std::printf("file          %s\n", r["file"].get<std::string>().c_str());
  std::printf("format        GGUF v%d, %s (%" PRIu64 " bytes), alignment %u",
              r["gguf_version"].get<int>(), human_bytes(f.total_size()).c_str(), f.total_size(),
              f.alignment());
  if (f.num_parts() > 1) std::printf(", split in %d parts", f.num_parts());
  std::printf("\n");
  std::printf("architecture  %s\n",
              r["architecture"].is_null() ? "(none)" : scalar_text(r["architecture"]).c_str());
  if (r.contains("name")) std::printf("name          %s\n", scalar_text(r["name"]).c_str());
  if (r.contains("size_label")) {
    std::printf("size label    %s\n", scalar_text(r["size_label"]).c_str());
  }
  if (r.contains("file_type")) {
    std::printf("file type     %s (%s)\n", r["file_type"]["name"].get<std::string>().c_str(),
                dump(r["file_type"]["id"]).c_str());
  }
  const json& t = r["tensors"];
  std::printf("parameters    %s (%s)\n", human_count(t["parameters"].get<uint64_t>()).c_str(),
              dump(t["parameters"]).c_str());

  std::printf("\nhyper-parameters\n");
  for (const auto& [key, value] : r["hyperparameters"].items()) {
    print_row(key.c_str(), value.is_array() ? dump(value) : scalar_text(value));
  }

  std::printf("\ntokenizer\n");
  const json& tok = r["tokenizer"];
  for (const char* key : {"model", "pre", "vocab_size", "merges"}) {
    if (tok.contains(key)) print_row(key, scalar_text(tok[key]));
  }
  for (const char* which : {"bos", "eos", "eot", "unknown", "padding"}) {
    const std::string id_key = std::string(which) + "_token_id";
    if (!tok.contains(id_key)) continue;
    std::string text = dump(tok[id_key]);
    if (tok.contains(std::string(which) + "_token")) {
      text += " " + dump(tok[std::string(which) + "_token"]);
    }
    print_row((std::string(which) + " token").c_str(), text);
  }
  if (tok.contains("add_bos_token")) print_row("add_bos_token", dump(tok["add_bos_token"]));
  print_row("chat template", tok["chat_template"].get<bool>() ? "yes" : "no");

  std::printf("\ntensors       %s, %s\n", dump(t["count"]).c_str(),
              human_bytes(t["bytes"].get<uint64_t>()).c_str());
  for (const auto& [type, e] : t["by_type"].items()) {
    std::printf("  %-8s %6s tensors %14s params %12s\n", type.c_str(), dump(e["count"]).c_str(),
                human_count(e["parameters"].get<uint64_t>()).c_str(),
                human_bytes(e["bytes"].get<uint64_t>()).c_str());
  }

  const json& mem = r["memory"];
  std::printf("\nmemory estimate%s\n",
              mem.contains("context_length")
                  ? (" (context " + dump(mem["context_length"]) + ")").c_str()
                  : "");
  print_row("weights", human_bytes(mem["weights_bytes"].get<uint64_t>()));
  if (mem.contains("kv_cache_bytes")) {
    print_row(("KV cache (" + mem["kv_cache_dtype"].get<std::string>() + ")").c_str(),
              human_bytes(mem["kv_cache_bytes"].get<uint64_t>()));
  }
  if (mem.contains("scratch_bytes")) {
    print_row(("scratch (rough, " + dump(mem["scratch_batch_tokens"]) + "-token batch)").c_str(),
              human_bytes(mem["scratch_bytes"].get<uint64_t>()));
  }
  print_row("total", human_bytes(mem["total_bytes"].get<uint64_t>()));

  if (o.metadata) {
    std::printf("\nmetadata      %zu keys\n", f.metadata().size());
    for (const gguf::MetadataEntry& e : f.metadata()) {
      std::printf("  %-40.*s %-16s %s\n", static_cast<int>(e.key.size()), e.key.data(),
                  e.value.type_name().c_str(), e.value.to_display_string(6).c_str());
    }
  }
  if (o.tensors) {
    std::printf("\ntensor list\n");
    for (const gguf::TensorInfo& ti : f.tensors()) {
      std::string shape;
      for (size_t d = 0; d < ti.shape.size(); ++d) {
        shape += (d ? " x " : "") + std::to_string(ti.shape[d]);
      }
      std::printf("  %-40s %-6s %-22s %s\n", ti.name.c_str(),
                  std::string(dtype_name(ti.type)).c_str(), shape.c_str(),
                  human_bytes(ti.num_bytes).c_str());
    }
  }
}

int run_info(const InfoOptions& o) {
  StatusOr<gguf::File> file = gguf::File::open(o.model);
  if (!file.ok()) {
    report_error(file.message());
    return 1;
  }
  const json report = build_report(*file, o);
  if (o.json) {
    std::printf("%s\n", dump(report, 2).c_str());
  } else {
    print_text(*file, report, o);
  }
  return 0;
}

}  // namespace

void register_info_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<InfoOptions>();
  CLI::App* cmd =
      app.add_subcommand("info", "Show a GGUF model's metadata, tensors and memory estimate");
  cmd->add_option("MODEL", opts->model, "a GGUF model file or a model name in the store")->required();
  cmd->add_flag("--json", opts->json, "print the report as JSON");
  cmd->add_flag("--metadata", opts->metadata, "also list every metadata key");
  cmd->add_flag("--tensors", opts->tensors, "also list every tensor");
  cmd->add_option("-c,--ctx-size", opts->ctx_size,
                  "context length for the KV-cache estimate (default: the model's)")
      ->check(CLI::NonNegativeNumber);
  add_kv_cache_dtype_option(cmd, opts->kv_dtype);
  cmd->callback([opts, &exit_code] {
    if (!resolve_model_arg(opts->model)) {
      exit_code = 1;
      return;
    }
    exit_code = run_info(*opts);
  });
}

}  // namespace kiln::cli
