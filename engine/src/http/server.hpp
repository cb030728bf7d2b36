#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "commsvc/logger.hpp"
#include "commsvc/metrics.hpp"
#include "http/route_table.hpp"

namespace commsvc::http {

/// Where the server listens and how it bounds each connection.
struct ServerSettings {
  std::string address = "0.0.0.0";      ///< listen address (IPv4 or IPv6 literal)
  std::uint16_t port = 8004;            ///< listen port; 0 = any free port
  std::size_t threads = 2;              ///< I/O threads (handlers run on them)
  std::size_t bodyLimit = 1024 * 1024;  ///< larger request bodies get 413
  std::size_t headerLimit = 16 * 1024;  ///< larger request heads get 431
  std::chrono::milliseconds readTimeout{
      10000};  ///< whole request (head + body) and keep-alive idle
  std::chrono::milliseconds writeTimeout{10000};  ///< writing one response
  std::chrono::milliseconds lingerTimeout{2000};  ///< discarding unread input before closing
};

/// The engine's HTTP/1.1 server on Boost.Beast: routes requests by method
/// and path pattern to handlers, with keep-alive, a request body limit,
/// read and write timeouts, JSON errors ({"message": ...}) for 400, 404,
/// 405, 413, 431 and 500 (a handler exception), and per-request metrics
/// http_requests_total{method,route,status} and
/// http_request_duration_seconds{route} (route is the pattern, or
/// "unmatched").
class Server {
 public:
  /// Prepares the server; does not listen yet. `logger` and `metrics` must
  /// outlive it. Throws std::invalid_argument for bad route patterns or
  /// duplicate routes.
  Server(ServerSettings settings, std::vector<Route> routes, Logger& logger, Metrics& metrics);
  /// Stops the server (bounded by one second) when still running.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds, listens and starts the I/O threads; logs "http server listening"
  /// with the bound port. Throws std::runtime_error when the address cannot
  /// be bound.
  void start();
  /// The bound port (meaningful after start(); useful with port 0).
  std::uint16_t port() const;
  /// Stops accepting, closes idle connections and lets requests in
  /// progress finish until `bound`; then closes everything and joins the
  /// threads. Returns true when every connection ended within the bound.
  /// Safe to call more than once.
  bool stop(std::chrono::milliseconds bound = std::chrono::milliseconds(5000));

  struct Impl;  ///< implementation (public for the connection sessions)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace commsvc::http
