#include "smtp_channel.hpp"

#include <curl/curl.h>
#include <poll.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string_view>
#include <utility>

#include "commsvc/config.hpp"
#include "smtp_protocol.hpp"

namespace commsvc::plugins::transport_smtp {
namespace {

// Pause after a failed session before the next one is tried (deliveries
// meanwhile fail at once as ChannelFailure), doubled per failure.
constexpr std::chrono::milliseconds kSessionBackoffFirst{1000};
constexpr std::chrono::milliseconds kSessionBackoffMax{60000};

// libcurl's global state, initialised once per process before the first
// handle (not at start: it initialises OpenSSL, which touches ~2.5 MB of
// libcrypto that an instance that has sent nothing yet does not need).
void initCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// True for a reply that refuses the session, whatever the command: 421
// closing, 530 authentication required, 534/535/538 authentication.
bool refusesSession(int code) {
  return code == 421 || code == 530 || code == 534 || code == 535 || code == 538;
}

// Poll timeouts are whole milliseconds: a deadline less than 1 ms away
// waits 1 ms rather than spinning.
int millisecondsUntil(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return static_cast<int>(std::clamp<std::int64_t>(left.count() + 1, 0, 600000));
}

// Waits until `socket` is ready for `events` (POLLIN/POLLOUT); false when
// the deadline passed first.
bool waitFor(curl_socket_t socket, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const int wait = millisecondsUntil(deadline);
    if (wait == 0) return false;
    pollfd entry{socket, events, 0};
    const int ready = ::poll(&entry, 1, wait);
    if (ready > 0) return true;  // ready, or an error/hang-up the next call reports
    if (ready < 0 && errno != EINTR) return true;
  }
}

// The commands of a mail transaction, as named in details.
constexpr std::string_view kMail = "MAIL";
constexpr std::string_view kRcpt = "RCPT";
constexpr std::string_view kData = "DATA";
constexpr std::string_view kEndOfData = "end of data";

}  // namespace

// One pooled connection: a curl easy handle that set the session up
// (CURLOPT_CONNECT_ONLY: connect, TLS, greeting, EHLO, STARTTLS, AUTH) and
// keeps it open; the mail transactions then run over it through
// curl_easy_send/curl_easy_recv, pipelined when the server offers it.
struct SmtpChannel::Handle {
  /// How an exchange over the set-up session ended.
  enum class Io { Ok, TimedOut, Closed, Failed };

  CURL* curl = nullptr;
  bool connected = false;   // the session is set up and in sync
  bool pipelining = false;  // the server's last EHLO offered PIPELINING
  curl_socket_t socket = CURL_SOCKET_BAD;
  std::string inbox;  // bytes read, not yet taken as replies
  // How long the last message content took from its write to the reply
  // (zero: none yet on this session); deliverAll pipelines the next
  // envelope only when that leaves room in its budget.
  std::chrono::steady_clock::duration contentTime{};
  // Session setup, as seen through the debug callback:
  std::string lastReply;   // last reply line read from the server
  std::string errorReply;  // last 4xx/5xx reply line
  std::string command;     // verb of the last command sent ("" = none yet)
  std::string errorStage;  // `command` when errorReply came ("" = the greeting)
  char errorBuffer[CURL_ERROR_SIZE] = {};

  // CURLOPT_DEBUGFUNCTION during session setup: keeps the last server reply
  // line, the verb of the last command sent (never its arguments: AUTH
  // carries secrets) and whether the last EHLO offered PIPELINING.
  static int debug(CURL* /*curl*/, curl_infotype type, char* data, std::size_t size, void* user) {
    auto* self = static_cast<Handle*>(user);
    if (type == CURLINFO_HEADER_OUT) {
      std::string_view text(data, size);
      std::string verb;
      for (char c : text.substr(0, std::min<std::size_t>(text.find_first_of(" \r\n"), 9))) {
        verb += static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
      }
      // The commands of session setup, the only ones curl sends here. Other
      // lines continue the last command (an AUTH exchange's credentials):
      // never recorded.
      static constexpr std::string_view kVerbs[] = {"EHLO", "HELO", "STARTTLS", "AUTH"};
      for (std::string_view known : kVerbs) {
        if (verb == known) self->command = verb;
      }
      if (self->command == "EHLO" || self->command == "HELO") self->pipelining = false;
      return 0;
    }
    if (type != CURLINFO_HEADER_IN) return 0;
    std::string_view text(data, size);
    // Possibly several lines: each EHLO line may name an extension.
    for (std::string_view rest = text; !rest.empty();) {
      const std::size_t end = rest.find('\n');
      const std::string_view line = rest.substr(0, end);
      if (self->command == "EHLO" && offersPipelining(line)) self->pipelining = true;
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    }
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
    const auto lineStart = text.find_last_of('\n');
    if (lineStart != std::string_view::npos) text.remove_prefix(lineStart + 1);
    if (text.empty()) return 0;
    self->lastReply.assign(text);
    if (replyCode(text) >= 400) {
      self->errorReply.assign(text);
      self->errorStage = self->command;
    }
    return 0;
  }

  // Sends all of `bytes`.
  Io sendAll(std::string_view bytes, std::chrono::steady_clock::time_point deadline,
             std::string& error);
  // Reads the next whole reply into `reply`.
  Io readReply(SmtpReply& reply, std::chrono::steady_clock::time_point deadline,
               std::string& error);
  // True when a session that sat idle can still be used.
  bool stillOpen();
  // Ends the session (with QUIT when `sayQuit` and it is in sync) and frees
  // the curl handle; the Handle can open a new session.
  void close(bool sayQuit);

  // The start of a mail transaction for `mime` on the set-up session:
  // MAIL, RCPT and DATA (sent by the caller already when `envelopeSent`,
  // pipelined after another message's content), and their replies by
  // `deadline`. Nothing when DATA was accepted (354): the content follows
  // through finishTransaction. Otherwise the message's result; the session
  // is dropped when out of sync. `retryable` is set when it failed before
  // the server accepted anything (no reply, or 421 first).
  std::optional<DeliveryResult> openTransaction(const MimeMessage& mime,
                                                std::chrono::steady_clock::time_point deadline,
                                                bool envelopeSent, bool& retryable);
  // Sends the content of `mime` (its transaction open), then `then` in the
  // same write (the next message's envelope, or nothing), and reads the
  // reply to the content by `deadline`: the message's result.
  DeliveryResult finishTransaction(const MimeMessage& mime, std::string_view then,
                                   std::chrono::steady_clock::time_point deadline);
  // An exchange that broke during `stage`: the session is out of sync and
  // dropped; a TransientFailure.
  DeliveryResult broken(Io io, std::string_view stage, const std::string& error);
  // A refusal of `verb`: the reply decides. The transaction is reset when
  // `reset` (or the session dropped) so that the next message starts clean.
  DeliveryResult refused(std::string_view verb, const SmtpReply& reply, bool reset,
                         std::chrono::steady_clock::time_point deadline);
};

SmtpChannel::Handle::Io SmtpChannel::Handle::sendAll(std::string_view bytes,
                                                     std::chrono::steady_clock::time_point deadline,
                                                     std::string& error) {
  while (!bytes.empty()) {
    std::size_t sent = 0;
    const CURLcode rc = curl_easy_send(curl, bytes.data(), bytes.size(), &sent);
    if (rc == CURLE_AGAIN) {
      if (!waitFor(socket, POLLOUT, deadline)) return Io::TimedOut;
      continue;
    }
    if (rc != CURLE_OK) {
      error = curl_easy_strerror(rc);
      return Io::Failed;
    }
    bytes.remove_prefix(sent);
  }
  return Io::Ok;
}

// Parses only when a line end arrived, so a server dribbling bytes costs one
// scan per line, not per byte.
SmtpChannel::Handle::Io SmtpChannel::Handle::readReply(
    SmtpReply& reply, std::chrono::steady_clock::time_point deadline, std::string& error) {
  bool lineEnded = inbox.find('\n') != std::string::npos;
  for (;;) {
    if (lineEnded) {
      std::size_t consumed = 0;
      switch (parseReply(inbox, reply, consumed)) {
        case ReplyParse::Complete:
          inbox.erase(0, consumed);
          return Io::Ok;
        case ReplyParse::Malformed:
          error = "malformed reply";
          return Io::Failed;
        case ReplyParse::Incomplete:
          break;
      }
    }
    if (inbox.size() > kMaxReplyLine * kMaxReplyLines) {
      error = "reply too long";
      return Io::Failed;
    }
    char buffer[16384];
    std::size_t received = 0;
    const CURLcode rc = curl_easy_recv(curl, buffer, sizeof(buffer), &received);
    if (rc == CURLE_AGAIN) {
      if (!waitFor(socket, POLLIN, deadline)) return Io::TimedOut;
      continue;
    }
    if (rc != CURLE_OK) {
      error = curl_easy_strerror(rc);
      return Io::Failed;
    }
    if (received == 0) return Io::Closed;
    const std::string_view chunk(buffer, received);
    lineEnded = chunk.find('\n') != std::string_view::npos;
    inbox.append(chunk);
  }
}

// Nothing may have arrived on an idle session: a server closing one sends
// 421 and hangs up. A TLS record that carries no data (a session ticket)
// leaves it usable.
bool SmtpChannel::Handle::stillOpen() {
  if (!inbox.empty()) return false;
  pollfd entry{socket, POLLIN, 0};
  if (::poll(&entry, 1, 0) == 0) return true;
  char byte = 0;
  std::size_t received = 0;
  return curl_easy_recv(curl, &byte, 1, &received) == CURLE_AGAIN;
}

void SmtpChannel::Handle::close(bool sayQuit) {
  if (sayQuit && connected) {
    // A polite end, briefly bounded: the answer is not awaited long.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    std::string ignored;
    SmtpReply reply;
    if (sendAll("QUIT\r\n", deadline, ignored) == Io::Ok) readReply(reply, deadline, ignored);
  }
  if (curl != nullptr) curl_easy_cleanup(curl);
  curl = nullptr;
  connected = false;
  pipelining = false;
  socket = CURL_SOCKET_BAD;
  inbox.clear();
  contentTime = {};
}

namespace {

// "server replied to RCPT: 550 5.1.1 No such user"
std::string repliedText(std::string_view verb, const SmtpReply& reply) {
  return "server replied to " + std::string(verb) + ": " + reply.lastLine;
}

// The commands that open a mail transaction for `mime`: MAIL, RCPT, DATA.
std::array<std::string, 3> envelopeCommands(const MimeMessage& mime) {
  return {"MAIL FROM:<" + mime.envelopeFrom + ">\r\n", "RCPT TO:<" + mime.envelopeTo + ">\r\n",
          "DATA\r\n"};
}

// The same in one piece, for a pipelining server.
std::string envelopeOf(const MimeMessage& mime) {
  const std::array<std::string, 3> commands = envelopeCommands(mime);
  return commands[0] + commands[1] + commands[2];
}

}  // namespace

DeliveryResult SmtpChannel::Handle::broken(Io io, std::string_view stage,
                                           const std::string& error) {
  connected = false;
  const std::string what = io == Io::TimedOut ? "timed out waiting for the reply to "
                           : io == Io::Closed ? "connection closed by the server during "
                                              : "connection failed during ";
  return DeliveryResult::transient("SMTP " + what + std::string(stage) +
                                   (error.empty() ? "" : ": " + error));
}

DeliveryResult SmtpChannel::Handle::refused(std::string_view verb, const SmtpReply& reply,
                                            bool reset,
                                            std::chrono::steady_clock::time_point deadline) {
  const std::string detail = repliedText(verb, reply);
  if (refusesSession(reply.code)) {
    connected = false;
    return DeliveryResult::channelFailure("SMTP session failed at " + std::string(verb) + ": " +
                                          detail);
  }
  if (reset && connected) {
    SmtpReply rset;
    std::string ignored;
    if (sendAll("RSET\r\n", deadline, ignored) != Io::Ok ||
        readReply(rset, deadline, ignored) != Io::Ok || rset.code / 100 != 2) {
      connected = false;
    }
  }
  if (reply.code >= 500 && reply.code <= 599) return DeliveryResult::permanent(detail);
  return DeliveryResult::transient(detail);
}

std::optional<DeliveryResult> SmtpChannel::Handle::openTransaction(
    const MimeMessage& mime, std::chrono::steady_clock::time_point deadline, bool envelopeSent,
    bool& retryable) {
  std::string error;
  constexpr std::string_view kVerbs[3] = {kMail, kRcpt, kData};
  constexpr int kExpectedClass[3] = {2, 2, 3};  // 250, 250, 354
  // RFC 2920: with PIPELINING the envelope and DATA go in one write and the
  // three replies are read after it; without, each command waits for its reply.
  const bool pipelined = envelopeSent || pipelining;
  std::array<std::string, 3> commands;  // to send one at a time
  if (!pipelined) {
    commands = envelopeCommands(mime);
  } else if (!envelopeSent) {
    if (Io io = sendAll(envelopeOf(mime), deadline, error); io != Io::Ok) {
      retryable = true;
      return broken(io, kMail, error);
    }
  }
  int refusedAt = -1;  // the first command whose reply refused
  SmtpReply replies[3];
  for (int i = 0; i < 3; ++i) {
    Io io = pipelined ? Io::Ok : sendAll(commands[i], deadline, error);
    if (io == Io::Ok) io = readReply(replies[i], deadline, error);
    if (io != Io::Ok) {
      // Broken before the first reply: nothing was delivered.
      retryable = i == 0;
      if (refusedAt < 0) return broken(io, kVerbs[i], error);
      connected = false;  // a refusal, then the server hung up
      return refused(kVerbs[refusedAt], replies[refusedAt], false, deadline);
    }
    if (i == 0 && replies[0].code == 421) retryable = true;  // a closing session's goodbye
    if (replies[i].code / 100 != kExpectedClass[i] && refusedAt < 0) {
      refusedAt = i;
      if (!pipelined || refusesSession(replies[i].code)) break;
    }
  }
  if (refusedAt < 0) return std::nullopt;
  if (pipelined && refusedAt < 2 && replies[2].code == 354) {
    // DATA accepted although the envelope was not: end an empty message.
    SmtpReply ignored;
    if (sendAll(".\r\n", deadline, error) != Io::Ok ||
        readReply(ignored, deadline, error) != Io::Ok) {
      connected = false;
    }
    return refused(kVerbs[refusedAt], replies[refusedAt], false, deadline);
  }
  return refused(kVerbs[refusedAt], replies[refusedAt], true, deadline);
}

DeliveryResult SmtpChannel::Handle::finishTransaction(
    const MimeMessage& mime, std::string_view then,
    std::chrono::steady_clock::time_point deadline) {
  std::string error;
  std::string payload = dataPayload(mime.data);
  payload.append(then);
  const auto sentAt = std::chrono::steady_clock::now();
  if (Io io = sendAll(payload, deadline, error); io != Io::Ok) {
    return broken(io, kEndOfData, error);
  }
  SmtpReply ending;
  if (Io io = readReply(ending, deadline, error); io != Io::Ok) {
    return broken(io, kEndOfData, error);
  }
  contentTime = std::chrono::steady_clock::now() - sentAt;
  if (ending.code / 100 != 2) return refused(kEndOfData, ending, false, deadline);
  return DeliveryResult::delivered();
}

void SmtpChannel::HandleDeleter::operator()(Handle* handle) const {
  handle->close(true);
  delete handle;
}

namespace {

// "smtp[s]://host:port/helo", with IPv6 literals bracketed.
std::string makeUrl(const SmtpSettings& settings) {
  std::string host = settings.host;
  if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
  return std::string(settings.tls == TlsMode::Implicit ? "smtps://" : "smtp://") + host + ":" +
         std::to_string(settings.port) + "/" + settings.heloDomain;
}

}  // namespace

SmtpChannel::SmtpChannel(SmtpSettings settings, Logger& logger, Metrics& metrics)
    : settings_(std::move(settings)),
      url_(makeUrl(settings_)),
      logger_(logger),
      sent_(metrics.counter("smtp_messages_sent_total", "emails accepted by the SMTP server")),
      failed_(metrics.counter("smtp_failures_total",
                              "emails the SMTP channel failed to deliver (any reason)")),
      abandoned_(metrics.counter(
          "smtp_transactions_abandoned_total",
          "next-message transactions (envelope sent with the content before) dropped with their "
          "connection because that content took longer than the caller's budget; the message "
          "goes in a later call")),
      sessionFailures_(metrics.counter(
          "smtp_session_failures_total",
          "SMTP sessions that could not be set up (connect, TLS, greeting, EHLO, STARTTLS, AUTH)")),
      up_(metrics.gauge("smtp_channel_up",
                        "1 while the SMTP channel can set up sessions, 0 after a session failure "
                        "until one succeeds")),
      sessionBackoff_(kSessionBackoffFirst, kSessionBackoffMax) {
  up_.set(1);
  if (settings_.host.empty()) throw ConfigError("host must not be empty");
  if (settings_.poolSize < 1) throw ConfigError("pool_size must be at least 1");
  if (settings_.port < 1 || settings_.port > 65535) throw ConfigError("port out of range");
}

SmtpChannel::~SmtpChannel() = default;

std::string SmtpChannel::url() const { return url_; }

DeliveryResult SmtpChannel::openSession(Handle& handle,
                                        std::chrono::steady_clock::time_point deadline) const {
  initCurlOnce();
  handle.curl = curl_easy_init();
  if (handle.curl == nullptr) return DeliveryResult::transient("curl_easy_init failed");
  CURL* curl = handle.curl;
  curl_easy_setopt(curl, CURLOPT_URL, url_.c_str());
  // Only the session setup: the transactions run over the kept connection.
  curl_easy_setopt(curl, CURLOPT_CONNECT_ONLY, 1L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(settings_.connectTimeout.count()));
  // The setup takes its share of the attempt's time; the transaction the rest.
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(std::max(1, millisecondsUntil(deadline))));
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(
      curl, CURLOPT_SERVER_RESPONSE_TIMEOUT,
      static_cast<long>(std::max<std::int64_t>(1, (settings_.timeout.count() + 999) / 1000)));
  curl_easy_setopt(
      curl, CURLOPT_USE_SSL,
      static_cast<long>(settings_.tls == TlsMode::StartTls ? CURLUSESSL_ALL : CURLUSESSL_NONE));
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, settings_.verifyTls ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, settings_.verifyTls ? 2L : 0L);
  if (!settings_.username.empty()) {
    curl_easy_setopt(curl, CURLOPT_USERNAME, settings_.username.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, settings_.password.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, handle.errorBuffer);
  // Verbose output goes only to the debug callback, which keeps the replies.
  curl_easy_setopt(curl, CURLOPT_DEBUGFUNCTION, &Handle::debug);
  curl_easy_setopt(curl, CURLOPT_DEBUGDATA, &handle);
  curl_easy_setopt(curl, CURLOPT_VERBOSE, 1L);

  handle.lastReply.clear();
  handle.errorReply.clear();
  handle.command.clear();
  handle.errorStage.clear();
  handle.errorBuffer[0] = '\0';
  const CURLcode rc = curl_easy_perform(curl);
  curl_socket_t socket = CURL_SOCKET_BAD;
  if (rc == CURLE_OK && curl_easy_getinfo(curl, CURLINFO_ACTIVESOCKET, &socket) == CURLE_OK &&
      socket != CURL_SOCKET_BAD) {
    handle.socket = socket;
    handle.connected = true;
    return DeliveryResult::delivered();
  }
  // Everything before the first MAIL is the session's: its failure is the
  // channel's, whatever the server said.
  std::string detail;
  const std::string& reply = handle.errorReply.empty() ? handle.lastReply : handle.errorReply;
  if (!reply.empty()) detail = "server replied: " + reply + "; ";
  detail += "curl: ";
  detail += handle.errorBuffer[0] != '\0' ? handle.errorBuffer : curl_easy_strerror(rc);
  const std::string& stage = handle.errorReply.empty() ? handle.command : handle.errorStage;
  return DeliveryResult::channelFailure(
      "SMTP session failed" +
      (stage.empty() ? std::string(" (connect/greeting)") : " at " + stage) + ": " + detail);
}

SmtpChannel::HandlePtr SmtpChannel::checkout() {
  std::unique_lock lock(mutex_);
  const bool free = available_.wait_for(
      lock, settings_.timeout, [this] { return !idle_.empty() || created_ < settings_.poolSize; });
  if (!free) return nullptr;
  if (!idle_.empty()) {
    HandlePtr handle = std::move(idle_.back());
    idle_.pop_back();
    return handle;
  }
  ++created_;
  return HandlePtr(new Handle);
}

void SmtpChannel::checkin(HandlePtr handle) {
  {
    std::lock_guard lock(mutex_);
    idle_.push_back(std::move(handle));
  }
  available_.notify_one();
}

std::optional<DeliveryResult> SmtpChannel::begin(Handle& handle, const MimeMessage& mime,
                                                 Clock::time_point& deadline) const {
  // A kept session the server closed meanwhile fails before it accepted
  // anything; nothing was delivered then, so one retry on a fresh session
  // is safe. Each attempt (session setup included) is bounded by the
  // timeout, and so is the message's content after it (same deadline).
  for (int attempt = 0;; ++attempt) {
    deadline = Clock::now() + settings_.timeout;
    bool reused = handle.connected;
    if (reused && !handle.stillOpen()) {
      handle.close(false);
      reused = false;
    }
    if (!handle.connected) {
      DeliveryResult opened = openSession(handle, deadline);
      if (!opened.ok()) {
        handle.close(false);
        return opened;
      }
    }
    bool retryable = false;
    std::optional<DeliveryResult> refused =
        handle.openTransaction(mime, deadline, /*envelopeSent=*/false, retryable);
    if (!handle.connected) handle.close(false);
    if (!refused || !reused || !retryable || attempt > 0) return refused;
  }
}

std::vector<DeliveryResult> SmtpChannel::deliverAll(std::span<const Message> messages,
                                                    std::chrono::milliseconds budget) {
  std::vector<DeliveryResult> results;
  if (messages.empty()) return results;
  results.reserve(messages.size());
  const auto started = Clock::now();
  const auto startBy = started + budget;                 // later messages start only before it
  const auto limit = started + worstCaseDeliveryTime();  // and everything ends by it

  // The result of message results.size(); false when the call stops here.
  // `mime` is null for an invalid message: nothing was tried on a session.
  const auto finish = [&](const Message& message, const MimeMessage* mime, DeliveryResult result) {
    report(message, mime, result);
    results.push_back(std::move(result));
    return results.back().status != DeliveryResult::Status::ChannelFailure;
  };
  // Builds the MIME form of `message`; an invalid one is its permanent failure.
  const auto build = [&](const Message& message,
                         MimeMessage& mime) -> std::optional<DeliveryResult> {
    try {
      mime = buildMimeMessage(message, settings_.sender);
      return std::nullopt;
    } catch (const InvalidMessage& e) {
      return DeliveryResult::permanent(std::string("invalid message: ") + e.what());
    }
  };

  HandlePtr handle;
  std::optional<MimeMessage> open;  // the message whose content goes next
  bool followsAnother = false;      // its envelope went with the previous content
  Clock::time_point deadline{};     // when the exchange that sends it must end
  for (std::size_t k = 0; k < messages.size();) {
    const Message& message = messages[k];
    if (open && followsAnother && Clock::now() >= startBy) {
      // The previous content took longer than the budget allowed for: this
      // message's content would go after it. Its transaction is abandoned
      // with the connection (a server never delivers a message whose end
      // did not come), so the caller records first, as without pipelining.
      handle->connected = false;
      abandoned_.add();
      if (logger_.enabled(LogLevel::Debug)) {
        logger_.debug(
            "next message's transaction abandoned with its connection: the content "
            "before it took longer than the budget",
            {{"id", message.id}});
      }
      break;
    }
    if (!open) {
      // Message k starts afresh: its envelope in a write of its own.
      if (k > 0) {
        const auto now = Clock::now();
        if (now >= startBy || now + settings_.timeout > limit) break;
        if (handle && !handle->connected) break;
      }
      MimeMessage mime;
      if (std::optional<DeliveryResult> invalid = build(message, mime)) {
        finish(message, nullptr, std::move(*invalid));
        ++k;
        continue;
      }
      std::optional<DeliveryResult> refused;
      if (!handle) {
        if (std::optional<std::string> blocked = blockedReason()) {
          // Not counted again: the session failure that blocks it was.
          results.push_back(DeliveryResult::channelFailure(std::move(*blocked)));
          break;
        }
        handle = checkout();
        if (!handle) {
          finish(message, &mime,
                 DeliveryResult::transient("no SMTP connection became free within the timeout"));
          break;
        }
        refused = begin(*handle, mime, deadline);
      } else {
        deadline = Clock::now() + settings_.timeout;
        bool retryable = false;
        refused = handle->openTransaction(mime, deadline, /*envelopeSent=*/false, retryable);
      }
      if (refused) {
        if (!finish(message, &mime, std::move(*refused))) break;
        ++k;
        continue;
      }
      open = std::move(mime);
      followsAnother = false;
    }

    // Message k's content; with it the next message's envelope (RFC 2920
    // lets DATA end a group) when the next one's content would still go out
    // within the budget even if this one took twice as long as the last one
    // on this session did (a server slower than the budget thus gets one
    // message per call, as without pipelining), and can get a whole timeout.
    std::optional<MimeMessage> next;
    const auto lastContent = handle->contentTime;
    if (k + 1 < messages.size() && handle->pipelining && lastContent.count() > 0 &&
        Clock::now() + 2 * lastContent < startBy && deadline + settings_.timeout <= limit) {
      MimeMessage mime;
      if (!build(messages[k + 1], mime)) next = std::move(mime);
    }
    DeliveryResult done =
        handle->finishTransaction(*open, next ? envelopeOf(*next) : std::string(), deadline);
    const bool goOn = finish(message, &*open, std::move(done)) && handle->connected;
    open.reset();
    ++k;
    if (!goOn) break;  // the next envelope, if sent, was never answered: not attempted
    if (next) {
      bool retryable = false;
      std::optional<DeliveryResult> refused =
          handle->openTransaction(*next, deadline, /*envelopeSent=*/true, retryable);
      if (refused) {
        if (!finish(messages[k], &*next, std::move(*refused))) break;
        ++k;
        continue;
      }
      open = std::move(next);
      followsAnother = true;
      deadline = Clock::now() + settings_.timeout;
    }
  }
  if (handle) {
    if (!handle->connected) handle->close(false);
    checkin(std::move(handle));
  }
  return results;
}

DeliveryResult SmtpChannel::deliver(const Message& message) {
  return deliverAll(std::span<const Message>(&message, 1), std::chrono::milliseconds(0)).front();
}

void SmtpChannel::report(const Message& message, const MimeMessage* mime,
                         const DeliveryResult& result) {
  if (mime != nullptr) noteSession(result);
  const std::string messageId = mime != nullptr ? mime->messageId : std::string();
  if (result.ok()) {
    sent_.add();
    if (logger_.enabled(LogLevel::Debug)) {
      logger_.debug("email sent", {{"id", message.id}, {"message_id", messageId}});
    }
    return;
  }
  failed_.add();
  const char* status = "transient";
  if (result.status == DeliveryResult::Status::PermanentFailure) status = "permanent";
  if (result.status == DeliveryResult::Status::ChannelFailure) status = "channel";
  logger_.warn("email not sent", {{"id", message.id},
                                  {"message_id", messageId},
                                  {"status", status},
                                  {"detail", result.detail}});
}

std::optional<std::string> SmtpChannel::blockedReason() {
  std::lock_guard lock(stateMutex_);
  const auto now = std::chrono::steady_clock::now();
  if (ready_ || now >= blockedUntil_) return std::nullopt;
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(blockedUntil_ - now).count();
  return "SMTP channel unavailable (next session attempt in " + std::to_string(left) +
         " ms): " + stateDetail_;
}

void SmtpChannel::noteSession(const DeliveryResult& result) {
  std::lock_guard lock(stateMutex_);
  if (result.status == DeliveryResult::Status::ChannelFailure) {
    sessionFailures_.add();
    ready_ = false;
    stateDetail_ = result.detail;
    blockedUntil_ = std::chrono::steady_clock::now() + sessionBackoff_.next();
    up_.set(0);
    return;
  }
  if (!ready_) {
    logger_.info("SMTP channel available again", {{"url", url_}});
  }
  ready_ = true;
  stateDetail_.clear();
  sessionBackoff_.reset();
  up_.set(1);
}

ChannelState SmtpChannel::state() const {
  std::lock_guard lock(stateMutex_);
  return {ready_, stateDetail_};
}

std::chrono::milliseconds SmtpChannel::worstCaseDeliveryTime() const {
  // Waiting for a pooled connection, then at most two transfers (a kept
  // connection found closed is retried once), each bounded by the timeout.
  return settings_.timeout * 3;
}

}  // namespace commsvc::plugins::transport_smtp
