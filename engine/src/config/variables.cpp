// ${VAR} / ${VAR:-default} expansion.

#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "config/pipeline_config.hpp"

namespace commsvc::config {
namespace {

bool isNameStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }

bool isNameChar(char c) { return isNameStart(c) || (c >= '0' && c <= '9'); }

// Index of the '}' closing a reference whose body starts at `from`, skipping
// nested "${...}" and "$$"; npos when there is none.
std::size_t findClosingBrace(std::string_view text, std::size_t from) {
  int depth = 1;
  std::size_t i = from;
  while (i < text.size()) {
    if (text[i] == '$' && i + 1 < text.size() && (text[i + 1] == '$' || text[i + 1] == '{')) {
      if (text[i + 1] == '{') ++depth;
      i += 2;
      continue;
    }
    if (text[i] == '}' && --depth == 0) return i;
    ++i;
  }
  return std::string_view::npos;
}

// Appends the expansion of `text` to `out`; records every problem in
// `errors`. Returns false when the text is malformed (expansion stopped).
bool expandInto(std::string_view text, const EnvLookup& env, std::string& out,
                std::vector<std::string>& errors) {
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c != '$' || i + 1 >= text.size() || (text[i + 1] != '$' && text[i + 1] != '{')) {
      out.push_back(c);
      ++i;
      continue;
    }
    if (text[i + 1] == '$') {
      out.push_back('$');
      i += 2;
      continue;
    }
    // "${" NAME ( "}" | ":-" DEFAULT "}" )
    const std::size_t nameStart = i + 2;
    std::size_t j = nameStart;
    if (j < text.size() && isNameStart(text[j])) {
      while (j < text.size() && isNameChar(text[j])) ++j;
    }
    const std::string_view name = text.substr(nameStart, j - nameStart);
    const std::size_t close = findClosingBrace(text, nameStart);
    if (close == std::string_view::npos) {
      errors.push_back("malformed variable reference '" + std::string(text.substr(i)) +
                       "': missing '}'");
      return false;
    }
    const std::string_view reference = text.substr(i, close + 1 - i);
    if (name.empty()) {
      errors.push_back("malformed variable reference '" + std::string(reference) +
                       "': expected a variable name ([A-Za-z_][A-Za-z0-9_]*)");
      return false;
    }
    const std::optional<std::string> value = env ? env(name) : std::nullopt;
    if (j == close) {
      if (value) {
        out += *value;
      } else {
        errors.push_back("environment variable '" + std::string(name) + "' is not set (write ${" +
                         std::string(name) + ":-default} to give a default)");
      }
    } else if (text.substr(j, 2) == ":-") {
      if (value && !value->empty()) {
        out += *value;
      } else if (!expandInto(text.substr(j + 2, close - (j + 2)), env, out, errors)) {
        return false;
      }
    } else {
      errors.push_back("malformed variable reference '" + std::string(reference) +
                       "': expected '}' or ':-default' after the name");
      return false;
    }
    i = close + 1;
  }
  return true;
}

}  // namespace

EnvLookup processEnvironment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const std::string key(name);
    if (const char* value = std::getenv(key.c_str())) return std::string(value);
    return std::nullopt;
  };
}

std::string expandVariables(std::string_view text, const EnvLookup& env, std::string& error) {
  error.clear();
  if (text.find('$') == std::string_view::npos) return std::string(text);
  std::string out;
  out.reserve(text.size());
  std::vector<std::string> errors;
  expandInto(text, env, out, errors);
  if (errors.empty()) return out;
  for (const std::string& e : errors) {
    if (!error.empty()) error += "; ";
    error += e;
  }
  return "";
}

}  // namespace commsvc::config
