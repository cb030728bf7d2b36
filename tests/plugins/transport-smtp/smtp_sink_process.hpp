#pragma once

// Runs tests/support/smtp_sink.py (a real aiosmtpd server) as a child
// process for one test, and reads what it received.

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "../../support/script_process.hpp"

namespace commsvc::plugins::transport_smtp::testing {

using commsvc::testing::unusedPort;
/// The whole content of `path`, or "" when it cannot be read.
inline std::string readFile(const std::filesystem::path& path) {
  return commsvc::testing::readWholeFile(path);
}

/// The sink process: started by the constructor with extra command-line
/// arguments, stopped with SIGTERM by the destructor.
class SmtpSinkProcess {
 public:
  /// Starts the sink on a free port and waits until it listens; throws when
  /// it does not within 10 s.
  explicit SmtpSinkProcess(const std::vector<std::string>& extraArgs = {}) {
    std::vector<std::string> args = {COMMSVC_SMTP_SINK_PYTHON,
                                     COMMSVC_SMTP_SINK,
                                     "--port",
                                     "0",
                                     "--dir",
                                     (process_.dir() / "mail").string(),
                                     "--connections-file",
                                     (process_.dir() / "connections").string()};
    args.insert(args.end(), extraArgs.begin(), extraArgs.end());
    process_.start(std::move(args));
  }

  /// Sends SIGTERM and waits (SIGKILL after 5 s); returns the exit status
  /// as from waitpid, or -1 when already stopped.
  int stop() { return process_.stop(); }

  /// The port it listens on.
  int port() const { return process_.port(); }

  /// The TCP connections it has accepted so far.
  int connections() const {
    const std::string text = readFile(process_.dir() / "connections");
    return text.empty() ? 0 : std::stoi(text);
  }

  /// The raw messages it accepted, in arrival order.
  std::vector<std::string> messages() const { return filesEnding(".eml"); }

  /// The envelopes ("MAIL FROM:...\nRCPT TO:...\n") of those messages.
  std::vector<std::string> envelopes() const { return filesEnding(".env"); }

 private:
  std::vector<std::string> filesEnding(const std::string& suffix) const {
    std::vector<std::filesystem::path> paths;
    std::error_code ignored;
    for (const auto& entry : std::filesystem::directory_iterator(process_.dir() / "mail", ignored)) {
      const std::string name = entry.path().filename().string();
      if (name.size() > suffix.size() &&
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        paths.push_back(entry.path());
      }
    }
    std::sort(paths.begin(), paths.end());
    std::vector<std::string> contents;
    for (const auto& path : paths) contents.push_back(readFile(path));
    return contents;
  }

  commsvc::testing::ScriptProcess process_{"smtp-sink-test", "the SMTP sink"};
};

}  // namespace commsvc::plugins::transport_smtp::testing
