#include "json_text.hpp"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace commsvc::plugins::api {
namespace {

// The escape of an ASCII byte that needs one, or nullptr.
const char* shortEscape(unsigned char c) {
  switch (c) {
    case '"':
      return "\\\"";
    case '\\':
      return "\\\\";
    case '\b':
      return "\\b";
    case '\f':
      return "\\f";
    case '\n':
      return "\\n";
    case '\r':
      return "\\r";
    case '\t':
      return "\\t";
    default:
      return nullptr;
  }
}

}  // namespace

std::size_t utf8SequenceLength(std::string_view text) {
  const auto byte = [&text](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // overlong
    if (lead == 0xED) high = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;   // overlong
    if (lead == 0xF4) high = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (text.size() < length || byte(1) < low || byte(1) > high) return 0;
  for (std::size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
}

void appendJsonString(std::string& out, std::string_view text) {
  const std::size_t start = out.size();
  out.reserve(start + text.size() + 2);
  out += '"';
  std::size_t plain = 0;  // start of the bytes not yet copied
  for (std::size_t at = 0; at < text.size();) {
    const auto c = static_cast<unsigned char>(text[at]);
    if (c >= 0x80) {
      const std::size_t length = utf8SequenceLength(text.substr(at));
      if (length == 0) {
        // Invalid UTF-8 (PostgreSQL's UTF8 text never is): nlohmann's own
        // replacement rules, for the whole string.
        out.resize(start);
        out += nlohmann::json(std::string(text))
                   .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        return;
      }
      at += length;
      continue;
    }
    if (c >= 0x20 && c != '"' && c != '\\') {
      ++at;
      continue;
    }
    out.append(text.data() + plain, at - plain);
    if (const char* escape = shortEscape(c)) {
      out += escape;
    } else {
      constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
    plain = ++at;
  }
  out.append(text.data() + plain, text.size() - plain);
  out += '"';
}

void appendJsonInteger(std::string& out, std::int64_t value) {
  char buffer[24];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, end);
}

RowJsonWriter::RowJsonWriter(const pqxx::row& sample, std::span<const JsonColumn> columns) {
  std::vector<JsonColumn> sorted(columns.begin(), columns.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const JsonColumn& a, const JsonColumn& b) { return a.name < b.name; });
  members_.reserve(sorted.size());
  for (const JsonColumn& column : sorted) {
    const std::string name(column.name);
    pqxx::row::size_type number = 0;
    try {
      number = sample.column_number(name);
    } catch (const pqxx::argument_error&) {
      throw std::invalid_argument("the query result has no column " + name);
    }
    std::string prefix(members_.empty() ? "{" : ",");
    appendJsonString(prefix, name);
    prefix += ':';
    members_.push_back({std::move(prefix), number, column.kind});
  }
}

void RowJsonWriter::append(std::string& out, const pqxx::row& row) const {
  for (const Member& member : members_) {
    out += member.prefix;
    const pqxx::field field = row[member.column];
    if (field.is_null()) {
      out += "null";
      continue;
    }
    const std::string_view text(field.c_str(), field.size());
    switch (member.kind) {
      case JsonKind::Integer:
        // PostgreSQL writes integers as plain decimals, as nlohmann does.
        out += text;
        break;
      case JsonKind::Boolean:
        out += text == "t" ? "true" : "false";
        break;
      case JsonKind::Text:
        appendJsonString(out, text);
        break;
    }
  }
  out += members_.empty() ? "{}" : "}";
}

}  // namespace commsvc::plugins::api
