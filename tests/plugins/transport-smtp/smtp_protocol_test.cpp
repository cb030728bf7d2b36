#include "smtp_protocol.hpp"

#include <gtest/gtest.h>

#include <string>

namespace commsvc::plugins::transport_smtp {
namespace {

// parseReply on `input`: its verdict, and the reply and length when complete.
struct Parsed {
  ReplyParse verdict;
  SmtpReply reply;
  std::size_t consumed = 0;
};
Parsed parse(std::string_view input) {
  Parsed out;
  out.verdict = parseReply(input, out.reply, out.consumed);
  return out;
}

TEST(SmtpReplyTest, ReadsOneLineRepliesWithTheirCodeAndText) {
  const Parsed ok = parse("250 2.1.0 Ok\r\n354 go on\r\n");
  ASSERT_EQ(ok.verdict, ReplyParse::Complete);
  EXPECT_EQ(ok.reply.code, 250);
  EXPECT_EQ(ok.reply.lastLine, "250 2.1.0 Ok");
  EXPECT_EQ(ok.consumed, 14u) << "only the first reply is taken";

  const Parsed bare = parse("221\n");  // a code alone, LF without CR
  ASSERT_EQ(bare.verdict, ReplyParse::Complete);
  EXPECT_EQ(bare.reply.code, 221);
  EXPECT_EQ(bare.consumed, 4u);
}

TEST(SmtpReplyTest, ReadsMultiLineRepliesToTheirLastLine) {
  const std::string ehlo = "250-sink.test\r\n250-PIPELINING\r\n250 HELP\r\n";
  const Parsed done = parse(ehlo + "250 next");
  ASSERT_EQ(done.verdict, ReplyParse::Complete);
  EXPECT_EQ(done.reply.code, 250);
  EXPECT_EQ(done.reply.lastLine, "250 HELP");
  EXPECT_EQ(done.consumed, ehlo.size());
}

TEST(SmtpReplyTest, WaitsForMoreBytesUntilTheLastLineEnds) {
  EXPECT_EQ(parse("").verdict, ReplyParse::Incomplete);
  EXPECT_EQ(parse("25").verdict, ReplyParse::Incomplete);
  EXPECT_EQ(parse("250 Ok").verdict, ReplyParse::Incomplete);
  EXPECT_EQ(parse("250-first\r\n250 sec").verdict, ReplyParse::Incomplete);
  EXPECT_EQ(parse("250-first\r\n").verdict, ReplyParse::Incomplete);
}

TEST(SmtpReplyTest, RefusesWhatIsNoSmtpReply) {
  EXPECT_EQ(parse("HTTP/1.1 400 Bad Request\r\n").verdict, ReplyParse::Malformed);
  EXPECT_EQ(parse("25x Ok\r\n").verdict, ReplyParse::Malformed);
  EXPECT_EQ(parse("2500 Ok\r\n").verdict, ReplyParse::Malformed);
  EXPECT_EQ(parse("\r\n").verdict, ReplyParse::Malformed);
  EXPECT_EQ(parse("250-one\r\n550 two\r\n").verdict, ReplyParse::Malformed) << "codes differ";
}

TEST(SmtpReplyTest, BoundsLineLengthAndLineCount) {
  const std::string longLine = "250 " + std::string(kMaxReplyLine, 'x');
  EXPECT_EQ(parse(longLine + "\r\n").verdict, ReplyParse::Malformed);
  EXPECT_EQ(parse(longLine).verdict, ReplyParse::Malformed) << "refused before its end arrives";
  EXPECT_EQ(parse(std::string("250 ") + std::string(kMaxReplyLine - 6, 'x') + "\r\n").verdict,
            ReplyParse::Complete);

  std::string many;
  for (std::size_t i = 0; i < kMaxReplyLines; ++i) many += "250-more\r\n";
  EXPECT_EQ(parse(many + "250 end\r\n").verdict, ReplyParse::Malformed);
  many.erase(0, 10);  // one line fewer: the last fits
  EXPECT_EQ(parse(many + "250 end\r\n").verdict, ReplyParse::Complete);
}

TEST(SmtpReplyTest, FindsPipeliningAmongEhloLines) {
  EXPECT_TRUE(offersPipelining("250-PIPELINING\r\n"));
  EXPECT_TRUE(offersPipelining("250 pipelining"));
  EXPECT_FALSE(offersPipelining("250-PIPELININGX\r\n"));
  EXPECT_FALSE(offersPipelining("250-8BITMIME\r\n"));
  EXPECT_FALSE(offersPipelining("550 PIPELINING\r\n"));
  EXPECT_FALSE(offersPipelining("250-X PIPELINING\r\n"));
}

TEST(SmtpDataTest, DoublesLeadingDotsAndEndsWithALoneDot) {
  EXPECT_EQ(dataPayload("Subject: x\r\n\r\n.hidden\r\nok\r\n..two\r\n"),
            "Subject: x\r\n\r\n..hidden\r\nok\r\n...two\r\n.\r\n");
  EXPECT_EQ(dataPayload(".first\r\n"), "..first\r\n.\r\n");
  EXPECT_EQ(dataPayload("no end"), "no end\r\n.\r\n");
  EXPECT_EQ(dataPayload("a.b\r\n. \r\n"), "a.b\r\n.. \r\n.\r\n");
  EXPECT_EQ(dataPayload(""), ".\r\n");
}

}  // namespace
}  // namespace commsvc::plugins::transport_smtp
