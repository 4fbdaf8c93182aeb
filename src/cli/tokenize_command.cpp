// `kiln tokenize MODEL [TEXT] [--ids] [--parse-special] [--no-add-special] [--jsonl FILE]`:
// the model's tokenizer on TEXT (or standard input): one line per token with its id, its
// vocabulary spelling and the text it stands for; --ids prints only a JSON array of ids.
// --jsonl FILE ("-" = standard input) reads one JSON string per line and prints one JSON
// array of ids per line, in order; the reference tokenizer test drives kiln through this.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/model_arg.h"
#include "gguf/reader.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace kiln::cli {
namespace {

using nlohmann::json;

struct TokenizeOptions {
  std::string model;
  std::string text;
  bool text_given = false;
  bool ids_only = false;
  bool parse_special = false;
  bool no_add_special = false;
  std::string jsonl;
};

void fail(const std::string& message) { std::fprintf(stderr, "kiln: %s\n", message.c_str()); }

std::string ids_json(const std::vector<int32_t>& ids) { return json(ids).dump(); }

int run_jsonl(const Tokenizer& tok, const TokenizeOptions& opt) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (opt.jsonl != "-") {
    file.open(opt.jsonl, std::ios::binary);
    if (!file) {
      fail("cannot open " + opt.jsonl);
      return 1;
    }
    in = &file;
  }
  std::string line;
  std::string out;
  size_t line_no = 0;
  while (std::getline(*in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    json value = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!value.is_string()) {
      fail(opt.jsonl + ":" + std::to_string(line_no) + ": expected one JSON string per line");
      return 1;
    }
    const auto ids =
        tok.encode(value.get_ref<const std::string&>(), !opt.no_add_special, opt.parse_special);
    out += ids_json(ids);
    out += '\n';
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

int run_tokenize(const TokenizeOptions& opt) {
  auto file = gguf::File::open(opt.model);
  if (!file.ok()) {
    fail(file.message());
    return 1;
  }
  auto tok = Tokenizer::from_gguf(*file);
  if (!tok.ok()) {
    fail(tok.message());
    return 1;
  }
  if (!opt.jsonl.empty()) return run_jsonl(*tok, opt);

  std::string text = opt.text;
  if (!opt.text_given) text.assign(std::istreambuf_iterator<char>(std::cin), {});
  const auto ids = tok->encode(text, !opt.no_add_special, opt.parse_special);
  if (opt.ids_only) {
    std::printf("%s\n", ids_json(ids).c_str());
    return 0;
  }
  for (int32_t id : ids) {
    // Both strings JSON-quoted, so spaces, newlines and partial UTF-8 stay visible.
    const std::string spelled = json(utf8_sanitize(tok->token_text(id))).dump();
    const std::string piece = json(utf8_sanitize(tok->token_bytes(id))).dump();
    std::printf("%8d  %-24s %s\n", id, spelled.c_str(), piece.c_str());
  }
  std::printf("%zu tokens\n", ids.size());
  return 0;
}

}  // namespace

void register_tokenize_command(CLI::App& app, int& exit_code) {
  auto opt = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Show how the model's tokenizer splits text");
  cmd->add_option("model", opt->model, "Model file (GGUF) or model name in the store")->required();
  cmd->add_option("text", opt->text, "Text to tokenize (default: standard input)")
      ->each([opt](const std::string&) { opt->text_given = true; });
  cmd->add_flag("--ids", opt->ids_only, "Print only a JSON array of token ids");
  cmd->add_flag("--parse-special", opt->parse_special,
                "Turn control tokens written in the text (<|im_start|>, ...) into their ids");
  cmd->add_flag("--no-add-special", opt->no_add_special, "Do not add BOS/EOS");
  cmd->add_option("--jsonl", opt->jsonl,
                  "Read one JSON string per line from FILE ('-' = stdin); print one JSON "
                  "array of ids per line")
      ->option_text("FILE");
  cmd->callback([opt, &exit_code]() {
    if (!resolve_model_arg(opt->model)) {
      exit_code = 1;
      return;
    }
    exit_code = run_tokenize(*opt);
  });
}

}  // namespace kiln::cli
