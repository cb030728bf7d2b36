#pragma once

// Independent decoders for the tests: quoted-printable, base64, RFC 2047
// encoded words, and a small parser of the emails the builder writes.

#include <cctype>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace commsvc::plugins::transport_smtp::testing {

/// The value of one hex digit; throws on anything else.
inline int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  throw std::invalid_argument("bad hex digit");
}

/// Decodes quoted-printable: soft breaks vanish, =XX become bytes, hard
/// breaks stay CRLF.
inline std::string decodeQuotedPrintable(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '=') {
      out += in[i];
    } else if (in.substr(i + 1, 2) == "\r\n") {
      i += 2;
    } else {
      out += static_cast<char>(hexValue(in.at(i + 1)) * 16 + hexValue(in.at(i + 2)));
      i += 2;
    }
  }
  return out;
}

/// Decodes padded standard base64; throws on a bad character.
inline std::string decodeBase64(std::string_view in) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (const char c : in) {
    if (c == '=') break;
    const auto pos = kAlphabet.find(c);
    if (pos == std::string::npos) throw std::invalid_argument("bad base64 character");
    buffer = (buffer << 6) | static_cast<unsigned>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

/// The encoded words "=?UTF-8?B?...?=" of a header value, in order.
inline std::vector<std::string> encodedWords(std::string_view value) {
  std::vector<std::string> words;
  std::size_t pos = 0;
  while ((pos = value.find("=?", pos)) != std::string_view::npos) {
    const auto end = value.find("?=", pos + 10);
    if (end == std::string_view::npos) break;
    words.emplace_back(value.substr(pos, end + 2 - pos));
    pos = end + 2;
  }
  return words;
}

/// Decodes one "=?UTF-8?B?...?=" word; throws when it is not one.
inline std::string decodeEncodedWord(std::string_view word) {
  const std::string_view prefix = "=?UTF-8?B?";
  if (word.substr(0, prefix.size()) != prefix || word.substr(word.size() - 2) != "?=") {
    throw std::invalid_argument("not a UTF-8 B encoded word: " + std::string(word));
  }
  return decodeBase64(word.substr(prefix.size(), word.size() - prefix.size() - 2));
}

/// Decodes a header value made only of encoded words (white space between
/// them is ignored, RFC 2047 §6.2).
inline std::string decodeHeaderWords(std::string_view value) {
  std::string out;
  for (const auto& word : encodedWords(value)) out += decodeEncodedWord(word);
  return out;
}

/// True when `text` is complete, valid UTF-8.
inline bool isValidUtf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const std::size_t length = lead < 0x80         ? 1
                               : (lead >> 5) == 6  ? 2
                               : (lead >> 4) == 14 ? 3
                               : (lead >> 3) == 30 ? 4
                                                   : 0;
    if (length == 0 || i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return false;
    }
    i += length;
  }
  return true;
}

/// The lines of `data` split at CRLF (a bare LF counts as a line end too).
inline std::vector<std::string> linesOf(std::string_view data) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (data[i] == '\n') {
      std::size_t end = i;
      if (end > start && data[end - 1] == '\r') --end;
      lines.emplace_back(data.substr(start, end - start));
      start = i + 1;
    }
  }
  if (start < data.size()) lines.emplace_back(data.substr(start));
  return lines;
}

/// One MIME entity: raw header lines (folded ones joined with their CRLF)
/// and the body.
struct Entity {
  std::map<std::string, std::string> headers;  ///< lowercase name -> raw value (folds kept)
  std::string body;                            ///< everything after the blank line

  /// The raw value of header `name` (lowercase), or "" when absent.
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

/// Splits `data` into header block and body; throws when malformed.
inline Entity parseEntity(std::string_view data) {
  const auto split = data.find("\r\n\r\n");
  if (split == std::string_view::npos) throw std::invalid_argument("no header/body separator");
  Entity entity;
  entity.body = std::string(data.substr(split + 4));
  std::string_view block = data.substr(0, split + 2);
  std::string name;
  std::size_t pos = 0;
  while (pos < block.size()) {
    const auto end = block.find("\r\n", pos);
    std::string_view line = block.substr(pos, end - pos);
    pos = end + 2;
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      entity.headers[name] += "\r\n" + std::string(line);
      continue;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) throw std::invalid_argument("bad header line");
    name.clear();
    for (const char c : line.substr(0, colon)) name += static_cast<char>(std::tolower(c));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    entity.headers[name] = std::string(value);
  }
  return entity;
}

/// The boundary parameter of a multipart Content-Type value.
inline std::string boundaryOf(const std::string& contentType) {
  const auto pos = contentType.find("boundary=\"");
  if (pos == std::string::npos) throw std::invalid_argument("no quoted boundary");
  const auto start = pos + 10;
  return contentType.substr(start, contentType.find('"', start) - start);
}

/// The body parts of a multipart entity (text between delimiters, without
/// the CRLF that belongs to the next delimiter).
inline std::vector<Entity> partsOf(const Entity& multipart) {
  const std::string delimiter = "\r\n--" + boundaryOf(multipart.header("content-type"));
  const std::string body = "\r\n" + multipart.body;  // the first delimiter may open the body
  std::vector<Entity> parts;
  std::size_t pos = body.find(delimiter);
  while (pos != std::string::npos) {
    std::size_t start = pos + delimiter.size();
    if (body.compare(start, 2, "--") == 0) break;  // close delimiter
    start = body.find("\r\n", start) + 2;
    const std::size_t next = body.find(delimiter, start);
    if (next == std::string::npos) throw std::invalid_argument("no close delimiter");
    parts.push_back(parseEntity(body.substr(start, next - start)));
    pos = next;
  }
  return parts;
}

}  // namespace commsvc::plugins::transport_smtp::testing
