#pragma once

// Runs tests/support/http_sink.py (a real HTTP/1.1 server, Python stdlib)
// as a child process for one test: starts it on a free port, steers its
// answers through its control file, reads its journal of requests, and
// stops and restarts it on the same port (an outage).
//
// The test target defines COMMSVC_HTTP_SINK (the script's path) and may
// define COMMSVC_HTTP_SINK_PYTHON (default /usr/bin/python3), and links
// nlohmann_json.

#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "script_process.hpp"

#ifndef COMMSVC_HTTP_SINK_PYTHON
#define COMMSVC_HTTP_SINK_PYTHON "/usr/bin/python3"
#endif

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
  explicit HttpSinkProcess(int port = 0) { start(port); }

  /// Starts the sink again after stop(), on the same port (the journal and
  /// control file are kept). Throws when it does not listen within 10 s.
  void restart() { start(port()); }

  /// Sends SIGTERM and waits (SIGKILL after 5 s); connections are refused
  /// from then on. Returns the status as from waitpid, or -1 when stopped.
  int stop() { return process_.stop(); }

  /// The port it listens on.
  int port() const { return process_.port(); }

  /// "http://127.0.0.1:<port>".
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }

  /// Replaces the control rules (see http_sink.py), e.g. "status 503" or
  /// "PATCH /api/patients/9 status 404\nclose"; "" = answer 200 to all.
  void setControl(const std::string& rules) const {
    const auto tmp = process_.dir() / "control.tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << rules << "\n";
    }
    std::filesystem::rename(tmp, process_.dir() / "control");
  }

  /// Every request journaled so far, in arrival order.
  std::vector<SinkRequest> requests() const {
    std::vector<SinkRequest> out;
    std::ifstream in(process_.dir() / "journal", std::ios::binary);
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

 private:
  void start(int port) {
    process_.start({COMMSVC_HTTP_SINK_PYTHON, COMMSVC_HTTP_SINK, "--port", std::to_string(port),
                    "--journal", (process_.dir() / "journal").string(), "--control",
                    (process_.dir() / "control").string()});
  }

  ScriptProcess process_{"http-sink-test", "the HTTP sink"};
};

}  // namespace commsvc::testing
