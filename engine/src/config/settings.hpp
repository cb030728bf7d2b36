#pragma once

// The engine's own sections of pipelines.yaml as typed settings, each field
// bound once to its key (engine_options.cpp); loadPipeline() fills them.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "commsvc/options.hpp"

namespace commsvc::config {

/// `engine:`
struct EngineSettings {
  int workers = 8;                                   ///< threads running handlers
  std::size_t maxInFlight = 10000;                   ///< dispatched, not committed
  std::chrono::milliseconds shutdownTimeout{10000};  ///< drain bound on SIGTERM
  int maxRetries = 5;                                ///< handler retries before dead-lettering
  int batchSize = 50;  ///< waiting events a worker hands a BatchHandler at once at most
  std::chrono::milliseconds retryBackoff{200};        ///< first retry delay
  std::chrono::milliseconds retryBackoffMax{10000};   ///< retry delay cap
  std::vector<std::string> pluginDirs;                ///< extra plugin directories, as written
  std::string serviceName = "communication-service";  ///< producer name on events
  std::chrono::milliseconds reloadTimeout{30000};     ///< bound of one pipeline reload
  std::chrono::milliseconds pauseAfter{500};          ///< full window before pausing
  std::chrono::milliseconds maxBacklogWait{5000};     ///< prefetch drain bound before pausing
};

/// `kafka:`
struct KafkaSettings {
  std::string brokers;                                       ///< servers, or "embedded"
  std::string topic = "communication-events";                ///< consumed topic
  std::string group = "communication-service";               ///< consumer group
  std::string deadLetterTopic = "communication-events.dlq";  ///< dead-letter topic
  int embeddedPartitions = 3;                                ///< embedded broker's partitions
  std::string bootstrapFile = ".commsvc/kafka-bootstrap";    ///< embedded broker's address file
  std::chrono::milliseconds commitInterval{200};             ///< offset commit period
  std::size_t pollBatch = 1000;                              ///< records per poll
  std::map<std::string, std::string> properties;             ///< librdkafka, every client
  std::map<std::string, std::string> consumerProperties;     ///< librdkafka, consumer
  std::map<std::string, std::string> producerProperties;     ///< librdkafka, producers
};

/// `database:`
struct DatabaseSettings {
  std::string url;                                    ///< libpq URL; empty = none
  int poolSize = 4;                                   ///< connections
  std::chrono::seconds connectTimeout{5};             ///< per connection attempt
  bool genericPlans = true;                           ///< plan_cache_mode = force_generic_plan
  std::size_t outboxBatchSize = 500;                  ///< relay rows per pass
  std::chrono::milliseconds outboxBackoffMax{10000};  ///< relay pause cap
  int outboxMaxRejections = 5;                        ///< rejections before dead-lettering
  std::chrono::seconds outboxRetention{0};            ///< keep published rows; 0 = delete
};

/// `http:`
struct HttpSettings {
  std::uint16_t port = 8004;                      ///< 0 = any free port
  std::string address = "0.0.0.0";                ///< listen address
  int threads = 2;                                ///< I/O threads
  int handlerThreads = 8;                         ///< route handler threads
  std::size_t handlerQueue = 64;                  ///< requests waiting for a handler
  std::size_t bodyLimitBytes = 1048576;           ///< larger bodies get 413
  std::chrono::milliseconds readTimeout{10000};   ///< whole request / keep-alive idle
  std::chrono::milliseconds writeTimeout{10000};  ///< one response
  std::string adminAddress = "127.0.0.1:8005";    ///< admin listener (reload); "" = off
  std::string adminToken;                         ///< bearer token the admin routes require
};

/// The engine's sections together.
struct Settings {
  EngineSettings engine;      ///< `engine:`
  KafkaSettings kafka;        ///< `kafka:`
  DatabaseSettings database;  ///< `database:`
  HttpSettings http;          ///< `http:`
};

/// The keys of the engine's sections ("kafka.brokers", ...) whose values
/// differ between `running` and `next` and that a reload cannot apply: all
/// but engine.plugin_dir (plugins are loaded per pipeline). Secrets are
/// compared too, never shown.
std::vector<std::string> restartOnlyChanges(const Settings& running, const Settings& next);

/// Option declarations of the engine's own sections, for validation and
/// for `commsvc plugins`.
std::span<const OptionSpec> engineOptions();    ///< `engine:`
std::span<const OptionSpec> kafkaOptions();     ///< `kafka:`
std::span<const OptionSpec> databaseOptions();  ///< `database:`
std::span<const OptionSpec> httpOptions();      ///< `http:`

}  // namespace commsvc::config
