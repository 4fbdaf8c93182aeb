// `kiln template (MODEL | --template-file FILE | --architecture ARCH) --messages-json FILE
//  [--tools-json FILE] [--context-json FILE] [--add-generation-prompt] [--bos TEXT]
//  [--eos TEXT] [--now TIME]`: renders a chat template, the model's own
// (tokenizer.chat_template; when the file has none, the family's published one for Gemma,
// ChatML otherwise) or one from a file, and prints the prompt text exactly, with no newline
// added. BOS/EOS default to the model's tokens. --now fixes what
// strftime_now() sees (UTC).
//
// --cases-jsonl FILE ("-" = standard input) renders many inputs with one template: each line
// is {"messages": [...], "tools": [...]|null, "documents": [...]|null, "add_generation_prompt":
// bool, "bos_token": str, "eos_token": str, "extra_context": {...}} and gives one output line
// {"ok": true, "text": ...}
// or {"ok": false, "error": ...}. The reference test against Python's jinja2 drives kiln so.
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>

#include "chat/chat_template.h"
#include "cli/commands.h"
#include "cli/model_arg.h"
#include "gguf/reader.h"

namespace kiln::cli {
namespace {

using ojson = nlohmann::ordered_json;

struct TemplateOptions {
  std::string model;
  std::string template_file;
  std::string messages_json;
  std::string tools_json;
  std::string context_json;
  std::string cases_jsonl;
  bool add_generation_prompt = false;
  std::optional<std::string> bos;
  std::optional<std::string> eos;
  std::string now;
  std::string architecture;
  bool print_template = false;
};

void fail(const std::string& message) { std::fprintf(stderr, "kiln: %s\n", message.c_str()); }

std::optional<std::string> read_all(const std::string& path) {
  if (path == "-") return std::string(std::istreambuf_iterator<char>(std::cin), {});
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::optional<ojson> read_json(const std::string& path, const char* what) {
  const auto text = read_all(path);
  if (!text) {
    fail(std::string("cannot open ") + what + " file " + path);
    return std::nullopt;
  }
  ojson j = ojson::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    fail(path + ": not valid JSON");
    return std::nullopt;
  }
  return j;
}

// "2024-07-26", "2024-07-26T14:05:09" or seconds since the epoch, as UTC.
std::optional<std::time_t> parse_now(const std::string& text) {
  std::tm tm{};
  std::istringstream in(text);
  in >> std::get_time(&tm, text.size() > 10 ? "%Y-%m-%dT%H:%M:%S" : "%Y-%m-%d");
  if (!in.fail()) return timegm(&tm);
  try {
    size_t used = 0;
    const long long secs = std::stoll(text, &used);
    if (used == text.size()) return static_cast<std::time_t>(secs);
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

struct TemplateSource {
  std::string text;
  std::string bos;
  std::string eos;
};

std::optional<TemplateSource> load_template(const TemplateOptions& opt) {
  TemplateSource src;
  if (!opt.architecture.empty()) {
    src.text = chat::default_template_for_architecture(opt.architecture);
    return src;
  }
  if (!opt.template_file.empty()) {
    const auto text = read_all(opt.template_file);
    if (!text) {
      fail("cannot open template file " + opt.template_file);
      return std::nullopt;
    }
    src.text = *text;
    return src;
  }
  auto file = gguf::File::open(opt.model);
  if (!file.ok()) {
    fail(file.message());
    return std::nullopt;
  }
  const auto tmpl = file->get_string("tokenizer.chat_template");
  const auto arch = file->get_string("general.architecture");
  src.text = tmpl ? std::string(*tmpl)
                  : chat::default_template_for_architecture(arch ? *arch : std::string_view());
  const auto tokens = file->get_string_array("tokenizer.ggml.tokens");
  auto token = [&](const char* key) -> std::string {
    const auto id = file->get_int(key);
    if (!tokens.ok() || !id || *id < 0 || static_cast<size_t>(*id) >= tokens->size()) return "";
    return std::string(tokens.value()[static_cast<size_t>(*id)]);
  };
  src.bos = token("tokenizer.ggml.bos_token_id");
  src.eos = token("tokenizer.ggml.eos_token_id");
  return src;
}

int run_cases(const chat::ChatTemplate& tmpl, const TemplateOptions& opt, const TemplateSource& src,
              const chat::RenderOptions& render_options) {
  const auto text = read_all(opt.cases_jsonl);
  if (!text) {
    fail("cannot open " + opt.cases_jsonl);
    return 1;
  }
  std::istringstream lines(*text);
  std::string line;
  std::string out;
  size_t line_no = 0;
  while (std::getline(lines, line)) {
    ++line_no;
    if (line.empty()) continue;
    const ojson c = ojson::parse(line, nullptr, false);
    if (!c.is_object()) {
      fail(opt.cases_jsonl + ":" + std::to_string(line_no) + ": expected one JSON object per line");
      return 1;
    }
    chat::ChatTemplateInputs in;
    in.messages = c.value("messages", ojson::array());
    in.tools = c.value("tools", ojson());
    in.documents = c.value("documents", ojson());
    in.add_generation_prompt = c.value("add_generation_prompt", false);
    in.bos_token = c.value("bos_token", src.bos);
    in.eos_token = c.value("eos_token", src.eos);
    in.extra_context = c.value("extra_context", ojson::object());
    in.options = render_options;
    const auto rendered = chat::apply_chat_template(tmpl, in);
    ojson result = ojson::object();
    result["ok"] = rendered.ok();
    if (rendered.ok()) {
      result["text"] = rendered.value();
    } else {
      result["error"] = rendered.message();
    }
    out += result.dump(-1, ' ', false, ojson::error_handler_t::replace);
    out += '\n';
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

int run_template(const TemplateOptions& opt) {
  if ((!opt.model.empty()) + (!opt.template_file.empty()) + (!opt.architecture.empty()) != 1) {
    fail("give one of: a model file, --template-file, --architecture");
    return 1;
  }
  auto src = load_template(opt);
  if (!src) return 1;
  if (opt.bos) src->bos = *opt.bos;
  if (opt.eos) src->eos = *opt.eos;
  if (opt.print_template) {
    std::fwrite(src->text.data(), 1, src->text.size(), stdout);
    return 0;
  }
  auto tmpl = chat::ChatTemplate::parse(src->text);
  if (!tmpl.ok()) {
    fail(tmpl.message());
    return 1;
  }
  chat::RenderOptions render_options;
  if (!opt.now.empty()) {
    render_options.now = parse_now(opt.now);
    if (!render_options.now) {
      fail("--now: expected YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS or seconds since the epoch");
      return 1;
    }
  }
  if (!opt.cases_jsonl.empty()) return run_cases(*tmpl, opt, *src, render_options);
  if (opt.messages_json.empty()) {
    fail("--messages-json is required (or --cases-jsonl, or --print-template)");
    return 1;
  }
  chat::ChatTemplateInputs in;
  const auto messages = read_json(opt.messages_json, "messages");
  if (!messages) return 1;
  in.messages = *messages;
  if (!opt.tools_json.empty()) {
    const auto tools = read_json(opt.tools_json, "tools");
    if (!tools) return 1;
    in.tools = *tools;
  }
  if (!opt.context_json.empty()) {
    const auto context = read_json(opt.context_json, "context");
    if (!context) return 1;
    in.extra_context = *context;
  }
  in.add_generation_prompt = opt.add_generation_prompt;
  in.bos_token = src->bos;
  in.eos_token = src->eos;
  in.options = render_options;
  const auto rendered = chat::apply_chat_template(*tmpl, in);
  if (!rendered.ok()) {
    fail(rendered.message());
    return 1;
  }
  std::fwrite(rendered.value().data(), 1, rendered.value().size(), stdout);
  return 0;
}

}  // namespace

void register_template_command(CLI::App& app, int& exit_code) {
  auto opt = std::make_shared<TemplateOptions>();
  CLI::App* cmd = app.add_subcommand("template", "Render a chat template for a conversation");
  cmd->add_option("model", opt->model, "Model file (GGUF) or model name whose chat template to render");
  cmd->add_option("--template-file", opt->template_file, "Render this template file instead")
      ->option_text("FILE");
  cmd->add_option("--architecture", opt->architecture,
                  "Render the template kiln uses for model files of this architecture that "
                  "carry none (gemma3: Gemma's; others: ChatML)")
      ->option_text("ARCH");
  cmd->add_option("--messages-json", opt->messages_json,
                  "The conversation: a JSON array of messages ('-' = standard input)")
      ->option_text("FILE");
  cmd->add_option("--tools-json", opt->tools_json, "Tool schemas: a JSON array")
      ->option_text("FILE");
  cmd->add_option("--context-json", opt->context_json,
                  "More template variables: a JSON object (e.g. {\"enable_thinking\": false})")
      ->option_text("FILE");
  cmd->add_option("--cases-jsonl", opt->cases_jsonl,
                  "Render one JSON object of inputs per line; print one JSON result per line")
      ->option_text("FILE");
  cmd->add_flag("--add-generation-prompt", opt->add_generation_prompt,
                "End with the header of the assistant's turn");
  cmd->add_option("--bos", opt->bos, "bos_token text (default: the model's BOS token)");
  cmd->add_option("--eos", opt->eos, "eos_token text (default: the model's EOS token)");
  cmd->add_option("--now", opt->now,
                  "Time strftime_now() formats, UTC: YYYY-MM-DD[THH:MM:SS] or epoch seconds "
                  "(default: the current local time)");
  cmd->add_flag("--print-template", opt->print_template, "Print the template source and exit");
  cmd->callback([opt, &exit_code]() {
    if (!opt->model.empty() && !resolve_model_arg(opt->model)) {
      exit_code = 1;
      return;
    }
    exit_code = run_template(*opt);
  });
}

}  // namespace kiln::cli
