#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "app/pipeline.hpp"
#include "database/migrations.hpp"

namespace commsvc::app {

/// How a run ended.
enum class RunResult {
  Drained,   ///< stopped, all in-flight work finished and committed
  TimedOut,  ///< stopped at the shutdown bound; some work will be redelivered
  Stuck,     ///< a handler did not return: plugins must not be unloaded
};

/// What a reload did.
struct ReloadResult {
  bool ok = false;         ///< the new pipeline runs
  std::string message;     ///< why it was refused (every problem, with file:line), or "reloaded"
  std::string configHash;  ///< SHA-256 of the file now in use (hex)
};

/// A running engine: the parts that live as long as the process (the
/// embedded broker when `brokers: embedded`, the PostgreSQL pool, the
/// dead-letter producer, the worker pool, the consumer loop, the HTTP
/// server, the admin listener and the readiness checks) and the current
/// RunningPipeline (plugin instances, outbox relay, jobs, routes), which a
/// reload replaces between records.
class Engine {
 public:
  /// Instantiates everything (plugin factories run here). When
  /// `database.url` is set, creates the PostgreSQL pool (connecting lazily)
  /// handed to every plugin and, when `migrate` is true, first applies the
  /// pending migrations of the engine (its outbox table) and of the plugins
  /// (database::MigrationError when refused).
  /// Throws config::ConfigErrors when a factory refuses its configuration,
  /// naming the block, and std::runtime_error for other start-up failures.
  explicit Engine(ValidatedPipeline pipeline, bool migrate = true);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  /// How reload() reads the file again (validatePipeline with the same
  /// path and plugin directories). Without it, reload() is refused.
  void setReloadSource(std::function<ValidatedPipeline()> load);

  /// Re-reads pipelines.yaml (SIGHUP, POST /admin/reload): validates it,
  /// refuses changes a running engine cannot apply (kafka, database, http,
  /// engine sections but engine.plugin_dir: "restart needed"), builds the
  /// new pipeline (new plugins loaded, migrations applied, factories run),
  /// then swaps between records: records already dispatched finish on the
  /// old pipeline, later ones go to the new one; HTTP routes and readiness
  /// checks swap likewise; the old pipeline's jobs and outbox are stopped
  /// after its records are done, then the new one's start. Nothing is
  /// consumed twice or skipped: the consumer keeps running, offsets are
  /// committed as before. A refused file changes nothing. Bounded by
  /// engine.reload_timeout_ms. One reload at a time; only while run() runs.
  /// Logs the outcome with the file's hash and counts it in
  /// config_reloads_total{result}.
  ReloadResult reload(const std::string& trigger);

  /// SHA-256 (hex) of the pipelines.yaml in use.
  std::string configHash() const;

  /// Consumes until `stop` becomes true, then drains within
  /// engine.shutdown_timeout_ms, commits and flushes publishers.
  RunResult run(const std::atomic<bool>& stop);

 private:
  struct State;

  // The build steps, in the constructor's order. The pipeline itself
  // (plugin instances with their outboxes, routes and jobs) is a
  // RunningPipeline, built by buildPipeline and again by each reload; the
  // others make the parts that live as long as the process.
  void openDatabase(bool migrate);  ///< the PostgreSQL pool (when database.url), then migrations
  void prepareKafka();      ///< Kafka settings plugins see; the embedded broker when asked for
  void buildPipeline();     ///< publishers, outboxes, channels, handlers of the first file
  void buildProducer();     ///< the one Kafka producer (dead letters, `kafka` publishers)
  void buildDeadLetters();  ///< the dead-letter sink on that producer
  void buildDispatcher();   ///< the worker pool running handlers, with retries
  void buildConsumer();     ///< the consumer loop on the events topic
  void buildHealth();       ///< readiness checks: database, Kafka, channels, publishers
  void buildHttpServer();   ///< plugin routes plus /livez, /readyz, /health, /metrics
  void buildAdmin();        ///< the admin listener (POST /admin/reload), when configured
  void logReady() const;    ///< the "pipeline ready" line

  std::unique_ptr<State> state_;
};

/// The migrations every plugin of `pipeline` ships (by PluginInfo::name);
/// plugins that ship none are left out.
std::vector<database::PluginMigrations> pluginMigrations(const ValidatedPipeline& pipeline);

/// `commsvc migrate`: applies the pending migrations of the engine and the
/// pipeline's plugins through a pool built from its `database:` block and returns what
/// was applied. Throws std::runtime_error when plugins ship migrations but
/// `database.url` is empty, database::MigrationError when refused or failed.
std::vector<database::AppliedMigration> migratePipeline(const ValidatedPipeline& pipeline);

}  // namespace commsvc::app
