#pragma once

// Small in-memory fakes of the SDK's Logger, Metrics, Channel and Context
// for the plugin unit tests (TempFile is the testing kit's).

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "commsvc/channel.hpp"
#include "commsvc/context.hpp"
#include "commsvc/logger.hpp"
#include "commsvc/metrics.hpp"
#include "commsvc/testing/temp_file.hpp"  // TempFile

namespace commsvc::testing {

/// One line written to a FakeLogger.
struct LoggedLine {
  LogLevel level;       ///< its severity
  std::string message;  ///< its text
  LogFields fields;     ///< its structured fields

  /// The value of field `key`, or "<missing>".
  std::string field(const std::string& key) const {
    for (const auto& [k, v] : fields) {
      if (k == key) return v;
    }
    return "<missing>";
  }
  /// True when the line has field `key`.
  bool hasField(const std::string& key) const { return field(key) != "<missing>"; }
};

/// A Logger that keeps every line in memory; thread-safe.
class FakeLogger : public Logger {
 public:
  using Logger::log;
  /// Records the line.
  void log(LogLevel level, std::string_view message, const LogFields& fields) override {
    std::lock_guard lock(mutex_);
    lines_.push_back({level, std::string(message), fields});
  }
  /// Lines at `minLevel` and above are enabled.
  bool enabled(LogLevel level) const override { return level >= minLevel_; }
  /// Sets the lowest enabled level.
  void setMinLevel(LogLevel level) { minLevel_ = level; }
  /// A copy of the lines written so far.
  std::vector<LoggedLine> lines() const {
    std::lock_guard lock(mutex_);
    return lines_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<LoggedLine> lines_;
  LogLevel minLevel_ = LogLevel::Debug;
};

/// A lock-free counter.
class FakeCounter : public Counter {
 public:
  using Counter::add;
  /// Adds `amount`.
  void add(double amount) override {
    double current = value_.load();
    while (!value_.compare_exchange_weak(current, current + amount)) {
    }
  }
  /// The total.
  double value() const override { return value_.load(); }

 private:
  std::atomic<double> value_{0};
};

/// A Gauge that keeps its value.
class FakeGauge : public Gauge {
 public:
  void set(double value) override { value_.store(value); }
  double value() const override { return value_.load(); }

 private:
  std::atomic<double> value_{0};
};

/// A Histogram that counts its observations.
class FakeHistogram : public Histogram {
 public:
  void observe(double) override { ++count_; }
  /// How many values were observed.
  long count() const { return count_.load(); }

 private:
  std::atomic<long> count_{0};
};

/// A Metrics registry of fakes; labels are ignored (series share a name).
class FakeMetrics : public Metrics {
 public:
  using Metrics::counter;
  using Metrics::gauge;
  using Metrics::histogram;
  /// The counter `name`, created on first use.
  Counter& counter(const std::string& name, const std::string& /*help*/,
                   const MetricLabels& /*labels*/) override {
    std::lock_guard lock(mutex_);
    auto& slot = counters_[name];
    if (!slot) slot = std::make_unique<FakeCounter>();
    return *slot;
  }
  /// The gauge `name`, created on first use.
  Gauge& gauge(const std::string& name, const std::string& /*help*/,
               const MetricLabels& /*labels*/) override {
    std::lock_guard lock(mutex_);
    auto& slot = gauges_[name];
    if (!slot) slot = std::make_unique<FakeGauge>();
    return *slot;
  }
  /// The histogram `name`, created on first use.
  Histogram& histogram(const std::string& name, const std::string& /*help*/,
                       const std::vector<double>& /*buckets*/,
                       const MetricLabels& /*labels*/) override {
    std::lock_guard lock(mutex_);
    auto& slot = histograms_[name];
    if (!slot) slot = std::make_unique<FakeHistogram>();
    return *slot;
  }
  /// The value of counter `name`, 0 when it was never created.
  double value(const std::string& name) const {
    std::lock_guard lock(mutex_);
    auto it = counters_.find(name);
    return it == counters_.end() ? 0 : it->second->value();
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<FakeCounter>> counters_;
  std::map<std::string, std::unique_ptr<FakeGauge>> gauges_;
  std::map<std::string, std::unique_ptr<FakeHistogram>> histograms_;
};

/// A Channel that records messages and answers with a settable result.
class FakeChannel : public Channel {
 public:
  /// Records `message` and returns the current result.
  DeliveryResult deliver(const Message& message) override {
    std::lock_guard lock(mutex_);
    messages_.push_back(message);
    return result_;
  }
  /// Sets what deliver() returns.
  void setResult(DeliveryResult result) {
    std::lock_guard lock(mutex_);
    result_ = std::move(result);
  }
  /// A copy of the messages delivered so far.
  std::vector<Message> messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Message> messages_;
  DeliveryResult result_;
};

/// A Context made of the fakes above; channel and publisher are settable.
class FakeContext : public Context {
 public:
  /// "test".
  const std::string& instanceName() const override { return name_; }
  /// The FakeLogger.
  Logger& logger() override { return logger_; }
  /// The FakeMetrics.
  Metrics& metrics() override { return metrics_; }
  /// The channel set by the test, or nullptr.
  Channel* channel() override { return channel_; }
  /// The publisher set by the test, or nullptr.
  Publisher* publisher() override { return publisher_; }
  /// Default Kafka settings.
  const KafkaSettings& kafka() const override { return kafka_; }
  Database* database() override { return nullptr; }
  Outbox* outbox() override { return nullptr; }
  Outbox* outboxFor(const std::string& /*publisher*/) override { return nullptr; }
  void addRoute(std::string method, std::string pattern, HttpHandler handler) override {
    routes.push_back({std::move(method), std::move(pattern), std::move(handler)});
  }
  /// Routes registered through addRoute, in order.
  struct Route {
    std::string method;
    std::string pattern;
    HttpHandler handler;
  };
  std::vector<Route> routes;
  void schedule(std::string, std::chrono::milliseconds, std::function<void()>) override {}

  FakeLogger logger_;               ///< the logger handed out
  FakeMetrics metrics_;             ///< the metrics handed out
  Channel* channel_ = nullptr;      ///< what channel() returns
  Publisher* publisher_ = nullptr;  ///< what publisher() returns

 private:
  std::string name_ = "test";
  KafkaSettings kafka_;
};

}  // namespace commsvc::testing
