// Fuzz target: the SMTP reply reader and DATA framing
// (plugins/transport-smtp/smtp_protocol.hpp). Replies come from the mail
// server over the network; the framing carries message bytes.
//
// Input: raw bytes, read as a stream of server replies and, whole, as a
// message to frame.
//
// Oracles: parseReply takes only whole lines ending in LF, within the line
// and line-count bounds, with one code for all lines, and reports its last
// line without line end; reading reply after reply always advances.
// dataPayload ends in ".\r\n", contains no other line that is a lone dot,
// and undoubling its leading dots gives back the message (plus a CRLF when
// it did not end with one).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "smtp_protocol.hpp"

namespace {

using commsvc::fuzz::fail;
namespace smtp = commsvc::plugins::transport_smtp;

void checkReplies(std::string_view input) {
  while (!input.empty()) {
    smtp::SmtpReply reply;
    std::size_t consumed = 0;
    const smtp::ReplyParse verdict = smtp::parseReply(input, reply, consumed);
    if (verdict != smtp::ReplyParse::Complete) return;
    if (consumed == 0 || consumed > input.size()) fail("smtp_reply", "consumed out of range");
    if (input[consumed - 1] != '\n') fail("smtp_reply", "reply does not end a line");
    if (reply.code < 0 || reply.code > 999) fail("smtp_reply", "code out of range");
    if (reply.lastLine.find('\n') != std::string::npos) fail("smtp_reply", "line end in text");
    if (reply.lastLine.size() + 1 > smtp::kMaxReplyLine) fail("smtp_reply", "line too long");
    const std::string_view taken = input.substr(0, consumed);
    std::size_t lines = 0;
    for (char c : taken) lines += c == '\n' ? 1 : 0;
    if (lines > smtp::kMaxReplyLines) fail("smtp_reply", "too many lines");
    const std::string code = std::to_string(reply.code);
    if (taken.substr(0, 3) != std::string(3 - code.size(), '0') + code) {
      fail("smtp_reply", "code differs from the first line");
    }
    input.remove_prefix(consumed);
  }
}

void checkPayload(std::string_view message) {
  const std::string payload = smtp::dataPayload(message);
  if (payload.size() < 3 || payload.compare(payload.size() - 3, 3, ".\r\n") != 0) {
    fail("smtp_reply", "payload does not end with the lone dot");
  }
  if (payload.size() > 3 && payload.compare(payload.size() - 5, 2, "\r\n") != 0) {
    fail("smtp_reply", "lone dot not on its own line");
  }
  // Undo the framing line by line: each line that starts with a dot lost one.
  std::string restored;
  std::size_t start = 0;
  const std::size_t bodyEnd = payload.size() - 3;
  while (start < bodyEnd) {
    std::size_t end = payload.find('\n', start);
    end = end == std::string::npos || end >= bodyEnd ? bodyEnd : end + 1;
    std::string_view line(payload.data() + start, end - start);
    if (line == ".\r\n" || line == ".\n") fail("smtp_reply", "a lone dot inside the message");
    if (!line.empty() && line.front() == '.') line.remove_prefix(1);
    restored.append(line);
    start = end;
  }
  std::string expected(message);
  if (!expected.empty() &&
      !(expected.size() >= 2 && expected.substr(expected.size() - 2) == "\r\n")) {
    expected += "\r\n";
  }
  if (restored != expected) fail("smtp_reply", "framing does not round-trip");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = commsvc::fuzz::asText(data, size);
  checkReplies(input);
  checkPayload(input);
  for (std::string_view rest = input; !rest.empty();) {
    const std::size_t end = rest.find('\n');
    smtp::offersPipelining(rest.substr(0, end));
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
  }
  return 0;
}
