#pragma once

// Runs tests/support/http_sink.py (a real HTTP/1.1 server, Python stdlib)
// as a child process for one test: starts it on a free port, steers its
// answers through its control file, reads its journal of requests, and
// stops and restarts it on the same port (an outage).
//
// The test target defines COMMSVC_HTTP_SINK (the script's path) and may
// define COMMSVC_HTTP_SINK_PYTHON (default /usr/bin/python3), and links
// nlohmann_json.

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#ifndef COMMSVC_HTTP_SINK_PYTHON
#define COMMSVC_HTTP_SINK_PYTHON "/usr/bin/python3"
#endif

extern char** environ;

namespace commsvc::testing {

/// One request the sink received, from its journal.
struct SinkRequest {
  double time = 0;                             ///< arrival, seconds since the epoch
  std::string method;                          ///< e.g. "PATCH"
  std::string path;                            ///< path and query as sent
  std::map<std::string, std::string> headers;  ///< as sent (names as spelled by the client)
  std::string body;                            ///< the body as UTF-8 text
  int clientPort = 0;                          ///< the client's port: one per connection
  int status = 0;                              ///< the answer given; 0 = connection dropped

  /// The value of header `name` (case-insensitive), or "" when absent.
  std::string header(const std::string& name) const {
    auto lower = [](std::string s) {
      for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return s;
    };
    for (const auto& [k, v] : headers) {
      if (lower(k) == lower(name)) return v;
    }
    return "";
  }
};

/// The HTTP sink as a child process; stopped (SIGTERM) by the destructor.
class HttpSinkProcess {
 public:
  /// Starts the sink on a free port (or `port`) and waits until it listens;
  /// throws when it does not within 10 s.
  explicit HttpSinkProcess(int port = 0) {
    char pattern[] = "/tmp/http-sink-test-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    start(port);
  }

  /// Stops the sink and removes its directory.
  ~HttpSinkProcess() {
    stop();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  HttpSinkProcess(const HttpSinkProcess&) = delete;
  HttpSinkProcess& operator=(const HttpSinkProcess&) = delete;

  /// Starts the sink again after stop(), on the same port (the journal and
  /// control file are kept). Throws when it does not listen within 10 s.
  void restart() { start(port_); }

  /// Sends SIGTERM and waits (SIGKILL after 5 s); connections are refused
  /// from then on. Returns the status as from waitpid, or -1 when stopped.
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

  /// "http://127.0.0.1:<port>".
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  /// Replaces the control rules (see http_sink.py), e.g. "status 503" or
  /// "PATCH /api/patients/9 status 404\nclose"; "" = answer 200 to all.
  void setControl(const std::string& rules) const {
    const auto tmp = dir_ / "control.tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << rules << "\n";
    }
    std::filesystem::rename(tmp, dir_ / "control");
  }

  /// Every request journaled so far, in arrival order.
  std::vector<SinkRequest> requests() const {
    std::vector<SinkRequest> out;
    std::ifstream in(dir_ / "journal", std::ios::binary);
    for (std::string line; std::getline(in, line);) {
      auto entry = nlohmann::json::parse(line, nullptr, false);
      if (entry.is_discarded()) continue;  // a line being written
      SinkRequest request;
      request.time = entry.value("time", 0.0);
      request.method = entry.value("method", "");
      request.path = entry.value("path", "");
      request.body = entry.value("body", "");
      request.clientPort = entry.value("client_port", 0);
      request.status = entry["status"].is_number() ? entry["status"].get<int>() : 0;
      for (const auto& item : entry["headers"].items()) {
        request.headers[item.key()] = item.value().get<std::string>();
      }
      out.push_back(std::move(request));
    }
    return out;
  }

  /// Waits until at least `count` requests arrived; false after `timeout`.
  bool waitForRequests(std::size_t count, std::chrono::milliseconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (requests().size() < count) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }

  /// A TCP port on 127.0.0.1 that nothing listens on (bound, then released).
  static int unusedPort() {
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

 private:
  void start(int port) {
    if (pid_ > 0) throw std::logic_error("the HTTP sink is running already");
    const auto portFile = dir_ / "port";
    std::error_code ignored;
    std::filesystem::remove(portFile, ignored);
    std::vector<std::string> args = {COMMSVC_HTTP_SINK_PYTHON,
                                     COMMSVC_HTTP_SINK,
                                     "--port",
                                     std::to_string(port),
                                     "--port-file",
                                     portFile.string(),
                                     "--journal",
                                     (dir_ / "journal").string(),
                                     "--control",
                                     (dir_ / "control").string()};
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
      throw std::runtime_error("cannot start the HTTP sink");
    }

    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      std::ifstream in(portFile);
      const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
      if (!text.empty() && text.back() == '\n') {
        port_ = std::stoi(text);
        return;
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("the HTTP sink exited at start-up");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop();
    throw std::runtime_error("the HTTP sink did not start within 10 s");
  }

  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace commsvc::testing
