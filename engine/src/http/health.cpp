#include "http/health.hpp"

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>

#include "commsvc/json.hpp"

namespace commsvc::http {

namespace net = boost::asio;
using tcp = net::ip::tcp;

using Clock = std::chrono::steady_clock;

/// One check's probe and its last result.
struct HealthMonitor::Slot {
  HealthCheck check;
  Gauge* up = nullptr;
  bool probed = false;  // a probe finished at least once
  ComponentHealth last;
  std::optional<Clock::time_point> runningSince;  // a probe in progress
  bool retired = false;                           // replaced by setChecks(): its thread ends
  std::thread thread;
};

namespace {

bool allReady(const std::vector<DependencyState>& states) {
  return std::all_of(states.begin(), states.end(),
                     [](const DependencyState& s) { return s.ready; });
}

}  // namespace

HealthMonitor::HealthMonitor(std::vector<HealthCheck> checks, Logger& logger, Metrics& metrics,
                             HealthMonitorSettings settings)
    : settings_(settings),
      logger_(logger),
      ready_(
          metrics.gauge("ready", "1 while /readyz answers 200 (every dependency ready), else 0")),
      metrics_(metrics) {
  for (auto& check : checks) slots_.push_back(makeSlot(std::move(check)));
  ready_.set(slots_.empty() ? 1 : 0);
}

HealthMonitor::~HealthMonitor() { stop(); }

std::unique_ptr<HealthMonitor::Slot> HealthMonitor::makeSlot(HealthCheck check) {
  auto slot = std::make_unique<Slot>();
  const std::string label = check.group.empty()           ? check.name
                            : check.group == "channels"   ? "channel:" + check.name
                            : check.group == "publishers" ? "publisher:" + check.name
                                                          : check.group + ":" + check.name;
  slot->up = &metrics_.gauge("dependency_up",
                             "Whether a dependency was reachable at its last check (1) or not (0)",
                             {{"dependency", label}});
  slot->check = std::move(check);
  return slot;
}

void HealthMonitor::start() {
  std::lock_guard lock(mutex_);
  if (started_ || stopping_) return;
  started_ = true;
  for (auto& slot : slots_) slot->thread = std::thread([this, s = slot.get()] { loop(*s); });
  watcher_ = std::thread([this] { watch(); });
}

void HealthMonitor::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    ready_.set(0);
  }
  stopRequested_.notify_all();
  // Only this thread and setChecks() (not concurrent with stop) move slots.
  for (auto& slot : slots_) {
    if (slot->thread.joinable()) slot->thread.join();
  }
  if (watcher_.joinable()) watcher_.join();
}

void HealthMonitor::setChecks(std::vector<HealthCheck> checks) {
  std::vector<std::unique_ptr<Slot>> fresh;
  for (auto& check : checks) fresh.push_back(makeSlot(std::move(check)));
  std::vector<std::unique_ptr<Slot>> old;
  {
    std::lock_guard lock(mutex_);
    for (auto& slot : fresh) {
      for (const auto& was : slots_) {
        if (was->check.name == slot->check.name && was->check.group == slot->check.group) {
          slot->probed = was->probed;
          slot->last = was->last;
        }
      }
    }
    for (auto& was : slots_) was->retired = true;
    old = std::exchange(slots_, std::move(fresh));
    if (started_ && !stopping_) {
      for (auto& slot : slots_) slot->thread = std::thread([this, s = slot.get()] { loop(*s); });
    }
    publishReadyLocked(statesLocked());
  }
  stopRequested_.notify_all();
  for (auto& slot : old) {
    if (slot->thread.joinable()) slot->thread.join();  // a probe in progress finishes first
  }
}

void HealthMonitor::loop(Slot& slot) {
  std::unique_lock lock(mutex_);
  while (!stopping_ && !slot.retired) {
    const auto began = Clock::now();
    slot.runningSince = began;
    lock.unlock();
    ComponentHealth result;
    try {
      result = slot.check.probe();
    } catch (const std::exception& e) {
      result = {false, std::string("down: ") + e.what()};
    } catch (...) {
      result = {false, "down: probe failed"};
    }
    lock.lock();
    const bool changed = !slot.probed || slot.last.healthy != result.healthy;
    slot.runningSince.reset();
    slot.probed = true;
    slot.last = result;
    slot.up->set(result.healthy ? 1 : 0);
    publishReadyLocked(statesLocked());
    if (changed) {
      const LogFields fields{{"dependency", slot.check.name}, {"state", result.state}};
      if (result.healthy) {
        logger_.info("dependency ready", fields);
      } else {
        logger_.warn("dependency not ready", fields);
      }
    }
    if (slot.retired) break;
    stopRequested_.wait_until(lock, began + settings_.interval,
                              [&] { return stopping_ || slot.retired; });
  }
}

void HealthMonitor::watch() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    publishReadyLocked(statesLocked());
    stopRequested_.wait_for(lock, settings_.interval, [&] { return stopping_; });
  }
}

std::vector<DependencyState> HealthMonitor::snapshot() const {
  std::lock_guard lock(mutex_);
  auto states = statesLocked();
  publishReadyLocked(states);
  return states;
}

void HealthMonitor::publishReadyLocked(const std::vector<DependencyState>& states) const {
  if (!stopping_) ready_.set(allReady(states) ? 1 : 0);
}

std::vector<DependencyState> HealthMonitor::statesLocked() const {
  std::vector<DependencyState> out;
  out.reserve(slots_.size());
  const auto now = Clock::now();
  for (const auto& slot : slots_) {
    DependencyState state{slot->check.name, slot->check.group, slot->last.healthy,
                          slot->last.state};
    if (!slot->probed) {
      state.ready = false;
      state.state = "unknown: not checked yet";
    }
    if (slot->runningSince && now - *slot->runningSince > settings_.stalledAfter) {
      const auto ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(now - *slot->runningSince);
      state.ready = false;
      state.state = "down: no answer for " + std::to_string(ms.count()) + " ms" +
                    (slot->probed ? " (last check: " + slot->last.state + ")" : "");
      slot->up->set(0);
    }
    out.push_back(std::move(state));
  }
  return out;
}

namespace {

// Appends ,"name":"state" members for `states`, grouped ones in objects
// named by their group (in the order groups first appear).
void appendStates(std::string& body, const std::vector<DependencyState>& states) {
  std::vector<std::string> groups;
  for (const auto& state : states) {
    if (state.group.empty()) {
      body += ",";
      appendJsonString(body, state.name);
      body += ":";
      appendJsonString(body, state.state);
    } else if (std::find(groups.begin(), groups.end(), state.group) == groups.end()) {
      groups.push_back(state.group);
    }
  }
  for (const auto& group : groups) {
    body += ",";
    appendJsonString(body, group);
    body += ":{";
    bool first = true;
    for (const auto& state : states) {
      if (state.group != group) continue;
      if (!first) body += ",";
      first = false;
      appendJsonString(body, state.name);
      body += ":";
      appendJsonString(body, state.state);
    }
    body += "}";
  }
}

}  // namespace

HttpHandler makeLivezHandler() {
  return [](const HttpRequest&) { return HttpResponse::json(200, R"({"status":"alive"})"); };
}

HttpHandler makeReadyzHandler(const HealthMonitor& monitor,
                              std::function<std::string()> configHash) {
  return [&monitor, configHash = std::move(configHash)](const HttpRequest&) {
    const auto states = monitor.snapshot();
    const bool ready = allReady(states);
    std::string body = "{\"status\":";
    appendJsonString(body, ready ? "ready" : "not ready");
    appendStates(body, states);
    if (configHash) {
      body += ",\"config\":";
      appendJsonString(body, configHash());
    }
    body += "}";
    return HttpResponse::json(ready ? 200 : 503, std::move(body));
  };
}

HttpHandler makeHealthHandler(std::string service, const HealthMonitor& monitor,
                              std::function<std::string()> servingProblem) {
  return [service = std::move(service), &monitor,
          servingProblem = std::move(servingProblem)](const HttpRequest&) {
    const std::string problem = servingProblem ? servingProblem() : std::string();
    std::string body = "{\"status\":";
    appendJsonString(body, problem.empty() ? "healthy" : "unhealthy");
    body += ",\"service\":";
    appendJsonString(body, service);
    if (!problem.empty()) {
      body += ",\"problem\":";
      appendJsonString(body, problem);
    }
    appendStates(body, monitor.snapshot());
    body += "}";
    return HttpResponse::json(problem.empty() ? 200 : 503, std::move(body));
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
