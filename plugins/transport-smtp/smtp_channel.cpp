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

// libcurl's global state, initialised once per process before any handle.
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

  // CURLOPT_DEBUGFUNCTION: keeps the last server reply line.
  static int debug(CURL* /*curl*/, curl_infotype type, char* data, std::size_t size, void* user) {
    if (type != CURLINFO_HEADER_IN) return 0;
    auto* self = static_cast<Handle*>(user);
    std::string_view text(data, size);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
    const auto lineStart = text.find_last_of('\n');
    if (lineStart != std::string_view::npos) text.remove_prefix(lineStart + 1);
    if (text.empty()) return 0;
    self->lastReply.assign(text);
    if (replyCodeOf(text) >= 400) self->errorReply.assign(text);
    return 0;
  }
};

void SmtpChannel::HandleDeleter::operator()(Handle* handle) const {
  if (handle->curl != nullptr) curl_easy_cleanup(handle->curl);
  delete handle;
}

TlsMode parseTlsMode(const std::string& text) {
  if (text == "none") return TlsMode::None;
  if (text == "starttls") return TlsMode::StartTls;
  if (text == "tls") return TlsMode::Implicit;
  throw ConfigError("tls: unknown mode '" + text + "' (none|starttls|tls)");
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
                              "emails the SMTP channel failed to deliver (any reason)")) {
  if (settings_.host.empty()) throw ConfigError("host must not be empty");
  if (settings_.poolSize < 1) throw ConfigError("pool_size must be at least 1");
  if (settings_.port < 1 || settings_.port > 65535) throw ConfigError("port out of range");
  initCurlOnce();
}

SmtpChannel::~SmtpChannel() = default;

std::string SmtpChannel::url() const { return url_; }

SmtpChannel::HandlePtr SmtpChannel::createHandle() const {
  HandlePtr handle(new Handle);
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
    HandlePtr handle = checkout();
    if (!handle) {
      result = DeliveryResult::transient("no SMTP connection became free within the timeout");
    } else {
      result = send(*handle, mime);
      checkin(std::move(handle));
    }
  }

  if (result.ok()) {
    sent_.add();
    if (logger_.enabled(LogLevel::Debug)) {
      logger_.debug("email sent", {{"id", message.id}, {"message_id", mime.messageId}});
    }
  } else {
    failed_.add();
    logger_.warn(
        "email not sent",
        {{"id", message.id},
         {"status",
          result.status == DeliveryResult::Status::PermanentFailure ? "permanent" : "transient"},
         {"detail", result.detail}});
  }
  return result;
}

}  // namespace commsvc::plugins::transport_smtp
