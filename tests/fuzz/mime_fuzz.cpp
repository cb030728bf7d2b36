// Fuzz target: MIME building (plugins/transport-smtp/mime.hpp) on a Message
// made of request data.
//
// Input: the fields fromAddress, fromName, toAddress, toName, subject,
// textBody, htmlBody separated by '\0' (missing fields are empty).
//
// Oracles: buildMimeMessage either throws InvalidMessage or gives a message
// whose every line ends in CRLF (no bare CR or LF), no line over 998 octets,
// only 7-bit bytes (everything is encoded), and the envelope addresses as
// given; the encoders keep their documented line lengths.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_support.hpp"
#include "mime.hpp"

namespace {

using commsvc::fuzz::fail;
namespace smtp = commsvc::plugins::transport_smtp;

void checkLines(const std::string& data, std::size_t maxLine, const char* what) {
  std::size_t lineStart = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    const char c = data[i];
    if (static_cast<unsigned char>(c) >= 0x80) fail("mime", std::string(what) + ": 8-bit byte");
    if (c == '\r') {
      if (i + 1 >= data.size() || data[i + 1] != '\n')
        fail("mime", std::string(what) + ": bare CR");
      if (i - lineStart > maxLine) {
        fail("mime", std::string(what) + ": line of " + std::to_string(i - lineStart) + " octets");
      }
      ++i;
      lineStart = i + 1;
    } else if (c == '\n') {
      fail("mime", std::string(what) + ": bare LF");
    }
  }
  if (data.size() - lineStart > maxLine) fail("mime", std::string(what) + ": last line too long");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto fields = commsvc::fuzz::splitFields(commsvc::fuzz::asText(data, size), 7, '\0');
  commsvc::Message message;
  message.id = "fuzz";
  message.fromAddress = fields[0];
  message.fromName = fields[1];
  message.toAddress = fields[2];
  message.toName = fields[3];
  message.subject = fields[4];
  message.textBody = fields[5];
  message.htmlBody = fields[6];
  const smtp::SenderDefaults defaults{"noreply@example.org", "Communication Service"};

  smtp::MimeMessage mime;
  try {
    mime = smtp::buildMimeMessage(message, defaults,
                                  std::chrono::system_clock::time_point(std::chrono::seconds(0)));
  } catch (const smtp::InvalidMessage&) {
    mime.data.clear();
  }
  if (!mime.data.empty()) {
    checkLines(mime.data, 998, "message");
    if (mime.envelopeTo != message.toAddress) fail("mime", "envelope recipient changed");
    const std::string& from = message.fromAddress.empty() ? defaults.address : message.fromAddress;
    if (mime.envelopeFrom != from) fail("mime", "envelope sender changed");
    if (mime.data.find("\r\n\r\n") == std::string::npos) fail("mime", "no header/body separator");
  }

  // The encoders on their own, on the subject and text.
  checkLines(smtp::encodeQuotedPrintable(message.textBody), 76, "quoted-printable");
  const std::string words = smtp::encodeHeaderWords(message.subject, 9);
  checkLines(words, 76, "encoded words");
  const std::string base64 = smtp::encodeBase64(message.subject);
  if (base64.size() != (message.subject.size() + 2) / 3 * 4) fail("mime", "base64 length");
  return 0;
}
