#include "database/listener.hpp"

#include <algorithm>
#include <memory>
#include <pqxx/pqxx>
#include <set>
#include <stdexcept>
#include <vector>

#include "commsvc/backoff.hpp"

namespace commsvc::database {
namespace {

// How long one wait for notifications lasts: the bound on noticing a stop
// or a new channel.
constexpr long kWaitMicroseconds = 200000;
constexpr std::chrono::milliseconds kReconnectFirst{100};
constexpr std::chrono::milliseconds kReconnectMax{5000};

bool validChannel(const std::string& channel) {
  return !channel.empty() && channel.size() <= 63 &&
         std::all_of(channel.begin(), channel.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
         });
}

}  // namespace

// LISTENs to one channel on the listener's connection (pqxx issues LISTEN).
class Listener::Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& connection, const std::string& channel, Listener& owner)
      : pqxx::notification_receiver(connection, channel), owner_(owner) {}
  void operator()(const std::string& /*payload*/, int /*backend_pid*/) override {
    owner_.dispatch(channel());
  }

 private:
  Listener& owner_;
};

Listener::Listener(std::string conninfo, Logger& logger)
    : conninfo_(std::move(conninfo)), logger_(logger) {}

Listener::~Listener() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  stopped_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Listener::checkChannel(const std::string& channel) {
  if (!validChannel(channel)) {
    throw std::invalid_argument("notification channel '" + channel +
                                "' must be lowercase letters, digits and '_' (63 at most)");
  }
}

std::uint64_t Listener::subscribe(const std::string& channel, std::function<void()> callback) {
  checkChannel(channel);
  std::lock_guard lock(mutex_);
  const std::uint64_t id = nextId_++;
  subscriptions_.emplace(id, Subscription{channel, std::move(callback)});
  if (!thread_.joinable() && !stopping_) thread_ = std::thread([this] { loop(); });
  return id;
}

void Listener::unsubscribe(std::uint64_t id) {
  {
    std::lock_guard lock(mutex_);
    subscriptions_.erase(id);
  }
  // A dispatch that copied the callback before the erase finishes first.
  std::lock_guard running(callbackMutex_);
}

std::uint64_t Listener::delivered() const {
  std::lock_guard lock(mutex_);
  return delivered_;
}

void Listener::dispatch(const std::string& channel) {
  std::lock_guard running(callbackMutex_);
  std::vector<std::function<void()>> callbacks;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, s] : subscriptions_) {
      if (channel.empty() || s.channel == channel) callbacks.push_back(s.callback);
    }
    ++delivered_;
  }
  for (const auto& callback : callbacks) {
    try {
      callback();
    } catch (const std::exception& e) {
      logger_.warn("notification callback failed", {{"channel", channel}, {"error", e.what()}});
    }
  }
}

bool Listener::pauseUnlessStopping(std::chrono::milliseconds pause) {
  std::unique_lock lock(mutex_);
  return !stopped_.wait_for(lock, pause, [&] { return stopping_; });
}

void Listener::loop() {
  Backoff backoff(kReconnectFirst, kReconnectMax);
  bool everConnected = false;
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    try {
      pqxx::connection connection(conninfo_);
      std::map<std::string, std::unique_ptr<Receiver>> receivers;
      std::uint64_t listenedUpTo = 0;  // nextId_ when the channels were last read
      const auto listenToAll = [&] {
        std::set<std::string> channels;
        {
          std::lock_guard lock(mutex_);
          if (nextId_ == listenedUpTo) return;  // no subscription since
          listenedUpTo = nextId_;
          for (const auto& [id, s] : subscriptions_) channels.insert(s.channel);
        }
        for (const auto& channel : channels) {
          if (!receivers.contains(channel)) {
            receivers.emplace(channel, std::make_unique<Receiver>(connection, channel, *this));
          }
        }
      };
      listenToAll();
      if (everConnected) logger_.info("database notification listener reconnected");
      everConnected = true;
      backoff.reset();
      dispatch("");  // whatever was notified while we were away
      for (;;) {
        {
          std::lock_guard lock(mutex_);
          if (stopping_) return;
        }
        listenToAll();
        connection.await_notification(0, kWaitMicroseconds);
      }
    } catch (const std::exception& e) {
      logger_.warn("database notification listener lost its connection; reconnecting",
                   {{"error", e.what()}});
    }
    if (!pauseUnlessStopping(backoff.next())) return;
  }
}

}  // namespace commsvc::database
