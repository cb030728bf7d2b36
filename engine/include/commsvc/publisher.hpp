#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "commsvc/event.hpp"

namespace commsvc {

/// Called once per published event: `ok` true when the event is durably
/// accepted (for Kafka: acknowledged by all in-sync replicas), else `error`
/// says why. May run on a publisher-internal thread.
using PublishCallback = std::function<void(bool ok, const std::string& error)>;

/// Publishes events somewhere (Kafka, log, mock file). Thread-safe.
class Publisher {
 public:
  virtual ~Publisher() = default;

  /// Queues `event` for publication; the record key is `event.key`.
  /// `done` (optional) reports the outcome. Throws only on misuse.
  virtual void publish(Event event, PublishCallback done = nullptr) = 0;

  /// Waits until every queued event is reported or `timeout` passes.
  /// Returns true when nothing is left outstanding.
  virtual bool flush(std::chrono::milliseconds timeout) = 0;
};

}  // namespace commsvc
