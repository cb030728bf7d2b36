#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "commsvc/logger.hpp"
#include "commsvc/metrics.hpp"
#include "kafka/record.hpp"
#include "runtime/partition_tracker.hpp"
#include "runtime/router.hpp"

namespace commsvc::runtime {

/// A record on its way to the dead-letter topic.
struct DeadLetter {
  const std::string& key;
  const std::string& value;  ///< the original bytes
  const std::vector<Header>& headers;
  const std::string& topic;
  std::int32_t partition;
  std::int64_t offset;
  std::string_view reason;  ///< machine-readable, e.g. "not_json", "rejected"
  std::string_view detail;  ///< human-readable
};

/// Where records that cannot be handled go.
class DeadLetterSink {
 public:
  virtual ~DeadLetterSink() = default;
  /// Writes `letter` durably; blocks until it is acknowledged or failed
  /// (bounded by the sink's own timeout). Returns false on failure: the
  /// caller retries later, so nothing is lost.
  virtual bool send(const DeadLetter& letter) = 0;
};

/// How the dispatcher treats handler outcomes.
struct DispatcherSettings {
  std::size_t workers = 8;                           ///< worker threads
  int maxRetries = 5;                                ///< Retry outcomes before dead-lettering
  std::chrono::milliseconds retryBackoff{200};       ///< first backoff, doubled per attempt
  std::chrono::milliseconds retryBackoffMax{10000};  ///< backoff ceiling
  /// Waiting events of one BatchHandler a worker hands over at once at most.
  std::size_t batchSize = 50;
};

/// How a drain ended.
enum class DrainResult {
  Finished,   ///< everything queued was finished
  Abandoned,  ///< the deadline passed; unfinished records were abandoned
  Stuck,      ///< a handler still runs 2 s after the deadline; workers not joined
};

/// One record handed to a worker, with the tracker of its partition.
struct WorkItem {
  kafka::Record record;
  std::shared_ptr<PartitionTracker> tracker;
  /// The routes current when it was dispatched (set by dispatch()): a
  /// record is handled by the pipeline it was dispatched to, even when a
  /// reload swapped the routes meanwhile.
  std::shared_ptr<const Router> router;
};

/// A pool of workers that parse, route and handle records. Records with the
/// same key (or, without a key, the same partition) go to the same worker
/// and are handled in order; different keys run in parallel. dispatch()
/// never waits on a handler. Each record ends in exactly one of: handled,
/// unhandled (no handler for its type), dead-lettered — and is then marked
/// finished on its tracker — or abandoned at shutdown (not finished, so it
/// is redelivered).
class Dispatcher {
 public:
  /// Starts `settings.workers` threads. `router`, `sink`, `logger` and
  /// `metrics` must outlive the dispatcher.
  Dispatcher(const Router& router, DeadLetterSink& sink, DispatcherSettings settings,
             Logger& logger, Metrics& metrics);
  /// Abandons queued work and joins the workers.
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  /// Hands `items` to their workers (moving them out; `items` is cleared),
  /// each to be handled through the routes current now.
  void dispatch(std::vector<WorkItem>& items);
  /// Routes records dispatched from now on through `router` (a reloaded
  /// pipeline). Records dispatched before still go through the routes they
  /// were dispatched with, which stay alive while any such record is queued
  /// or handled: the owner of the old routes waits until it holds the last
  /// reference before destroying them.
  void setRouter(std::shared_ptr<const Router> router);
  /// Records handed over and not yet finished or abandoned.
  std::size_t pending() const { return pending_.load(std::memory_order_acquire); }
  /// Lets workers finish what is queued until `deadline`, then abandons the
  /// rest (interrupting retry backoffs) and joins the workers. On Stuck
  /// the workers are not joined: the caller must end the process rather
  /// than unload plugins.
  DrainResult drain(std::chrono::steady_clock::time_point deadline);

 private:
  // The per-type metrics of one routed event type.
  struct TypeMetrics {
    Counter* consumed;    // events_consumed_total{type}
    Histogram* duration;  // handler_duration_seconds{type}
  };
  struct TypeHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Worker {
    std::mutex mutex;
    std::condition_variable wake;
    std::vector<WorkItem> queue;
    std::thread thread;
    // Metrics of the routed types this worker has seen; its thread only, so
    // no lock per event (the registry's lock is taken once per type).
    std::unordered_map<std::string, TypeMetrics, TypeHash, std::equal_to<>> typeMetrics;
  };

  void workerLoop(Worker& worker);
  // Processes items[begin] and, when its handler takes batches, the items
  // after it that go to the same handler; returns how many it consumed.
  std::size_t processFrom(Worker& worker, std::vector<WorkItem>& items, std::size_t begin);
  // Hands items[begin..] of a BatchHandler to it (items[begin] is parsed
  // into `first` and entered); returns how many items it consumed.
  std::size_t processBatch(Worker& worker, std::vector<WorkItem>& items, std::size_t begin,
                           Event first, BatchHandler& handler);
  // Applies `result` (the outcome of attempt `attempt`) to `event`, retrying
  // it through handle() while it asks for a retry.
  void complete(Worker& worker, const kafka::Record& record, PartitionTracker& tracker,
                const Event& event, Handler& handler, HandleResult result, int attempt);
  TypeMetrics& typeMetrics(Worker& worker, std::string_view type);
  bool deadLetter(const DeadLetter& letter, PartitionTracker& tracker);
  bool sleepUnlessAbandoned(std::chrono::milliseconds duration);
  void notifyState();
  std::size_t workerFor(const kafka::Record& record) const;

  std::mutex routerMutex_;
  std::shared_ptr<const Router> router_;  // guarded by routerMutex_
  DeadLetterSink& sink_;
  DispatcherSettings settings_;
  Logger& logger_;
  Counter& received_;
  Counter& handled_;
  Counter& unhandled_;
  Counter& deadLettered_;
  Counter& retries_;
  Metrics& metrics_;
  Counter& consumedUnhandled_;  // events_consumed_total{type="unhandled"}

  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::vector<WorkItem>> scratch_;  // per-worker batch, dispatch() thread only
  std::atomic<std::size_t> pending_{0};
  std::atomic<std::size_t> exited_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> abandon_{false};
  std::mutex stateMutex_;
  std::condition_variable stateChanged_;
  bool joined_ = false;
};

}  // namespace commsvc::runtime
