#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "commsvc/metrics.hpp"

namespace commsvc::logging {

/// The engine's Metrics: counters created on first use, lock-free to add to.
class MetricsRegistry final : public Metrics {
 public:
  MetricsRegistry();
  ~MetricsRegistry() override;
  Counter& counter(const std::string& name, const std::string& help) override;
  /// Every counter's current value, by name (for logs and tests).
  std::map<std::string, double> snapshot() const;

 private:
  class AtomicCounter;
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<AtomicCounter>> counters_;
};

}  // namespace commsvc::logging
