#pragma once

// The `http` publisher: one HTTP request per published event (method, URL
// and body from templates filled with the event's payload), made by a few
// worker threads with their own libcurl handles (kept-alive connections).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "commsvc/config.hpp"
#include "commsvc/event.hpp"
#include "commsvc/logger.hpp"
#include "commsvc/metrics.hpp"
#include "commsvc/publisher.hpp"
#include "templates.hpp"

namespace commsvc::plugins::publisher_http {

/// The options of an `http` publisher block, declared once (the descriptor
/// lists them; resolveSettings reads them).
inline constexpr OptionSpec kOptions[] = {
    {"base_url", OptionType::String, "",
     "scheme://host[:port][/prefix] of the receiver (http or https); empty = publisher off "
     "(write \"${SERVICE_URL:-}\")"},
    {"path", OptionType::String, "",
     "appended to base_url; {field} = the payload's top-level field (string or integer), "
     "percent-encoded; '{{' and '}}' are literal braces"},
    {.name = "method",
     .type = OptionType::String,
     .defaultValue = "POST",
     .description = "HTTP method",
     .choices = "GET|POST|PUT|PATCH|DELETE"},
    {"body", OptionType::String, "",
     "request body template; {field} = the JSON form of a payload field (its escaped text "
     "inside a JSON string), e.g. '{\"date\": {date}}'; empty = the event's JSON envelope "
     "(POST/PUT/PATCH) or no body (GET/DELETE)"},
    {.name = "headers",
     .type = OptionType::StringMap,
     .defaultValue = "",
     .description = "extra request headers (values may hold tokens: \"Bearer ${TOKEN}\"); "
                    "Content-Type defaults to application/json when a body is sent",
     .secret = true},
    {.name = "timeout_ms",
     .type = OptionType::Integer,
     .defaultValue = "5000",
     .description = "bound of one whole request (connect, send, answer), in milliseconds",
     .min = 1,
     .max = 600000},
    {.name = "connect_timeout_ms",
     .type = OptionType::Integer,
     .defaultValue = "2000",
     .description = "bound of connecting (TCP and TLS), in milliseconds",
     .min = 1,
     .max = 600000},
    {"verify_tls", OptionType::Boolean, "true",
     "verify the server certificate and host name (https)"},
    {"ca_file", OptionType::String, "",
     "PEM file of CA certificates to trust instead of the system's; empty = system CAs"},
    {.name = "connections",
     .type = OptionType::Integer,
     .defaultValue = "4",
     .description = "worker threads, each with one kept-alive connection: requests at once",
     .min = 1,
     .max = 64},
    {.name = "queue_limit",
     .type = OptionType::Integer,
     .defaultValue = "10000",
     .description = "events waiting for a worker at most; more fail at once with 'queue full'",
     .min = 1,
     .max = 10000000},
};

/// What an HttpPublisher needs, resolved and checked from its YAML block.
struct HttpPublisherSettings {
  /// Where requests go; empty = the publisher is off.
  std::string baseUrl;
  /// base_url without user info, for messages ("scheme://host[:port]/prefix").
  std::string redactedBaseUrl;
  std::string method = "POST";  ///< GET, POST, PUT, PATCH or DELETE
  Template path;                ///< appended to baseUrl
  /// What the body is.
  enum class Body {
    None,      ///< no body
    Envelope,  ///< the event's wire envelope (toEnvelopeJson)
    Template,  ///< `bodyTemplate` filled in
  };
  Body body = Body::Envelope;  ///< what is sent as the body
  Template bodyTemplate;       ///< when body == Template
  /// Every request header ("Name: value"), defaults included. Secret.
  std::vector<std::string> headers;
  std::chrono::milliseconds timeout{5000};         ///< bound of one request
  std::chrono::milliseconds connectTimeout{2000};  ///< bound of connecting
  bool verifyTls = true;                           ///< verify certificate and host name
  std::string caFile;                              ///< CA bundle; empty = the system's
  std::int64_t connections = 4;                    ///< worker threads (and connections)
  std::size_t queueLimit = 10000;                  ///< most events waiting for a worker
};

/// Reads and checks an `http` block (see kOptions). Throws ConfigError
/// starting with the option's name when a value is unusable: a base_url
/// that is not http(s) or holds a query or fragment, a bad path or body
/// template, a body with GET, a header name or value that cannot be sent
/// (the value is never quoted), an unreadable ca_file.
HttpPublisherSettings resolveSettings(const Config& config);

/// Publishes each event as one HTTP request and reports the outcome; does
/// not retry (the outbox relay does). publish() never waits for the
/// network: events queue for `connections` worker threads, each reusing one
/// libcurl handle and so its kept-alive connection. Outcomes: 2xx =
/// published; 408, 425, 429, 5xx and connection problems (refused, reset,
/// timeout, DNS, TLS) = failed; 3xx (redirects are not followed) and other
/// 4xx = rejected. Error texts name the method, the URL without user info
/// or query, the status and the start of the answer's body; never a header.
/// Thread-safe.
class HttpPublisher : public Publisher {
 public:
  /// Starts the workers (none when the publisher is off). `name` labels
  /// metrics and log lines (the instance name, e.g. "publishers.patients").
  /// `logger` and `metrics` must outlive the publisher.
  HttpPublisher(HttpPublisherSettings settings, Logger& logger, Metrics& metrics, std::string name);
  /// Reports every event still waiting as failed("publisher stopped"),
  /// lets requests under way finish (each bounded by the timeout) and stops
  /// the workers.
  ~HttpPublisher() override;
  HttpPublisher(const HttpPublisher&) = delete;
  HttpPublisher& operator=(const HttpPublisher&) = delete;

  /// Builds the request from `event` and queues it. Reports at once, on the
  /// calling thread: rejected when the publisher is off or the payload does
  /// not fill the templates (not JSON, a field missing), failed("queue
  /// full") when queue_limit events wait already. Otherwise `done` runs on a
  /// worker thread with the request's outcome. Never throws for HTTP errors.
  void publish(Event event, PublishCallback done) override;

  /// Waits until every queued event is reported or `timeout` passes.
  bool flush(std::chrono::milliseconds timeout) override;

  /// Off ("base_url is empty") when no base_url is configured.
  PublisherStatus status() const override;

  /// The URL an event is sent to, without user info or query (for tests
  /// and messages). Throws TemplateError as publish() would reject.
  std::string redactedUrlFor(const Event& event) const;

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace commsvc::plugins::publisher_http
