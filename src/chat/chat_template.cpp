// NOTE: GCC 12 at -O3 reports false -Wrestrict errors inside std::string's operator+
// ("literal" + std::string); GCC bug 105329.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

#include "chat/chat_template.h"

#include <exception>
#include <new>
#include <utility>
#include <vector>

#include "chat/builtins.h"
#include "chat/parser.h"

namespace kiln::chat {
namespace {

Status to_status(const TemplateError& e) {
  std::string where;
  if (e.pos().line > 0) {
    where = " (line " + std::to_string(e.pos().line) + ":" + std::to_string(e.pos().column) + ")";
  }
  const char* kind = e.raised_by_template ? "chat template raised an error" : "chat template error";
  return Status::Error(std::string(kind) + where + ": " + e.message());
}

template <typename Json>
StatusOr<std::string> render_json(const Body& body, const Json& context,
                                  const RenderOptions& options) {
  // NOTE: TemplateError is the interpreter's internal error path; this is where it becomes a
  // Status. bad_alloc and nlohmann's exceptions are caught too, so no exception leaves.
  try {
    if (!context.is_object() && !context.is_null()) {
      return Status::Error("chat template context must be a JSON object");
    }
    auto globals = std::make_shared<Frame>();
    install_globals(*globals);
    auto vars = std::make_shared<Frame>();
    vars->parent = globals;
    if (context.is_object()) {
      for (auto it = context.begin(); it != context.end(); ++it) {
        vars->vars[it.key()] = from_json(it.value());
      }
    }
    Interpreter interp(options.limits, options.now);
    return interp.render(body, vars);
  } catch (const TemplateError& e) {
    return to_status(e);
  } catch (const std::bad_alloc&) {
    return Status::Error("chat template error: out of memory");
  } catch (const std::exception& e) {
    return Status::Error(std::string("chat template error: ") + e.what());
  }
}

}  // namespace

StatusOr<ChatTemplate> ChatTemplate::parse(std::string_view source) {
  try {
    ChatTemplate t;
    t.source_ = std::make_shared<const std::string>(source);
    t.body_ = std::make_shared<const Body>(parse_template(source));
    return t;
  } catch (const TemplateError& e) {
    return to_status(e);
  } catch (const std::bad_alloc&) {
    return Status::Error("chat template error: out of memory");
  }
}

StatusOr<std::string> ChatTemplate::render(const nlohmann::ordered_json& context,
                                           const RenderOptions& options) const {
  return render_json(*body_, context, options);
}

StatusOr<std::string> ChatTemplate::render(const nlohmann::json& context,
                                           const RenderOptions& options) const {
  return render_json(*body_, context, options);
}

namespace {

// Whether `root` nests deeper than `limit`, found without recursion: nlohmann::json's copy
// constructor recurses, so hostile input must be refused before anything copies it.
template <typename Json>
bool deeper_than(const Json& root, int limit) {
  std::vector<std::pair<const Json*, int>> stack{{&root, 0}};
  while (!stack.empty()) {
    const auto [j, depth] = stack.back();
    stack.pop_back();
    if (depth > limit) return true;
    if (j->is_structured()) {
      for (const auto& child : *j) stack.emplace_back(&child, depth + 1);
    }
  }
  return false;
}

// transformers' _normalize_chat_messages and _alias_reasoning_fields.
template <typename Json>
Json normalize(const Json& messages) {
  Json out = Json::array();
  for (const auto& m : messages) {
    if (!m.is_object()) {
      out.push_back(m);
      continue;
    }
    Json kept = Json::object();
    for (auto it = m.begin(); it != m.end(); ++it) {
      if (!it.value().is_null()) kept[it.key()] = it.value();
    }
    const Json* reasoning = nullptr;
    for (const char* key : {"reasoning_content", "thinking", "reasoning"}) {
      if (!reasoning && kept.contains(key)) reasoning = &kept[key];
    }
    if (!reasoning) {
      out.push_back(std::move(kept));
      continue;
    }
    // {"thinking": r, **message, "reasoning_content": r}: positions as Python's dict keeps them.
    const Json r = *reasoning;
    Json aliased = Json::object();
    aliased["thinking"] = r;
    for (auto it = kept.begin(); it != kept.end(); ++it) aliased[it.key()] = it.value();
    aliased["reasoning_content"] = r;
    out.push_back(std::move(aliased));
  }
  return out;
}

template <typename Json>
StatusOr<std::string> apply(const ChatTemplate& tmpl, const Json& messages, const Json& tools,
                            const Json& documents, const Json& extra_context,
                            bool add_generation_prompt, std::string_view bos_token,
                            std::string_view eos_token, bool normalize_messages,
                            const RenderOptions& options) {
  if (!messages.is_array()) return Status::Error("chat template: messages must be a JSON array");
  if (!documents.is_null() && !documents.is_array()) {
    return Status::Error("chat template: documents must be a JSON array or null");
  }
  for (const Json* j : {&messages, &tools, &documents, &extra_context}) {
    if (deeper_than(*j, kMaxValueDepth)) {
      return Status::Error("chat template: input JSON is nested more than " +
                           std::to_string(kMaxValueDepth) + " levels deep");
    }
  }
  for (const auto& m : messages) {
    if (!m.is_object()) return Status::Error("chat template: each message must be a JSON object");
  }
  if (!tools.is_null() && !tools.is_array()) {
    return Status::Error("chat template: tools must be a JSON array or null");
  }
  if (!extra_context.is_object() && !extra_context.is_null()) {
    return Status::Error("chat template: extra context must be a JSON object");
  }
  Json context = Json::object();
  if (extra_context.is_object()) context = extra_context;
  for (const char* key :
       {"messages", "tools", "documents", "add_generation_prompt", "bos_token", "eos_token"}) {
    if (context.contains(key)) {
      return Status::Error(std::string("chat template: extra context may not set '") + key + "'");
    }
  }
  context["messages"] = normalize_messages ? normalize(messages) : messages;
  context["tools"] = tools;  // None when absent, as transformers passes it
  context["documents"] = documents;
  context["add_generation_prompt"] = add_generation_prompt;
  context["bos_token"] = std::string(bos_token);
  context["eos_token"] = std::string(eos_token);
  return tmpl.render(context, options);
}

}  // namespace

StatusOr<std::string> apply_chat_template(const ChatTemplate& tmpl, const ChatTemplateInputs& in) {
  return apply(tmpl, in.messages, in.tools, in.documents, in.extra_context,
               in.add_generation_prompt, in.bos_token, in.eos_token, in.normalize_messages,
               in.options);
}

StatusOr<std::string> apply_chat_template(const ChatTemplate& tmpl, const nlohmann::json& messages,
                                          const nlohmann::json& tools, bool add_generation_prompt,
                                          std::string_view bos_token, std::string_view eos_token) {
  return apply(tmpl, messages, tools, nlohmann::json(), nlohmann::json::object(),
               add_generation_prompt, bos_token, eos_token, /*normalize_messages=*/true,
               RenderOptions{});
}

std::string default_chatml_template() {
  return "{% for message in messages %}"
         "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
         "{% endfor %}"
         "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
}

}  // namespace kiln::chat
