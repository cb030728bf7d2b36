#include "smtp_channel.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "commsvc/config.hpp"
#include "commsvc/testing/fake_context.hpp"
#include "mime_decode.hpp"
#include "smtp_sink_process.hpp"

namespace commsvc::plugins::transport_smtp {
namespace {

using namespace transport_smtp::testing;
using commsvc::testing::InMemoryMetrics;
using commsvc::testing::RecordingLogger;
using Status = DeliveryResult::Status;
using std::chrono::milliseconds;

SmtpSettings settingsFor(int port) {
  SmtpSettings settings;
  settings.host = "127.0.0.1";
  settings.port = port;
  settings.tls = TlsMode::None;
  settings.sender = {"service@example.net", "Kommunikation"};
  settings.connectTimeout = milliseconds(1000);
  settings.timeout = milliseconds(5000);
  settings.poolSize = 2;
  settings.heloDomain = "client.test";
  return settings;
}

Message messageNumber(int n) {
  Message message;
  message.id = std::to_string(n);
  message.toAddress = "user" + std::to_string(n) + "@example.com";
  message.toName = "Jürgen Nummer " + std::to_string(n);
  message.subject = "Bestätigung Nr. " + std::to_string(n);
  message.textBody = "Hallo Jürgen,\nalles gut.\n";
  message.htmlBody = "<p>Hallo <b>Jürgen</b>, alles gut.</p>\n";
  return message;
}

class SmtpChannelTest : public ::testing::Test {
 protected:
  RecordingLogger logger_;
  InMemoryMetrics metrics_;
};

TEST_F(SmtpChannelTest, DeliversOneMessageWithHeadersAndBothParts) {
  SmtpSinkProcess sink;
  SmtpChannel channel(settingsFor(sink.port()), logger_, metrics_);

  const auto result = channel.deliver(messageNumber(1));
  ASSERT_TRUE(result.ok()) << result.detail;

  const auto messages = sink.messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(sink.envelopes()[0],
            "MAIL FROM:service@example.net\nRCPT TO:user1@example.com\nTLS:no\nPIPELINED:yes\n");
  const Entity email = parseEntity(messages[0]);
  EXPECT_EQ(email.header("from"), "\"Kommunikation\" <service@example.net>");
  EXPECT_EQ(decodeHeaderWords(email.header("to")), "Jürgen Nummer 1");
  EXPECT_NE(email.header("to").find("<user1@example.com>"), std::string::npos);
  EXPECT_EQ(decodeHeaderWords(email.header("subject")), "Bestätigung Nr. 1");
  EXPECT_NE(email.header("message-id").find("@example.net>"), std::string::npos);
  EXPECT_FALSE(email.header("date").empty());
  EXPECT_EQ(email.header("mime-version"), "1.0");
  const auto parts = partsOf(email);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(decodeQuotedPrintable(parts[0].body), "Hallo Jürgen,\r\nalles gut.\r\n");
  EXPECT_EQ(decodeQuotedPrintable(parts[1].body), "<p>Hallo <b>Jürgen</b>, alles gut.</p>\r\n");
  EXPECT_EQ(metrics_.counterValue("smtp_messages_sent_total"), 1);
  EXPECT_EQ(metrics_.counterValue("smtp_failures_total"), 0);
}

TEST_F(SmtpChannelTest, HugeSingleLineBodyPassesAServerThatRefusesLongLines) {
  SmtpSinkProcess sink;  // aiosmtpd answers "500 Line too long" above 1000 octets
  SmtpChannel channel(settingsFor(sink.port()), logger_, metrics_);
  Message message = messageNumber(1);
  message.textBody.clear();
  while (message.textBody.size() < 5000) message.textBody += "Sehr lange Zeile ohne Umbruch ö ";
  message.htmlBody = "<div>" + std::string(5000, 'y') + "</div>";

  const auto result = channel.deliver(message);
  ASSERT_TRUE(result.ok()) << result.detail;
  ASSERT_EQ(sink.messages().size(), 1u);
  const auto parts = partsOf(parseEntity(sink.messages()[0]));
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(decodeQuotedPrintable(parts[0].body), message.textBody);
  EXPECT_EQ(decodeQuotedPrintable(parts[1].body), message.htmlBody);
}

// Lines starting with a dot are doubled on the wire and undoubled by the
// server; a lone dot must not end the message early.
TEST_F(SmtpChannelTest, LinesStartingWithADotArriveIntact) {
  SmtpSinkProcess sink;
  SmtpChannel channel(settingsFor(sink.port()), logger_, metrics_);
  Message message = messageNumber(1);
  message.textBody = "Zeile\n.\n.punkt am Anfang\n..zwei\nEnde\n";
  message.htmlBody.clear();

  const auto result = channel.deliver(message);
  ASSERT_TRUE(result.ok()) << result.detail;
  ASSERT_EQ(sink.messages().size(), 1u);
  const Entity email = parseEntity(sink.messages()[0]);
  EXPECT_EQ(decodeQuotedPrintable(email.body),
            "Zeile\r\n.\r\n.punkt am Anfang\r\n..zwei\r\nEnde\r\n");
}

// Without PIPELINING offered, each command waits for its reply; the
// messages arrive the same, over one kept connection.
TEST_F(SmtpChannelTest, ServerWithoutPipeliningGetsOneCommandAtATime) {
  SmtpSinkProcess sink({"--no-pipelining"});
  SmtpChannel channel(settingsFor(sink.port()), logger_, metrics_);
  for (int n = 1; n <= 3; ++n) {
    const auto result = channel.deliver(messageNumber(n));
    ASSERT_TRUE(result.ok()) << result.detail;
  }
  const auto envelopes = sink.envelopes();
  ASSERT_EQ(envelopes.size(), 3u);
  EXPECT_EQ(envelopes[2], "MAIL FROM:service@example.net\nRCPT TO:user3@example.com\nTLS:no\n");
  EXPECT_EQ(sink.connections(), 1);
}

// A refused recipient ends that message's transaction only: the session is
// reset and the next message goes over the same connection, pipelined or not.
TEST_F(SmtpChannelTest, RefusedRecipientLeavesTheSessionUsable) {
  for (const bool pipelining : {true, false}) {
    std::vector<std::string> args = {"--fail-first", "1",    "--fail-code", "550",
                                     "--fail-on",    "rcpt", "--fail-text", "5.1.1 No such user"};
    if (!pipelining) args.push_back("--no-pipelining");
    SmtpSinkProcess sink(args);
    SmtpSettings settings = settingsFor(sink.port());
    settings.poolSize = 1;
    SmtpChannel channel(settings, logger_, metrics_);

    const auto refused = channel.deliver(messageNumber(1));
    EXPECT_EQ(refused.status, Status::PermanentFailure) << pipelining;
    EXPECT_NE(refused.detail.find("RCPT: 550 5.1.1 No such user"), std::string::npos)
        << refused.detail;
    const auto next = channel.deliver(messageNumber(2));
    EXPECT_TRUE(next.ok()) << pipelining << ": " << next.detail;
    ASSERT_EQ(sink.envelopes().size(), 1u) << pipelining;
    EXPECT_NE(sink.envelopes()[0].find("RCPT TO:user2@example.com"), std::string::npos);
    EXPECT_EQ(sink.connections(), 1) << pipelining;
    EXPECT_TRUE(channel.state().ready) << "a refused message is not the channel's failure";
  }
}

// ---- several messages per call (deliverAll) ----------------------------

std::vector<Message> messagesNumbered(int first, int last) {
  std::vector<Message> messages;
  for (int n = first; n <= last; ++n) messages.push_back(messageNumber(n));
  return messages;
}

/// A control file for the sink, removed at the end of the test.
class SinkControl {
 public:
  SinkControl()
      : path_(std::filesystem::temp_directory_path() /
              ("smtp-control-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".json")) {
    std::filesystem::remove(path_);
  }
  ~SinkControl() { std::filesystem::remove(path_); }
  /// The sink's command-line arguments that make it read this file.
  std::vector<std::string> args() const { return {"--control", path_.string()}; }
  /// Replaces the faults atomically; the sink sees them at its next command.
  void set(const std::string& json) const {
    const std::filesystem::path staged = path_.string() + ".new";
    std::ofstream(staged) << json;
    std::filesystem::rename(staged, path_);
  }

 private:
  std::filesystem::path path_;
};

// With PIPELINING, a message's content, its end and the next message's
// envelope go in one write: one round trip per message, one connection. The
// first content of a session goes alone (the session has not timed one yet,
// see the budget test), so the second message starts afresh; from then on
// each end carries the next envelope, and every message arrives intact.
TEST_F(SmtpChannelTest, DeliverAllSendsEachMessageEndWithTheNextEnvelope) {
  SmtpSinkProcess sink;
  SmtpSettings settings = settingsFor(sink.port());
  settings.poolSize = 1;
  SmtpChannel channel(settings, logger_, metrics_);
  const auto messages = messagesNumbered(1, 5);
  const auto results = channel.deliverAll(messages, std::chrono::seconds(10));
  ASSERT_EQ(results.size(), 5u);
  for (const auto& result : results) EXPECT_TRUE(result.ok()) << result.detail;

  const auto envelopes = sink.envelopes();
  ASSERT_EQ(envelopes.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_NE(envelopes[i].find("RCPT TO:user" + std::to_string(i + 1) + "@example.com\n"),
              std::string::npos)
        << envelopes[i];
    EXPECT_NE(envelopes[i].find("PIPELINED:yes"), std::string::npos) << i;
    const bool followed = envelopes[i].find("FOLLOWED:yes") != std::string::npos;
    EXPECT_EQ(followed, i >= 1 && i <= 3) << i << ": " << envelopes[i];
  }
  for (int i = 0; i < 5; ++i) {
    const Entity email = parseEntity(sink.messages()[i]);
    EXPECT_EQ(decodeHeaderWords(email.header("subject")),
              "Bestätigung Nr. " + std::to_string(i + 1));
    const auto parts = partsOf(email);
    ASSERT_EQ(parts.size(), 2u);
    EXPECT_EQ(decodeQuotedPrintable(parts[0].body), "Hallo Jürgen,\r\nalles gut.\r\n");
  }
  EXPECT_EQ(sink.connections(), 1);
  EXPECT_EQ(metrics_.counterValue("smtp_messages_sent_total"), 5);
}

// A next message starts only within the budget (zero: the first alone). No
// content goes out after the budget, except the first: when the server
// turns slow, a next envelope sent with a content that then took too long is
// abandoned with its connection (the server never got its end), and a
// session whose content took longer than half the budget sends no next
// envelope with a content. So the caller records what was delivered before
// more goes out, as without pipelining.
TEST_F(SmtpChannelTest, DeliverAllStartsMessagesOnlyWithinTheBudget) {
  SinkControl control;
  SmtpSinkProcess sink(control.args());
  SmtpSettings settings = settingsFor(sink.port());
  settings.poolSize = 1;
  SmtpChannel channel(settings, logger_, metrics_);
  const auto none = channel.deliverAll(messagesNumbered(1, 3), milliseconds(0));
  ASSERT_EQ(none.size(), 1u);
  EXPECT_TRUE(none[0].ok()) << none[0].detail;
  EXPECT_EQ(sink.messages().size(), 1u);

  control.set(R"({"delay_ms": 150})");
  const auto slowed = channel.deliverAll(messagesNumbered(2, 4), milliseconds(100));
  ASSERT_EQ(slowed.size(), 1u) << "the second's content would go after the budget";
  EXPECT_TRUE(slowed[0].ok()) << slowed[0].detail;
  EXPECT_EQ(sink.messages().size(), 2u);
  EXPECT_EQ(metrics_.counterValue("smtp_transactions_abandoned_total"), 1);

  const auto slow = channel.deliverAll(messagesNumbered(3, 5), milliseconds(400));
  EXPECT_EQ(slow.size(), 2u) << "two started within 400 ms, one after the other";
  EXPECT_EQ(sink.connections(), 2) << "the abandoned transaction took its connection along";
  const auto envelopes = sink.envelopes();
  ASSERT_EQ(envelopes.size(), 4u);
  EXPECT_NE(envelopes[1].find("FOLLOWED:yes"), std::string::npos) << envelopes[1];
  EXPECT_EQ(envelopes[2].find("FOLLOWED:yes"), std::string::npos)
      << "a content slower than half the budget carries no next envelope";
}

// Without PIPELINING deliverAll sends one command at a time, all messages
// over the one session.
TEST_F(SmtpChannelTest, DeliverAllWithoutPipeliningUsesOneSessionForAll) {
  SmtpSinkProcess sink({"--no-pipelining"});
  SmtpChannel channel(settingsFor(sink.port()), logger_, metrics_);
  const auto results = channel.deliverAll(messagesNumbered(1, 4), std::chrono::seconds(10));
  ASSERT_EQ(results.size(), 4u);
  for (const auto& result : results) EXPECT_TRUE(result.ok()) << result.detail;
  for (const auto& envelope : sink.envelopes()) {
    EXPECT_EQ(envelope.find("PIPELINED:yes"), std::string::npos) << envelope;
    EXPECT_EQ(envelope.find("FOLLOWED:yes"), std::string::npos) << envelope;
  }
  EXPECT_EQ(sink.connections(), 1);
}

// A refusal inside the call fails that message alone, whether its envelope
// came after the previous message's end (RCPT, then RSET) or its content
// was refused (the next envelope, sent with it, goes on): the others are
// delivered over the same connection.
TEST_F(SmtpChannelTest, DeliverAllRefusalFailsThatMessageAlone) {
  for (const std::string stage : {"rcpt", "data"}) {
    SinkControl control;
    control.set(R"({"fail_code": 550, "fail_on": ")" + stage +
                R"(", "fail_every": 4, "fail_text": "5.7.1 refused"})");
    SmtpSinkProcess sink(control.args());
    SmtpSettings settings = settingsFor(sink.port());
    settings.poolSize = 1;
    SmtpChannel channel(settings, logger_, metrics_);
    const auto results = channel.deliverAll(messagesNumbered(1, 6), std::chrono::seconds(10));
    ASSERT_EQ(results.size(), 6u) << stage;
    for (int i = 0; i < 6; ++i) {
      if (i == 3) {
        EXPECT_EQ(results[i].status, Status::PermanentFailure) << stage;
        EXPECT_NE(results[i].detail.find("550 5.7.1 refused"), std::string::npos)
            << results[i].detail;
      } else {
        EXPECT_TRUE(results[i].ok()) << stage << " " << i << ": " << results[i].detail;
      }
    }
    const auto envelopes = sink.envelopes();
    ASSERT_EQ(envelopes.size(), 5u) << stage;
    EXPECT_NE(envelopes[3].find("RCPT TO:user5@example.com"), std::string::npos) << envelopes[3];
    EXPECT_EQ(sink.connections(), 1) << stage;
    EXPECT_TRUE(channel.state().ready) << stage;
  }
}

// A connection that breaks after a message's content was sent: that message
// is a transient failure (it may have arrived), the next one, whose envelope
// went in the same write unanswered, is not attempted, and the call ends.
TEST_F(SmtpChannelTest, DeliverAllStopsWhereTheSessionBroke) {
  SinkControl control;
  control.set(R"({"drop_on": "data", "drop_after": 3})");
  SmtpSinkProcess sink(control.args());
  SmtpSettings settings = settingsFor(sink.port());
  settings.poolSize = 1;
  SmtpChannel channel(settings, logger_, metrics_);
  const auto results = channel.deliverAll(messagesNumbered(1, 6), std::chrono::seconds(10));
  ASSERT_EQ(results.size(), 4u);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(results[i].ok()) << i << ": " << results[i].detail;
  EXPECT_EQ(results[3].status, Status::TransientFailure);
  EXPECT_NE(results[3].detail.find("end of data"), std::string::npos) << results[3].detail;
  EXPECT_EQ(sink.messages().size(), 3u);

  control.set("{}");
  const auto next = channel.deliverAll(messagesNumbered(5, 6), std::chrono::seconds(10));
  ASSERT_EQ(next.size(), 2u);
  EXPECT_TRUE(next[0].ok() && next[1].ok()) << next[0].detail << next[1].detail;
  EXPECT_EQ(sink.connections(), 2) << "a fresh session after the broken one";
}

TEST_F(SmtpChannelTest, InvalidHeadersFailPermanentlyWithoutAnyConnection) {
  SmtpSinkProcess sink;
  SmtpChannel channel(settingsFor(sink.port()), logger_, metrics_);  // must not connect

  Message badSubject = messageNumber(1);
  badSubject.subject = "Hi\r\nBcc: victim@example.com";
  const auto first = channel.deliver(badSubject);
  EXPECT_EQ(first.status, Status::PermanentFailure);
  EXPECT_NE(first.detail.find("subject"), std::string::npos) << first.detail;

  Message badRecipient = messageNumber(2);
  badRecipient.toAddress = "user@example.com\nRCPT TO:<other@example.com>";
  EXPECT_EQ(channel.deliver(badRecipient).status, Status::PermanentFailure);

  Message badName = messageNumber(3);
  badName.toName = "Max\rMustermann";
  EXPECT_EQ(channel.deliver(badName).status, Status::PermanentFailure);

  EXPECT_EQ(sink.connections(), 0);
  EXPECT_TRUE(sink.messages().empty());
  EXPECT_EQ(metrics_.counterValue("smtp_failures_total"), 3);
}

TEST_F(SmtpChannelTest, Reply5xxIsPermanentWithTheServerText) {
  SmtpSinkProcess sink({"--always-fail-code", "550", "--fail-text", "5.7.1 Relaying denied here"});
  SmtpChannel channel(settingsFor(sink.port()), logger_, metrics_);

  const auto result = channel.deliver(messageNumber(1));
  EXPECT_EQ(result.status, Status::PermanentFailure);
  EXPECT_NE(result.detail.find("550 5.7.1 Relaying denied here"), std::string::npos)
      << result.detail;
  EXPECT_TRUE(sink.messages().empty());
  EXPECT_EQ(metrics_.counterValue("smtp_failures_total"), 1);
}

TEST_F(SmtpChannelTest, RecipientRefusedWith5xxIsPermanent) {
  SmtpSinkProcess sink(
      {"--always-fail-code", "550", "--fail-on", "rcpt", "--fail-text", "5.1.1 No such user"});
  SmtpChannel channel(settingsFor(sink.port()), logger_, metrics_);

  const auto result = channel.deliver(messageNumber(1));
  EXPECT_EQ(result.status, Status::PermanentFailure);
  EXPECT_NE(result.detail.find("550 5.1.1 No such user"), std::string::npos) << result.detail;
}

TEST_F(SmtpChannelTest, Reply4xxIsTransientAndARetrySucceeds) {
  SmtpSinkProcess sink(
      {"--fail-first", "2", "--fail-code", "451", "--fail-text", "4.3.0 Try again later"});
  SmtpChannel channel(settingsFor(sink.port()), logger_, metrics_);

  for (int attempt = 0; attempt < 2; ++attempt) {
    const auto result = channel.deliver(messageNumber(1));
    EXPECT_EQ(result.status, Status::TransientFailure);
    EXPECT_NE(result.detail.find("451 4.3.0 Try again later"), std::string::npos) << result.detail;
  }
  const auto third = channel.deliver(messageNumber(1));
  EXPECT_TRUE(third.ok()) << third.detail;
  EXPECT_EQ(sink.messages().size(), 1u);
  EXPECT_EQ(sink.connections(), 1) << "a refused message keeps the session";
  EXPECT_EQ(metrics_.counterValue("smtp_failures_total"), 2);
  EXPECT_EQ(metrics_.counterValue("smtp_messages_sent_total"), 1);
}

TEST_F(SmtpChannelTest, ManyMessagesFromManyThreadsReuseThePooledConnections) {
  SmtpSinkProcess sink;
  SmtpChannel channel(settingsFor(sink.port()), logger_, metrics_);  // pool_size 2

  std::atomic<int> delivered{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        const auto result = channel.deliver(messageNumber(t * 5 + i));
        if (result.ok()) ++delivered;
      }
    });
  }
  for (auto& worker : workers) worker.join();

  EXPECT_EQ(delivered.load(), 20);
  EXPECT_EQ(sink.messages().size(), 20u);
  EXPECT_GE(sink.connections(), 1);
  EXPECT_LE(sink.connections(), 2);
}

TEST_F(SmtpChannelTest, ConnectionClosedByTheServerWhileIdleIsReplaced) {
  SmtpSinkProcess sink({"--idle-timeout", "0.3"});
  SmtpSettings settings = settingsFor(sink.port());
  settings.poolSize = 1;
  SmtpChannel channel(settings, logger_, metrics_);
  const auto first = channel.deliver(messageNumber(1));
  ASSERT_TRUE(first.ok()) << first.detail;
  std::this_thread::sleep_for(milliseconds(600));  // the sink drops the idle connection
  const auto second = channel.deliver(messageNumber(2));
  EXPECT_TRUE(second.ok()) << second.detail;
  EXPECT_EQ(sink.messages().size(), 2u);
  EXPECT_EQ(sink.connections(), 2);
}

// 421 to the first command on a kept session is the server closing it (an
// idle timeout racing the next message): nothing was accepted, so it is
// retried once on a fresh session, whose 421 then is the channel's failure.
TEST_F(SmtpChannelTest, Reply421OnAKeptSessionIsRetriedOnceOnAFreshOne) {
  const std::filesystem::path control = std::filesystem::temp_directory_path() /
                                        ("smtp-control-" + std::to_string(::getpid()) + ".json");
  std::filesystem::remove(control);
  SmtpSinkProcess sink({"--control", control.string()});
  SmtpSettings settings = settingsFor(sink.port());
  settings.poolSize = 1;
  SmtpChannel channel(settings, logger_, metrics_);
  const auto first = channel.deliver(messageNumber(1));
  ASSERT_TRUE(first.ok()) << first.detail;

  {
    const std::filesystem::path staged = control.string() + ".new";
    std::ofstream(staged) << R"({"fail_code": 421, "fail_on": "mail", "fail_text": "4.4.2 bye"})";
    std::filesystem::rename(staged, control);  // the sink sees the new file at once
  }
  const auto refused = channel.deliver(messageNumber(2));
  EXPECT_EQ(refused.status, Status::ChannelFailure);
  EXPECT_NE(refused.detail.find("MAIL: 421 4.4.2 bye"), std::string::npos) << refused.detail;
  EXPECT_EQ(sink.connections(), 2) << "one retry, on a fresh session";
  EXPECT_EQ(sink.messages().size(), 1u);
  std::filesystem::remove(control);
}

TEST_F(SmtpChannelTest, AuthenticatesWithUsernameAndPassword) {
  SmtpSinkProcess sink({"--auth", "mailer:s3cret"});
  SmtpSettings settings = settingsFor(sink.port());
  settings.username = "mailer";
  settings.password = "s3cret";
  SmtpChannel good(settings, logger_, metrics_);
  const auto ok = good.deliver(messageNumber(1));
  EXPECT_TRUE(ok.ok()) << ok.detail;

  settings.password = "wrong";
  SmtpChannel bad(settings, logger_, metrics_);
  const auto refused = bad.deliver(messageNumber(2));
  // The channel's failure, not the message's: it failed every queued email.
  EXPECT_EQ(refused.status, Status::ChannelFailure);
  EXPECT_NE(refused.detail.find("535"), std::string::npos) << refused.detail;
  EXPECT_NE(refused.detail.find("AUTH"), std::string::npos) << refused.detail;
  EXPECT_EQ(refused.detail.find("wrong"), std::string::npos) << "no secret in the detail";
  EXPECT_EQ(sink.messages().size(), 1u);
  EXPECT_TRUE(good.state().ready);
  EXPECT_FALSE(bad.state().ready);
  EXPECT_NE(bad.state().detail.find("535"), std::string::npos) << bad.state().detail;
}

// After a session failure the channel backs off: deliveries fail at once as
// ChannelFailure without connecting, until the pause is over.
TEST_F(SmtpChannelTest, SessionFailureBacksOffBeforeTheNextSession) {
  SmtpSinkProcess sink({"--auth", "mailer:s3cret"});
  SmtpSettings settings = settingsFor(sink.port());
  settings.username = "mailer";
  settings.password = "wrong";
  SmtpChannel channel(settings, logger_, metrics_);
  EXPECT_EQ(channel.deliver(messageNumber(1)).status, Status::ChannelFailure);
  const int connections = sink.connections();
  const auto blocked = channel.deliver(messageNumber(2));
  EXPECT_EQ(blocked.status, Status::ChannelFailure);
  EXPECT_NE(blocked.detail.find("next session attempt"), std::string::npos) << blocked.detail;
  EXPECT_EQ(sink.connections(), connections) << "no connection while backing off";
  EXPECT_EQ(metrics_.gauge("smtp_channel_up", "").value(), 0);
  std::this_thread::sleep_for(milliseconds(1100));  // the first pause is at most 1 s
  EXPECT_EQ(channel.deliver(messageNumber(3)).status, Status::ChannelFailure);
  EXPECT_GT(sink.connections(), connections) << "a new session was tried after the pause";
  EXPECT_TRUE(sink.messages().empty());
  EXPECT_EQ(channel.worstCaseDeliveryTime(), settings.timeout * 3);
}

TEST_F(SmtpChannelTest, StartTlsUpgradesTheConnection) {
  SmtpSinkProcess sink({"--tls", "starttls"});
  SmtpSettings settings = settingsFor(sink.port());
  settings.tls = TlsMode::StartTls;
  settings.verifyTls = false;  // the sink's certificate is self-signed
  SmtpChannel channel(settings, logger_, metrics_);
  const auto result = channel.deliver(messageNumber(1));
  ASSERT_TRUE(result.ok()) << result.detail;
  ASSERT_EQ(sink.envelopes().size(), 1u);
  EXPECT_NE(sink.envelopes()[0].find("TLS:yes"), std::string::npos);
}

TEST_F(SmtpChannelTest, ImplicitTlsSpeaksTlsFromTheFirstByte) {
  SmtpSinkProcess sink({"--tls", "implicit"});
  SmtpSettings settings = settingsFor(sink.port());
  settings.tls = TlsMode::Implicit;
  settings.verifyTls = false;
  SmtpChannel channel(settings, logger_, metrics_);
  const auto result = channel.deliver(messageNumber(1));
  ASSERT_TRUE(result.ok()) << result.detail;
  ASSERT_EQ(sink.envelopes().size(), 1u);
  EXPECT_NE(sink.envelopes()[0].find("TLS:yes"), std::string::npos);
}

TEST_F(SmtpChannelTest, UntrustedCertificateIsRefusedWhenVerifying) {
  SmtpSinkProcess sink({"--tls", "starttls"});
  SmtpSettings settings = settingsFor(sink.port());
  settings.tls = TlsMode::StartTls;
  settings.verifyTls = true;
  SmtpChannel channel(settings, logger_, metrics_);
  const auto result = channel.deliver(messageNumber(1));
  EXPECT_EQ(result.status, Status::ChannelFailure);  // the session's TLS, not the message
  EXPECT_TRUE(sink.messages().empty());
}

TEST_F(SmtpChannelTest, StartTlsIsRequiredNotOptional) {
  SmtpSinkProcess sink;  // offers no STARTTLS
  SmtpSettings settings = settingsFor(sink.port());
  settings.tls = TlsMode::StartTls;
  SmtpChannel channel(settings, logger_, metrics_);
  const auto result = channel.deliver(messageNumber(1));
  EXPECT_FALSE(result.ok());
  EXPECT_TRUE(sink.messages().empty());  // never sent in plain text
}

TEST_F(SmtpChannelTest, UnreachablePortIsAChannelFailureAndQuick) {
  SmtpChannel channel(settingsFor(unusedPort()), logger_, metrics_);
  const auto start = std::chrono::steady_clock::now();
  const auto result = channel.deliver(messageNumber(1));
  EXPECT_EQ(result.status, Status::ChannelFailure);
  EXPECT_FALSE(channel.state().ready);
  EXPECT_FALSE(result.detail.empty());
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(2000));
}

TEST_F(SmtpChannelTest, SilentServerTimesOutAsAChannelFailure) {
  // Accepts TCP connections (the kernel does) but never sends a greeting.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(::listen(fd, 8), 0);
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);

  SmtpSettings settings = settingsFor(ntohs(address.sin_port));
  settings.timeout = milliseconds(400);
  SmtpChannel channel(settings, logger_, metrics_);
  const auto start = std::chrono::steady_clock::now();
  const auto result = channel.deliver(messageNumber(1));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ::close(fd);
  EXPECT_EQ(result.status, Status::ChannelFailure);  // no greeting: the session failed
  EXPECT_NE(result.detail.find("imed out"), std::string::npos) << result.detail;
  EXPECT_LT(elapsed, milliseconds(1500));
}

TEST_F(SmtpChannelTest, SinkExitsCleanlyOnSigterm) {
  SmtpSinkProcess sink;
  const int status = sink.stop();
  EXPECT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

/// The declaration of option `name`.
const OptionSpec& option(std::string_view name) {
  for (const OptionSpec& spec : kOptions.specs) {
    if (name == spec.name) return spec;
  }
  throw std::logic_error("no option " + std::string(name));
}

/// The TlsMode the `tls` option's text `text` selects; nullopt when the
/// engine refuses the text.
std::optional<TlsMode> tlsModeOf(std::string_view text) {
  const OptionChoice* found = option("tls").findChoice(text);
  if (found == nullptr) return std::nullopt;
  return static_cast<TlsMode>(found->value);
}

TEST(SmtpSettingsTest, OptionsAreDeclaredSoundlyWithTheirDefaults) {
  EXPECT_TRUE(optionDeclarationProblems(kOptions.span()).empty());
  std::vector<std::string> described;
  for (const OptionSpec& spec : kOptions.specs) {
    described.push_back(std::string(spec.name) + "=" + describeDefault(spec));
  }
  EXPECT_EQ(described, (std::vector<std::string>{
                           "host=\"localhost\"", "port=587", "tls=\"starttls\"", "username=\"\"",
                           "password=(secret)", "from_address=\"\"", "from_name=\"\"",
                           "connect_timeout_ms=10000", "timeout_ms=30000", "pool_size=4",
                           "verify_tls=true", "helo_domain=\"\""}));
  EXPECT_EQ(option("port").minimum, 1);
  EXPECT_EQ(option("port").maximum, 65535);
  EXPECT_EQ(option("timeout_ms").maximum, 3600000);
  EXPECT_EQ(option("pool_size").maximum, 64);
}

TEST(SmtpSettingsTest, TlsModesAndUrls) {
  EXPECT_EQ(tlsModeOf("none"), TlsMode::None);
  EXPECT_EQ(tlsModeOf("starttls"), TlsMode::StartTls);
  EXPECT_EQ(tlsModeOf("tls"), TlsMode::Implicit);
  EXPECT_EQ(tlsModeOf("ssl"), std::nullopt);

  RecordingLogger logger;
  InMemoryMetrics metrics;
  SmtpSettings settings = settingsFor(465);
  settings.host = "mail.example.com";
  settings.tls = TlsMode::Implicit;
  EXPECT_EQ(SmtpChannel(settings, logger, metrics).url(),
            "smtps://mail.example.com:465/client.test");
  settings.host = "::1";
  settings.tls = TlsMode::StartTls;
  settings.heloDomain.clear();
  EXPECT_EQ(SmtpChannel(settings, logger, metrics).url(), "smtp://[::1]:465/");
  settings.poolSize = 0;
  EXPECT_THROW(SmtpChannel(settings, logger, metrics), ConfigError);
}

}  // namespace
}  // namespace commsvc::plugins::transport_smtp
