#pragma once

// Turns a commsvc::Message into an RFC 5322 / MIME email (SPEC §3): pure
// logic, no I/O, so it is unit-tested on its own.

#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

#include "commsvc/message.hpp"

namespace commsvc::plugins::transport_smtp {

/// Thrown when a message cannot become a valid email: a header value with
/// CR or LF, a missing or malformed address. Always a permanent failure.
class InvalidMessage : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The sender used when a Message leaves fromAddress / fromName empty.
struct SenderDefaults {
  std::string address;  ///< default sender address (from_address)
  std::string name;     ///< default sender display name (from_name)
};

/// An email ready to hand to SMTP.
struct MimeMessage {
  std::string envelopeFrom;  ///< the address for MAIL FROM
  std::string envelopeTo;    ///< the address for RCPT TO
  std::string messageId;  ///< the Message-ID header value, "<stableId@domain>" or "<uuid@domain>"
  std::string data;       ///< the whole message, CRLF line ends, no line over 998 octets
};

/// Builds the email for `message`. With a non-empty htmlBody the body is
/// multipart/alternative (text/plain, then text/html); with an empty
/// htmlBody it is a single text/plain part. Both parts are UTF-8 and
/// quoted-printable. Throws InvalidMessage (before anything is sent) when a
/// header value contains CR or LF or an address is missing or malformed.
MimeMessage buildMimeMessage(
    const Message& message, const SenderDefaults& defaults,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

/// Throws InvalidMessage naming `field` when `value` contains CR or LF.
void checkHeaderValue(std::string_view field, std::string_view value);

/// Throws InvalidMessage naming `field` unless `address` is a mailbox
/// address (commsvc::isMailboxAddress: local@domain, printable ASCII).
void checkAddress(std::string_view field, std::string_view address);

/// True when `text` is printable ASCII (space to '~', and tab) only.
bool isPrintableAscii(std::string_view text);

/// Quoted-printable (RFC 2045) encoding of UTF-8 text: any line break
/// (LF, CRLF or CR) becomes a CRLF hard break, encoded lines are at most
/// 76 octets (soft breaks "=\r\n"), trailing white space is encoded.
std::string encodeQuotedPrintable(std::string_view text);

/// Standard base64 (RFC 4648) with padding, on one line.
std::string encodeBase64(std::string_view bytes);

/// RFC 2047 "B" encoded words for UTF-8 `text`, separated by CRLF + space
/// (header folding) so that each encoded word stays within 75 characters
/// and each line within 76; `firstLineUsed` is what the header line already
/// holds before the first word (e.g. 9 for "Subject: "). Never splits a
/// UTF-8 character across words.
std::string encodeHeaderWords(std::string_view text, std::size_t firstLineUsed);

/// The Subject header value: the text itself when printable ASCII (and
/// short enough), encoded words otherwise.
std::string formatSubject(std::string_view subject);

/// A mailbox for From/To: `"name" <address>` with `\` and `"` escaped,
/// encoded words instead of the quoted name when it is not ASCII, or just
/// `<address>` without a name; `headerName` is "From" or "To" (for folding).
std::string formatMailbox(std::string_view headerName, std::string_view name,
                          std::string_view address);

/// RFC 5322 date-time in UTC, e.g. "Tue, 02 Jan 2024 03:04:05 +0000".
std::string formatDate(std::chrono::system_clock::time_point time);

/// "<stableId@domain>": the Message-ID of a message with Message::stableId,
/// the same on every attempt. Throws InvalidMessage unless `stableId` is a
/// dot-atom (RFC 5322 atext and inner dots) of at most 200 characters.
std::string stableMessageId(std::string_view stableId, std::string_view domain);

/// A fresh "<uuid@domain>" message id (random version-4 UUID).
std::string makeMessageId(std::string_view domain);

}  // namespace commsvc::plugins::transport_smtp
