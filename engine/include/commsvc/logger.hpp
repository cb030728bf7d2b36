#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace commsvc {

/// Severity of a log line.
enum class LogLevel { Debug, Info, Warn, Error };

/// Structured fields of a log line: key and value, in order. Text logs show
/// them as key=value, JSON logs as members.
using LogFields = std::vector<std::pair<std::string, std::string>>;

/// The engine's logger, handed to plugins. Thread-safe.
class Logger {
 public:
  virtual ~Logger() = default;

  /// Writes one line at `level` with structured fields (may be empty).
  /// Implementations override this; it never throws. Implementations that
  /// are called through their own type add `using Logger::log;` so the
  /// two-argument overload stays visible.
  virtual void log(LogLevel level, std::string_view message, const LogFields& fields) = 0;
  /// Writes one line at `level` without fields (forwards to the virtual).
  void log(LogLevel level, std::string_view message) { log(level, message, LogFields{}); }
  /// True when lines at `level` are written (to skip costly formatting).
  virtual bool enabled(LogLevel level) const = 0;

  // Shorthands for log(level, ...); non-virtual, so their default
  // arguments are safe.
  /// log(LogLevel::Debug, ...).
  void debug(std::string_view m, const LogFields& f = {}) { log(LogLevel::Debug, m, f); }
  /// log(LogLevel::Info, ...).
  void info(std::string_view m, const LogFields& f = {}) { log(LogLevel::Info, m, f); }
  /// log(LogLevel::Warn, ...).
  void warn(std::string_view m, const LogFields& f = {}) { log(LogLevel::Warn, m, f); }
  /// log(LogLevel::Error, ...).
  void error(std::string_view m, const LogFields& f = {}) { log(LogLevel::Error, m, f); }
};

}  // namespace commsvc
