#pragma once

#include <atomic>
#include <memory>
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

/// A running pipeline: the embedded broker (when `brokers: embedded`), the
/// PostgreSQL pool and outbox relay (when `database.url` is set), publishers,
/// channels, handlers, periodic jobs, the dead-letter producer, the worker
/// pool and the consumer loop, built from a validated pipeline.
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

  /// Consumes until `stop` becomes true, then drains within
  /// engine.shutdown_timeout_ms, commits and flushes publishers.
  RunResult run(const std::atomic<bool>& stop);

 private:
  struct State;
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
