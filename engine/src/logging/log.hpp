#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "commsvc/logger.hpp"

namespace commsvc::logging {

/// How log lines look: human-readable text, or one JSON object per line.
enum class LogFormat { Text, Json };

/// Sets up the process-wide sink (stderr) once, before any logger is made.
/// `level` is the minimum level written.
void configure(LogFormat format, LogLevel level);

/// Parses "debug|info|warn|error"; throws std::invalid_argument otherwise.
LogLevel parseLevel(std::string_view text);

/// A Logger whose lines carry `name` (e.g. "engine", "channels.smtp").
/// Thread-safe; cheap to create.
std::unique_ptr<Logger> makeLogger(std::string name);

}  // namespace commsvc::logging
