#pragma once

#include <string>
#include <string_view>

namespace commsvc::app {

/// Sends `state` (newline-separated VAR=value assignments, e.g. "READY=1")
/// to the service manager, like libsystemd's sd_notify(0, state), without
/// libsystemd: one datagram to the AF_UNIX socket named by $NOTIFY_SOCKET
/// (an absolute path, or an abstract socket name written with a leading
/// '@'). Returns false without doing anything when $NOTIFY_SOCKET is unset
/// or empty (not started by systemd with Type=notify); false with `error`
/// set (when given) when the address is not usable or the send failed.
/// Never throws; safe from any thread.
bool sdNotify(std::string_view state, std::string* error = nullptr);

/// Tells the service manager the service is up: "READY=1" (also after a
/// reload finished, whether it succeeded or not).
bool notifyReady(std::string* error = nullptr);

/// Tells the service manager a configuration reload began:
/// "RELOADING=1" with MONOTONIC_USEC=<CLOCK_MONOTONIC in µs> (which
/// systemd ≥ 253 requires, older ones ignore). notifyReady() ends it.
bool notifyReloading(std::string* error = nullptr);

/// Tells the service manager the service began shutting down: "STOPPING=1".
bool notifyStopping(std::string* error = nullptr);

}  // namespace commsvc::app
