#pragma once

// Runs tests/support/smtp_sink.py (a real aiosmtpd server) as a child
// process for one test, and reads what it received.

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace commsvc::plugins::transport_smtp::testing {

/// The whole content of `path`, or "" when it cannot be read.
inline std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// A TCP port on 127.0.0.1 that nothing listens on (bound, then released).
inline int unusedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

/// The sink process: started by the constructor with extra command-line
/// arguments, stopped with SIGTERM by the destructor.
class SmtpSinkProcess {
 public:
  /// Starts the sink on a free port and waits until it listens; throws when
  /// it does not within 10 s.
  explicit SmtpSinkProcess(const std::vector<std::string>& extraArgs = {}) {
    char pattern[] = "/tmp/smtp-sink-test-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    std::vector<std::string> args = {COMMSVC_SMTP_SINK_PYTHON,
                                     COMMSVC_SMTP_SINK,
                                     "--port",
                                     "0",
                                     "--port-file",
                                     (dir_ / "port").string(),
                                     "--dir",
                                     (dir_ / "mail").string(),
                                     "--connections-file",
                                     (dir_ / "connections").string()};
    args.insert(args.end(), extraArgs.begin(), extraArgs.end());
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    const int rc = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("cannot start the SMTP sink");

    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string text = readFile(dir_ / "port");
      if (!text.empty() && text.back() == '\n') {
        port_ = std::stoi(text);
        return;
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("the SMTP sink exited at start-up");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop();
    throw std::runtime_error("the SMTP sink did not start within 10 s");
  }

  /// Stops the sink and removes its directory.
  ~SmtpSinkProcess() {
    stop();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  SmtpSinkProcess(const SmtpSinkProcess&) = delete;
  SmtpSinkProcess& operator=(const SmtpSinkProcess&) = delete;

  /// Sends SIGTERM and waits (SIGKILL after 5 s); returns the exit status
  /// as from waitpid, or -1 when already stopped.
  int stop() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
    return status;
  }

  /// The port it listens on.
  int port() const { return port_; }

  /// The TCP connections it has accepted so far.
  int connections() const {
    const std::string text = readFile(dir_ / "connections");
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
    for (const auto& entry : std::filesystem::directory_iterator(dir_ / "mail", ignored)) {
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

  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace commsvc::plugins::transport_smtp::testing
