#include "mime.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <set>
#include <string>

#include "mime_decode.hpp"

namespace commsvc::plugins::transport_smtp {
namespace {

using namespace transport_smtp::testing;

// Text with LF line ends as CRLF, which is what quoted-printable carries.
std::string withCrlf(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

Message sampleMessage() {
  Message message;
  message.id = "42";
  message.fromAddress = "noreply@example.org";
  message.fromName = "Platform";
  message.toAddress = "max@example.com";
  message.toName = "Max Mustermann";
  message.subject = "Your appointment";
  message.textBody = "Hello Max,\nsee you soon.\n";
  message.htmlBody = "<p>Hello Max,</p>\n<p>see you soon.</p>\n";
  return message;
}

TEST(MimeTest, MultipartAlternativeWithPlainThenHtml) {
  const auto mime = buildMimeMessage(sampleMessage(), {});
  const Entity email = parseEntity(mime.data);

  EXPECT_EQ(email.header("from"), "\"Platform\" <noreply@example.org>");
  EXPECT_EQ(email.header("to"), "\"Max Mustermann\" <max@example.com>");
  EXPECT_EQ(email.header("subject"), "Your appointment");
  EXPECT_EQ(email.header("mime-version"), "1.0");
  EXPECT_EQ(email.header("message-id"), mime.messageId);
  EXPECT_TRUE(std::regex_match(mime.messageId,
                               std::regex("<[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                                          "[0-9a-f]{12}@example\\.org>")))
      << mime.messageId;
  EXPECT_TRUE(std::regex_match(
      email.header("date"),
      std::regex("(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \\d\\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|"
                 "Nov|Dec) \\d{4} \\d\\d:\\d\\d:\\d\\d \\+0000")))
      << email.header("date");
  EXPECT_EQ(email.header("content-type").rfind("multipart/alternative;", 0), 0u);
  EXPECT_FALSE(boundaryOf(email.header("content-type")).empty());
  EXPECT_EQ(mime.envelopeFrom, "noreply@example.org");
  EXPECT_EQ(mime.envelopeTo, "max@example.com");

  const auto parts = partsOf(email);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].header("content-type"), "text/plain; charset=UTF-8");
  EXPECT_EQ(parts[0].header("content-transfer-encoding"), "quoted-printable");
  EXPECT_EQ(parts[1].header("content-type"), "text/html; charset=UTF-8");
  EXPECT_EQ(parts[1].header("content-transfer-encoding"), "quoted-printable");
  EXPECT_EQ(decodeQuotedPrintable(parts[0].body), withCrlf(sampleMessage().textBody));
  EXPECT_EQ(decodeQuotedPrintable(parts[1].body), withCrlf(sampleMessage().htmlBody));
}

TEST(MimeTest, Utf8BodiesDecodeBackExactly) {
  Message message = sampleMessage();
  message.textBody =
      "Grüße aus Köln – Straße ✓ 😀\nline with trailing space \n= sign and =41\n.leading dot\n"
      "tab\tend\t";
  message.htmlBody = "<p>Grüße, <b>Jürgen</b> ☕</p>";
  const auto parts = partsOf(parseEntity(buildMimeMessage(message, {}).data));
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(decodeQuotedPrintable(parts[0].body), withCrlf(message.textBody));
  EXPECT_EQ(decodeQuotedPrintable(parts[1].body), message.htmlBody);
}

TEST(MimeTest, NoLineLongerThan998EvenForAHugeSingleLineBody) {
  Message message = sampleMessage();
  message.textBody.clear();
  while (message.textBody.size() < 5000) message.textBody += "Lorem ipsum dolor sit amet ä ";
  message.textBody.resize(5000);
  message.htmlBody = "<p>" + std::string(5000, 'x') + "</p>";
  const auto mime = buildMimeMessage(message, {});
  for (const auto& line : linesOf(mime.data)) {
    EXPECT_LE(line.size(), 998u);
    EXPECT_LE(line.size(), 76u) << line;  // stricter: what the encoders promise
  }
  EXPECT_EQ(mime.data.find("\r\n\n"), std::string::npos);  // CRLF only
  const auto parts = partsOf(parseEntity(mime.data));
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(decodeQuotedPrintable(parts[0].body), message.textBody);
  EXPECT_EQ(decodeQuotedPrintable(parts[1].body), message.htmlBody);
}

TEST(MimeTest, NonAsciiSubjectIsEncodedInShortWholeCharacterWords) {
  Message message = sampleMessage();
  message.subject = "Ihre Terminbestätigung für Müller – ";
  for (int i = 0; i < 10; ++i) message.subject += "Grüße 😀 ";
  const auto mime = buildMimeMessage(message, {});
  const std::string subject = parseEntity(mime.data).header("subject");
  EXPECT_EQ(decodeHeaderWords(subject), message.subject);
  const auto words = encodedWords(subject);
  EXPECT_GT(words.size(), 2u);
  for (const auto& word : words) {
    EXPECT_LE(word.size(), 75u);
    EXPECT_TRUE(isValidUtf8(decodeEncodedWord(word))) << word;  // no split characters
  }
  for (const auto& line : linesOf(mime.data)) {
    if (line.find("=?UTF-8?B?") != std::string::npos) EXPECT_LE(line.size(), 76u) << line;
  }
}

TEST(MimeTest, AsciiSubjectStaysReadable) {
  Message message = sampleMessage();
  message.subject = "Plain \"quoted\" subject (ok)";
  EXPECT_EQ(parseEntity(buildMimeMessage(message, {}).data).header("subject"), message.subject);
}

TEST(MimeTest, DisplayNamesAreQuotedOrEncoded) {
  EXPECT_EQ(formatMailbox("To", "Max \"The\" Back\\slash", "m@example.com"),
            "\"Max \\\"The\\\" Back\\\\slash\" <m@example.com>");
  EXPECT_EQ(formatMailbox("To", "", "m@example.com"), "<m@example.com>");

  const std::string encoded = formatMailbox("From", "Jürgen Müller-Lüdenscheidt", "j@example.com");
  const auto angle = encoded.rfind(" <j@example.com>");
  ASSERT_NE(angle, std::string::npos) << encoded;
  EXPECT_EQ(decodeHeaderWords(encoded.substr(0, angle)), "Jürgen Müller-Lüdenscheidt");

  Message message = sampleMessage();
  message.toName = "Zoë Ø";
  const Entity email = parseEntity(buildMimeMessage(message, {}).data);
  EXPECT_EQ(decodeHeaderWords(email.header("to")), "Zoë Ø");
  EXPECT_NE(email.header("to").find("<max@example.com>"), std::string::npos);
}

TEST(MimeTest, CrOrLfInAnyHeaderValueIsRefused) {
  const auto refused = [](auto mutate) {
    Message message = sampleMessage();
    mutate(message);
    EXPECT_THROW(buildMimeMessage(message, {}), InvalidMessage);
  };
  refused([](Message& m) { m.subject = "Hi\r\nBcc: victim@example.com"; });
  refused([](Message& m) { m.subject = "line\nbreak"; });
  refused([](Message& m) { m.subject = "carriage\rreturn"; });
  refused([](Message& m) { m.toName = "Max\nBcc: x@example.com"; });
  refused([](Message& m) { m.fromName = "Platform\r"; });
  refused([](Message& m) { m.toAddress = "max@example.com\r\nRCPT TO:<x@example.com>"; });
  refused([](Message& m) { m.fromAddress = "noreply@example.org\n"; });
  refused([](Message& m) { m.toAddress = ""; });
  refused([](Message& m) { m.toAddress = "two words@example.com"; });
}

TEST(MimeTest, SenderDefaultsApplyWhenTheMessageHasNone) {
  Message message = sampleMessage();
  message.fromAddress.clear();
  message.fromName.clear();
  const SenderDefaults defaults{"service@example.net", "Service"};
  const auto mime = buildMimeMessage(message, defaults);
  EXPECT_EQ(mime.envelopeFrom, "service@example.net");
  EXPECT_EQ(parseEntity(mime.data).header("from"), "\"Service\" <service@example.net>");
  EXPECT_NE(mime.messageId.find("@example.net>"), std::string::npos);

  // The message's own sender wins.
  EXPECT_EQ(buildMimeMessage(sampleMessage(), defaults).envelopeFrom, "noreply@example.org");
  // No sender at all is an invalid message.
  EXPECT_THROW(buildMimeMessage(message, {}), InvalidMessage);
}

TEST(MimeTest, EmptyHtmlBodySendsASingleTextPart) {
  Message message = sampleMessage();
  message.htmlBody.clear();
  const Entity email = parseEntity(buildMimeMessage(message, {}).data);
  EXPECT_EQ(email.header("content-type"), "text/plain; charset=UTF-8");
  EXPECT_EQ(email.header("content-transfer-encoding"), "quoted-printable");
  EXPECT_EQ(decodeQuotedPrintable(email.body), withCrlf(message.textBody));
}

TEST(MimeTest, MessageIdsAreUnique) {
  std::set<std::string> ids;
  for (int i = 0; i < 2000; ++i) ids.insert(buildMimeMessage(sampleMessage(), {}).messageId);
  EXPECT_EQ(ids.size(), 2000u);
}

// Found by fuzzing: a name of 500 '"' became a 1,029-octet From line (the
// plain form was chosen before escaping doubled it).
TEST(MimeTest, NamesThatEscapingLengthensStayWithin998Octets) {
  for (const char* fill : {"\"", "\\", "a"}) {
    Message message = sampleMessage();
    message.fromName = std::string(500, fill[0]);
    message.toName = std::string(899, fill[0]);
    const auto mime = buildMimeMessage(message, {});
    for (const auto& line : linesOf(mime.data)) EXPECT_LE(line.size(), 998u) << fill;
  }
}

// Every attempt of one message carries the Message-ID of its stableId.
TEST(MimeTest, AStableIdGivesTheSameMessageIdOnEveryBuild) {
  Message message = sampleMessage();
  message.stableId = "email-42.0123abcd";
  const auto first = buildMimeMessage(message, {});
  EXPECT_EQ(
      first.messageId,
      "<email-42.0123abcd@" + message.fromAddress.substr(message.fromAddress.find('@') + 1) + ">");
  EXPECT_EQ(buildMimeMessage(message, {}).messageId, first.messageId);
  EXPECT_NE(first.data.find("Message-ID: " + first.messageId + "\r\n"), std::string::npos);
  for (const char* bad : {"a b", "x>", "a@b", ".lead", "trail.", "\xc3\xa4"}) {
    message.stableId = bad;
    EXPECT_THROW(buildMimeMessage(message, {}), InvalidMessage) << bad;
  }
}

TEST(MimeTest, DateIsRfc5322) {
  // 2024-01-02 03:04:05 UTC, a Tuesday.
  const auto time = std::chrono::system_clock::time_point(std::chrono::seconds(1704164645));
  EXPECT_EQ(formatDate(time), "Tue, 02 Jan 2024 03:04:05 +0000");
}

TEST(MimeTest, EncodersRoundTrip) {
  const std::string binary = std::string("\0\x01\xff\xfe abc", 8);
  for (std::size_t n = 0; n <= binary.size(); ++n) {
    EXPECT_EQ(decodeBase64(encodeBase64(binary.substr(0, n))), binary.substr(0, n));
  }
  EXPECT_EQ(encodeBase64("Man"), "TWFu");
  EXPECT_EQ(encodeBase64("Ma"), "TWE=");
  EXPECT_EQ(encodeQuotedPrintable("a=b "), "a=3Db=20");
  EXPECT_EQ(decodeQuotedPrintable(encodeQuotedPrintable(binary)), binary);
}

}  // namespace
}  // namespace commsvc::plugins::transport_smtp
