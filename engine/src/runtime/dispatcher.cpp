#include "runtime/dispatcher.hpp"

#include <algorithm>
#include <functional>

#include "commsvc/backoff.hpp"
#include "kafka/envelope.hpp"

namespace commsvc::runtime {
namespace {

constexpr const char* kConsumedName = "events_consumed_total";
constexpr const char* kConsumedHelp =
    "Events consumed by type (type=\"unhandled\" when no handler takes it)";

// Work vectors keep their buffers from round to round, so a steady load
// does not allocate; a buffer a burst grew past this many items is freed
// once emptied (a 5,000-record burst left ~170 KB per vector resident).
constexpr std::size_t kKeptCapacity = 256;

// Empties `items`, freeing its buffer when a burst made it large.
void clearWork(std::vector<WorkItem>& items) {
  items.clear();
  if (items.capacity() > kKeptCapacity) std::vector<WorkItem>().swap(items);
}

}  // namespace

Dispatcher::TypeMetrics& Dispatcher::typeMetrics(Worker& worker, std::string_view type) {
  const auto it = worker.typeMetrics.find(type);
  if (it != worker.typeMetrics.end()) return it->second;
  // Only routed types get here, so the label set stays bounded.
  const MetricLabels labels{{"type", std::string(type)}};
  TypeMetrics created{
      &metrics_.counter(kConsumedName, kConsumedHelp, labels),
      &metrics_.histogram("handler_duration_seconds",
                          "Time handlers take per attempt, by event type", {}, labels)};
  return worker.typeMetrics.emplace(std::string(type), created).first->second;
}

Dispatcher::Dispatcher(const Router& router, DeadLetterSink& sink, DispatcherSettings settings,
                       Logger& logger, Metrics& metrics)
    : router_(&router, [](const Router*) {}),  // not owned
      sink_(sink),
      settings_(settings),
      logger_(logger),
      received_(metrics.counter("events_received_total", "Records taken from the source")),
      handled_(metrics.counter("events_handled_total", "Events a handler finished")),
      unhandled_(metrics.counter("events_unhandled_total",
                                 "Events skipped because no handler takes their type")),
      deadLettered_(metrics.counter("events_dead_lettered_total",
                                    "Records written to the dead-letter topic")),
      retries_(metrics.counter("handler_retries_total", "Retry outcomes of handlers")),
      metrics_(metrics),
      consumedUnhandled_(metrics.counter(kConsumedName, kConsumedHelp, {{"type", "unhandled"}})) {
  const std::size_t n = std::max<std::size_t>(1, settings_.workers);
  scratch_.resize(n);
  for (std::size_t i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>());
  for (auto& w : workers_) {
    Worker* worker = w.get();
    worker->thread = std::thread([this, worker] { workerLoop(*worker); });
  }
}

Dispatcher::~Dispatcher() {
  if (!joined_) drain(std::chrono::steady_clock::now());
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.detach();
  }
}

std::size_t Dispatcher::workerFor(const kafka::Record& record) const {
  const std::size_t h = record.key.empty() ? std::hash<std::int32_t>{}(record.partition) ^
                                                 std::hash<std::string>{}(record.topic)
                                           : std::hash<std::string>{}(record.key);
  return h % workers_.size();
}

void Dispatcher::setRouter(std::shared_ptr<const Router> router) {
  std::lock_guard lock(routerMutex_);
  router_ = std::move(router);
}

void Dispatcher::dispatch(std::vector<WorkItem>& items) {
  if (items.empty()) return;
  std::shared_ptr<const Router> router;
  {
    std::lock_guard lock(routerMutex_);
    router = router_;
  }
  pending_.fetch_add(items.size(), std::memory_order_acq_rel);
  for (auto& item : items) {
    item.router = router;
    scratch_[workerFor(item.record)].push_back(std::move(item));
  }
  clearWork(items);
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    auto& batch = scratch_[i];
    if (batch.empty()) continue;
    Worker& worker = *workers_[i];
    {
      std::lock_guard lock(worker.mutex);
      if (worker.queue.empty()) {
        worker.queue.swap(batch);
      } else {
        std::move(batch.begin(), batch.end(), std::back_inserter(worker.queue));
      }
    }
    clearWork(batch);
    worker.wake.notify_one();
  }
}

void Dispatcher::workerLoop(Worker& worker) {
  std::vector<WorkItem> local;
  for (;;) {
    {
      std::unique_lock lock(worker.mutex);
      worker.wake.wait(
          lock, [&] { return !worker.queue.empty() || stopping_.load() || abandon_.load(); });
      if (abandon_.load() || (worker.queue.empty() && stopping_.load())) break;
      local.swap(worker.queue);
    }
    for (std::size_t i = 0; i < local.size();) {
      if (abandon_.load(std::memory_order_relaxed)) break;
      i += processFrom(worker, local, i);
    }
    // Whatever was not processed is abandoned: not finished, so redelivered.
    pending_.fetch_sub(local.size(), std::memory_order_acq_rel);
    clearWork(local);
  }
  {
    std::lock_guard lock(worker.mutex);
    pending_.fetch_sub(worker.queue.size(), std::memory_order_acq_rel);
    worker.queue.clear();
  }
  exited_.fetch_add(1);
  notifyState();
}

void Dispatcher::notifyState() {
  { std::lock_guard lock(stateMutex_); }  // orders the change before a waiter's check
  stateChanged_.notify_all();
}

bool Dispatcher::sleepUnlessAbandoned(std::chrono::milliseconds duration) {
  std::unique_lock lock(stateMutex_);
  return !stateChanged_.wait_for(lock, duration, [&] { return abandon_.load(); });
}

bool Dispatcher::deadLetter(const DeadLetter& letter, PartitionTracker& tracker) {
  if (tracker.revoked()) return false;  // the new owner dead-letters it, once
  logger_.warn("dead-lettering record", {{"reason", std::string(letter.reason)},
                                         {"detail", std::string(letter.detail)},
                                         {"topic", letter.topic},
                                         {"partition", std::to_string(letter.partition)},
                                         {"offset", std::to_string(letter.offset)}});
  Backoff backoff(settings_.retryBackoff, settings_.retryBackoffMax);
  while (!sink_.send(letter)) {
    logger_.error("dead-letter write failed; retrying",
                  {{"offset", std::to_string(letter.offset)}});
    if (!sleepUnlessAbandoned(backoff.next())) return false;
  }
  deadLettered_.add();
  tracker.finished(letter.offset);
  return true;
}

namespace {

// Leaves every tracker it holds when it goes out of scope.
struct Entered {
  std::vector<PartitionTracker*> trackers;
  ~Entered() {
    for (PartitionTracker* t : trackers) t->leave();
  }
};

// handler.handle(event), an exception counting as Retry.
HandleResult handleOne(Handler& handler, const Event& event) {
  try {
    return handler.handle(event);
  } catch (const std::exception& e) {
    return HandleResult::retry(std::string("handler threw: ") + e.what());
  } catch (...) {
    return HandleResult::retry("handler threw a non-standard exception");
  }
}

// handler.handleBatch(events), an exception or a wrong number of results
// counting as Retry for every event.
std::vector<HandleResult> handleMany(BatchHandler& handler, std::span<const Event> events) {
  std::vector<HandleResult> results;
  try {
    results = handler.handleBatch(events);
  } catch (const std::exception& e) {
    return std::vector<HandleResult>(
        events.size(), HandleResult::retry(std::string("handler threw: ") + e.what()));
  } catch (...) {
    return std::vector<HandleResult>(events.size(),
                                     HandleResult::retry("handler threw a non-standard exception"));
  }
  if (results.size() != events.size()) {
    results.assign(events.size(),
                   HandleResult::retry("handler returned " + std::to_string(results.size()) +
                                       " results for a batch of " + std::to_string(events.size())));
  }
  return results;
}

}  // namespace

std::size_t Dispatcher::processFrom(Worker& worker, std::vector<WorkItem>& items,
                                    std::size_t begin) {
  WorkItem& item = items[begin];
  kafka::Record& record = item.record;
  PartitionTracker& tracker = *item.tracker;
  if (!tracker.enter()) return 1;  // revoked: the partition's new owner will handle it
  Entered entered{{&tracker}};
  received_.add();

  Event event;
  std::string detail;
  const auto error = kafka::parseEnvelope(record, event, detail);
  if (error != kafka::EnvelopeError::None) {
    deadLetter({record.key, record.value, record.headers, record.topic, record.partition,
                record.offset, kafka::envelopeErrorName(error), detail},
               tracker);
    return 1;
  }

  Handler* handler = item.router->find(event.type);
  if (handler == nullptr) {
    unhandled_.add();
    consumedUnhandled_.add();
    tracker.finished(event.offset);
    return 1;
  }
  if (settings_.batchSize > 1) {
    if (auto* batchHandler = dynamic_cast<BatchHandler*>(handler)) {
      entered.trackers.clear();  // processBatch leaves it
      return processBatch(worker, items, begin, std::move(event), *batchHandler);
    }
  }

  TypeMetrics& metrics = typeMetrics(worker, event.type);
  metrics.consumed->add();
  const auto started = std::chrono::steady_clock::now();
  HandleResult result = handleOne(*handler, event);
  metrics.duration->observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  complete(worker, record, tracker, event, *handler, std::move(result), 0);
  return 1;
}

std::size_t Dispatcher::processBatch(Worker& worker, std::vector<WorkItem>& items,
                                     std::size_t begin, Event first, BatchHandler& handler) {
  Entered entered{{items[begin].tracker.get()}};
  std::vector<Event> events;
  std::vector<std::size_t> indexes{begin};
  events.push_back(std::move(first));
  // Takes the items after `begin` while they go to the same handler through
  // the same routes; stops (without consuming) at the first that does not,
  // so it is processed next, in order.
  std::size_t next = begin + 1;
  for (; next < items.size() && events.size() < settings_.batchSize; ++next) {
    WorkItem& item = items[next];
    if (item.router != items[begin].router) break;
    if (!item.tracker->enter()) continue;  // revoked: consumed, the new owner handles it
    Event event;
    std::string detail;
    if (kafka::parseEnvelope(item.record, event, detail) != kafka::EnvelopeError::None) {
      item.tracker->leave();  // the record is intact: dead-lettered next, in order
      break;
    }
    if (item.router->find(event.type) != &handler) {
      // Parsing moved these out; the record is processed next, on its own.
      item.record.key = std::move(event.key);
      item.record.headers = std::move(event.headers);
      item.record.topic = std::move(event.topic);
      item.tracker->leave();
      break;
    }
    entered.trackers.push_back(item.tracker.get());
    received_.add();
    events.push_back(std::move(event));
    indexes.push_back(next);
  }

  TypeMetrics& metrics = typeMetrics(worker, events.front().type);
  metrics.consumed->add(static_cast<double>(events.size()));
  const auto started = std::chrono::steady_clock::now();
  std::vector<HandleResult> results = handleMany(handler, events);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  for (std::size_t k = 0; k < events.size(); ++k) {
    metrics.duration->observe(seconds / static_cast<double>(events.size()));
  }
  // Done and Reject first, in order; then the retries, each alone, in order.
  for (std::size_t k = 0; k < events.size(); ++k) {
    if (results[k].outcome == HandleResult::Outcome::Retry) continue;
    WorkItem& item = items[indexes[k]];
    complete(worker, item.record, *item.tracker, events[k], handler, std::move(results[k]), 0);
  }
  for (std::size_t k = 0; k < events.size(); ++k) {
    if (results[k].outcome != HandleResult::Outcome::Retry) continue;
    if (abandon_.load(std::memory_order_relaxed)) break;  // not finished: redelivered
    WorkItem& item = items[indexes[k]];
    complete(worker, item.record, *item.tracker, events[k], handler, std::move(results[k]), 0);
  }
  return next - begin;
}

void Dispatcher::complete(Worker& worker, const kafka::Record& record, PartitionTracker& tracker,
                          const Event& event, Handler& handler, HandleResult result, int attempt) {
  TypeMetrics& metrics = typeMetrics(worker, event.type);
  Backoff backoff(settings_.retryBackoff, settings_.retryBackoffMax);
  for (;; ++attempt) {
    switch (result.outcome) {
      case HandleResult::Outcome::Done:
        handled_.add();
        tracker.finished(event.offset);
        return;
      case HandleResult::Outcome::Reject:
        deadLetter({event.key, record.value, event.headers, event.topic, event.partition,
                    event.offset, "rejected", result.reason},
                   tracker);
        return;
      case HandleResult::Outcome::Retry:
        if (tracker.revoked()) return;  // the new owner retries it
        if (attempt >= settings_.maxRetries) {
          deadLetter({event.key, record.value, event.headers, event.topic, event.partition,
                      event.offset, "retries_exhausted", result.reason},
                     tracker);
          return;
        }
        retries_.add();
        logger_.info("handler asked to retry", {{"type", event.type},
                                                {"key", event.key},
                                                {"attempt", std::to_string(attempt + 1)},
                                                {"reason", result.reason}});
        if (!sleepUnlessAbandoned(backoff.next()) || tracker.revoked()) return;
        break;
    }
    const auto started = std::chrono::steady_clock::now();
    result = handleOne(handler, event);
    metrics.duration->observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
}

DrainResult Dispatcher::drain(std::chrono::steady_clock::time_point deadline) {
  stopping_.store(true);
  for (auto& w : workers_) {
    std::lock_guard lock(w->mutex);
    w->wake.notify_all();
  }
  {
    std::unique_lock lock(stateMutex_);
    stateChanged_.wait_until(lock, deadline, [&] { return exited_.load() == workers_.size(); });
  }
  const bool finished = exited_.load() == workers_.size();
  abandon_.store(true);
  for (auto& w : workers_) {
    std::lock_guard lock(w->mutex);
    w->wake.notify_all();
  }
  notifyState();
  {
    std::unique_lock lock(stateMutex_);
    const bool allExited = stateChanged_.wait_for(
        lock, std::chrono::seconds(2), [&] { return exited_.load() == workers_.size(); });
    if (!allExited) {
      logger_.error("a handler is still running after the shutdown bound");
      return DrainResult::Stuck;
    }
  }
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
  joined_ = true;
  return finished ? DrainResult::Finished : DrainResult::Abandoned;
}

}  // namespace commsvc::runtime
