#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <utility>

#include "commsvc/event.hpp"

namespace commsvc {

/// The outcome of one publish() call.
struct PublishResult {
  /// What happened to the event.
  enum class Status {
    Published,  ///< durably accepted (for Kafka: acknowledged by all in-sync replicas)
    Failed,     ///< not accepted for now (unreachable, timeout, 5xx): retried with backoff
    Rejected,   ///< refused for this event (e.g. HTTP 4xx): retried a bounded number of
                ///< times, then dead-lettered by the outbox relay
  };
  Status status = Status::Published;  ///< the outcome
  std::string error;                  ///< why, when not Published

  /// True when the event was accepted.
  bool ok() const { return status == Status::Published; }
  /// The event was accepted.
  static PublishResult published() { return {}; }
  /// The event was not accepted for a reason that may pass (retry later).
  static PublishResult failed(std::string why) { return {Status::Failed, std::move(why)}; }
  /// The receiver refused this event; retrying it unchanged is unlikely to help.
  static PublishResult rejected(std::string why) { return {Status::Rejected, std::move(why)}; }
};

/// Called once per published event with its outcome. May run on a
/// publisher-internal thread.
using PublishCallback = std::function<void(const PublishResult& result)>;

/// Whether a publisher delivers at all: a publisher can be configured off
/// (e.g. an HTTP publisher whose base URL is empty); events for it are then
/// not written (Context::outboxFor gives nullptr) and the start log and
/// /readyz say why.
struct PublisherStatus {
  bool on = true;      ///< false when configured off
  std::string detail;  ///< why it is off; empty when on
};

/// Publishes events somewhere (Kafka, log, mock file, HTTP). Thread-safe.
class Publisher {
 public:
  virtual ~Publisher() = default;

  /// Queues `event` for publication; the record key is `event.key`.
  /// `done` (may be empty) reports the outcome. Throws only on misuse.
  virtual void publish(Event event, PublishCallback done) = 0;

  /// Waits until every queued event is reported or `timeout` passes.
  /// Returns true when nothing is left outstanding.
  virtual bool flush(std::chrono::milliseconds timeout) = 0;

  /// Whether this publisher is configured on (cheap; never does I/O).
  virtual PublisherStatus status() const { return {}; }
};

}  // namespace commsvc
