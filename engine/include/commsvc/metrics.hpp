#pragma once

#include <string>

namespace commsvc {

/// A monotonically increasing count. Thread-safe and lock-free to add to.
class Counter {
 public:
  virtual ~Counter() = default;
  /// Adds `amount` (>= 0).
  virtual void add(double amount = 1) = 0;
  /// The current total.
  virtual double value() const = 0;
};

/// The engine's metrics registry, handed to plugins.
class Metrics {
 public:
  virtual ~Metrics() = default;
  /// The counter `name` (snake_case, e.g. "emails_sent_total"), created on
  /// first use. The reference stays valid for the engine's lifetime.
  virtual Counter& counter(const std::string& name, const std::string& help) = 0;
};

}  // namespace commsvc
