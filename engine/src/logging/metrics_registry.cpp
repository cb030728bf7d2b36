#include "logging/metrics_registry.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace commsvc::logging {
namespace {

const std::vector<double> kLatencyBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                             0.25,  0.5,    1,     2.5,  5,     10};

std::string seriesName(const std::string& name, const MetricLabels& labels) {
  if (labels.empty()) return name;
  std::string out = name + "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    out += (first ? "" : ",") + k + "=\"" + v + "\"";
    first = false;
  }
  return out + "}";
}

}  // namespace

class MetricsRegistry::CounterAdapter final : public Counter {
 public:
  explicit CounterAdapter(prometheus::Counter& c) : c_(c) {}
  using Counter::add;
  void add(double amount) override { c_.Increment(amount); }
  double value() const override { return c_.Value(); }

 private:
  prometheus::Counter& c_;
};

class MetricsRegistry::GaugeAdapter final : public Gauge {
 public:
  explicit GaugeAdapter(prometheus::Gauge& g) : g_(g) {}
  void set(double value) override { g_.Set(value); }
  double value() const override { return g_.Value(); }

 private:
  prometheus::Gauge& g_;
};

class MetricsRegistry::HistogramAdapter final : public Histogram {
 public:
  explicit HistogramAdapter(prometheus::Histogram& h) : h_(h) {}
  void observe(double value) override { h_.Observe(value); }

 private:
  prometheus::Histogram& h_;
};

MetricsRegistry::MetricsRegistry() : registry_(std::make_shared<prometheus::Registry>()) {}
MetricsRegistry::~MetricsRegistry() = default;

Counter& MetricsRegistry::counter(const std::string& name, const std::string& help,
                                  const MetricLabels& labels) {
  std::lock_guard lock(mutex_);
  auto& slot = counters_[{name, labels}];
  if (!slot) {
    auto& family = prometheus::BuildCounter().Name(name).Help(help).Register(*registry_);
    slot = std::make_unique<CounterAdapter>(family.Add({labels.begin(), labels.end()}));
  }
  return *slot;
}

Gauge& MetricsRegistry::gauge(const std::string& name, const std::string& help,
                              const MetricLabels& labels) {
  std::lock_guard lock(mutex_);
  auto& slot = gauges_[{name, labels}];
  if (!slot) {
    auto& family = prometheus::BuildGauge().Name(name).Help(help).Register(*registry_);
    slot = std::make_unique<GaugeAdapter>(family.Add({labels.begin(), labels.end()}));
  }
  return *slot;
}

Histogram& MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                      const std::vector<double>& buckets,
                                      const MetricLabels& labels) {
  std::lock_guard lock(mutex_);
  auto& slot = histograms_[{name, labels}];
  if (!slot) {
    auto& family = prometheus::BuildHistogram().Name(name).Help(help).Register(*registry_);
    slot = std::make_unique<HistogramAdapter>(
        family.Add({labels.begin(), labels.end()}, buckets.empty() ? kLatencyBuckets : buckets));
  }
  return *slot;
}

std::string MetricsRegistry::renderText() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

std::map<std::string, double> MetricsRegistry::snapshot() const {
  std::lock_guard lock(mutex_);
  std::map<std::string, double> out;
  for (const auto& [key, c] : counters_) {
    out[seriesName(std::get<0>(key), std::get<1>(key))] = c->value();
  }
  for (const auto& [key, g] : gauges_) {
    out[seriesName(std::get<0>(key), std::get<1>(key))] = g->value();
  }
  return out;
}

}  // namespace commsvc::logging
