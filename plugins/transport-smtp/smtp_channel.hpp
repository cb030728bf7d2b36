#pragma once

// The `smtp` channel: delivers messages over SMTP, reusing sessions through
// a small pool. libcurl sets each session up (connect, TLS, EHLO, STARTTLS,
// AUTH); the mail transactions run over it pipelined (RFC 2920) when the
// server offers PIPELINING: the envelope and DATA in one write, so a
// message costs two round trips instead of four; one when several go
// together (deliverAll: a message's end and the next one's envelope in one
// write).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "commsvc/backoff.hpp"
#include "commsvc/channel.hpp"
#include "commsvc/logger.hpp"
#include "commsvc/message.hpp"
#include "commsvc/metrics.hpp"
#include "commsvc/options.hpp"
#include "mime.hpp"

namespace commsvc::plugins::transport_smtp {

/// How the connection is secured.
enum class TlsMode {
  None,      ///< plain SMTP (tests, local relays)
  StartTls,  ///< smtp:// upgraded with STARTTLS, which is required (CURLUSESSL_ALL)
  Implicit,  ///< smtps:// (TLS from the first byte)
};

/// The texts of the `tls` option.
inline constexpr OptionChoice kTlsModes[] = {
    choice("none", TlsMode::None),
    choice("starttls", TlsMode::StartTls),
    choice("tls", TlsMode::Implicit),
};

/// Settings of an SmtpChannel: the options of its YAML block (kOptions).
struct SmtpSettings {
  std::string host = "localhost";                   ///< server host name or address
  std::int64_t port = 587;                          ///< server port
  TlsMode tls = TlsMode::StartTls;                  ///< connection security
  std::string username;                             ///< AUTH user; empty = no AUTH
  std::string password;                             ///< AUTH password
  SenderDefaults sender;                            ///< sender when a message names none
  std::chrono::milliseconds connectTimeout{10000};  ///< TCP + TLS connect bound
  std::chrono::milliseconds timeout{30000};         ///< bound of one whole delivery
  std::int64_t poolSize = 4;                        ///< connections kept (and used at once)
  bool verifyTls = true;                            ///< verify the server certificate and name
  std::string heloDomain;                           ///< EHLO name; empty = libcurl's default
};

/// The options of an `smtp` channel block, each bound to its SmtpSettings field.
inline constexpr auto kOptions = optionList(
    Option<SmtpSettings>::field<&SmtpSettings::host>("host", "SMTP server host name or address"),
    Option<SmtpSettings>::field<&SmtpSettings::port>(
        "port", "SMTP server port (587 submission, 465 implicit TLS, 25 relay)")
        .range(1, 65535),
    Option<SmtpSettings>::field<&SmtpSettings::tls>(
        "tls", "none = plain; starttls = STARTTLS required; tls = implicit TLS (smtps)")
        .choices(kTlsModes),
    Option<SmtpSettings>::field<&SmtpSettings::username>(
        "username", "AUTH user name; empty = no AUTH (write \"${SMTP_USERNAME:-}\")"),
    Option<SmtpSettings>::field<&SmtpSettings::password>(
        "password", "AUTH password, from the environment (write \"${SMTP_PASSWORD:-}\")")
        .secret(),
    Option<SmtpSettings>::field<&SmtpSettings::sender, &SenderDefaults::address>(
        "from_address", "sender address used when a message has none"),
    Option<SmtpSettings>::field<&SmtpSettings::sender, &SenderDefaults::name>(
        "from_name", "sender display name used when a message has none"),
    Option<SmtpSettings>::field<&SmtpSettings::connectTimeout>(
        "connect_timeout_ms", "bound of connecting (TCP and TLS), in milliseconds")
        .range(1, 600000),
    Option<SmtpSettings>::field<&SmtpSettings::timeout>(
        "timeout_ms", "bound of one whole delivery (connect, dialogue, upload), in milliseconds")
        .range(1, 3600000),
    Option<SmtpSettings>::field<&SmtpSettings::poolSize>(
        "pool_size", "connections kept open and reused; also the most sends at once")
        .range(1, 64),
    Option<SmtpSettings>::field<&SmtpSettings::verifyTls>(
        "verify_tls", "verify the server certificate and host name"),
    Option<SmtpSettings>::field<&SmtpSettings::heloDomain>(
        "helo_domain", "name sent with EHLO; empty = libcurl's default"));

/// A Channel that sends each message as a MIME email over SMTP. Thread-safe:
/// each deliver() checks out one of `poolSize` sessions (waiting when all
/// are busy), and each keeps its connection open between messages (a
/// failed transaction is reset with RSET). Nothing connects before the
/// first deliver().
class SmtpChannel : public Channel {
 public:
  /// Keeps the settings; does not connect. Throws ConfigError when they are
  /// unusable (pool size < 1, empty host). `logger` and `metrics` must
  /// outlive the channel.
  SmtpChannel(SmtpSettings settings, Logger& logger, Metrics& metrics);
  /// Closes every pooled connection (sending QUIT). No deliver() may run.
  ~SmtpChannel() override;
  SmtpChannel(const SmtpChannel&) = delete;
  SmtpChannel& operator=(const SmtpChannel&) = delete;

  /// Sends `message`. An invalid message (CR/LF in a header, bad address)
  /// is a PermanentFailure without any connection. A session that cannot
  /// be set up (connect, TLS, greeting, EHLO, STARTTLS, AUTH; 421 and 530
  /// at any stage) is a ChannelFailure: the channel turns not ready and,
  /// for a backoff (1 s doubling to 60 s), fails deliveries at once with
  /// ChannelFailure instead of connecting. Once the message is named, 5xx
  /// replies are PermanentFailure; 4xx replies, broken connections and
  /// timeouts TransientFailure. Details carry the server's last reply line.
  DeliveryResult deliver(const Message& message) override;

  /// Delivers `messages` over one pooled session, each as deliver() would:
  /// with a server that offers PIPELINING, one message's content, its end
  /// and the next message's envelope go in one write, so a message costs
  /// one round trip. A next message starts only while less than `budget`
  /// has passed and its content can still get a whole timeout within
  /// worstCaseDeliveryTime(); no content but the first goes out after the
  /// budget (a next envelope whose content would is abandoned with the
  /// connection). Stops after a ChannelFailure or when the session breaks
  /// (an envelope sent with the broken write was never answered: that
  /// message is not attempted).
  std::vector<DeliveryResult> deliverAll(std::span<const Message> messages,
                                         std::chrono::milliseconds budget) override;

  /// Not ready from a session failure until a session succeeds again.
  ChannelState state() const override;

  /// Three times the delivery timeout (a wait for a pooled connection and
  /// up to two transfers).
  std::chrono::milliseconds worstCaseDeliveryTime() const override;

  /// The SMTP URL used ("smtp://host:port/helo" or "smtps://...").
  std::string url() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Handle;
  struct HandleDeleter {
    void operator()(Handle* handle) const;
  };
  using HandlePtr = std::unique_ptr<Handle, HandleDeleter>;

  // Takes an idle handle, makes one while fewer than poolSize exist, or
  // waits up to the delivery timeout; nullptr when none became free.
  HandlePtr checkout();
  // Puts `handle` back into the pool.
  void checkin(HandlePtr handle);
  // Sets a session up on `handle` through libcurl (connect, TLS, greeting,
  // EHLO, STARTTLS, AUTH) by `deadline`; its failure is a ChannelFailure.
  DeliveryResult openSession(Handle& handle, std::chrono::steady_clock::time_point deadline) const;
  // Opens the mail transaction of `mime` on `handle` (a session set up when
  // it has none; a kept one the server closed is replaced, and one that
  // fails before accepting anything is retried once on a fresh session).
  // Nothing when its content may follow by `deadline` (set here: the
  // attempt's); otherwise the message's result.
  std::optional<DeliveryResult> begin(Handle& handle, const MimeMessage& mime,
                                      Clock::time_point& deadline) const;
  // Counts and logs the result of `message`; a result from a session
  // (`mime` set) also updates the channel state.
  void report(const Message& message, const MimeMessage* mime, const DeliveryResult& result);
  // While backing off after a session failure: why no session is tried.
  std::optional<std::string> blockedReason();
  // Updates the channel state from a delivery's result.
  void noteSession(const DeliveryResult& result);

  const SmtpSettings settings_;
  const std::string url_;
  Logger& logger_;
  Counter& sent_;
  Counter& failed_;
  Counter& abandoned_;
  Counter& sessionFailures_;
  Gauge& up_;

  mutable std::mutex stateMutex_;  // guards the channel state below
  bool ready_ = true;
  std::string stateDetail_;
  std::chrono::steady_clock::time_point blockedUntil_{};
  Backoff sessionBackoff_;

  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<HandlePtr> idle_;
  std::int64_t created_ = 0;
};

}  // namespace commsvc::plugins::transport_smtp
