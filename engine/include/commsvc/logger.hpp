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

  /// Writes one line at `level` with optional structured fields.
  virtual void log(LogLevel level, std::string_view message, const LogFields& fields = {}) = 0;
  /// True when lines at `level` are written (to skip costly formatting).
  virtual bool enabled(LogLevel level) const = 0;

  /// Shorthands for log(level, ...).
  void debug(std::string_view m, const LogFields& f = {}) { log(LogLevel::Debug, m, f); }
  void info(std::string_view m, const LogFields& f = {}) { log(LogLevel::Info, m, f); }
  void warn(std::string_view m, const LogFields& f = {}) { log(LogLevel::Warn, m, f); }
  void error(std::string_view m, const LogFields& f = {}) { log(LogLevel::Error, m, f); }
};

}  // namespace commsvc
