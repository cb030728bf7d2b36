#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "commsvc/channel.hpp"
#include "commsvc/event.hpp"
#include "commsvc/http.hpp"
#include "commsvc/logger.hpp"
#include "commsvc/metrics.hpp"
#include "commsvc/publisher.hpp"
#include "commsvc/shutdown.hpp"

namespace commsvc {

class Database;
class Outbox;

/// The Kafka settings of the pipeline, for plugins that talk to Kafka.
struct KafkaSettings {
  std::string brokers;          ///< bootstrap servers (the embedded broker's address when embedded)
  std::string topic;            ///< the events topic
  std::string group;            ///< the consumer group
  std::string deadLetterTopic;  ///< where invalid events go
  /// librdkafka properties every client of this pipeline must use
  /// (security.protocol, sasl.*, ssl.*, ...), from the `kafka.properties` block.
  std::vector<std::pair<std::string, std::string>> properties;
};

/// A plugin's handle on the engine's one Kafka producer (idempotent,
/// acks=all, delivery report per record; the same librdkafka client the
/// dead-letter path uses). Thread-safe. Destroying the handle reports every
/// record it sent that is still unreported as failed ("producer handle
/// closed") and drops its later report, so no callback runs after it.
class KafkaProducer {
 public:
  virtual ~KafkaProducer() = default;

  /// Queues one record (waiting while librdkafka's local queue is full);
  /// `done` (may be empty) runs once with the broker's answer, on the
  /// producer's thread. An empty key is sent as no key.
  virtual void send(std::string_view topic, std::string_view key, std::string_view value,
                    const std::vector<Header>& headers, PublishCallback done) = 0;
  /// Waits until every record sent through this handle is reported or
  /// `timeout` passes; true when none is left.
  virtual bool flush(std::chrono::milliseconds timeout) = 0;
};

/// What the engine offers a plugin instance while it is created and for its
/// whole life. Owned by the engine; outlives every plugin object.
class Context {
 public:
  virtual ~Context() = default;

  /// The instance's name in pipelines.yaml, e.g. "channels.smtp" or "handlers[0]".
  virtual const std::string& instanceName() const = 0;
  /// A logger whose lines name this instance.
  virtual Logger& logger() = 0;
  /// The engine's metrics registry.
  virtual Metrics& metrics() = 0;
  /// For handlers: the channel named by `channel:` in the handler entry, or
  /// nullptr when the entry names none. Always nullptr for other kinds.
  virtual Channel* channel() = 0;
  /// For handlers: the publisher named by `publisher:`, or nullptr.
  virtual Publisher* publisher() = 0;
  /// The pipeline's Kafka settings.
  virtual const KafkaSettings& kafka() const = 0;
  /// A new handle on the engine's shared Kafka producer (configured from
  /// kafka.brokers, kafka.properties and kafka.producer_properties), or
  /// nullptr when the engine has none (tests, tools): the plugin then makes
  /// its own. Keep it no longer than the plugin object.
  virtual std::unique_ptr<KafkaProducer> kafkaProducer() { return nullptr; }
  /// The PostgreSQL pool (include commsvc/database.hpp), or nullptr when
  /// `database.url` is empty. Connects lazily: never fails here.
  virtual Database* database() = 0;
  /// For handlers with a `publisher:` and a database: the outbox whose
  /// events go to that publisher (include commsvc/outbox.hpp); else nullptr.
  virtual Outbox* outbox() = 0;
  /// The outbox whose events go to the publisher named `publisher` in
  /// pipelines.yaml (any publisher, not only the handler's own), for events
  /// a plugin sends somewhere else (e.g. the patient service). nullptr when
  /// there is no database or the publisher is configured off
  /// (Publisher::status()); throws ConfigError when pipelines.yaml declares
  /// no publisher of that name.
  virtual Outbox* outboxFor(const std::string& publisher) = 0;
  /// Runs `job` every `interval` on the engine's scheduler thread, first
  /// soon after the pipeline starts, until shutdown begins (a running job is
  /// waited for before plugins are destroyed). A job never overlaps itself;
  /// an exception it throws is logged and the job runs again next interval.
  /// Call only from a factory: once the pipeline started (every factory
  /// returned) it throws std::logic_error naming the instance and the call.
  /// A pipeline reload builds a fresh Context, so the rule holds per Context.
  virtual void schedule(std::string name, std::chrono::milliseconds interval,
                        std::function<void()> job) = 0;
  /// As schedule(), and the job also runs soon whenever a transaction that
  /// ran `NOTIFY <channel>` (pg_notify; e.g. from a trigger) commits on the
  /// pipeline's database — from any connection or instance — and after the
  /// engine's listener reconnects (notifications in between are lost); a
  /// job that returns true (more work is waiting) runs again at once. The
  /// interval stays as the safety net. `channel`: lowercase letters, digits
  /// and '_'. Without a database (or an engine: this default) the job only
  /// runs on its interval, draining while it returns true.
  virtual void scheduleOnNotify(std::string name, std::chrono::milliseconds interval,
                                std::string channel, std::function<bool()> job) {
    (void)channel;
    schedule(std::move(name), interval, [job = std::move(job)] {
      while (job()) {
      }
    });
  }
  /// Serves `method` requests for `pattern` on the engine's HTTP server
  /// (port `http.port`). Patterns are paths whose segments may be
  /// parameters: "/api/emails/{id}". Throws std::invalid_argument when the
  /// same method and pattern are registered twice. Call only from a
  /// factory: once the pipeline started it throws std::logic_error naming
  /// the instance and the call (as schedule).
  virtual void addRoute(std::string method, std::string pattern, HttpHandler handler) = 0;
  /// The engine's stop signal: long-running work checks it and stops between
  /// units of work once shutdown begins. The default is a signal that is
  /// never requested (for contexts without an engine).
  virtual const Shutdown& shutdown() {
    static const Shutdown never;
    return never;
  }
};

}  // namespace commsvc
