#include "store/model_name.h"

#include <cstdio>

namespace kiln::store {
namespace {

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

Status check_part(std::string_view text, std::string_view part, const char* what) {
  if (part.empty()) return Status::Error("model name '" + std::string(text) + "': empty " + what);
  if (part == "." || part == "..")
    return Status::Error("model name '" + std::string(text) + "': '" + std::string(part) +
                         "' is not a valid " + what);
  for (char c : part) {
    if (!name_char(c))
      return Status::Error("model name '" + std::string(text) + "': character '" +
                           std::string(1, c) + "' is not allowed in a " + what +
                           " (letters, digits, '.', '_', '-')");
  }
  return Status::Ok();
}

}  // namespace

std::string ModelName::directory() const {
  std::string full_name = full();
  std::string out;
  for (char c : full_name) {
    if (name_char(c)) {
      out += c;
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", (unsigned char)c);
      out += buf;
    }
  }
  return out;
}

StatusOr<ModelName> ModelName::parse(std::string_view text) {
  if (text.empty()) return Status::Error("model name is empty");
  if (text.size() > 512) return Status::Error("model name is longer than 512 characters");
  ModelName out;
  std::string_view name = text;
  // The tag follows the last ':' after the last '/' (a name part never holds ':').
  size_t slash = text.rfind('/');
  size_t colon = text.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    name = text.substr(0, colon);
    out.tag = std::string(text.substr(colon + 1));
    KILN_RETURN_IF_ERROR(check_part(text, out.tag, "tag"));
  }
  size_t start = 0;
  while (true) {
    size_t end = name.find('/', start);
    std::string_view part = name.substr(start, end == std::string_view::npos ? end : end - start);
    KILN_RETURN_IF_ERROR(check_part(text, part, "name part"));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  out.name = std::string(name);
  return out;
}

StatusOr<ModelName> ModelName::from_directory(std::string_view dir) {
  std::string decoded;
  for (size_t i = 0; i < dir.size(); ++i) {
    if (dir[i] != '%') {
      decoded += dir[i];
      continue;
    }
    int hi = i + 2 < dir.size() ? hex_value(dir[i + 1]) : -1;
    int lo = i + 2 < dir.size() ? hex_value(dir[i + 2]) : -1;
    if (hi < 0 || lo < 0) return Status::Error("'" + std::string(dir) + "': bad %-escape");
    decoded += (char)(hi * 16 + lo);
    i += 2;
  }
  if (decoded.find(':') == std::string::npos)
    return Status::Error("'" + std::string(dir) + "' has no tag");
  auto name = ModelName::parse(decoded);
  if (!name.ok()) return name.status();
  if (name->directory() != dir) return Status::Error("'" + std::string(dir) + "' is not canonical");
  return name;
}

}  // namespace kiln::store
