#pragma once

// In-memory SDK ends for plugin unit tests (header-only, no gmock needed):
// a Logger, a Metrics and a Channel that record what they are given, and a
// FakeContext to hand to a plugin's factory or constructor.

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "commsvc/channel.hpp"
#include "commsvc/context.hpp"
#include "commsvc/message.hpp"

namespace commsvc::testing {

/// One line given to a RecordingLogger.
struct LogEntry {
  LogLevel level;       ///< its level
  std::string message;  ///< its message
  LogFields fields;     ///< its structured fields

  /// The value of field `key` (the first one), or "<missing>".
  std::string field(std::string_view key) const {
    for (const auto& [k, v] : fields) {
      if (k == key) return v;
    }
    return "<missing>";
  }
  /// True when the line has field `key`.
  bool hasField(std::string_view key) const {
    for (const auto& entry : fields) {
      if (entry.first == key) return true;
    }
    return false;
  }
};

/// A Logger that keeps every line in memory (thread-safe); every level is
/// enabled unless setMinLevel says otherwise (lines are recorded either way:
/// enabled() is what a plugin asks before building a costly line).
class RecordingLogger : public Logger {
 public:
  using Logger::log;
  /// Records the line.
  void log(LogLevel level, std::string_view message, const LogFields& fields) override {
    std::lock_guard lock(mutex_);
    entries_.push_back({level, std::string(message), fields});
  }
  /// True for `level` at or above the minimum level (Debug unless set).
  bool enabled(LogLevel level) const override { return level >= minLevel_.load(); }
  /// Sets the lowest level enabled() reports as enabled.
  void setMinLevel(LogLevel level) { minLevel_.store(level); }
  /// A copy of every line so far.
  std::vector<LogEntry> entries() const {
    std::lock_guard lock(mutex_);
    return entries_;
  }
  /// True when a line at `level` contains `text`.
  bool contains(LogLevel level, std::string_view text) const {
    std::lock_guard lock(mutex_);
    for (const auto& e : entries_) {
      if (e.level == level && e.message.find(text) != std::string::npos) return true;
    }
    return false;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<LogEntry> entries_;
  std::atomic<LogLevel> minLevel_{LogLevel::Debug};
};

/// A Counter holding its total in memory.
class FakeCounter : public Counter {
 public:
  using Counter::add;
  /// Adds `amount` to the total.
  void add(double amount) override {
    std::lock_guard lock(mutex_);
    value_ += amount;
  }
  /// The total.
  double value() const override {
    std::lock_guard lock(mutex_);
    return value_;
  }

 private:
  mutable std::mutex mutex_;
  double value_ = 0;
};

/// A Gauge holding its last value in memory.
class FakeGauge : public Gauge {
 public:
  /// Sets the value.
  void set(double value) override {
    std::lock_guard lock(mutex_);
    value_ = value;
  }
  /// The last value set (0 before).
  double value() const override {
    std::lock_guard lock(mutex_);
    return value_;
  }

 private:
  mutable std::mutex mutex_;
  double value_ = 0;
};

/// A Histogram keeping every observation in memory.
class FakeHistogram : public Histogram {
 public:
  /// Records `value`.
  void observe(double value) override {
    std::lock_guard lock(mutex_);
    observations_.push_back(value);
  }
  /// Every value observed so far.
  std::vector<double> observations() const {
    std::lock_guard lock(mutex_);
    return observations_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<double> observations_;
};

/// A Metrics creating in-memory metrics on first use, one per name + labels
/// (the same object on every later call, like the engine's).
class InMemoryMetrics : public Metrics {
 public:
  using Metrics::counter;
  using Metrics::gauge;
  using Metrics::histogram;
  /// The counter `name` with `labels`.
  Counter& counter(const std::string& name, const std::string&,
                   const MetricLabels& labels) override {
    return get(counters_, name, labels);
  }
  /// The gauge `name` with `labels`.
  Gauge& gauge(const std::string& name, const std::string&, const MetricLabels& labels) override {
    return get(gauges_, name, labels);
  }
  /// The histogram `name` with `labels` (buckets ignored).
  Histogram& histogram(const std::string& name, const std::string&, const std::vector<double>&,
                       const MetricLabels& labels) override {
    return get(histograms_, name, labels);
  }
  /// The value of counter `name` with `labels`; 0 when never created.
  double counterValue(const std::string& name, const MetricLabels& labels = {}) const {
    std::lock_guard lock(mutex_);
    const auto it = counters_.find({name, labels});
    return it == counters_.end() ? 0 : it->second->value();
  }
  /// The value of gauge `name` with `labels`; 0 when never created.
  double gaugeValue(const std::string& name, const MetricLabels& labels = {}) const {
    std::lock_guard lock(mutex_);
    const auto it = gauges_.find({name, labels});
    return it == gauges_.end() ? 0 : it->second->value();
  }
  /// The observations of histogram `name` with `labels`; empty when never created.
  std::vector<double> histogramObservations(const std::string& name,
                                            const MetricLabels& labels = {}) const {
    std::lock_guard lock(mutex_);
    const auto it = histograms_.find({name, labels});
    return it == histograms_.end() ? std::vector<double>{} : it->second->observations();
  }

 private:
  using Key = std::pair<std::string, MetricLabels>;
  template <typename T>
  T& get(std::map<Key, std::unique_ptr<T>>& map, const std::string& name,
         const MetricLabels& labels) {
    std::lock_guard lock(mutex_);
    auto& slot = map[{name, labels}];
    if (!slot) slot = std::make_unique<T>();
    return *slot;
  }
  mutable std::mutex mutex_;
  std::map<Key, std::unique_ptr<FakeCounter>> counters_;
  std::map<Key, std::unique_ptr<FakeGauge>> gauges_;
  std::map<Key, std::unique_ptr<FakeHistogram>> histograms_;
};

/// A Channel that records every message and answers with a settable
/// result (delivered unless set); thread-safe.
class RecordingChannel : public Channel {
 public:
  /// Records `message` and returns the current result.
  DeliveryResult deliver(const Message& message) override {
    std::lock_guard lock(mutex_);
    messages_.push_back(message);
    return result_;
  }
  /// Sets what deliver() returns from now on.
  void setResult(DeliveryResult result) {
    std::lock_guard lock(mutex_);
    result_ = std::move(result);
  }
  /// A copy of every message delivered so far.
  std::vector<Message> messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Message> messages_;
  DeliveryResult result_ = DeliveryResult::delivered();
};

/// An HTTP route a plugin registered on a FakeContext.
struct RecordedRoute {
  std::string method;   ///< e.g. "GET"
  std::string pattern;  ///< e.g. "/api/emails/{id}"
  HttpHandler handler;  ///< call it to exercise the route
};

/// A periodic job a plugin scheduled on a FakeContext.
struct ScheduledJob {
  std::string name;                    ///< the job's name
  std::chrono::milliseconds interval;  ///< how often the engine would run it
  std::function<void()> job;           ///< call it to run the job once
  /// scheduleOnNotify: the notification channel that wakes it; else empty.
  std::string notifyChannel;
  /// scheduleOnNotify: runs the job once, true when it reports more work.
  std::function<bool()> drainingJob;
};

/// A Context for plugin tests: RecordingLogger and InMemoryMetrics, the
/// channel, publisher, database and outboxes a test sets (nullptr until
/// set; not owned), and every route and job the plugin registers, recorded
/// instead of served or run.
class FakeContext : public Context {
 public:
  /// The instance name given to the plugin ("test" unless set).
  const std::string& instanceName() const override { return instanceName_; }
  /// The RecordingLogger.
  Logger& logger() override { return logger_; }
  /// The InMemoryMetrics.
  Metrics& metrics() override { return metrics_; }
  /// The channel set with setChannel, or nullptr.
  Channel* channel() override { return channel_; }
  /// The publisher set with setPublisher, or nullptr.
  Publisher* publisher() override { return publisher_; }
  /// The Kafka settings (settable through kafkaSettings()).
  const KafkaSettings& kafka() const override { return kafka_; }
  /// The database set with setDatabase, or nullptr.
  Database* database() override { return database_; }
  /// The outbox set with setOutbox, or nullptr.
  Outbox* outbox() override { return outbox_; }
  /// The outbox set with setOutboxFor(publisher), else nullptr.
  Outbox* outboxFor(const std::string& publisher) override {
    const auto it = outboxes_.find(publisher);
    return it == outboxes_.end() ? nullptr : it->second;
  }
  /// Records the job (run it with `scheduled()[i].job()`).
  void schedule(std::string name, std::chrono::milliseconds interval,
                std::function<void()> job) override {
    jobs_.push_back({std::move(name), interval, std::move(job), {}, {}});
  }
  /// Records the job: `job()` runs it while it reports more work (as the
  /// engine would), `drainingJob()` runs it once.
  void scheduleOnNotify(std::string name, std::chrono::milliseconds interval, std::string channel,
                        std::function<bool()> job) override {
    auto draining = [job] {
      while (job()) {
      }
    };
    jobs_.push_back(
        {std::move(name), interval, std::move(draining), std::move(channel), std::move(job)});
  }
  /// Records the route (call it with `routes()[i].handler(request)`).
  void addRoute(std::string method, std::string pattern, HttpHandler handler) override {
    routes_.push_back({std::move(method), std::move(pattern), std::move(handler)});
  }

  /// Sets the instance name.
  void setInstanceName(std::string name) { instanceName_ = std::move(name); }
  /// Sets the channel channel() returns (not owned).
  void setChannel(Channel* channel) { channel_ = channel; }
  /// Sets the publisher publisher() returns (not owned).
  void setPublisher(Publisher* publisher) { publisher_ = publisher; }
  /// Sets the database database() returns (not owned).
  void setDatabase(Database* database) { database_ = database; }
  /// Sets the outbox outbox() returns (not owned).
  void setOutbox(Outbox* outbox) { outbox_ = outbox; }
  /// Sets the outbox outboxFor(`publisher`) returns (not owned).
  void setOutboxFor(const std::string& publisher, Outbox* outbox) { outboxes_[publisher] = outbox; }
  /// The Kafka settings kafka() returns, to change them.
  KafkaSettings& kafkaSettings() { return kafka_; }

  /// The logger, with what was logged.
  RecordingLogger& recordingLogger() { return logger_; }
  /// The metrics, with their values.
  InMemoryMetrics& inMemoryMetrics() { return metrics_; }
  /// Every route registered, in order.
  const std::vector<RecordedRoute>& routes() const { return routes_; }
  /// Forgets the routes registered so far (to register a plugin's routes again).
  void clearRoutes() { routes_.clear(); }
  /// Every job scheduled, in order.
  const std::vector<ScheduledJob>& scheduled() const { return jobs_; }

 private:
  std::string instanceName_ = "test";
  RecordingLogger logger_;
  InMemoryMetrics metrics_;
  KafkaSettings kafka_;
  Channel* channel_ = nullptr;
  Publisher* publisher_ = nullptr;
  Database* database_ = nullptr;
  Outbox* outbox_ = nullptr;
  std::map<std::string, Outbox*> outboxes_;
  std::vector<RecordedRoute> routes_;
  std::vector<ScheduledJob> jobs_;
};

}  // namespace commsvc::testing
