#pragma once

// The communication service as the platform runs it, for end-to-end tests
// over real HTTP: the commsvc binary with the email and phonecall plugins,
// a real PostgreSQL, a broker process and a real SMTP server (or the mock
// channel), the HTTP API on a free port.

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../support/postgres.hpp"
#include "harness.hpp"

namespace commsvc::integration {

/// How an ApiService is configured.
struct ApiServiceOptions {
  std::string name = "api";                   ///< scratch directory name
  std::vector<std::string> sinkArgs;          ///< SMTP sink arguments, e.g. {"--delay-ms", "3000"}
  bool mockChannel = false;                   ///< the mock channel (a file) instead of SMTP
  int partitions = 3;                         ///< partitions of the events topic
  std::optional<int> bodyLimitBytes = 65536;  ///< http.body_limit_bytes (nullopt: the default)
  std::string httpExtra;                      ///< more keys of the http: block
  std::string databaseExtra;                  ///< more keys of the database: block
  int queueCheckIntervalS = 3600;             ///< the email queue processor's interval
  std::vector<std::string> plugins;           ///< more plugins to load, e.g. "publisher-http"
  std::string publishersYaml;                 ///< more publisher entries ("  name: {...}\n" lines)
  std::string handlerExtra;                   ///< more keys for both handlers, e.g. "a: 1, b: 2"
};

/// The service with its HTTP API on a free port; stopped (SIGTERM) at the end.
class ApiService {
 public:
  /// Starts PostgreSQL, the broker, the SMTP sink and the engine; throws when
  /// the engine does not listen within 30 s.
  explicit ApiService(ApiServiceOptions options = {});
  ~ApiService();
  ApiService(const ApiService&) = delete;
  ApiService& operator=(const ApiService&) = delete;

  /// Sends SIGTERM (once) and returns the exit code, nullopt when the
  /// process did not exit within 15 s.
  std::optional<int> stop();

  /// Whether the engine process still runs.
  bool alive();

  /// Status code and parsed body (the raw text as a JSON string when it is
  /// no JSON) of one request with curl.
  std::pair<int, nlohmann::json> call(const std::string& method, const std::string& path,
                                      const std::string& body = "");

  /// The payloads of the `type` events on the topic with key `key`,
  /// waiting up to 20 s for `count` of them.
  std::vector<nlohmann::json> events(const std::string& type, const std::string& key,
                                     std::size_t count);

  /// The engine's log so far.
  std::string log() const { return engine_->log(); }

  ScratchDir dir_;                       ///< scratch directory (config, logs, mock outbox)
  testing::TemporaryPostgres postgres_;  ///< the service's database
  BrokerProcess broker_;                 ///< the Kafka-protocol broker
  std::unique_ptr<SmtpSink> sink_;       ///< the SMTP server (null with mockChannel)
  std::unique_ptr<Process> engine_;      ///< the commsvc process
  int port_ = 0;                         ///< the HTTP port

 private:
  bool stopped_ = false;
  std::optional<int> exitCode_;
};

}  // namespace commsvc::integration
