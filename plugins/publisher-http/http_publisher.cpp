#include "http_publisher.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

namespace commsvc::plugins::publisher_http {
namespace {

// Bytes of an answer's body kept for error messages, and the most read
// before the transfer is cut (its status is known by then).
constexpr std::size_t kKeptResponseBytes = 1024;
constexpr std::size_t kMaxResponseBytes = 1 << 20;
constexpr std::size_t kSnippetBytes = 200;
constexpr const char* kUserAgent = "commsvc-publisher-http/1";

// libcurl's global state, initialised once per process before the first
// handle (not before: it initialises OpenSSL, which touches ~2.5 MB of
// libcrypto that an idle or switched-off publisher does not need).
void initCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// RFC 9110 token characters (header names).
bool isTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

struct UrlDeleter {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
struct CurlFree {
  void operator()(char* text) const { curl_free(text); }
};

// Part `what` of `url`, or "" when it has none.
std::string urlPart(CURLU* url, CURLUPart what) {
  char* raw = nullptr;
  if (curl_url_get(url, what, &raw, 0) != CURLUE_OK || raw == nullptr) return {};
  std::unique_ptr<char, CurlFree> owned(raw);
  return raw;
}

// Checks base_url and returns it without user info ("scheme://host[:port]/path").
// Messages never quote the URL: it may hold a password.
std::string checkBaseUrl(const std::string& base) {
  const std::string scheme = lower(base.substr(0, base.find("://") + 3));
  if (scheme != "http://" && scheme != "https://") {
    throw ConfigError("base_url: must start with http:// or https://");
  }
  for (const char c : base) {
    const auto b = static_cast<unsigned char>(c);
    if (b <= 0x20 || b == 0x7F) {
      throw ConfigError("base_url: must not hold spaces or control characters");
    }
  }
  std::unique_ptr<CURLU, UrlDeleter> url(curl_url());
  if (!url) throw ConfigError("base_url: cannot parse (out of memory)");
  const CURLUcode rc = curl_url_set(url.get(), CURLUPART_URL, base.c_str(), 0);
  if (rc != CURLUE_OK) {
    throw ConfigError(std::string("base_url: not a valid URL (") + curl_url_strerror(rc) + ")");
  }
  if (!urlPart(url.get(), CURLUPART_QUERY).empty() || base.find('?') != std::string::npos) {
    throw ConfigError("base_url: must not hold a query (put it at the end of `path`)");
  }
  if (base.find('#') != std::string::npos) {
    throw ConfigError("base_url: must not hold a fragment ('#')");
  }
  std::string redacted = urlPart(url.get(), CURLUPART_SCHEME) + "://";
  redacted += urlPart(url.get(), CURLUPART_HOST);
  const std::string port = urlPart(url.get(), CURLUPART_PORT);
  if (!port.empty()) redacted += ":" + port;
  const std::string path = urlPart(url.get(), CURLUPART_PATH);
  redacted += path.empty() ? "/" : path;
  return redacted;
}

// `base` followed by `path` (which is empty or starts with '/' or '?'),
// without a doubled slash.
std::string joinUrl(const std::string& base, const std::string& path) {
  if (!base.empty() && base.back() == '/' && !path.empty() && path.front() == '/') {
    return base + path.substr(1);
  }
  return base + path;
}

// A header line ("Name: value", or "Name;" for an empty value, which is
// how libcurl sends an empty header). Never quotes the value.
std::string headerLine(const std::string& name, const std::string& value) {
  if (name.empty()) throw ConfigError("headers: empty header name");
  for (const char c : name) {
    if (!isTokenChar(c)) {
      throw ConfigError("headers: '" + name + "' is not a valid header name");
    }
  }
  for (const char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') {
      throw ConfigError("headers: the value of '" + name +
                        "' holds a line break or NUL (value not shown)");
    }
  }
  const auto first = value.find_first_not_of(" \t");
  if (first == std::string::npos) return name + ";";
  return name + ": " + value.substr(first);
}

// What a failed transfer (no HTTP answer) was, in words.
const char* describeCurlError(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
      return "cannot connect (refused or unreachable)";
    case CURLE_OPERATION_TIMEDOUT:
      return "timed out";
    case CURLE_COULDNT_RESOLVE_HOST:
      return "cannot resolve the host name";
    case CURLE_GOT_NOTHING:
      return "connection closed without an answer";
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
      return "connection broken";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
      return "TLS failed";
    default:
      return "request failed";
  }
}

}  // namespace

const char* methodName(HttpMethod method) {
  for (const OptionChoice& c : kHttpMethods) {
    if (c.value == static_cast<std::int64_t>(method)) return c.name;
  }
  return "POST";
}

HttpPublisherOptions resolveOptions(const HttpPublisherSettings& settings) {
  HttpPublisherOptions options;
  options.settings = settings;
  if (!settings.baseUrl.empty()) options.redactedBaseUrl = checkBaseUrl(settings.baseUrl);
  options.path = Template::parse(settings.path, TemplateKind::Path, "path");

  bool hasContentType = false;
  bool jsonContent = true;
  bool hasExpect = false;
  for (const auto& [name, value] : settings.headers) {
    options.headerLines.push_back(headerLine(name, value));
    const std::string key = lower(name);
    if (key == "content-type") {
      hasContentType = true;
      jsonContent = lower(value).find("json") != std::string::npos;
    }
    if (key == "expect") hasExpect = true;
  }

  const bool bodyless = settings.method == HttpMethod::Get || settings.method == HttpMethod::Delete;
  if (!settings.body.empty()) {
    if (settings.method == HttpMethod::Get) {
      throw ConfigError("body: a GET request carries no body");
    }
    options.body = HttpPublisherOptions::Body::Template;
    options.bodyTemplate = Template::parse(
        settings.body, jsonContent ? TemplateKind::Json : TemplateKind::Text, "body");
  } else {
    options.body =
        bodyless ? HttpPublisherOptions::Body::None : HttpPublisherOptions::Body::Envelope;
  }
  if (options.body != HttpPublisherOptions::Body::None && !hasContentType) {
    options.headerLines.push_back("Content-Type: application/json");
  }
  // libcurl would wait up to 1 s for "100 Continue" before larger bodies.
  if (!hasExpect) options.headerLines.push_back("Expect:");

  if (settings.timeout.count() < 1 || settings.connectTimeout.count() < 1) {
    throw ConfigError("timeout_ms and connect_timeout_ms must be at least 1");
  }
  if (!settings.caFile.empty() && !std::ifstream(settings.caFile).good()) {
    throw ConfigError("ca_file: cannot read '" + settings.caFile + "'");
  }
  if (settings.connections < 1 || settings.connections > 64) {
    throw ConfigError("connections: must be 1 to 64");
  }
  if (settings.queueLimit < 1) throw ConfigError("queue_limit: must be at least 1");
  return options;
}

namespace {

// One request waiting for, or made by, a worker.
struct Job {
  std::string url;          // the full URL (may hold user info)
  std::string redactedUrl;  // for messages: no user info, no query
  std::string body;         // sent when the publisher sends bodies
  PublishCallback done;     // may be empty
};

struct CurlDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

// A worker's libcurl handle (kept for the worker's life, so its
// connection is reused) and what the callbacks fill in per transfer.
struct Connection {
  std::unique_ptr<CURL, CurlDeleter> curl;
  std::string response;  // start of the answer's body
  std::size_t received = 0;
  bool tooLarge = false;
  char errorBuffer[CURL_ERROR_SIZE] = {};

  // CURLOPT_WRITEFUNCTION: keeps the start of the body, cuts huge answers.
  static std::size_t write(char* data, std::size_t size, std::size_t count, void* user) {
    auto* self = static_cast<Connection*>(user);
    const std::size_t n = size * count;
    if (self->response.size() < kKeptResponseBytes) {
      self->response.append(data, std::min(n, kKeptResponseBytes - self->response.size()));
    }
    self->received += n;
    if (self->received > kMaxResponseBytes) {
      self->tooLarge = true;
      return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
    }
    return n;
  }
};

}  // namespace

struct HttpPublisher::Impl {
  Impl(HttpPublisherOptions o, Logger& l, Metrics& metrics, std::string n)
      : options(std::move(o)),
        settings(options.settings),
        logger(l),
        name(std::move(n)),
        published(metrics.counter("http_publisher_requests_total",
                                  "events the http publisher reported, by outcome",
                                  {{"publisher", name}, {"result", "published"}})),
        failed(metrics.counter("http_publisher_requests_total",
                               "events the http publisher reported, by outcome",
                               {{"publisher", name}, {"result", "failed"}})),
        rejected(metrics.counter("http_publisher_requests_total",
                                 "events the http publisher reported, by outcome",
                                 {{"publisher", name}, {"result", "rejected"}})),
        duration(metrics.histogram("http_publisher_request_duration_seconds",
                                   "time of one request of the http publisher", {},
                                   {{"publisher", name}})),
        queueLength(metrics.gauge("http_publisher_queue_length",
                                  "events waiting for a worker of the http publisher",
                                  {{"publisher", name}})) {}

  const HttpPublisherOptions options;
  const HttpPublisherSettings& settings;  // options.settings
  Logger& logger;
  const std::string name;
  Counter& published;
  Counter& failed;
  Counter& rejected;
  Histogram& duration;
  Gauge& queueLength;
  std::unique_ptr<curl_slist, SlistDeleter> headers;  // shared, read-only

  std::mutex mutex;
  std::condition_variable wake;  // a job was queued, or stopping
  std::condition_variable idle;  // nothing queued or in flight
  std::deque<Job> queue;
  std::size_t inFlight = 0;
  bool stopping = false;
  std::vector<std::thread> workers;
  std::atomic<bool> healthy{true};  // the last request did not fail

  // The prefix of every outcome text: "PATCH http://host/path".
  std::string describe(const std::string& redactedUrl) const {
    return std::string(methodName(settings.method)) + " " + redactedUrl;
  }

  Connection newConnection() const {
    Connection c;
    initCurlOnce();
    c.curl.reset(curl_easy_init());
    CURL* curl = c.curl.get();
    if (curl == nullptr) return c;
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(settings.connectTimeout.count()));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(settings.timeout.count()));
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, settings.verifyTls ? 1L : 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, settings.verifyTls ? 2L : 0L);
    if (!settings.caFile.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, settings.caFile.c_str());
    curl_easy_setopt(curl, CURLOPT_USERAGENT, kUserAgent);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
    if (settings.method == HttpMethod::Get) {
      curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    } else if (settings.method == HttpMethod::Post) {
      curl_easy_setopt(curl, CURLOPT_POST, 1L);
    } else {
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, methodName(settings.method));
    }
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Connection::write);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, c.errorBuffer);
    return c;
  }

  // Makes the request of `job` on `c` and classifies the answer.
  PublishResult perform(Connection& c, const Job& job) {
    CURL* curl = c.curl.get();
    if (curl == nullptr) {
      return PublishResult::failed(describe(job.redactedUrl) + ": cannot create a curl handle");
    }
    // The buffers' addresses are those of this call's `c`, which stays put.
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &c);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, c.errorBuffer);
    curl_easy_setopt(curl, CURLOPT_URL, job.url.c_str());
    if (options.body != HttpPublisherOptions::Body::None) {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(job.body.size()));
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, job.body.c_str());
    }
    c.response.clear();
    c.received = 0;
    c.tooLarge = false;
    c.errorBuffer[0] = '\0';
    const auto start = std::chrono::steady_clock::now();
    const CURLcode rc = curl_easy_perform(curl);
    duration.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);

    const std::string what = describe(job.redactedUrl);
    if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && c.tooLarge && code > 0)) {
      if (code >= 200 && code <= 299) return PublishResult::published();
      std::string why = what + ": HTTP " + std::to_string(code);
      if (code >= 300 && code <= 399) why += " (redirects are not followed)";
      const std::string snippet = singleLineSnippet(c.response, kSnippetBytes);
      if (!snippet.empty()) why += ": " + snippet;
      const bool transient = code == 408 || code == 425 || code == 429 || code >= 500 || code < 200;
      return transient ? PublishResult::failed(std::move(why))
                       : PublishResult::rejected(std::move(why));
    }
    std::string why = what + ": " + describeCurlError(rc) + " (curl: ";
    why += c.errorBuffer[0] != '\0' ? c.errorBuffer : curl_easy_strerror(rc);
    why += ")";
    return PublishResult::failed(std::move(why));
  }

  // Counts and logs `result`, then hands it to the job's callback.
  void finish(Job& job, const PublishResult& result) {
    switch (result.status) {
      case PublishResult::Status::Published:
        published.add();
        if (!healthy.exchange(true)) {
          logger.info("http publisher: requests succeed again", {{"publisher", name}});
        }
        break;
      case PublishResult::Status::Failed:
        failed.add();
        if (healthy.exchange(false)) {
          logger.warn(
              "http publisher: request failed (more failures logged at debug until one "
              "succeeds)",
              {{"publisher", name}, {"error", result.error}});
        } else if (logger.enabled(LogLevel::Debug)) {
          logger.debug("http publisher: request failed",
                       {{"publisher", name}, {"error", result.error}});
        }
        break;
      case PublishResult::Status::Rejected:
        rejected.add();
        logger.warn("http publisher: event rejected",
                    {{"publisher", name}, {"error", result.error}});
        break;
    }
    if (!job.done) return;
    try {
      job.done(result);
    } catch (const std::exception& e) {
      logger.error("http publisher: publish callback threw",
                   {{"publisher", name}, {"error", e.what()}});
    } catch (...) {
      logger.error("http publisher: publish callback threw", {{"publisher", name}});
    }
  }

  void run() {
    Connection connection = newConnection();
    std::unique_lock lock(mutex);
    for (;;) {
      wake.wait(lock, [this] { return stopping || !queue.empty(); });
      if (stopping) return;
      Job job = std::move(queue.front());
      queue.pop_front();
      queueLength.set(static_cast<double>(queue.size()));
      ++inFlight;
      lock.unlock();
      const PublishResult result = perform(connection, job);
      finish(job, result);
      lock.lock();
      --inFlight;
      if (queue.empty() && inFlight == 0) idle.notify_all();
    }
  }
};

HttpPublisher::HttpPublisher(HttpPublisherOptions options, Logger& logger, Metrics& metrics,
                             std::string name)
    : impl_(new Impl(std::move(options), logger, metrics, std::move(name))) {
  std::unique_ptr<Impl> guard(impl_);
  for (const std::string& line : impl_->options.headerLines) {
    curl_slist* next = curl_slist_append(impl_->headers.get(), line.c_str());
    if (next == nullptr) throw std::bad_alloc();
    impl_->headers.release();
    impl_->headers.reset(next);
  }
  if (!impl_->settings.baseUrl.empty()) {
    try {
      for (std::int64_t i = 0; i < impl_->settings.connections; ++i) {
        impl_->workers.emplace_back([impl = impl_] { impl->run(); });
      }
    } catch (...) {
      {
        std::lock_guard lock(impl_->mutex);
        impl_->stopping = true;
      }
      impl_->wake.notify_all();
      for (auto& worker : impl_->workers) worker.join();
      throw;
    }
  }
  guard.release();
}

HttpPublisher::~HttpPublisher() {
  std::deque<Job> left;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
    left.swap(impl_->queue);
  }
  impl_->wake.notify_all();
  impl_->queueLength.set(0);
  if (!left.empty()) {
    impl_->logger.warn("http publisher: stopped with events still queued; reported as failed",
                       {{"publisher", impl_->name}, {"count", std::to_string(left.size())}});
  }
  for (Job& job : left) {
    impl_->finish(job, PublishResult::failed("publisher stopped (" +
                                             impl_->describe(job.redactedUrl) + " not sent)"));
  }
  for (auto& worker : impl_->workers) worker.join();
  delete impl_;
}

std::string HttpPublisher::redactedUrlFor(const Event& event) const {
  const HttpPublisherOptions& s = impl_->options;
  std::string path;
  if (s.path.hasFields()) {
    nlohmann::json payload = nlohmann::json::parse(event.payload, nullptr, false);
    if (payload.is_discarded()) throw TemplateError("payload is not valid JSON");
    path = s.path.render(payload);
  } else {
    path = s.path.render(nlohmann::json());
  }
  return joinUrl(s.redactedBaseUrl, path.substr(0, path.find('?')));
}

void HttpPublisher::publish(Event event, PublishCallback done) {
  Impl& impl = *impl_;
  const HttpPublisherOptions& s = impl.options;
  Job job;
  job.done = std::move(done);
  if (s.settings.baseUrl.empty()) {
    impl.finish(job, PublishResult::rejected("publisher is off: base_url is empty"));
    return;
  }
  try {
    nlohmann::json payload;
    const bool bodyFields =
        s.body == HttpPublisherOptions::Body::Template && s.bodyTemplate.hasFields();
    if (s.path.hasFields() || bodyFields) {
      payload = nlohmann::json::parse(event.payload, nullptr, false);
      if (payload.is_discarded()) throw TemplateError("payload is not valid JSON");
    }
    const std::string path = s.path.render(payload);
    job.url = joinUrl(s.settings.baseUrl, path);
    job.redactedUrl = joinUrl(s.redactedBaseUrl, path.substr(0, path.find('?')));
    if (s.body == HttpPublisherOptions::Body::Envelope) job.body = toEnvelopeJson(event);
    if (s.body == HttpPublisherOptions::Body::Template) job.body = s.bodyTemplate.render(payload);
  } catch (const TemplateError& e) {
    impl.finish(job, PublishResult::rejected(e.what()));
    return;
  }

  std::size_t waiting = 0;
  {
    std::lock_guard lock(impl.mutex);
    if (impl.stopping) throw std::logic_error("HttpPublisher::publish during destruction");
    waiting = impl.queue.size();
    if (waiting < s.settings.queueLimit) {
      impl.queue.push_back(std::move(job));
      impl.queueLength.set(static_cast<double>(waiting + 1));
    }
  }
  if (waiting >= s.settings.queueLimit) {
    impl.finish(job, PublishResult::failed("queue full: " + std::to_string(waiting) +
                                           " events wait for " + impl.describe(job.redactedUrl)));
    return;
  }
  impl.wake.notify_one();
}

bool HttpPublisher::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mutex);
  return impl_->idle.wait_for(lock, timeout,
                              [this] { return impl_->queue.empty() && impl_->inFlight == 0; });
}

PublisherStatus HttpPublisher::status() const {
  if (impl_->settings.baseUrl.empty()) return {false, "base_url is empty"};
  return {};
}

}  // namespace commsvc::plugins::publisher_http
