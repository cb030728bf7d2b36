#include "harness.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace commsvc::integration {

using namespace std::chrono_literals;

Process::Process(std::vector<std::string> argv, std::filesystem::path logFile)
    : logFile_(std::move(logFile)) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, logFile_.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const int rc = posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
}

Process::~Process() {
  if (!reaped_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

void Process::signal(int signal) const { ::kill(pid_, signal); }

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return -1;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(20ms);
  }
}

std::string Process::log() const { return readFile(logFile_); }

ScratchDir::ScratchDir(const std::string& name) {
  static std::atomic<int> counter{0};
  path_ = std::filesystem::path(COMMSVC_TEST_SCRATCH) /
          (name + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

ScratchDir::~ScratchDir() {
  // Kept after a failure for inspection; removed otherwise.
  if (!::testing::Test::HasFailure()) {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
}

BrokerProcess::BrokerProcess(const ScratchDir& dir, const std::vector<std::string>& topics,
                             int partitions) {
  const auto file = dir / "bootstrap";
  std::vector<std::string> argv{commsvcBinary(),    "broker",
                                "--partitions",     std::to_string(partitions),
                                "--bootstrap-file", file.string()};
  for (const auto& t : topics) {
    argv.push_back("--topic");
    argv.push_back(t);
  }
  process_ = std::make_unique<Process>(argv, dir / "broker.log");
  if (!waitFor([&] { return !readFile(file).empty(); }, 10s)) {
    throw std::runtime_error("embedded broker did not start: " + process_->log());
  }
  bootstrap_ = readLines(file).at(0);
}

SmtpSink::SmtpSink(const ScratchDir& dir, const std::string& name,
                   const std::vector<std::string>& extraArgs)
    : mailDir_(dir / (name + "-mail")),
      controlFile_(dir / (name + ".control.json")),
      journalFile_(dir / (name + ".journal")) {
  std::filesystem::create_directories(mailDir_);
  const auto portFile = dir / (name + ".port");
  std::vector<std::string> argv{
      "/usr/bin/python3", COMMSVC_SMTP_SINK,     "--port",    "0",
      "--port-file",      portFile.string(),     "--dir",     mailDir_.string(),
      "--control",        controlFile_.string(), "--journal", journalFile_.string()};
  argv.insert(argv.end(), extraArgs.begin(), extraArgs.end());
  process_ = std::make_unique<Process>(argv, dir / (name + ".log"));
  if (!waitFor([&] { return !readLines(portFile).empty(); }, 20s)) {
    throw std::runtime_error("SMTP sink did not start: " + process_->log());
  }
  port_ = std::stoi(readLines(portFile).at(0));
}

std::vector<std::string> SmtpSink::messages() const {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(mailDir_)) {
    if (entry.path().extension() == ".eml") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> out;
  for (const auto& f : files) out.push_back(readFile(f));
  return out;
}

std::size_t SmtpSink::count() const {
  std::size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(mailDir_)) {
    n += entry.path().extension() == ".eml";
  }
  return n;
}

void SmtpSink::setFaults(const std::string& json) const {
  const auto tmp = controlFile_.string() + ".tmp";
  writeFile(tmp, json + "\n");
  std::filesystem::rename(tmp, controlFile_);  // the sink sees a new inode: re-reads it
}

std::vector<std::string> SmtpSink::journal() const { return readLines(journalFile_); }

void BrokerProcess::freeze() const { process_->signal(SIGSTOP); }

void BrokerProcess::thaw() const { process_->signal(SIGCONT); }

void writeFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> readLines(const std::filesystem::path& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (in.eof()) break;  // no newline yet: a line still being written
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::size_t occurrences(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

bool waitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

std::pair<int, std::string> runCommand(const std::vector<std::string>& argv,
                                       std::chrono::seconds timeout) {
  static std::atomic<int> counter{0};
  const auto out = std::filesystem::path(COMMSVC_TEST_SCRATCH) /
                   ("cmd-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".out");
  std::filesystem::create_directories(out.parent_path());
  std::filesystem::remove(out);
  Process p(argv, out);
  auto code = p.wait(timeout);
  if (!code) {
    p.signal(SIGKILL);
    code = p.wait(5s);
  }
  std::string text = readFile(out);
  std::filesystem::remove(out);
  return {code.value_or(-1), text};
}

std::string commsvcBinary() { return COMMSVC_BINARY; }

std::string pluginPath() {
  return std::string(COMMSVC_PLUGIN_OUTPUT_DIR) + ":" + COMMSVC_TEST_PLUGIN_DIR;
}

}  // namespace commsvc::integration

namespace commsvc::integration {

std::string pipelineYaml(const PipelineSpec& spec) {
  std::ostringstream y;
  y << "plugins: [recorder, transport-log, transport-mock]\n"
    << "engine:\n"
    << "  workers: " << spec.workers << "\n"
    << "  max_in_flight: " << spec.maxInFlight << "\n"
    << "  shutdown_timeout_ms: " << spec.shutdownTimeoutMs << "\n"
    << "  retry_backoff_ms: 10\n"
    << "http: { port: 0, address: 127.0.0.1, admin_address: \"127.0.0.1:0\" }\n"
    << "kafka:\n"
    << "  brokers: \"" << spec.brokers << "\"\n"
    << "  topic: " << spec.topic << "\n"
    << "  group: " << spec.group << "\n"
    << "  dead_letter_topic: " << spec.topic << ".dlq\n"
    << "  commit_interval_ms: 100\n"
    << "  consumer_properties: { session.timeout.ms: \"6000\", heartbeat.interval.ms: \"500\" }\n";
  if (!spec.channelBlock.empty()) y << "channels:\n  out: " << spec.channelBlock << "\n";
  y << "handlers:\n"
    << "  - event: " << spec.event << "\n"
    << "    type: recorder\n"
    << "    file: \"" << spec.recorderFile << "\"\n"
    << "    sleep_ms: " << spec.sleepMs << "\n";
  if (!spec.rejectKey.empty()) y << "    reject_key: \"" << spec.rejectKey << "\"\n";
  if (!spec.channelBlock.empty()) y << "    channel: out\n";
  return y.str();
}

void produceWithKcat(const std::string& brokers, const std::string& topic,
                     const std::vector<std::string>& lines, const ScratchDir& dir) {
  const auto input = dir / "produce.txt";
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  writeFile(input, text);
  const auto [code, out] = runCommand(
      {"sh", "-c",
       "kcat -P -b " + brokers + " -t " + topic + " -K '|' -X linger.ms=5 < " + input.string()});
  if (code != 0) throw std::runtime_error("kcat produce failed: " + out);
}

std::vector<std::string> consumeWithKcat(const std::string& brokers, const std::string& topic) {
  const auto [code, out] = runCommand({"timeout", "30", "kcat", "-C", "-b", brokers, "-t", topic,
                                       "-o", "beginning", "-e", "-q", "-f", "%k\\t%h\\t%s\\n"});
  if (code != 0) throw std::runtime_error("kcat consume failed: " + out);
  std::vector<std::string> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::string envelope(const std::string& type, const std::string& payload) {
  return R"({"eventId":"00000000-0000-4000-8000-000000000000","eventType":")" + type +
         R"(","version":"1.0","timestamp":"2026-11-26T14:03:07.123456+00:00","producer":"test","payload":)" +
         payload + "}";
}

}  // namespace commsvc::integration
