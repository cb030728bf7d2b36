#pragma once

#include <chrono>
#include <span>
#include <string>
#include <vector>

#include "commsvc/message.hpp"

namespace commsvc {

/// What a delivery attempt came to.
struct DeliveryResult {
  /// Delivered; TransientFailure may succeed on retry (timeouts, 4xx);
  /// PermanentFailure will not (rejected recipient, 5xx, invalid message);
  /// ChannelFailure is the channel's own fault, not the message's (the
  /// server refused the session: greeting, EHLO, STARTTLS, AUTH): nothing of
  /// this message was judged, so callers hold it without counting an attempt.
  enum class Status { Delivered, TransientFailure, PermanentFailure, ChannelFailure };

  Status status = Status::Delivered;
  std::string detail;  ///< server reply or error text; empty when delivered.

  /// True when the message was delivered.
  bool ok() const { return status == Status::Delivered; }
  /// A successful result.
  static DeliveryResult delivered() { return {}; }
  /// A failure that may pass on retry, with its reason.
  static DeliveryResult transient(std::string why) {
    return {Status::TransientFailure, std::move(why)};
  }
  /// A failure that will not pass on retry, with its reason.
  static DeliveryResult permanent(std::string why) {
    return {Status::PermanentFailure, std::move(why)};
  }
  /// A failure of the channel itself (session refused), with its reason.
  static DeliveryResult channelFailure(std::string why) {
    return {Status::ChannelFailure, std::move(why)};
  }
};

/// What a channel reports about its own state, for readiness checks.
struct ChannelState {
  bool ready = true;   ///< false while the channel is known unable to deliver
  std::string detail;  ///< why not ready (last session-level error); empty when ready
};

/// A way to deliver messages (SMTP, log, mock file, ...). Called from many
/// worker threads at once: implementations must be thread-safe.
class Channel {
 public:
  virtual ~Channel() = default;

  /// Delivers one message. Never throws for delivery problems: they are
  /// reported in the result. Must bound its own time (timeouts).
  virtual DeliveryResult deliver(const Message& message) = 0;

  /// Delivers `messages` in order and returns the results of those it
  /// attempted, in order: always the first; the next ones only while less
  /// than `budget` has passed since the call began, and never past
  /// worstCaseDeliveryTime() in all; none after a ChannelFailure. Callers
  /// deliver the rest in later calls. A channel that can do better than one
  /// message at a time overrides it (SMTP sends one message's end together
  /// with the next one's envelope); the default delivers the first alone.
  virtual std::vector<DeliveryResult> deliverAll(std::span<const Message> messages,
                                                 std::chrono::milliseconds budget) {
    (void)budget;
    std::vector<DeliveryResult> results;
    if (!messages.empty()) results.push_back(deliver(messages.front()));
    return results;
  }

  /// The channel's state as last observed (never does I/O; cheap; any
  /// thread). A channel that cannot tell reports ready.
  virtual ChannelState state() const { return {}; }

  /// The longest one deliver() call can take with this configuration
  /// (waiting for a connection, connecting, sending, the retries it makes
  /// itself), so callers can size leases; zero when unknown.
  virtual std::chrono::milliseconds worstCaseDeliveryTime() const {
    return std::chrono::milliseconds(0);
  }
};

}  // namespace commsvc
