#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commsvc/logger.hpp"

namespace commsvc::pipeline_test {

/// Takes the engine's log lines (every logging::makeLogger logger) away
/// from stderr and keeps them, so that a test case can expect log lines
/// and show the log of a failing case. Relies on logging/log.cpp writing
/// through the spdlog logger named "commsvc" (an engine hook that hands
/// lines to a callback would be cleaner).
class LogCapture {
 public:
  /// Switches the engine's log format to JSON at `level` and replaces the
  /// sinks of its logger by a recording one. Create it before engine threads
  /// run; throws std::runtime_error when the logger is not there.
  explicit LogCapture(LogLevel level);
  /// Puts the original sinks back (the format stays JSON).
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  /// Every line since the last clear(), each as {"level", "logger",
  /// "message", "fields": {...}} (a line that is not JSON: its text as
  /// "message").
  std::vector<nlohmann::json> lines() const;
  /// Forgets the lines kept so far.
  void clear();

  /// `line` (as lines() gives it) as one line of text:
  /// "level [logger] message key=value ...".
  static std::string toText(const nlohmann::json& line);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace commsvc::pipeline_test
