#pragma once

// The `http` publisher: one HTTP request per published event (method, URL
// and body from templates filled with the event's payload), made by a few
// worker threads with their own libcurl handles (kept-alive connections).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "commsvc/config.hpp"
#include "commsvc/event.hpp"
#include "commsvc/logger.hpp"
#include "commsvc/metrics.hpp"
#include "commsvc/options.hpp"
#include "commsvc/publisher.hpp"
#include "templates.hpp"

namespace commsvc::plugins::publisher_http {

/// The HTTP method of the requests.
enum class HttpMethod { Get, Post, Put, Patch, Delete };

/// The texts of the `method` option.
inline constexpr OptionChoice kHttpMethods[] = {
    choice("GET", HttpMethod::Get),       choice("POST", HttpMethod::Post),
    choice("PUT", HttpMethod::Put),       choice("PATCH", HttpMethod::Patch),
    choice("DELETE", HttpMethod::Delete),
};

/// The text of `method`, as sent ("PATCH").
const char* methodName(HttpMethod method);

/// Settings of an `http` publisher: the options of its YAML block
/// (kOptions), as written; resolveOptions checks them.
struct HttpPublisherSettings {
  std::string baseUrl;                             ///< scheme://host[:port][/prefix]; empty = off
  std::string path;                                ///< path template appended to baseUrl
  HttpMethod method = HttpMethod::Post;            ///< the requests' method
  std::string body;                                ///< body template; empty = envelope or none
  std::map<std::string, std::string> headers;      ///< extra request headers. Secret.
  std::chrono::milliseconds timeout{5000};         ///< bound of one request
  std::chrono::milliseconds connectTimeout{2000};  ///< bound of connecting
  bool verifyTls = true;                           ///< verify certificate and host name
  std::string caFile;                              ///< CA bundle; empty = the system's
  std::int64_t connections = 4;                    ///< worker threads (and connections)
  std::size_t queueLimit = 10000;                  ///< most events waiting for a worker
};

/// The options of an `http` publisher block, each bound to its
/// HttpPublisherSettings field.
inline constexpr auto kOptions = optionList(
    Option<HttpPublisherSettings>::field<&HttpPublisherSettings::baseUrl>(
        "base_url",
        "scheme://host[:port][/prefix] of the receiver (http or https); empty = publisher off "
        "(write \"${SERVICE_URL:-}\")"),
    Option<HttpPublisherSettings>::field<&HttpPublisherSettings::path>(
        "path",
        "appended to base_url; {field} = the payload's top-level field (string or integer), "
        "percent-encoded; '{{' and '}}' are literal braces"),
    Option<HttpPublisherSettings>::field<&HttpPublisherSettings::method>("method", "HTTP method")
        .choices(kHttpMethods),
    Option<HttpPublisherSettings>::field<&HttpPublisherSettings::body>(
        "body",
        "request body template; {field} = the JSON form of a payload field (its escaped text "
        "inside a JSON string), e.g. '{\"date\": {date}}'; empty = the event's JSON envelope "
        "(POST/PUT/PATCH) or no body (GET/DELETE)"),
    Option<HttpPublisherSettings>::field<&HttpPublisherSettings::headers>(
        "headers",
        "extra request headers (values may hold tokens: \"Bearer ${TOKEN}\"); "
        "Content-Type defaults to application/json when a body is sent")
        .secret(),
    Option<HttpPublisherSettings>::field<&HttpPublisherSettings::timeout>(
        "timeout_ms", "bound of one whole request (connect, send, answer), in milliseconds")
        .range(1, 600000),
    Option<HttpPublisherSettings>::field<&HttpPublisherSettings::connectTimeout>(
        "connect_timeout_ms", "bound of connecting (TCP and TLS), in milliseconds")
        .range(1, 600000),
    Option<HttpPublisherSettings>::field<&HttpPublisherSettings::verifyTls>(
        "verify_tls", "verify the server certificate and host name (https)"),
    Option<HttpPublisherSettings>::field<&HttpPublisherSettings::caFile>(
        "ca_file",
        "PEM file of CA certificates to trust instead of the system's; empty = system CAs"),
    Option<HttpPublisherSettings>::field<&HttpPublisherSettings::connections>(
        "connections", "worker threads, each with one kept-alive connection: requests at once")
        .range(1, 64),
    Option<HttpPublisherSettings>::field<&HttpPublisherSettings::queueLimit>(
        "queue_limit", "events waiting for a worker at most; more fail at once with 'queue full'")
        .range(1, 10000000));

/// What an HttpPublisher needs: its settings, checked, with the templates
/// parsed and the header lines built.
struct HttpPublisherOptions {
  HttpPublisherSettings settings;  ///< as configured
  /// base_url without user info, for messages ("scheme://host[:port]/prefix").
  std::string redactedBaseUrl;
  Template path;  ///< appended to baseUrl
  /// What the body is.
  enum class Body {
    None,      ///< no body
    Envelope,  ///< the event's wire envelope (toEnvelopeJson)
    Template,  ///< `bodyTemplate` filled in
  };
  Body body = Body::Envelope;  ///< what is sent as the body
  Template bodyTemplate;       ///< when body == Template
  /// Every request header ("Name: value"), defaults included. Secret.
  std::vector<std::string> headerLines;
};

/// Checks `settings` and prepares them (see HttpPublisherOptions). Throws
/// ConfigError starting with the option's name when a value is unusable: a
/// base_url that is not http(s) or holds a query or fragment, a bad path or
/// body template, a body with GET, a header name or value that cannot be
/// sent (the value is never quoted), an unreadable ca_file.
HttpPublisherOptions resolveOptions(const HttpPublisherSettings& settings);

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
  HttpPublisher(HttpPublisherOptions options, Logger& logger, Metrics& metrics, std::string name);
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
