#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace commsvc::integration {

/// A child process with its stdout and stderr in a log file.
class Process {
 public:
  /// Starts `argv` (argv[0] is a path or a name looked up in PATH).
  /// Throws std::runtime_error when it cannot be started.
  Process(std::vector<std::string> argv, std::filesystem::path logFile);
  /// Kills (SIGKILL) and reaps the process if it is still running.
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  /// Sends `signal`.
  void signal(int signal) const;
  /// Waits up to `timeout` for the exit; returns the exit code (128+n for a
  /// signal), or nullopt when it is still running.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  /// The log file's contents so far.
  std::string log() const;
  /// The process id.
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::filesystem::path logFile_;
};

/// A fresh directory under the build tree's test scratch area, removed
/// when the test passes.
class ScratchDir {
 public:
  /// Creates tests-scratch/<name>-<pid>-<n>.
  explicit ScratchDir(const std::string& name);
  ~ScratchDir();
  /// The directory.
  const std::filesystem::path& path() const { return path_; }
  /// path() / name.
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// An embedded broker in its own process (`commsvc broker`), so engines
/// can be killed and restarted around it.
class BrokerProcess {
 public:
  /// Starts a broker with `topics`, each with `partitions` partitions.
  BrokerProcess(const ScratchDir& dir, const std::vector<std::string>& topics, int partitions);
  /// The bootstrap address, "127.0.0.1:port".
  const std::string& bootstrap() const { return bootstrap_; }
  /// Stops the broker process (SIGSTOP): clients see an outage.
  void freeze() const;
  /// Resumes it (SIGCONT).
  void thaw() const;
  /// The broker's process.
  Process& process() const { return *process_; }

 private:
  std::unique_ptr<Process> process_;
  std::string bootstrap_;
};

/// A real SMTP server process (tests/support/smtp_sink.py on aiosmtpd) that
/// stores every accepted message as a file. Its faults can be changed while
/// it runs (setFaults: the sink's --control file) and it journals every
/// transaction's outcome (journal()).
class SmtpSink {
 public:
  /// Starts the sink; `extraArgs` e.g. {"--fail-first", "2", "--fail-code", "451"}.
  SmtpSink(const ScratchDir& dir, const std::string& name,
           const std::vector<std::string>& extraArgs = {});
  /// The port it listens on (127.0.0.1).
  int port() const { return port_; }
  /// The raw messages received so far, in order.
  std::vector<std::string> messages() const;
  /// How many messages were received.
  std::size_t count() const;
  /// Replaces the sink's faults from the next SMTP command on: a JSON
  /// object as documented in smtp_sink.py, e.g. R"({"fail_code": 451})",
  /// R"({"drop_on": "data"})", R"({"auth": "refuse"})", R"({"delay_ms": 500})";
  /// "{}" = healthy. Written atomically.
  void setFaults(const std::string& json) const;
  /// The journal so far: one JSON object per transaction outcome
  /// ({"event": "stored"|"failed"|"dropped"|"auth_refused", "code", "message_id", "subject"}).
  std::vector<std::string> journal() const;
  /// The sink's process (for signals).
  Process& process() const { return *process_; }

 private:
  std::filesystem::path mailDir_;
  std::filesystem::path controlFile_;
  std::filesystem::path journalFile_;
  std::unique_ptr<Process> process_;
  int port_ = 0;
};

/// Writes `text` to `path`.
void writeFile(const std::filesystem::path& path, const std::string& text);
/// Reads `path` whole ("" when missing).
std::string readFile(const std::filesystem::path& path);
/// The complete (newline-terminated) lines of `path` (none when missing).
std::vector<std::string> readLines(const std::filesystem::path& path);
/// How often `needle` occurs in `text` (e.g. a line in a process's log).
std::size_t occurrences(const std::string& text, const std::string& needle);
/// Polls `condition` every 50 ms until it holds or `timeout` passes.
bool waitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout);
/// Runs a command to completion (stdout captured); returns exit code and output.
std::pair<int, std::string> runCommand(const std::vector<std::string>& argv,
                                       std::chrono::seconds timeout = std::chrono::seconds(60));

/// Paths of the build under test.
std::string commsvcBinary();
/// The plugin search path: shipped plugins, then test fixtures.
std::string pluginPath();

}  // namespace commsvc::integration

namespace commsvc::integration {

/// What a test pipeline looks like.
struct PipelineSpec {
  std::string brokers;
  std::string topic = "events";
  std::string group = "test-group";
  std::string recorderFile;  ///< the recorder handler's output
  std::string event = "test.recorded";
  int workers = 4;
  int maxInFlight = 10000;
  int shutdownTimeoutMs = 10000;
  int sleepMs = 0;           ///< recorder sleep per event
  std::string rejectKey;     ///< recorder rejects this key
  std::string channelBlock;  ///< e.g. "{ type: mock, file: x }"; empty: no channel
};

/// pipelines.yaml text for `spec`, routing `spec.event` to the recorder.
std::string pipelineYaml(const PipelineSpec& spec);

/// Produces `lines` ("key|value" each) with kcat, a separate process.
void produceWithKcat(const std::string& brokers, const std::string& topic,
                     const std::vector<std::string>& lines, const ScratchDir& dir);

/// Reads a topic to its end with kcat; each record as "key\theaders\tvalue".
std::vector<std::string> consumeWithKcat(const std::string& brokers, const std::string& topic);

/// A well-formed envelope of `type` with `payload` (a JSON object).
std::string envelope(const std::string& type, const std::string& payload);

}  // namespace commsvc::integration
