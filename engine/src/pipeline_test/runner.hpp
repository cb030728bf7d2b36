#pragma once

// `commsvc test FILE...`: runs the cases of pipeline test files in this
// process, each against its own engine, embedded broker and recordings.

#include <atomic>
#include <ostream>
#include <string>
#include <vector>

#include "commsvc/logger.hpp"

namespace commsvc::pipeline_test {

/// Exit status of runTests: every case passed.
inline constexpr int kExitPassed = 0;
/// Exit status of runTests: a case failed (or was interrupted).
inline constexpr int kExitFailed = 1;
/// Exit status of runTests: a test file is broken (nothing was run).
inline constexpr int kExitBroken = 2;

/// How `commsvc test` runs.
struct RunOptions {
  std::vector<std::string> files;       ///< test files, as given on the command line
  std::vector<std::string> pluginDirs;  ///< --plugin-dir: more plugin directories
  bool verbose = false;                 ///< show every case's engine log, not only a failing one's
  bool keep = false;                    ///< keep each case's temporary directory (recordings)
  LogLevel logLevel = LogLevel::Info;   ///< engine log lines kept (at most Info: logs are expected)
};

/// Parses every file first: any problem is printed to `err` as
/// "file:line:column: path: message" and nothing runs (kExitBroken). Then
/// runs each case in file order and prints "ok   <file>: <case>" or "FAIL
/// <file>: <case>" with the failing expectations as a diff (and the case's
/// engine log) to `out`, then a summary line. Returns kExitPassed or
/// kExitFailed. A case stops early when `interrupted` becomes true (then the
/// rest are skipped and the result is kExitFailed). When a handler never
/// returns (the engine is stuck), the process ends with std::_Exit after the
/// summary, so that plugin code still running is not unloaded.
int runTests(const RunOptions& options, const std::atomic<bool>& interrupted, std::ostream& out,
             std::ostream& err);

}  // namespace commsvc::pipeline_test
