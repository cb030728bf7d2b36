#include "smtp_channel.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <string_view>
#include <utility>

#include "commsvc/config.hpp"

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

// The reply code at the start of an SMTP reply line, or 0.
long replyCodeOf(std::string_view line) {
  if (line.size() < 3) return 0;
  long code = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    if (line[i] < '0' || line[i] > '9') return 0;
    code = code * 10 + (line[i] - '0');
  }
  return code;
}

// True for the commands of session setup, before any message is named.
bool isSessionCommand(std::string_view verb) {
  return verb.empty() || verb == "EHLO" || verb == "HELO" || verb == "STARTTLS" || verb == "AUTH";
}

// True when a failed transfer is the channel's fault rather than the
// message's: the session could not be set up (connect, TLS, greeting,
// EHLO, STARTTLS, AUTH), or the server said so whatever the command (421
// closing, 530 authentication required, 534/535/538 authentication).
bool isSessionFailure(CURLcode rc, long code, std::string_view stage, std::string_view command) {
  if (code == 421 || code == 530 || code == 534 || code == 535 || code == 538) return true;
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_LOGIN_DENIED:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_AUTH_ERROR:
      return true;
    default:
      break;
  }
  if (code >= 400) return isSessionCommand(stage);
  // No error reply: a connection that broke or timed out before the
  // message was named is the session's failure too.
  return isSessionCommand(command);
}

// Frees a curl_slist.
struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

}  // namespace

// One pooled curl easy handle with the state its callbacks use. The handle
// keeps its connection open between transfers.
struct SmtpChannel::Handle {
  CURL* curl = nullptr;
  bool used = false;       // a transfer ran on it before
  std::string lastReply;   // last reply line read from the server
  std::string errorReply;  // last 4xx/5xx reply line (QUIT's 221 may follow it)
  std::string command;     // verb of the last command sent in this transfer ("" = none yet)
  std::string errorStage;  // `command` when errorReply came ("" = the greeting)
  char errorBuffer[CURL_ERROR_SIZE] = {};
  const std::string* upload = nullptr;  // the message being sent
  std::size_t uploadOffset = 0;

  // CURLOPT_READFUNCTION: hands out the next bytes of `upload`.
  static std::size_t read(char* buffer, std::size_t size, std::size_t count, void* user) {
    auto* self = static_cast<Handle*>(user);
    const std::size_t left = self->upload->size() - self->uploadOffset;
    const std::size_t n = std::min(left, size * count);
    std::memcpy(buffer, self->upload->data() + self->uploadOffset, n);
    self->uploadOffset += n;
    return n;
  }

  // CURLOPT_DEBUGFUNCTION: keeps the last server reply line and the verb
  // of the last command sent (never its arguments: AUTH carries secrets).
  static int debug(CURL* /*curl*/, curl_infotype type, char* data, std::size_t size, void* user) {
    auto* self = static_cast<Handle*>(user);
    if (type == CURLINFO_HEADER_OUT) {
      std::string_view text(data, size);
      std::string verb;
      for (char c : text.substr(0, std::min<std::size_t>(text.find_first_of(" \r\n"), 9))) {
        verb += static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
      }
      // Other lines continue the last command (an AUTH exchange's
      // credentials): never recorded.
      static constexpr std::string_view kVerbs[] = {"EHLO", "HELO", "STARTTLS", "AUTH", "MAIL",
                                                    "RCPT", "DATA", "RSET",     "QUIT", "NOOP"};
      for (std::string_view known : kVerbs) {
        if (verb == known) self->command = verb;
      }
      return 0;
    }
    if (type != CURLINFO_HEADER_IN) return 0;
    std::string_view text(data, size);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
    const auto lineStart = text.find_last_of('\n');
    if (lineStart != std::string_view::npos) text.remove_prefix(lineStart + 1);
    if (text.empty()) return 0;
    self->lastReply.assign(text);
    if (replyCodeOf(text) >= 400) {
      self->errorReply.assign(text);
      self->errorStage = self->command;
    }
    return 0;
  }
};

void SmtpChannel::HandleDeleter::operator()(Handle* handle) const {
  if (handle->curl != nullptr) curl_easy_cleanup(handle->curl);
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

SmtpChannel::HandlePtr SmtpChannel::createHandle() const {
  HandlePtr handle(new Handle);
  initCurlOnce();
  handle->curl = curl_easy_init();
  if (handle->curl == nullptr) return nullptr;
  CURL* curl = handle->curl;
  curl_easy_setopt(curl, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(settings_.connectTimeout.count()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(settings_.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  // Also bounds the QUIT exchange when a pooled handle is closed (libcurl's
  // default waits up to 120 s for a reply); whole seconds, at least one.
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
  curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(curl, CURLOPT_READFUNCTION, &Handle::read);
  curl_easy_setopt(curl, CURLOPT_READDATA, handle.get());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, handle->errorBuffer);
  // Verbose output goes only to the debug callback, which keeps the replies.
  curl_easy_setopt(curl, CURLOPT_DEBUGFUNCTION, &Handle::debug);
  curl_easy_setopt(curl, CURLOPT_DEBUGDATA, handle.get());
  curl_easy_setopt(curl, CURLOPT_VERBOSE, 1L);
  return handle;
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
  lock.unlock();
  HandlePtr handle = createHandle();
  if (!handle) {
    lock.lock();
    --created_;
    available_.notify_one();
  }
  return handle;
}

void SmtpChannel::checkin(HandlePtr handle) {
  {
    std::lock_guard lock(mutex_);
    idle_.push_back(std::move(handle));
  }
  available_.notify_one();
}

DeliveryResult SmtpChannel::send(Handle& handle, const MimeMessage& mime) {
  CURL* curl = handle.curl;
  const std::string from = "<" + mime.envelopeFrom + ">";
  std::unique_ptr<curl_slist, SlistDeleter> recipients(
      curl_slist_append(nullptr, ("<" + mime.envelopeTo + ">").c_str()));
  curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, recipients.get());
  curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(mime.data.size()));

  CURLcode rc = CURLE_OK;
  long code = 0;
  // A kept connection the server closed meanwhile fails before any reply;
  // nothing was sent then, so one retry on a fresh connection is safe.
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = handle.used;
    handle.used = true;
    handle.upload = &mime.data;
    handle.uploadOffset = 0;
    handle.lastReply.clear();
    handle.errorReply.clear();
    handle.command.clear();
    handle.errorStage.clear();
    handle.errorBuffer[0] = '\0';
    rc = curl_easy_perform(curl);
    code = replyCodeOf(handle.errorReply);
    if (code == 0) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    const bool noReply = handle.lastReply.empty();
    if (!(reused && noReply &&
          (rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING))) {
      break;
    }
  }
  curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, nullptr);
  handle.upload = nullptr;

  if (rc == CURLE_OK) return DeliveryResult::delivered();

  std::string detail;
  const std::string& reply = handle.errorReply.empty() ? handle.lastReply : handle.errorReply;
  if (!reply.empty()) detail = "server replied: " + reply + "; ";
  detail += "curl: ";
  detail += handle.errorBuffer[0] != '\0' ? handle.errorBuffer : curl_easy_strerror(rc);
  if (isSessionFailure(rc, code, handle.errorStage, handle.command)) {
    const std::string& stage = handle.errorReply.empty() ? handle.command : handle.errorStage;
    return DeliveryResult::channelFailure(
        "SMTP session failed" +
        (stage.empty() ? std::string(" (connect/greeting)") : " at " + stage) + ": " + detail);
  }
  if (code >= 500 && code <= 599) return DeliveryResult::permanent(std::move(detail));
  return DeliveryResult::transient(std::move(detail));
}

DeliveryResult SmtpChannel::deliver(const Message& message) {
  DeliveryResult result;
  MimeMessage mime;
  try {
    mime = buildMimeMessage(message, settings_.sender);
  } catch (const InvalidMessage& e) {
    result = DeliveryResult::permanent(std::string("invalid message: ") + e.what());
  }
  if (result.ok()) {
    if (std::optional<std::string> blocked = blockedReason()) {
      return DeliveryResult::channelFailure(std::move(*blocked));
    }
    HandlePtr handle = checkout();
    if (!handle) {
      result = DeliveryResult::transient("no SMTP connection became free within the timeout");
    } else {
      result = send(*handle, mime);
      checkin(std::move(handle));
    }
    noteSession(result);
  }

  if (result.ok()) {
    sent_.add();
    if (logger_.enabled(LogLevel::Debug)) {
      logger_.debug("email sent", {{"id", message.id}, {"message_id", mime.messageId}});
    }
  } else {
    failed_.add();
    const char* status = "transient";
    if (result.status == DeliveryResult::Status::PermanentFailure) status = "permanent";
    if (result.status == DeliveryResult::Status::ChannelFailure) status = "channel";
    logger_.warn("email not sent", {{"id", message.id},
                                    {"message_id", mime.messageId},
                                    {"status", status},
                                    {"detail", result.detail}});
  }
  return result;
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
