#pragma once

// The parts of the SMTP mail transaction the channel speaks itself (libcurl
// sets the session up: connect, TLS, greeting, EHLO, STARTTLS, AUTH):
// reading server replies and framing the message for DATA. Pure functions,
// no I/O; replies are hostile input (tests/fuzz/smtp_reply_fuzz.cpp).

#include <cstddef>
#include <string>
#include <string_view>

namespace commsvc::plugins::transport_smtp {

/// The longest reply line accepted, CRLF included (RFC 5321 allows 512).
inline constexpr std::size_t kMaxReplyLine = 2048;
/// The most lines one reply may have (an EHLO reply has a dozen).
inline constexpr std::size_t kMaxReplyLines = 64;

/// One complete server reply.
struct SmtpReply {
  int code = 0;          ///< the three-digit reply code
  std::string lastLine;  ///< its last line without the line end, for error details
};

/// How far parseReply got.
enum class ReplyParse {
  Complete,    ///< a whole reply was read
  Incomplete,  ///< more bytes are needed
  Malformed,   ///< not an SMTP reply (no code, codes differ, line or reply too long)
};

/// The code of one reply line: its three leading digits when a space, a
/// hyphen or the line's end follows them; -1 otherwise.
int replyCode(std::string_view line);

/// Parses the reply at the start of `input`: lines "NNN-text" continuing it
/// and a last line "NNN text" (or "NNN"), each ended by CRLF or LF. On
/// Complete, `reply` holds it and `consumed` its length in bytes. One pass
/// over the bytes, no recursion.
ReplyParse parseReply(std::string_view input, SmtpReply& reply, std::size_t& consumed);

/// True when `line` (one line of an EHLO reply, line end optional) offers
/// the PIPELINING extension (RFC 2920).
bool offersPipelining(std::string_view line);

/// `message` (CRLF line ends) as sent after DATA's 354: a dot starting a line
/// doubled, a CRLF added when it does not end with one, then ".\r\n".
std::string dataPayload(std::string_view message);

}  // namespace commsvc::plugins::transport_smtp
