#pragma once

#include <string>

#include "commsvc/message.hpp"

namespace commsvc {

/// What a delivery attempt came to.
struct DeliveryResult {
  /// Delivered; TransientFailure may succeed on retry (timeouts, 4xx);
  /// PermanentFailure will not (rejected recipient, 5xx, invalid message).
  enum class Status { Delivered, TransientFailure, PermanentFailure };

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
};

/// A way to deliver messages (SMTP, log, mock file, ...). Called from many
/// worker threads at once: implementations must be thread-safe.
class Channel {
 public:
  virtual ~Channel() = default;

  /// Delivers one message. Never throws for delivery problems: they are
  /// reported in the result. Must bound its own time (timeouts).
  virtual DeliveryResult deliver(const Message& message) = 0;
};

}  // namespace commsvc
