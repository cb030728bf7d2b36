#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "commsvc/http.hpp"
#include "commsvc/logger.hpp"
#include "commsvc/metrics.hpp"

namespace commsvc::http {

/// The state of one dependency as a probe found it.
struct ComponentHealth {
  bool healthy = true;  ///< false makes /readyz answer 503
  std::string state;    ///< "ok", "disabled" or what is wrong ("down: ...")
};

/// One dependency the HealthMonitor checks: its name, the JSON object it is
/// reported in, and a probe. The probe runs on the monitor's own thread
/// (never on a request), at most once per interval; it must be bounded in
/// time. A probe that throws counts as down with the exception's text.
struct HealthCheck {
  std::string name;                        ///< e.g. "database", "kafka", a channel's name
  std::function<ComponentHealth()> probe;  ///< finds the dependency's current state
  std::string group;  ///< "" = a top-level member; else the member holding it ("channels")
};

/// One dependency's last known state.
struct DependencyState {
  std::string name;    ///< HealthCheck::name
  std::string group;   ///< HealthCheck::group
  bool ready = false;  ///< the last probe found it healthy (and it is not stalled)
  std::string state;   ///< the last probe's state, or why it is not known
};

/// How often and how patiently the monitor probes.
struct HealthMonitorSettings {
  std::chrono::milliseconds interval{1000};  ///< a probe starts at most this often
  /// A probe running longer than this reports its dependency not ready
  /// (the request never waits for it).
  std::chrono::milliseconds stalledAfter{3000};
};

/// Checks dependencies in the background: one thread per check runs its
/// probe at most once per interval and keeps the result; requests read the
/// last results (snapshot()), never waiting for a probe. Each check's state
/// is also the gauge dependency_up{dependency} (1 up, 0 down; channels as
/// "channel:<name>"), and changes are logged once. The gauge `ready` is 1
/// exactly when /readyz would answer 200 (every dependency ready, none
/// stalled), else 0; 0 again once the monitor stopped. Both gauges follow a
/// stalled probe within an interval even when no request asks.
class HealthMonitor {
 public:
  /// Prepares the checks; probes nothing yet (`ready` is 0, or 1 without
  /// checks). `logger` and `metrics` must outlive the monitor.
  HealthMonitor(std::vector<HealthCheck> checks, Logger& logger, Metrics& metrics,
                HealthMonitorSettings settings = {});
  /// Stops and joins the threads (waiting for probes in progress).
  ~HealthMonitor();
  HealthMonitor(const HealthMonitor&) = delete;
  HealthMonitor& operator=(const HealthMonitor&) = delete;

  /// Starts probing (the first round at once). Idempotent.
  void start();
  /// Stops probing, sets `ready` to 0 and joins the threads. Idempotent.
  void stop();

  /// Replaces the checks (a reloaded pipeline's channels and publishers):
  /// a check with the same name and group as a current one keeps its last
  /// state until its next probe (no "unknown" gap), the others start
  /// unknown. Probes of the old checks in progress are waited for. Probing
  /// goes on if it was started.
  void setChecks(std::vector<HealthCheck> checks);

  /// The last state of every check, in the checks' order; "unknown" (not
  /// ready) before a check's first probe finished, and not ready while a
  /// probe has been running for longer than stalledAfter. Thread-safe,
  /// never blocks on a probe.
  std::vector<DependencyState> snapshot() const;

 private:
  struct Slot;
  void loop(Slot& slot);
  /// Refreshes the gauges once per interval, so a stalled probe shows
  /// without requests.
  void watch();
  /// The states as snapshot() reports them; stalled probes' dependency_up
  /// set to 0. Called with mutex_ held.
  std::vector<DependencyState> statesLocked() const;
  /// Sets `ready` from `states` unless stopping. Called with mutex_ held.
  void publishReadyLocked(const std::vector<DependencyState>& states) const;

  HealthMonitorSettings settings_;
  Logger& logger_;
  Gauge& ready_;
  /// A slot for `check`, with its gauge.
  std::unique_ptr<Slot> makeSlot(HealthCheck check);

  Metrics& metrics_;
  std::vector<std::unique_ptr<Slot>> slots_;  // each probed by its own thread
  mutable std::mutex mutex_;
  std::condition_variable stopRequested_;
  bool started_ = false;
  bool stopping_ = false;
  std::thread watcher_;
};

/// GET /livez: 200 {"status": "alive"} whenever the server answers; checks
/// no dependency.
HttpHandler makeLivezHandler();

/// GET /readyz: 200 {"status": "ready", <states>} when every dependency of
/// `monitor`'s last snapshot is ready, else 503 {"status": "not ready",
/// <states>}. <states> are "name": "state" members, grouped checks in an
/// object member of the group's name ("channels": {"smtp": "ok"}).
/// `monitor` must outlive the handler.
/// With `configHash`, the body also has "config": its value (the active
/// pipelines.yaml's hash).
HttpHandler makeReadyzHandler(const HealthMonitor& monitor,
                              std::function<std::string()> configHash = {});

/// GET /health (the platform's container check): 200 {"status":
/// "healthy", "service": `service`, <states>} whatever the dependencies'
/// states (the service rides out their outages); 503 {"status":
/// "unhealthy", "service", "problem", <states>} only when `servingProblem`
/// returns a non-empty reason why the process cannot serve at all.
/// `monitor` must outlive the handler; `servingProblem` must be cheap.
HttpHandler makeHealthHandler(std::string service, const HealthMonitor& monitor,
                              std::function<std::string()> servingProblem);

/// Whether a Kafka broker of `bootstrap` ("host:port,host:port", optional
/// "PROTOCOL://" prefixes) accepts a TCP connection within `timeout`:
/// healthy "ok" when one does, else unhealthy with the last error. Only
/// reachability: it says nothing about authentication or the group.
ComponentHealth probeBrokers(const std::string& bootstrap, std::chrono::milliseconds timeout);

}  // namespace commsvc::http
