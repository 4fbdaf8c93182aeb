#include "server/ollama/request.h"

#include <algorithm>

#include "server/chat_prompt.h"
#include "server/json_fields.h"
#include "server/models/keep_alive.h"
#include "server/openai/sampling.h"
#include "server/openai/structured_output.h"
#include "structured/json_schema_compiler.h"

namespace kiln::server::ollama {
namespace {

// Ollama's own defaults (api.DefaultOptions), for a model whose Modelfile does not set them.
void apply_ollama_defaults(SamplingParams& p) {
  p.temperature = 0.8f;
  p.top_k = 40;
  p.top_p = 0.9f;
  p.repetition_penalty = 1.1f;
  p.max_tokens = -1;
}

// Options that tune Ollama's runner (memory, threads, GPUs, batching) or samplers kiln does
// not have; accepted for compatibility with clients that send them, with no effect.
bool runner_option(const std::string& key) {
  static const char* const kKeys[] = {
      "num_keep",  "num_batch", "num_gpu",    "main_gpu",          "low_vram",
      "vocab_only", "use_mmap", "use_mlock",  "num_thread",        "numa",
      "repeat_last_n", "mirostat", "mirostat_tau", "mirostat_eta", "penalize_newline",
      "tfs_z",     "typical_p", "f16_kv",     "logits_all"};
  return std::any_of(std::begin(kKeys), std::end(kKeys), [&](const char* k) { return key == k; });
}

// `options` (or a Modelfile's PARAMETERs, which use the same names) onto the sampling
// parameters. num_ctx caps the prompt and the generation together.
void read_options(const Json& options, const std::string& where, GenerationRequest& request,
                  std::optional<int64_t>& num_ctx, FieldReader& outer) {
  if (!options.is_object()) return outer.fail(where, "must be an object");
  FieldReader f(options, where + ".");
  SamplingParams& p = request.sampling;
  if (auto v = f.number("temperature")) p.temperature = (float)*v;
  if (auto v = f.number("top_p")) p.top_p = (float)*v;
  if (auto v = f.integer("top_k")) p.top_k = (int32_t)std::clamp<int64_t>(*v, -2, INT32_MAX);
  if (auto v = f.number("min_p")) p.min_p = (float)*v;
  if (auto v = f.number("presence_penalty")) p.presence_penalty = (float)*v;
  if (auto v = f.number("frequency_penalty")) p.frequency_penalty = (float)*v;
  if (auto v = f.number("repeat_penalty")) p.repetition_penalty = (float)*v;
  if (auto v = f.integer("seed")) p.seed = (uint64_t)*v;
  if (auto v = f.integer("num_predict")) {
    // -1: without limit; -2: until the context is full. Both are the engine's -1.
    p.max_tokens = *v < 0 ? -1 : (int32_t)std::min<int64_t>(*v, INT32_MAX);
  }
  if (f.has("stop")) {
    p.stop.clear();  // the request's stops replace the Modelfile's
    read_stop_strings(f, "stop", p.stop);
  }
  if (auto v = f.integer("num_ctx")) {
    if (*v < 1) f.fail("num_ctx", "must be >= 1, got " + std::to_string(*v));
    num_ctx = *v;
  }
  // NOTE: not a structured binding: clang 14 cannot capture one in the lambda below.
  for (const auto& item : options.items()) {
    const std::string& key = item.key();
    static const char* const kRead[] = {"temperature",       "top_p",          "top_k",
                                        "min_p",             "presence_penalty",
                                        "frequency_penalty", "repeat_penalty", "seed",
                                        "num_predict",       "stop",           "num_ctx"};
    if (std::any_of(std::begin(kRead), std::end(kRead), [&](const char* k) { return key == k; }))
      continue;
    if (!runner_option(key)) f.fail(key, "is not an option kiln knows");
  }
  if (!f.ok()) outer.fail(f.error());
}

void refuse_images(const Json& holder, const std::string& where, FieldReader& f) {
  auto images = holder.find("images");
  if (images == holder.end() || images->is_null() || (images->is_array() && images->empty()))
    return;
  f.fail(ApiError::bad_request(where + "images are not supported: kiln serves text-only models",
                               where + "images"));
}

// Ollama's `format`: "json" (any JSON object) or a JSON schema.
void read_format(FieldReader& f, const ModelContext& model, GenerationRequest& request) {
  const Json* format = f.any("format");
  if (!format) return;
  if (format->is_string()) {
    if (*format == "") return;
    if (*format != "json") return f.fail("format", "must be \"json\" or a JSON schema");
    return attach_grammar(f, "format", model, structured::grammar_any_json_object(), request);
  }
  if (!format->is_object()) return f.fail("format", "must be \"json\" or a JSON schema");
  auto grammar = structured::grammar_from_json_schema(*format);
  if (!grammar.ok()) return f.fail("format", ": " + grammar.message());
  attach_grammar(f, "format", model, *grammar, request);
}

// Ollama's chat messages into the OpenAI shape the chat template path takes: content a
// string, tool_calls' arguments objects (already Ollama's form), a tool's result under
// role "tool". Images are refused; a message's `thinking` is dropped.
ApiResult<Json> chat_messages(const Json& messages, const Json& defaults) {
  Json out = Json::array();
  bool has_system = false;
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string at = "messages[" + std::to_string(i) + "]";
    const Json& m = messages[i];
    if (!m.is_object()) return ApiError::bad_request(at + " must be an object", at);
    FieldReader f(m, at + ".");
    refuse_images(m, at + ".", f);
    if (!f.ok()) return f.error();
    Json msg = m;
    msg.erase("images");
    msg.erase("thinking");
    if (msg.contains("tool_name") && !msg.contains("name")) msg["name"] = msg["tool_name"];
    if (msg.value("role", "") == "system") has_system = true;
    out.push_back(std::move(msg));
  }
  if (!has_system && defaults.contains("system") && defaults["system"].is_string())
    out.insert(out.begin(), Json{{"role", "system"}, {"content", defaults["system"]}});
  return out;
}

}  // namespace

ApiResult<OllamaRequest> parse_ollama_request(const Json& body, bool chat,
                                              const ModelContext& model, const Json& defaults) {
  FieldReader f(body);
  OllamaRequest r;
  r.chat = chat;
  f.require("model");
  r.model = f.string("model").value_or("");
  if (!f.ok()) return f.error();
  if (!model.serves(r.model)) return ApiError::model_not_found(r.model);
  r.stream = f.boolean("stream").value_or(true);
  if (const Json* keep = f.any("keep_alive")) {
    auto seconds = parse_keep_alive_json(*keep);
    if (!seconds.ok()) return ApiError::bad_request("keep_alive " + seconds.message(), "keep_alive");
    r.keep_alive = *seconds;
  }
  if (f.boolean("think").value_or(false))
    f.fail("think", "is not supported: kiln's models do not think separately");
  if (f.has("template"))
    f.fail("template",
           "is not supported: kiln renders prompts with the model's Jinja chat template, not Go "
           "templates (send raw: true with a prompt formatted yourself)");
  if (f.has("suffix") && f.string("suffix").value_or("") != "")
    f.fail("suffix", "is not supported: kiln does not do fill-in-the-middle");
  refuse_images(body, "", f);

  GenerationRequest& g = r.generation;
  apply_ollama_defaults(g.sampling);
  std::optional<int64_t> num_ctx;
  if (defaults.contains("options")) read_options(defaults["options"], "the model's PARAMETER", g, num_ctx, f);
  if (const Json* options = f.object("options")) read_options(*options, "options", g, num_ctx, f);
  if (!f.ok()) return f.error();
  read_format(f, model, g);
  if (!f.ok()) return f.error();

  std::string text;
  if (chat) {
    const Json* messages = f.array("messages");
    if (!f.ok()) return f.error();
    ChatPromptOptions prompt_options;
    r.tools = read_openai_tools(f, model, prompt_options.tools, g);
    if (!f.ok()) return f.error();
    if (!messages || messages->empty()) {
      r.load_only = true;
      return r;
    }
    auto converted = chat_messages(*messages, defaults);
    if (!converted.ok()) return converted.error();
    auto normalized = normalize_openai_messages(*converted);
    if (!normalized.ok()) return normalized.error();
    auto rendered = render_chat_prompt(model, *normalized, prompt_options);
    if (!rendered.ok()) return rendered.error();
    g.prompt = tokenize_chat_prompt(model, *rendered);
  } else {
    const std::string prompt = f.string("prompt").value_or("");
    const bool raw = f.boolean("raw").value_or(false);
    std::vector<int32_t> context;
    if (const Json* ctx = f.array("context")) {
      for (const Json& id : *ctx) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
          return ApiError::bad_request("context must be an array of token ids", "context");
        context.push_back(id.get<int32_t>());
      }
    }
    if (!f.ok()) return f.error();
    if (prompt.empty() && context.empty()) {
      r.load_only = true;
      return r;
    }
    if (raw) {
      g.prompt = model.tokenizer->encode(prompt, /*add_special=*/context.empty(),
                                         /*parse_special=*/true);
    } else {
      Json messages = Json::array();
      std::string system = f.string("system").value_or("");
      if (system.empty() && defaults.contains("system") && defaults["system"].is_string())
        system = defaults["system"];
      if (!system.empty()) messages.push_back({{"role", "system"}, {"content", system}});
      messages.push_back({{"role", "user"}, {"content", prompt}});
      auto rendered = render_chat_prompt(model, messages, {});
      if (!rendered.ok()) return rendered.error();
      g.prompt = tokenize_chat_prompt(model, *rendered);
      r.return_context = true;
    }
    g.prompt.insert(g.prompt.begin(), context.begin(), context.end());
  }
  if (!f.ok()) return f.error();

  if (num_ctx) {
    const int64_t room = *num_ctx - (int64_t)g.prompt.size();
    if (room < 1)
      return ApiError::bad_request("the prompt has " + std::to_string(g.prompt.size()) +
                                       " tokens, more than options.num_ctx (" +
                                       std::to_string(*num_ctx) + ") leaves room for",
                                   "options.num_ctx");
    if (g.sampling.max_tokens < 0 || g.sampling.max_tokens > room)
      g.sampling.max_tokens = (int32_t)std::min<int64_t>(room, INT32_MAX);
  }
  if (g.sampling.max_tokens == 0) r.nothing_to_generate = true;
  return r;
}

}  // namespace kiln::server::ollama
