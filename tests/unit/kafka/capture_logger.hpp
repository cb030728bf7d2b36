#pragma once

// A Logger for the Kafka tests that keeps every line in memory.

#include <mutex>
#include <string>
#include <vector>

#include "commsvc/logger.hpp"

namespace commsvc::kafka::testing {

/// Keeps every line (level and message); thread-safe.
class CaptureLogger : public Logger {
 public:
  using Logger::log;
  /// Records the line.
  void log(LogLevel level, std::string_view message, const LogFields& fields) override {
    std::lock_guard lock(mutex_);
    std::string line(message);
    for (const auto& [k, v] : fields) line += " " + k + "=" + v;
    lines_.emplace_back(level, std::move(line));
  }
  /// Everything but Debug.
  bool enabled(LogLevel level) const override { return level != LogLevel::Debug; }
  /// Lines at `level` or above, as text.
  std::vector<std::string> lines(LogLevel level) const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& [l, text] : lines_) {
      if (l >= level) out.push_back(text);
    }
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::pair<LogLevel, std::string>> lines_;
};

}  // namespace commsvc::kafka::testing
