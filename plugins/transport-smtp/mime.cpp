#include "mime.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <random>
#include <string>

#include "commsvc/email_address.hpp"

namespace commsvc::plugins::transport_smtp {
namespace {

constexpr std::size_t kQpMaxLine = 76;             // RFC 2045 limit of encoded lines
constexpr std::size_t kEncodedLineMax = 76;        // RFC 2047 limit of lines with encoded words
constexpr std::size_t kEncodedWordMax = 75;        // RFC 2047 limit of one encoded word
constexpr std::size_t kEncodedWordOverhead = 12;   // "=?UTF-8?B?" + "?="
constexpr std::size_t kMaxPlainHeaderValue = 900;  // longer plain values are encoded (998 limit)
constexpr char kHexDigits[] = "0123456789ABCDEF";
constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr const char* kWeekdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// A per-thread random generator, seeded once from the OS.
std::mt19937_64& randomEngine() {
  thread_local std::mt19937_64 engine = [] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }();
  return engine;
}

// `count` random bytes as lowercase hex.
std::string randomHex(std::size_t count) {
  static constexpr char kLower[] = "0123456789abcdef";
  std::string out;
  out.reserve(count * 2);
  auto& engine = randomEngine();
  for (std::size_t i = 0; i < count; ++i) {
    const auto byte = static_cast<unsigned>(engine() & 0xFF);
    out += kLower[byte >> 4];
    out += kLower[byte & 0x0F];
  }
  return out;
}

// The domain of `address` (after the last '@'), or a placeholder.
std::string domainOf(std::string_view address) {
  const auto at = address.rfind('@');
  if (at == std::string_view::npos || at + 1 == address.size()) return "commsvc.invalid";
  return std::string(address.substr(at + 1));
}

// Appends "=XX" for `byte`.
void appendHexEscape(std::string& out, unsigned char byte) {
  out += '=';
  out += kHexDigits[byte >> 4];
  out += kHexDigits[byte & 0x0F];
}

// Appends one part's headers and quoted-printable body.
void appendPart(std::string& out, std::string_view contentType, std::string_view body) {
  out += "Content-Type: ";
  out += contentType;
  out += "; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n";
  out += encodeQuotedPrintable(body);
}

}  // namespace

void checkHeaderValue(std::string_view field, std::string_view value) {
  if (value.find_first_of("\r\n") != std::string_view::npos) {
    throw InvalidMessage("header value contains CR or LF: " + std::string(field));
  }
}

void checkAddress(std::string_view field, std::string_view address) {
  checkHeaderValue(field, address);
  if (address.empty()) throw InvalidMessage("missing address: " + std::string(field));
  if (!isMailboxAddress(address)) {
    throw InvalidMessage("malformed address in " + std::string(field) + ": " +
                         std::string(address));
  }
}

bool isPrintableAscii(std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 && c != '\t') || byte >= 0x7F) return false;
  }
  return true;
}

std::string encodeQuotedPrintable(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8 + 16);
  std::size_t lineLength = 0;
  // Appends one encoded token, inserting a soft break first when the token
  // would push the line past the limit (leaving room for the trailing '=').
  const auto emit = [&](std::string_view token) {
    if (lineLength + token.size() > kQpMaxLine - 1) {
      out += "=\r\n";
      lineLength = 0;
    }
    out += token;
    lineLength += token.size();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      out += "\r\n";
      lineLength = 0;
      continue;
    }
    const auto byte = static_cast<unsigned char>(c);
    const bool atLineEnd = i + 1 == text.size() || text[i + 1] == '\r' || text[i + 1] == '\n';
    const bool literal =
        (byte >= 33 && byte <= 126 && c != '=') || ((c == ' ' || c == '\t') && !atLineEnd);
    if (literal) {
      emit(std::string_view(&c, 1));
    } else {
      std::string escaped;
      appendHexEscape(escaped, byte);
      emit(escaped);
    }
  }
  return out;
}

std::string encodeBase64(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t n = (static_cast<unsigned char>(bytes[i]) << 16) |
                            (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                            static_cast<unsigned char>(bytes[i + 2]);
    out += kBase64Alphabet[(n >> 18) & 63];
    out += kBase64Alphabet[(n >> 12) & 63];
    out += kBase64Alphabet[(n >> 6) & 63];
    out += kBase64Alphabet[n & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
    if (rest == 2) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kBase64Alphabet[(n >> 18) & 63];
    out += kBase64Alphabet[(n >> 12) & 63];
    out += rest == 2 ? kBase64Alphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string encodeHeaderWords(std::string_view text, std::size_t firstLineUsed) {
  std::string out;
  std::size_t lineUsed = firstLineUsed;
  // Not even one 4-byte character fits on the first line: fold at once.
  if (lineUsed + kEncodedWordOverhead + 8 > kEncodedLineMax) {
    out += "\r\n ";
    lineUsed = 1;
  }
  std::size_t pos = 0;
  do {
    if (pos > 0) {
      out += "\r\n ";
      lineUsed = 1;
    }
    // The longest word that fits on this line, capped at the word limit.
    const std::size_t room = std::min(kEncodedLineMax - lineUsed, kEncodedWordMax);
    const std::size_t maxBytes = (room - kEncodedWordOverhead) / 4 * 3;
    std::size_t take = std::min(maxBytes, text.size() - pos);
    // Never cut inside a UTF-8 sequence: back off over continuation bytes.
    if (pos + take < text.size()) {
      std::size_t cut = take;
      while (cut > 0 && (static_cast<unsigned char>(text[pos + cut]) & 0xC0) == 0x80) --cut;
      if (cut > 0) take = cut;
    }
    const std::string word = "=?UTF-8?B?" + encodeBase64(text.substr(pos, take)) + "?=";
    out += word;
    lineUsed += word.size();
    pos += take;
  } while (pos < text.size());
  return out;
}

std::string formatSubject(std::string_view subject) {
  if (isPrintableAscii(subject) && subject.size() <= kMaxPlainHeaderValue &&
      subject.find("=?") == std::string_view::npos) {
    return std::string(subject);
  }
  return encodeHeaderWords(subject, std::string_view("Subject: ").size());
}

std::string formatMailbox(std::string_view headerName, std::string_view name,
                          std::string_view address) {
  const std::string angle = "<" + std::string(address) + ">";
  if (name.empty()) return angle;
  std::string out;
  // The quoted form's whole line: "Name: " + quoted, escaped name + " <address>".
  const auto escapes = static_cast<std::size_t>(
      std::count_if(name.begin(), name.end(), [](char c) { return c == '"' || c == '\\'; }));
  const std::size_t quotedLine = headerName.size() + 2 + name.size() + escapes + 3 + angle.size();
  if (isPrintableAscii(name) && quotedLine <= kMaxPlainHeaderValue &&
      name.find("=?") == std::string_view::npos) {
    out += '"';
    for (const char c : name) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
    out += ' ';
    out += angle;
    return out;
  }
  out = encodeHeaderWords(name, headerName.size() + 2);
  // Fold before the address when the last line would grow too long.
  const auto lastLineStart = out.rfind('\n');
  const std::size_t lastLine = lastLineStart == std::string::npos
                                   ? headerName.size() + 2 + out.size()
                                   : out.size() - lastLineStart - 1;
  out += lastLine + 1 + angle.size() > kEncodedLineMax ? "\r\n " : " ";
  out += angle;
  return out;
}

std::string formatDate(std::chrono::system_clock::time_point time) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  std::array<char, 64> buffer{};
  std::snprintf(buffer.data(), buffer.size(), "%s, %02d %s %04d %02d:%02d:%02d +0000",
                kWeekdays[utc.tm_wday], utc.tm_mday, kMonths[utc.tm_mon], utc.tm_year + 1900,
                utc.tm_hour, utc.tm_min, utc.tm_sec);
  return buffer.data();
}

std::string makeMessageId(std::string_view domain) {
  std::string hex = randomHex(16);
  hex[12] = '4';  // version 4
  // Variant 10xx: the first hex digit of the fourth group is 8, 9, a or b.
  hex[16] = "89ab"[static_cast<unsigned>(randomEngine()() & 3)];
  return "<" + hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20) + "@" + std::string(domain) + ">";
}

std::string stableMessageId(std::string_view stableId, std::string_view domain) {
  const bool atext = std::all_of(stableId.begin(), stableId.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-/=?^_`{|}~.").find(c) != std::string_view::npos;
  });
  if (!atext || stableId.size() > 200 || stableId.front() == '.' || stableId.back() == '.') {
    throw InvalidMessage("stable message id is not a dot-atom: " + std::string(stableId));
  }
  return "<" + std::string(stableId) + "@" + std::string(domain) + ">";
}

MimeMessage buildMimeMessage(const Message& message, const SenderDefaults& defaults,
                             std::chrono::system_clock::time_point now) {
  const std::string& fromAddress =
      message.fromAddress.empty() ? defaults.address : message.fromAddress;
  const std::string& fromName = message.fromName.empty() ? defaults.name : message.fromName;

  checkHeaderValue("subject", message.subject);
  checkHeaderValue("from name", fromName);
  checkHeaderValue("to name", message.toName);
  checkAddress("from address", fromAddress);
  checkAddress("to address", message.toAddress);

  MimeMessage out;
  out.envelopeFrom = fromAddress;
  out.envelopeTo = message.toAddress;
  out.messageId = message.stableId.empty()
                      ? makeMessageId(domainOf(fromAddress))
                      : stableMessageId(message.stableId, domainOf(fromAddress));

  std::string& data = out.data;
  data.reserve(message.textBody.size() * 11 / 10 + message.htmlBody.size() * 11 / 10 + 1024);
  data += "Date: " + formatDate(now) + "\r\n";
  data += "From: " + formatMailbox("From", fromName, fromAddress) + "\r\n";
  data += "To: " + formatMailbox("To", message.toName, message.toAddress) + "\r\n";
  data += "Subject: " + formatSubject(message.subject) + "\r\n";
  data += "Message-ID: " + out.messageId + "\r\n";
  data += "MIME-Version: 1.0\r\n";

  if (message.htmlBody.empty()) {
    appendPart(data, "text/plain", message.textBody);
    // The message ends with a line break (not doubled when the text has one).
    if (data.size() < 2 || data.compare(data.size() - 2, 2, "\r\n") != 0) data += "\r\n";
    return out;
  }
  // "=_" never occurs in quoted-printable output, so the boundary cannot
  // collide with either part.
  const std::string boundary = "=_commsvc_" + randomHex(12);
  data += "Content-Type: multipart/alternative;\r\n boundary=\"" + boundary + "\"\r\n\r\n";
  data += "This is a multi-part message in MIME format.\r\n";
  data += "\r\n--" + boundary + "\r\n";
  appendPart(data, "text/plain", message.textBody);
  data += "\r\n--" + boundary + "\r\n";
  appendPart(data, "text/html", message.htmlBody);
  data += "\r\n--" + boundary + "--\r\n";
  return out;
}

}  // namespace commsvc::plugins::transport_smtp
