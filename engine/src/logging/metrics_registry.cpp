#include "logging/metrics_registry.hpp"

namespace commsvc::logging {

class MetricsRegistry::AtomicCounter final : public Counter {
 public:
  explicit AtomicCounter(std::string help) : help_(std::move(help)) {}
  void add(double amount) override {
    double current = value_.load(std::memory_order_relaxed);
    while (!value_.compare_exchange_weak(current, current + amount, std::memory_order_relaxed)) {
    }
  }
  double value() const override { return value_.load(std::memory_order_relaxed); }

 private:
  std::string help_;
  std::atomic<double> value_{0};
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

Counter& MetricsRegistry::counter(const std::string& name, const std::string& help) {
  std::lock_guard lock(mutex_);
  auto& slot = counters_[name];
  if (!slot) slot = std::make_unique<AtomicCounter>(help);
  return *slot;
}

std::map<std::string, double> MetricsRegistry::snapshot() const {
  std::lock_guard lock(mutex_);
  std::map<std::string, double> out;
  for (const auto& [name, c] : counters_) out[name] = c->value();
  return out;
}

}  // namespace commsvc::logging
