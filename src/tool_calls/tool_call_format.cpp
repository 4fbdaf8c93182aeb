#include "tool_calls/tool_call_format.h"

namespace kiln::tool_calls {
namespace {

struct Named {
  ToolCallFormat format;
  std::string_view name;
};
constexpr Named kNames[] = {
    {ToolCallFormat::kHermes, "hermes"},
    {ToolCallFormat::kLlama3Json, "llama3_json"},
    {ToolCallFormat::kMistral, "mistral"},
    {ToolCallFormat::kMistralV11, "mistral_v11"},
};

bool has(std::string_view text, std::string_view what) {
  return text.find(what) != std::string_view::npos;
}

}  // namespace

std::string_view tool_call_format_name(ToolCallFormat format) {
  for (const Named& n : kNames) {
    if (n.format == format) return n.name;
  }
  return "unknown";
}

StatusOr<ToolCallFormat> parse_tool_call_format_name(std::string_view name) {
  std::string valid;
  for (const Named& n : kNames) {
    if (n.name == name) return n.format;
    valid += valid.empty() ? "" : ", ";
    valid += n.name;
  }
  return Status::Error("unknown tool call parser \"" + std::string(name) + "\" (valid: " + valid +
                       ")");
}

std::optional<ToolCallFormat> find_tool_call_format(std::string_view source) {
  if (has(source, "[TOOL_CALLS]")) {
    return has(source, "[ARGS]") ? ToolCallFormat::kMistralV11 : ToolCallFormat::kMistral;
  }
  if (has(source, "<tool_call>")) return ToolCallFormat::kHermes;
  if (has(source, "<|python_tag|>") || (has(source, "ipython") && has(source, "parameters"))) {
    return ToolCallFormat::kLlama3Json;
  }
  return std::nullopt;
}

ToolCallFormat detect_tool_call_format(std::string_view source) {
  return find_tool_call_format(source).value_or(ToolCallFormat::kHermes);
}

}  // namespace kiln::tool_calls
