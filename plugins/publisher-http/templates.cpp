#include "templates.hpp"

#include <nlohmann/json.hpp>
#include <unordered_set>

#include "commsvc/config.hpp"

namespace commsvc::plugins::publisher_http {
namespace {

bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

// Characters a URL path or query may hold as they are (RFC 3986 unreserved,
// sub-delims, ':', '@', '/', '?', and '%' of an escape).
bool isUrlChar(char c) {
  if (isNameChar(c)) return true;
  switch (c) {
    case '.':
    case '~':
    case '!':
    case '$':
    case '&':
    case '\'':
    case '(':
    case ')':
    case '*':
    case '+':
    case ',':
    case ';':
    case '=':
    case ':':
    case '@':
    case '/':
    case '?':
    case '%':
      return true;
    default:
      return false;
  }
}

std::string positionText(std::size_t i) { return " at position " + std::to_string(i + 1); }

// `c` quoted for a message: 'c' when printable ASCII, else its byte value.
std::string quoteChar(char c) {
  const auto b = static_cast<unsigned char>(c);
  if (b > 0x20 && b < 0x7F) return "'" + std::string(1, c) + "'";
  static constexpr char kHex[] = "0123456789ABCDEF";
  return std::string("byte 0x") + kHex[b >> 4] + kHex[b & 0xF];
}

// The JSON form of `value`; invalid UTF-8 (impossible for parsed text, but
// cheap to guard) is replaced rather than thrown.
std::string dumpJson(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// `value` as the content of a JSON string literal (escaped, no quotes).
std::string jsonStringContent(const nlohmann::json& value) {
  std::string quoted = dumpJson(value.is_string() ? value : nlohmann::json(dumpJson(value)));
  return quoted.substr(1, quoted.size() - 2);
}

// Length of the valid UTF-8 sequence at `s[i]`, or 0 when it is invalid.
std::size_t utf8Length(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) -> unsigned {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0x100u;
  };
  const auto cont = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) {
    return byte(k) >= lo && byte(k) <= hi;
  };
  const unsigned b = byte(0);
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return cont(1) ? 2 : 0;
  if (b == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
  if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) return cont(1) && cont(2) ? 3 : 0;
  if (b == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
  if (b == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (b >= 0xF1 && b <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (b == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

}  // namespace

Template Template::parse(std::string_view text, TemplateKind kind, std::string_view option) {
  const std::string prefix = std::string(option) + ": ";
  const bool path = kind == TemplateKind::Path;
  Template result;
  std::string literal;
  bool inJsonString = false;  // Json kind: inside a string literal of the template
  bool escaped = false;       // ... right after its backslash
  auto flushLiteral = [&] {
    if (!literal.empty()) result.parts_.push_back({Mode::Literal, std::move(literal)});
    literal.clear();
  };
  auto addLiteralChar = [&](char c) {
    literal.push_back(c);
    if (kind != TemplateKind::Json) return;
    if (escaped) {
      escaped = false;
    } else if (inJsonString && c == '\\') {
      escaped = true;
    } else if (c == '"') {
      inJsonString = !inJsonString;
    }
  };

  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == '{' && i + 1 < text.size() && text[i + 1] == '{') {
      addLiteralChar('{');
      i += 2;
      continue;
    }
    if (c == '{') {
      std::size_t end = i + 1;
      while (end < text.size() && isNameChar(text[end])) ++end;
      if (end > i + 1 && end < text.size() && text[end] == '}') {
        flushLiteral();
        Mode mode = Mode::PathSegment;
        if (kind == TemplateKind::Json)
          mode = inJsonString ? Mode::JsonStringContent : Mode::JsonValue;
        if (kind == TemplateKind::Text) mode = Mode::Text;
        result.parts_.push_back({mode, std::string(text.substr(i + 1, end - i - 1))});
        i = end + 1;
        continue;
      }
      if (path) {
        if (end == i + 1 && end < text.size() && text[end] == '}') {
          throw ConfigError(prefix + "empty field name '{}'" + positionText(i));
        }
        if (end == text.size()) {
          throw ConfigError(prefix + "unclosed '{'" + positionText(i) +
                            " (write '{{' for a literal brace)");
        }
        throw ConfigError(prefix + "invalid character " + quoteChar(text[end]) +
                          " in a field name" + positionText(end) +
                          " (names are letters, digits, '_' and '-')");
      }
      addLiteralChar(c);
      ++i;
      continue;
    }
    if (c == '}' && path) {
      if (i + 1 < text.size() && text[i + 1] == '}') {
        addLiteralChar('}');
        i += 2;
        continue;
      }
      throw ConfigError(prefix + "unmatched '}'" + positionText(i) +
                        " (write '}}' for a literal brace)");
    }
    if (path && c == '#') throw ConfigError(prefix + "must not hold a fragment ('#')");
    if (path && !isUrlChar(c)) {
      throw ConfigError(prefix + "character " + quoteChar(c) + positionText(i) +
                        " cannot appear in a URL (percent-encode it)");
    }
    addLiteralChar(c);
    ++i;
  }
  flushLiteral();

  if (path && !text.empty() && text.front() != '/' && text.front() != '?') {
    throw ConfigError(prefix + "must start with '/' or '?'");
  }
  if (kind == TemplateKind::Json) {
    // Filled in with placeholders of each kind, the body must be JSON.
    std::string probe;
    for (const Part& part : result.parts_) {
      if (part.mode == Mode::Literal) probe += part.text;
      if (part.mode == Mode::JsonValue) probe += "null";
    }
    try {
      const nlohmann::json parsed = nlohmann::json::parse(probe);
      (void)parsed;
    } catch (const nlohmann::json::parse_error& e) {
      throw ConfigError(prefix + "not valid JSON once its fields are filled in (each {field} " +
                        "outside a string taken as null): " + e.what());
    }
  }
  return result;
}

bool Template::hasFields() const {
  for (const Part& part : parts_) {
    if (part.mode != Mode::Literal) return true;
  }
  return false;
}

std::vector<std::string> Template::fields() const {
  std::vector<std::string> names;
  std::unordered_set<std::string> seen;
  for (const Part& part : parts_) {
    if (part.mode != Mode::Literal && seen.insert(part.text).second) names.push_back(part.text);
  }
  return names;
}

std::string Template::render(const nlohmann::json& payload) const {
  std::string out;
  for (const Part& part : parts_) {
    if (part.mode == Mode::Literal) {
      out += part.text;
      continue;
    }
    if (!payload.is_object()) throw TemplateError("payload is not a JSON object");
    const auto it = payload.find(part.text);
    if (it == payload.end()) throw TemplateError("payload has no field '" + part.text + "'");
    const nlohmann::json& value = *it;
    switch (part.mode) {
      case Mode::PathSegment:
        if (value.is_number_integer()) {
          out += dumpJson(value);
        } else if (value.is_string()) {
          const auto& text = value.get_ref<const std::string&>();
          if (text.empty() || text == "." || text == "..") {
            throw TemplateError("payload field '" + part.text + "' is " +
                                (text.empty() ? "empty" : "'" + text + "'") +
                                ": not usable as a URL path segment");
          }
          out += percentEncodeSegment(text);
        } else {
          throw TemplateError("payload field '" + part.text + "' is " + value.type_name() +
                              ", not a string or integer: not usable in a URL");
        }
        break;
      case Mode::JsonValue:
        out += dumpJson(value);
        break;
      case Mode::JsonStringContent:
        out += jsonStringContent(value);
        break;
      case Mode::Text:
        out += value.is_string() ? value.get_ref<const std::string&>() : dumpJson(value);
        break;
      case Mode::Literal:
        break;
    }
  }
  return out;
}

std::string percentEncodeSegment(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (isNameChar(c) || c == '.' || c == '~') {
      out.push_back(c);
    } else {
      const auto b = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 0xF]);
    }
  }
  return out;
}

std::string singleLineSnippet(std::string_view bytes, std::size_t maxBytes) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  std::string out;
  bool cut = false;
  for (std::size_t i = 0; i < bytes.size();) {
    const std::size_t length = utf8Length(bytes, i);
    std::string_view piece = length == 0 ? kReplacement : bytes.substr(i, length);
    const auto b = static_cast<unsigned char>(bytes[i]);
    const bool control = length == 1 && (b < 0x20 || b == 0x7F);
    const bool c1 = length == 2 && b == 0xC2 && static_cast<unsigned char>(bytes[i + 1]) < 0xA0;
    if (control || c1 || piece == " ") {
      i += length;
      if (out.empty() || out.back() == ' ') continue;
      piece = " ";
    } else {
      i += length == 0 ? 1 : length;
    }
    if (out.size() + piece.size() > maxBytes) {
      cut = true;
      break;
    }
    out += piece;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (cut) out += "...";
  return out;
}

}  // namespace commsvc::plugins::publisher_http
