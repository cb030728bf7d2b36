#include "smtp_protocol.hpp"

namespace commsvc::plugins::transport_smtp {

int replyCode(std::string_view line) {
  if (line.size() < 3) return -1;
  int code = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    if (line[i] < '0' || line[i] > '9') return -1;
    code = code * 10 + (line[i] - '0');
  }
  if (line.size() > 3 && line[3] != ' ' && line[3] != '-') return -1;
  return code;
}

ReplyParse parseReply(std::string_view input, SmtpReply& reply, std::size_t& consumed) {
  std::size_t start = 0;
  int code = -1;
  for (std::size_t lines = 0; lines < kMaxReplyLines; ++lines) {
    const std::size_t end = input.find('\n', start);
    if (end == std::string_view::npos) {
      return input.size() - start >= kMaxReplyLine ? ReplyParse::Malformed : ReplyParse::Incomplete;
    }
    if (end + 1 - start > kMaxReplyLine) return ReplyParse::Malformed;
    std::string_view line = input.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const int lineCode = replyCode(line);
    if (lineCode < 0 || (code >= 0 && lineCode != code)) return ReplyParse::Malformed;
    code = lineCode;
    start = end + 1;
    if (line.size() == 3 || line[3] == ' ') {
      reply.code = code;
      reply.lastLine.assign(line);
      consumed = start;
      return ReplyParse::Complete;
    }
  }
  return ReplyParse::Malformed;
}

bool offersPipelining(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r' || line.back() == ' ')) {
    line.remove_suffix(1);
  }
  constexpr std::string_view kKeyword = "PIPELINING";
  if (line.size() != 4 + kKeyword.size() || replyCode(line) != 250) return false;
  for (std::size_t i = 0; i < kKeyword.size(); ++i) {
    char c = line[4 + i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c != kKeyword[i]) return false;
  }
  return true;
}

std::string dataPayload(std::string_view message) {
  std::string out;
  out.reserve(message.size() + 16);
  // Line by line (memchr-fast), not byte by byte: a dot starting one is doubled.
  for (std::size_t start = 0; start < message.size();) {
    if (message[start] == '.') out += '.';
    const std::size_t end = message.find('\n', start);
    const std::size_t next = end == std::string_view::npos ? message.size() : end + 1;
    out.append(message.substr(start, next - start));
    start = next;
  }
  if (!message.empty() && !message.ends_with("\r\n")) out += "\r\n";
  out += ".\r\n";
  return out;
}

}  // namespace commsvc::plugins::transport_smtp
