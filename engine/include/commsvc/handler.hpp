#pragma once

#include <span>
#include <string>
#include <vector>

#include "commsvc/event.hpp"

namespace commsvc {

/// What a handler made of an event.
struct HandleResult {
  /// Done: finished (the offset may be committed). Retry: a transient
  /// problem; the engine retries with backoff up to its bound, then
  /// dead-letters. Reject: the event is invalid; it goes to the
  /// dead-letter topic with `reason` and consumption goes on.
  enum class Outcome { Done, Retry, Reject };

  Outcome outcome = Outcome::Done;
  std::string reason;  ///< why, for Retry and Reject; logged and put in headers.

  /// The event was handled.
  static HandleResult done() { return {}; }
  /// Try again later, because of `why`.
  static HandleResult retry(std::string why) { return {Outcome::Retry, std::move(why)}; }
  /// Dead-letter the event, because of `why`.
  static HandleResult reject(std::string why) { return {Outcome::Reject, std::move(why)}; }
};

/// Handles events of one type. The engine calls `handle` from worker
/// threads; events with the same key are never handled concurrently and
/// arrive in order, events with different keys may be handled in parallel.
class Handler {
 public:
  virtual ~Handler() = default;

  /// Handles one event. An exception counts as Retry with its message.
  virtual HandleResult handle(const Event& event) = 0;
};

/// A handler that can also take several events at once, e.g. to claim them
/// and record their outcomes in one database transaction each. A worker
/// hands it the events of its type that are already waiting in its queue,
/// in order, up to `engine.batch_size`; it never waits for more, so a lone
/// event comes at once, as a batch of one. Events of one key keep their
/// order within a batch and are never in two batches at once.
class BatchHandler : public Handler {
 public:
  /// Handles `events` in order and returns one result per event, in the
  /// same order. A Retry result is retried later through handle(), alone,
  /// with the usual backoff. An exception, or a result count that does not
  /// match, counts as Retry for every event of the batch.
  virtual std::vector<HandleResult> handleBatch(std::span<const Event> events) = 0;
};

}  // namespace commsvc
