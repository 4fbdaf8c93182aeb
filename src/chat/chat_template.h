// Chat templates: the Jinja2 programs GGUF files carry (tokenizer.chat_template) that turn a
// conversation into the model's prompt text. kiln renders them with its own interpreter,
// byte for byte as Hugging Face transformers renders them with Python's jinja2:
//   ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
//                                 extensions=[loopcontrols]) plus tojson, raise_exception,
//   strftime_now, namespace and dict as transformers defines them.
// tests/reference/test_chat_templates.py checks that claim against jinja2 itself.
//
// Thread-safety: a ChatTemplate is immutable after parse(); any number of threads may render
// it at once. Copies share the parsed tree.
#pragma once

#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "chat/interpreter.h"
#include "util/status.h"

namespace kiln::chat {

struct RenderOptions {
  // The moment strftime_now() formats, read as UTC. Unset: the current local time, as
  // transformers does; tests fix it so renderings are reproducible.
  std::optional<std::time_t> now;
  RenderLimits limits;
};

class ChatTemplate {
 public:
  // Syntax errors come back as "chat template error (line L:C): message".
  static StatusOr<ChatTemplate> parse(std::string_view source);

  // Renders with the keys of `context` (a JSON object) as the template's variables, next to
  // the globals range, dict, namespace, joiner, cycler, raise_exception and strftime_now.
  // JSON objects keep their key order with ordered_json; nlohmann::json sorts keys, which
  // changes what tojson prints and the order `for k, v in d.items()` visits.
  // Errors (undefined variables used, type errors, raise_exception, exceeded limits) come
  // back as a Status naming the template line and column.
  StatusOr<std::string> render(const nlohmann::ordered_json& context,
                               const RenderOptions& options = {}) const;
  StatusOr<std::string> render(const nlohmann::json& context,
                               const RenderOptions& options = {}) const;

  const std::string& source() const { return *source_; }

 private:
  ChatTemplate() = default;
  std::shared_ptr<const std::string> source_;
  std::shared_ptr<const Body> body_;
};

// What transformers' apply_chat_template passes to a template.
struct ChatTemplateInputs {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  // The tool schemas; null means no tools (the template then sees tools = None, as with
  // transformers, so `tools is not none` and `tools is defined` behave as they do there).
  nlohmann::ordered_json tools;
  // Retrieval documents for templates that take them (Command R); null means none.
  nlohmann::ordered_json documents;
  bool add_generation_prompt = false;
  std::string bos_token;
  std::string eos_token;
  // More variables, e.g. {"enable_thinking": false} for Qwen3; they may not replace the
  // ones above.
  nlohmann::ordered_json extra_context = nlohmann::ordered_json::object();
  // What transformers (5.x) does to messages before rendering: drop the keys whose value is
  // null (OpenAI clients send "content": null beside tool_calls), then copy the reasoning
  // text found under reasoning_content, thinking or reasoning to both reasoning_content and
  // thinking, the names templates read.
  bool normalize_messages = true;
  RenderOptions options;
};

StatusOr<std::string> apply_chat_template(const ChatTemplate& tmpl,
                                          const ChatTemplateInputs& inputs);

// The short form: messages and tools (null if none) as JSON, messages normalized as above.
StatusOr<std::string> apply_chat_template(const ChatTemplate& tmpl, const nlohmann::json& messages,
                                          const nlohmann::json& tools, bool add_generation_prompt,
                                          std::string_view bos_token, std::string_view eos_token);

// ChatML, for model files without a template: <|im_start|>role\ncontent<|im_end|>\n per
// message and "<|im_start|>assistant\n" as the generation prompt (transformers' old default).
std::string default_chatml_template();

// The template for a model file without one, by its general.architecture: the family's
// published template for gemma/gemma2 and gemma3, ChatML for everything else.
std::string default_template_for_architecture(std::string_view architecture);

}  // namespace kiln::chat
