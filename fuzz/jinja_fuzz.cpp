// The Jinja lexer, parser and interpreter (chat/) on arbitrary template text, rendered
// against a conversation with tools the way a chat request renders it. Parsing must succeed
// or fail with a message naming the place; rendering must finish inside its RenderLimits
// (steps, depth, output bytes, seconds: tightened here so a run stays quick) or fail with a
// message — never crash, recurse without bound or run away with memory.
#include <nlohmann/json.hpp>
#include <string>

#include "chat/chat_template.h"
#include "fuzz/fuzz_util.h"

namespace {

const kiln::chat::ChatTemplateInputs& inputs() {
  static const kiln::chat::ChatTemplateInputs* in = [] {
    auto* i = new kiln::chat::ChatTemplateInputs;
    i->messages = nlohmann::ordered_json::parse(R"([
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "What is 2+2? ünïcödé \u00e9 \ud83d\ude00"},
      {"role": "assistant", "content": null, "reasoning_content": "add",
       "tool_calls": [{"id": "c1", "type": "function",
                       "function": {"name": "add", "arguments": "{\"a\": 2, \"b\": 2}"}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "4"},
      {"role": "user", "content": [{"type": "text", "text": "thanks"}, {"type": "image"}]}])");
    i->tools = nlohmann::ordered_json::parse(R"([{"type": "function", "function": {
      "name": "add", "description": "adds", "parameters": {"type": "object",
      "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
      "required": ["a", "b"]}}}])");
    i->add_generation_prompt = true;
    i->bos_token = "<s>";
    i->eos_token = "</s>";
    i->extra_context = {{"enable_thinking", false}};
    i->options.now = 1700000000;
    i->options.limits.max_output_bytes = 1 << 20;
    i->options.limits.max_steps = 200'000;
    i->options.limits.max_seconds = 2.0;
    return i;
  }();
  return *in;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view source(reinterpret_cast<const char*>(data), size);
  auto tmpl = kiln::chat::ChatTemplate::parse(source);
  if (!tmpl.ok()) {
    kiln::fuzz::check(!tmpl.message().empty(), "a parse error without a message");
    return 0;
  }
  auto out = kiln::chat::apply_chat_template(tmpl.value(), inputs());
  if (!out.ok()) kiln::fuzz::check(!out.message().empty(), "a render error without a message");
  else
    kiln::fuzz::check(out.value().size() <= inputs().options.limits.max_output_bytes,
                      "the output exceeds max_output_bytes");
  return 0;
}
