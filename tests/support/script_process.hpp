#pragma once

// A test server script (tests/support/*_sink.py) as a child process: it
// gets a scratch directory, is started with its arguments, and is ready
// once it has written its port, followed by a newline, to a port file.
// Header-only, so the plugin tests and the integration tests share it.

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace commsvc::testing {

/// The whole content of `path`, or "" when it cannot be read.
inline std::string readWholeFile(const std::filesystem::path& path) {
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

/// One test server process and its scratch directory.
class ScriptProcess {
 public:
  /// Creates the scratch directory /tmp/<prefix>-XXXXXX; `what` names the
  /// server in errors ("the SMTP sink").
  ScriptProcess(const std::string& prefix, std::string what) : what_(std::move(what)) {
    std::string pattern = "/tmp/" + prefix + "-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
  }

  /// Stops the process and removes the directory.
  ~ScriptProcess() {
    stop();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  ScriptProcess(const ScriptProcess&) = delete;
  ScriptProcess& operator=(const ScriptProcess&) = delete;

  /// Starts `args` (args[0] is the interpreter's path) with
  /// `--port-file <dir>/port` added, stdout to /dev/null, and waits until
  /// the port is written; throws when it exits first or after 10 s.
  void start(std::vector<std::string> args) {
    if (pid_ > 0) throw std::logic_error(what_ + " is running already");
    const auto portFile = dir_ / "port";
    std::error_code ignored;
    std::filesystem::remove(portFile, ignored);
    args.insert(args.end(), {"--port-file", portFile.string()});
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    const int rc = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid_ = -1;
      throw std::runtime_error("cannot start " + what_);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string text = readWholeFile(portFile);
      if (!text.empty() && text.back() == '\n') {
        port_ = std::stoi(text);
        return;
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error(what_ + " exited at start-up");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop();
    throw std::runtime_error(what_ + " did not start within 10 s");
  }

  /// Sends SIGTERM and waits (SIGKILL after 5 s); returns the exit status
  /// as from waitpid, or -1 when not running.
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

  /// The scratch directory.
  const std::filesystem::path& dir() const { return dir_; }
  /// The port it listened on last.
  int port() const { return port_; }

 private:
  std::string what_;
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace commsvc::testing
