#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "commsvc/logger.hpp"
#include "commsvc/metrics.hpp"
#include "logging/metrics_registry.hpp"

namespace commsvc::testing {

/// A Logger that keeps its lines in memory, for assertions.
class CapturingLogger final : public Logger {
 public:
  using Logger::log;
  void log(LogLevel, std::string_view message, const LogFields& fields) override {
    std::string line(message);
    for (const auto& [k, v] : fields) line += " " + k + "=" + v;
    std::lock_guard lock(mutex_);
    lines_.push_back(std::move(line));
  }
  bool enabled(LogLevel) const override { return true; }
  /// Every line logged so far.
  std::vector<std::string> lines() const {
    std::lock_guard lock(mutex_);
    return lines_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

}  // namespace commsvc::testing
