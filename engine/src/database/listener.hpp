#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "commsvc/logger.hpp"

namespace commsvc::database {

/// Turns PostgreSQL notifications (`NOTIFY channel`, pg_notify, delivered
/// when the notifying transaction commits, from any connection or
/// instance) into calls of the callbacks subscribed to their channel. One
/// connection of its own and one thread, started by the first subscription.
/// A notification sent while it was disconnected is lost, so after every
/// (re)connect it calls every callback once: subscribers treat a call as
/// "look again", never as a count.
class Listener {
 public:
  /// Connects to `conninfo` (a libpq URL with its connect timeout) lazily;
  /// `logger` must outlive the listener.
  Listener(std::string conninfo, Logger& logger);
  /// Stops and joins the thread.
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  /// Calls `callback` on the listener's thread for each notification on
  /// `channel` (lowercase letters, digits and '_'; std::invalid_argument
  /// otherwise), and after each (re)connect. Callbacks must be short and
  /// must not block (e.g. wake a thread). Returns an id for unsubscribe().
  std::uint64_t subscribe(const std::string& channel, std::function<void()> callback);
  /// Removes a subscription; once it returns the callback is not running
  /// and is never called again.
  void unsubscribe(std::uint64_t id);

  /// Throws std::invalid_argument unless `channel` is a valid channel name
  /// (lowercase letters, digits and '_', 63 at most).
  static void checkChannel(const std::string& channel);

  /// Notifications passed to callbacks so far (for tests and metrics).
  std::uint64_t delivered() const;

 private:
  struct Subscription {
    std::string channel;
    std::function<void()> callback;
  };
  class Receiver;

  void loop();
  // Calls the callbacks of `channel`, or of every channel when empty.
  void dispatch(const std::string& channel);
  // Sleeps `pause` unless stopping; false when stopping.
  bool pauseUnlessStopping(std::chrono::milliseconds pause);

  std::string conninfo_;
  Logger& logger_;
  mutable std::mutex mutex_;
  std::condition_variable stopped_;
  std::map<std::uint64_t, Subscription> subscriptions_;  // guarded by mutex_
  std::uint64_t nextId_ = 1;
  std::uint64_t delivered_ = 0;
  bool stopping_ = false;
  std::thread thread_;
  std::mutex callbackMutex_;  // held while callbacks run (unsubscribe waits on it)
};

}  // namespace commsvc::database
