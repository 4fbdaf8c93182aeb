#include "cli/serve_config.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace kiln::cli {
namespace {

using Json = nlohmann::json;

std::string trim(std::string s) {
  const auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

std::string flag_name(std::string name) {
  std::replace(name.begin(), name.end(), '_', '-');
  return name;
}

std::string unquote(std::string v) {
  v = trim(std::move(v));
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front())
    return v.substr(1, v.size() - 2);
  return v;
}

CLI::ConfigItem item(const std::string& name, std::vector<std::string> inputs) {
  CLI::ConfigItem it;
  it.name = flag_name(name);
  it.inputs = std::move(inputs);
  return it;
}

std::string scalar_text(const Json& v, const std::string& name) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number()) return v.dump();
  throw CLI::ConversionError("--config: \"" + name + "\" must be a string, number, boolean or a list of them");
}

std::vector<CLI::ConfigItem> from_json(const std::string& text) {
  const Json doc = Json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    throw CLI::ConversionError("--config: not a valid JSON object");
  std::vector<CLI::ConfigItem> out;
  for (const auto& [name, value] : doc.items()) {
    std::vector<std::string> inputs;
    if (value.is_array())
      for (const Json& v : value) inputs.push_back(scalar_text(v, name));
    else
      inputs.push_back(scalar_text(value, name));
    out.push_back(item(name, std::move(inputs)));
  }
  return out;
}

// A flat YAML mapping: "key: value", "key: [a, b]", or "key:" followed by "- item" lines.
std::vector<CLI::ConfigItem> from_flat_yaml(const std::string& text) {
  std::vector<CLI::ConfigItem> out;
  std::istringstream in(text);
  std::string raw;
  int line_no = 0;
  while (std::getline(in, raw)) {
    ++line_no;
    // A '#' starts a comment unless inside quotes.
    char quote = 0;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (quote) {
        if (raw[i] == quote) quote = 0;
      } else if (raw[i] == '"' || raw[i] == '\'') {
        quote = raw[i];
      } else if (raw[i] == '#' && (i == 0 || std::isspace((unsigned char)raw[i - 1]))) {
        raw.resize(i);
        break;
      }
    }
    const std::string line = trim(raw);
    if (line.empty() || line == "---") continue;
    if (line.starts_with("- ") || line == "-") {
      if (out.empty())
        throw CLI::ConversionError("--config line " + std::to_string(line_no) +
                                   ": a list item with no key above it");
      out.back().inputs.push_back(unquote(line.substr(1)));
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == std::string::npos || colon == 0)
      throw CLI::ConversionError("--config line " + std::to_string(line_no) +
                                 ": expected \"name: value\"");
    if (std::isspace((unsigned char)raw[0]))
      throw CLI::ConversionError("--config line " + std::to_string(line_no) +
                                 ": nested mappings are not supported");
    const std::string name = trim(line.substr(0, colon));
    std::string value = trim(line.substr(colon + 1));
    std::vector<std::string> inputs;
    if (value.size() >= 2 && value.front() == '[' && value.back() == ']') {
      std::istringstream items(value.substr(1, value.size() - 2));
      std::string part;
      while (std::getline(items, part, ','))
        if (!trim(part).empty()) inputs.push_back(unquote(part));
    } else if (!value.empty()) {
      inputs.push_back(unquote(value));
    }
    out.push_back(item(name, std::move(inputs)));
  }
  return out;
}

}  // namespace

std::vector<CLI::ConfigItem> ServeConfigFormat::from_config(std::istream& input) const {
  std::ostringstream buffer;
  buffer << input.rdbuf();
  const std::string text = buffer.str();
  const std::string start = trim(text);
  if (start.starts_with("{")) return from_json(text);
  // TOML/INI assigns with '='; YAML maps with ':'. The first meaningful line decides.
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';' || line == "---") continue;
    if (line[0] == '[' || (line.find('=') != std::string::npos &&
                           line.find('=') < line.find(':')))
      break;  // TOML / INI
    return from_flat_yaml(text);
  }
  std::istringstream again(text);
  return CLI::ConfigTOML::from_config(again);
}

void apply_config_file(CLI::App& cmd, const std::string& path) {
  std::ifstream in(path);
  if (!in) throw CLI::FileError::Missing(path);
  std::vector<CLI::ConfigItem> items;
  try {
    items = ServeConfigFormat().from_config(in);
  } catch (const CLI::Error& e) {
    throw CLI::ConfigError(path + ": " + e.what());
  }
  for (CLI::ConfigItem& item : items) {
    item.name = flag_name(item.name);  // TOML's names too
    CLI::Option* op = cmd.get_option_no_throw("--" + item.name);
    if (!op || item.name == "config")
      throw CLI::ConfigError(path + ": \"" + item.name + "\" is not a kiln serve flag");
    if (op->count() > 0) continue;  // the command line wins
    if (item.inputs.empty())
      throw CLI::ConfigError(path + ": \"" + item.name + "\" has no value");
    op->add_result(item.inputs);
    op->run_callback();
  }
}

}  // namespace kiln::cli
