#pragma once

#include <map>
#include <string>
#include <vector>

namespace commsvc {

/// Label names and values of one time series, e.g. {{"type", "email.sent"}}.
using MetricLabels = std::map<std::string, std::string>;

/// A monotonically increasing count. Thread-safe and lock-free to add to.
class Counter {
 public:
  virtual ~Counter() = default;
  /// Adds `amount` (>= 0). Implementations called through their own type
  /// add `using Counter::add;` so add() stays visible.
  virtual void add(double amount) = 0;
  /// Adds 1 (forwards to add(1)).
  void add() { add(1); }
  /// The current total.
  virtual double value() const = 0;
};

/// A value that goes up and down (a backlog, a pool's free connections).
class Gauge {
 public:
  virtual ~Gauge() = default;
  /// Sets the value.
  virtual void set(double value) = 0;
  /// The current value.
  virtual double value() const = 0;
};

/// A distribution of observed values (latencies in seconds) in buckets.
class Histogram {
 public:
  virtual ~Histogram() = default;
  /// Records one observation.
  virtual void observe(double value) = 0;
};

/// The engine's metrics registry, handed to plugins; exposed on GET /metrics
/// in Prometheus text format. Names are snake_case with a unit suffix
/// ("emails_sent_total", "http_request_duration_seconds"). Getting a metric
/// takes a lock: get references once (in a constructor), not per event.
/// References stay valid for the engine's lifetime.
///
/// Implementations override the virtual overloads (all arguments); the
/// shorter non-virtual overloads forward to them. Implementations called
/// through their own type add `using Metrics::counter;` (and gauge,
/// histogram) so the shorter overloads stay visible.
class Metrics {
 public:
  virtual ~Metrics() = default;
  /// The counter `name` with `labels` (may be empty), created on first use.
  virtual Counter& counter(const std::string& name, const std::string& help,
                           const MetricLabels& labels) = 0;
  /// The counter `name` without labels.
  Counter& counter(const std::string& name, const std::string& help) {
    return counter(name, help, MetricLabels{});
  }
  /// The gauge `name` with `labels` (may be empty), created on first use.
  virtual Gauge& gauge(const std::string& name, const std::string& help,
                       const MetricLabels& labels) = 0;
  /// The gauge `name` without labels.
  Gauge& gauge(const std::string& name, const std::string& help) {
    return gauge(name, help, MetricLabels{});
  }
  /// The histogram `name` with `labels` and bucket upper bounds (increasing;
  /// empty = latency buckets from 1 ms to 10 s), created on first use.
  virtual Histogram& histogram(const std::string& name, const std::string& help,
                               const std::vector<double>& buckets, const MetricLabels& labels) = 0;
  /// The histogram `name` with `buckets` and no labels.
  Histogram& histogram(const std::string& name, const std::string& help,
                       const std::vector<double>& buckets) {
    return histogram(name, help, buckets, MetricLabels{});
  }
  /// The histogram `name` with latency buckets and no labels.
  Histogram& histogram(const std::string& name, const std::string& help) {
    return histogram(name, help, std::vector<double>{}, MetricLabels{});
  }
};

}  // namespace commsvc
