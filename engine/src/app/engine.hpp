#pragma once

#include <atomic>
#include <memory>

#include "app/pipeline.hpp"

namespace commsvc::app {

/// How a run ended.
enum class RunResult {
  Drained,   ///< stopped, all in-flight work finished and committed
  TimedOut,  ///< stopped at the shutdown bound; some work will be redelivered
  Stuck,     ///< a handler did not return: plugins must not be unloaded
};

/// A running pipeline: the embedded broker (when `brokers: embedded`),
/// publishers, channels, handlers, the dead-letter producer, the worker pool
/// and the consumer loop, built from a validated pipeline.
class Engine {
 public:
  /// Instantiates everything (plugin factories run here). Throws
  /// config::ConfigErrors when a factory refuses its configuration, naming
  /// the block, and std::runtime_error for other start-up failures.
  explicit Engine(ValidatedPipeline pipeline);
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

}  // namespace commsvc::app
