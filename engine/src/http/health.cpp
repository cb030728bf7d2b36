#include "http/health.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>

#include "commsvc/event.hpp"

namespace commsvc::http {

namespace net = boost::asio;
using tcp = net::ip::tcp;

HttpHandler makeHealthHandler(std::string service, std::vector<HealthCheck> checks) {
  return [service = std::move(service), checks = std::move(checks)](const HttpRequest&) {
    bool healthy = true;
    std::string members;
    for (const auto& check : checks) {
      ComponentHealth state;
      try {
        state = check.probe();
      } catch (const std::exception& e) {
        state = {false, e.what()};
      } catch (...) {
        state = {false, "probe failed"};
      }
      healthy = healthy && state.healthy;
      members += ",";
      appendJsonString(members, check.name);
      members += ":";
      appendJsonString(members, state.state);
    }
    std::string body = "{\"status\":";
    appendJsonString(body, healthy ? "healthy" : "unhealthy");
    body += ",\"service\":";
    appendJsonString(body, service);
    body += members;
    body += "}";
    return HttpResponse::json(healthy ? 200 : 503, std::move(body));
  };
}

ComponentHealth probeBrokers(const std::string& bootstrap, std::chrono::milliseconds timeout) {
  std::vector<std::pair<std::string, std::string>> brokers;
  std::string_view rest = bootstrap;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (const auto scheme = item.find("://"); scheme != std::string_view::npos) {
      item.remove_prefix(scheme + 3);
    }
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    const auto colon = item.rfind(':');
    if (item.empty() || colon == std::string_view::npos) continue;
    std::string host(item.substr(0, colon));
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    brokers.emplace_back(std::move(host), std::string(item.substr(colon + 1)));
  }
  if (brokers.empty()) return {false, "no broker address in '" + bootstrap + "'"};

  net::io_context ioc;
  tcp::resolver resolver(ioc);
  auto lastError = std::make_shared<std::string>("no broker answered within " +
                                                 std::to_string(timeout.count()) + " ms");
  auto reachable = std::make_shared<bool>(false);
  std::vector<std::unique_ptr<tcp::socket>> sockets;
  for (const auto& [host, port] : brokers) {
    auto& socket = sockets.emplace_back(std::make_unique<tcp::socket>(ioc));
    resolver.async_resolve(
        host, port,
        [&ioc, socket = socket.get(), reachable, lastError, where = host + ":" + port](
            const boost::system::error_code& ec, tcp::resolver::results_type results) {
          if (ec) {
            *lastError = where + ": " + ec.message();
            return;
          }
          net::async_connect(*socket, results,
                             [&ioc, reachable, lastError, where](
                                 const boost::system::error_code& ec, const tcp::endpoint&) {
                               if (ec) {
                                 *lastError = where + ": " + ec.message();
                                 return;
                               }
                               *reachable = true;
                               ioc.stop();
                             });
        });
  }
  ioc.run_for(timeout);
  if (*reachable) return {true, "ok"};
  return {false, "broker unreachable: " + *lastError};
}

}  // namespace commsvc::http
