#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "app/pipeline.hpp"
#include "commsvc/context.hpp"
#include "commsvc/database.hpp"
#include "commsvc/logger.hpp"
#include "commsvc/metrics.hpp"
#include "database/listener.hpp"
#include "http/health.hpp"
#include "http/route_table.hpp"
#include "kafka/producer.hpp"
#include "outbox/relay.hpp"
#include "runtime/router.hpp"

namespace commsvc::app {

/// What the long-lived engine lends to every pipeline it runs. Outlives
/// each RunningPipeline.
struct EngineServices {
  Metrics& metrics;             ///< the process's metrics
  Logger& logger;               ///< the engine's logger
  const KafkaSettings& kafka;   ///< as plugins see it (Context::kafka())
  Database* database;           ///< nullptr without database.url
  outbox::RelaySettings relay;  ///< the outbox relay's settings
  /// The engine's one Kafka producer (Context::kafkaProducer() hands out
  /// handles on it); nullptr for none.
  kafka::RawProducer* producer = nullptr;
  /// Wakes jobs (Context::scheduleOnNotify) and the outbox relay on
  /// database notifications; nullptr without a database.
  database::Listener* listener = nullptr;
};

/// The part of the engine a reload replaces as a whole: the plugin
/// instances built from one validated pipelines.yaml (publishers, channels,
/// handlers, each with a fresh Context), their outbox relay and outboxes,
/// their periodic jobs, HTTP routes and readiness checks, and the routes
/// from event types to handlers. The Kafka consumer, the workers, the
/// database pool and the HTTP server are the engine's and outlive it.
class RunningPipeline {
 public:
  /// Runs every factory in the order publishers, channels, handlers; then
  /// Context::schedule/addRoute throw. Throws config::ConfigErrors naming
  /// the block whose factory refused. Nothing runs yet (see start()).
  RunningPipeline(ValidatedPipeline pipeline, const EngineServices& services);
  /// Stops (now) what start() started, then destroys the plugin instances
  /// before their libraries.
  ~RunningPipeline();
  RunningPipeline(const RunningPipeline&) = delete;
  RunningPipeline& operator=(const RunningPipeline&) = delete;

  /// The validated file it was built from.
  const config::PipelineConfig& config() const { return pipeline_.config; }
  /// Event type → handler.
  const runtime::Router& router() const { return router_; }
  /// The routes the plugins registered; the first call takes them.
  std::vector<http::Route> takeRoutes();
  /// Readiness of every channel a handler uses and of every publisher.
  /// The probes point into this pipeline: keep it alive while they run.
  std::vector<http::HealthCheck> healthChecks() const;
  /// Number of handlers.
  std::size_t handlerCount() const { return handlers_.size(); }

  /// Starts the outbox relay and the periodic jobs.
  void start();
  /// Asks the plugins' long work (a queue batch, a retry loop) to stop by
  /// `deadline` (Context::shutdown()).
  void requestShutdown(std::chrono::steady_clock::time_point deadline);
  /// Stops the periodic jobs (waiting for a running one), publishes what the
  /// outbox holds until `deadline` (the rest stays for the next relay) and
  /// flushes the publishers until `deadline`. Idempotent.
  void stop(std::chrono::steady_clock::time_point deadline);

  struct Shared;  ///< what its Contexts share (public for the Context type)

 private:
  template <typename T>
  struct Instance;

  void buildPublishers();
  void buildOutboxes();
  void buildChannels();
  void buildHandlers();

  ValidatedPipeline pipeline_;  // first: the plugin libraries are unloaded last
  EngineServices services_;
  std::unique_ptr<Shared> shared_;
  std::map<std::string, std::unique_ptr<Instance<Publisher>>> publishers_;
  std::map<std::string, std::unique_ptr<Instance<Channel>>> channels_;
  std::unique_ptr<outbox::OutboxRelay> relay_;
  std::map<std::string, std::unique_ptr<Outbox>> outboxes_;  // by publisher
  std::vector<std::unique_ptr<Instance<Handler>>> handlers_;
  runtime::Router router_;
  bool started_ = false;
  bool stopped_ = false;
  std::vector<std::uint64_t> subscriptions_;  // on services_.listener, while started
};

}  // namespace commsvc::app
