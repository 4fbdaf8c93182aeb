#include "cli/model_context_setup.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "chat/chat_template.h"
#include "server/json_util.h"
#include "tool_calls/tool_call_format.h"

namespace kiln::cli {
namespace {

// The model file's own template, else its family's default (as `kiln run --chat` does).
StatusOr<chat::ChatTemplate> chat_template_for(const LoadedModel& loaded,
                                               const std::string& path) {
  std::string source;
  if (auto text = loaded.file->get_string("tokenizer.chat_template")) {
    source = std::string(*text);
  } else {
    const std::string arch = loaded.model->config().arch;
    spdlog::info("{} has no chat template; using the default for '{}'", path, arch);
    source = chat::default_template_for_architecture(arch);
  }
  auto tmpl = chat::ChatTemplate::parse(source);
  if (!tmpl.ok()) return Status::Error(path + ": " + tmpl.message());
  return std::move(tmpl).value();
}

}  // namespace

StatusOr<server::ModelContext> build_model_context(const RunningEngine& engine,
                                                   const std::string& model_path,
                                                   const std::vector<std::string>& served_names,
                                                   const std::string& tool_call_parser,
                                                   int max_num_seqs) {
  auto tmpl = chat_template_for(engine.loaded, model_path);
  if (!tmpl.ok()) return tmpl.status();

  server::ModelContext ctx;
  ctx.engine = engine.engine.get();
  ctx.tokenizer = engine.tokenizer.get();
  ctx.tool_call_format = tool_calls::detect_tool_call_format(tmpl->source());
  if (!tool_call_parser.empty())
    ctx.tool_call_format = tool_calls::parse_tool_call_format_name(tool_call_parser).value();
  spdlog::info("tool calls are parsed as {}{}",
               tool_calls::tool_call_format_name(ctx.tool_call_format),
               tool_call_parser.empty() ? " (from the chat template)" : "");
  ctx.chat_template = std::move(*tmpl);
  const Tokenizer& tok = *engine.tokenizer;
  if (tok.bos_id() >= 0) ctx.bos_token = std::string(tok.token_text(tok.bos_id()));
  if (tok.eos_id() >= 0) ctx.eos_token = std::string(tok.token_text(tok.eos_id()));
  ctx.served_names = served_names;
  if (ctx.served_names.empty())
    ctx.served_names.push_back(std::filesystem::path(model_path).stem().string());
  ctx.max_model_len = engine.engine->max_model_len();
  ctx.max_num_seqs = max_num_seqs;
  ctx.created = server::unix_seconds();
  return ctx;
}

std::optional<server::ModelContext> make_model_context(const RunningEngine& engine,
                                                       const std::string& model_path,
                                                       const std::vector<std::string>& served_names,
                                                       const std::string& tool_call_parser,
                                                       int max_num_seqs) {
  auto ctx = build_model_context(engine, model_path, served_names, tool_call_parser, max_num_seqs);
  if (!ctx.ok()) {
    print_error(ctx.message());
    return std::nullopt;
  }
  return std::move(ctx).value();
}

}  // namespace kiln::cli
