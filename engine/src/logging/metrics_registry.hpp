#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "commsvc/metrics.hpp"

namespace prometheus {
class Registry;
}

namespace commsvc::logging {

/// The engine's Metrics, on prometheus-cpp: counters, gauges and histograms
/// with labels, rendered in Prometheus text format for GET /metrics.
/// Getting a metric takes a lock; updating one does not.
class MetricsRegistry final : public Metrics {
 public:
  MetricsRegistry();
  ~MetricsRegistry() override;

  using Metrics::counter;
  using Metrics::gauge;
  using Metrics::histogram;
  Counter& counter(const std::string& name, const std::string& help,
                   const MetricLabels& labels) override;
  Gauge& gauge(const std::string& name, const std::string& help,
               const MetricLabels& labels) override;
  Histogram& histogram(const std::string& name, const std::string& help,
                       const std::vector<double>& buckets, const MetricLabels& labels) override;

  /// Every metric in Prometheus text exposition format (version 0.0.4).
  std::string renderText() const;
  /// Every counter's and gauge's value, by name (labels appended as
  /// name{k="v",...}); for logs and tests.
  std::map<std::string, double> snapshot() const;

 private:
  class CounterAdapter;
  class GaugeAdapter;
  class HistogramAdapter;
  using Key = std::tuple<std::string, MetricLabels>;

  std::shared_ptr<prometheus::Registry> registry_;
  mutable std::mutex mutex_;
  std::map<Key, std::unique_ptr<CounterAdapter>> counters_;
  std::map<Key, std::unique_ptr<GaugeAdapter>> gauges_;
  std::map<Key, std::unique_ptr<HistogramAdapter>> histograms_;
};

}  // namespace commsvc::logging
