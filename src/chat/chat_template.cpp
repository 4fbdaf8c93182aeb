// NOTE: GCC 12 at -O3 reports false -Wrestrict errors inside std::string's operator+
// ("literal" + std::string); GCC bug 105329.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

#include "chat/chat_template.h"

#include <exception>
#include <new>

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
StatusOr<std::string> render_json(const Body& body, const Json& context, const RenderOptions& options) {
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

template <typename Json>
StatusOr<std::string> apply(const ChatTemplate& tmpl, const Json& messages, const Json& tools,
                            const Json& extra_context, bool add_generation_prompt,
                            std::string_view bos_token, std::string_view eos_token,
                            const RenderOptions& options) {
  if (!messages.is_array()) return Status::Error("chat template: messages must be a JSON array");
  if (!tools.is_null() && !tools.is_array()) {
    return Status::Error("chat template: tools must be a JSON array or null");
  }
  if (!extra_context.is_object() && !extra_context.is_null()) {
    return Status::Error("chat template: extra context must be a JSON object");
  }
  Json context = Json::object();
  if (extra_context.is_object()) context = extra_context;
  for (const char* key : {"messages", "tools", "documents", "add_generation_prompt", "bos_token", "eos_token"}) {
    if (context.contains(key)) {
      return Status::Error(std::string("chat template: extra context may not set '") + key + "'");
    }
  }
  context["messages"] = messages;
  context["tools"] = tools;  // None when absent, as transformers passes it
  context["documents"] = nullptr;
  context["add_generation_prompt"] = add_generation_prompt;
  context["bos_token"] = std::string(bos_token);
  context["eos_token"] = std::string(eos_token);
  return tmpl.render(context, options);
}

}  // namespace

StatusOr<std::string> apply_chat_template(const ChatTemplate& tmpl, const ChatTemplateInputs& in) {
  return apply(tmpl, in.messages, in.tools, in.extra_context, in.add_generation_prompt, in.bos_token,
               in.eos_token, in.options);
}

StatusOr<std::string> apply_chat_template(const ChatTemplate& tmpl, const nlohmann::json& messages,
                                          const nlohmann::json& tools, bool add_generation_prompt,
                                          std::string_view bos_token, std::string_view eos_token) {
  return apply(tmpl, messages, tools, nlohmann::json::object(), add_generation_prompt, bos_token,
               eos_token, RenderOptions{});
}

std::string default_chatml_template() {
  return "{% for message in messages %}"
         "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
         "{% endfor %}"
         "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
}

}  // namespace kiln::chat
