#include "outbox/relay.hpp"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <utility>

#include "commsvc/backoff.hpp"
#include "commsvc/database.hpp"
#include "commsvc/uuid.hpp"
#include "outbox/migrations.hpp"
#include "outbox/postgres_outbox.hpp"

namespace commsvc::outbox {
namespace {

using Clock = std::chrono::steady_clock;

// A publisher's lease: how long it lasts, and when its holder renews it
// (before each pass once this little is left, and while waiting for
// reports).
constexpr std::chrono::seconds kLease{10};
constexpr std::chrono::seconds kLeaseRenewal{5};
// Another relay takes an expired lease over only once it has seen it
// expired, unchanged, for this long. The holder may be back from a database
// outage longer than the lease with published rows whose marks it could not
// write: it writes them first (retried every kUnmarkedRetry, whatever the
// publisher's backoff) and renews its lease, so those rows are not
// published a second time by a relay taking over. A crashed relay's
// publishers are taken over within kLease + kTakeoverGrace.
constexpr std::chrono::seconds kTakeoverGrace{5};
constexpr std::chrono::milliseconds kUnmarkedRetry{500};

// Row status in a Batch.
constexpr std::int8_t kPending = 0;
constexpr std::int8_t kOk = 1;
constexpr std::int8_t kFailed = 2;
constexpr std::int8_t kRejected = 3;

std::string millis(std::chrono::milliseconds ms) { return std::to_string(ms.count()); }

}  // namespace

// The outcome of one pass's publishes, shared with the publisher's callbacks
// (which may arrive after the pass gave up waiting).
struct OutboxRelay::Batch {
  explicit Batch(std::size_t size) : status(size, kPending), errors(size), outstanding(size) {}

  void report(std::size_t index, const PublishResult& result) {
    {
      std::lock_guard lock(mutex);
      if (status[index] != kPending) return;
      status[index] = result.status == PublishResult::Status::Published  ? kOk
                      : result.status == PublishResult::Status::Rejected ? kRejected
                                                                         : kFailed;
      if (!result.ok()) errors[index] = result.error.empty() ? "publish failed" : result.error;
      --outstanding;
    }
    done.notify_all();
  }

  // Waits until every report came or `deadline`; true when all came.
  bool waitUntil(Clock::time_point deadline) {
    std::unique_lock lock(mutex);
    return done.wait_until(lock, deadline, [&] { return outstanding == 0; });
  }

  std::size_t pending() {
    std::lock_guard lock(mutex);
    return outstanding;
  }

  std::mutex mutex;
  std::condition_variable done;
  std::vector<std::int8_t> status;
  std::vector<std::string> errors;
  std::size_t outstanding;
};

OutboxRelay::OutboxRelay(Database& database, std::map<std::string, Publisher*> publishers,
                         Logger& logger, Metrics& metrics, RelaySettings settings)
    : database_(database),
      logger_(logger),
      published_(metrics.counter("outbox_published_total",
                                 "Outbox events published and marked as published")),
      failures_(
          metrics.counter("outbox_publish_failures_total",
                          "Outbox publish attempts that failed or timed out (kept, retried)")),
      settings_(settings),
      holder_(newUuid4()) {
  if (settings_.batchSize == 0) settings_.batchSize = 1;
  for (auto& [name, publisher] : publishers) {
    if (publisher == nullptr) continue;
    targets_.push_back(
        Target{name, publisher, Backoff(settings_.backoffInitial, settings_.backoffMax)});
    deadLettered_[name] = &metrics.counter(
        "outbox_dead_lettered_total",
        "Outbox events their publisher kept rejecting, kept as dead letters (not published)",
        {{"publisher", name}});
    targets_.back().backlog = &metrics.gauge(
        "outbox_backlog", "Outbox events not yet published (counted at most once a second)",
        {{"publisher", name}});
  }
}

OutboxRelay::~OutboxRelay() { stop(Clock::now()); }

void OutboxRelay::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { loop(); });
}

void OutboxRelay::committed() {
  {
    std::lock_guard lock(mutex_);
    notified_ = true;
    woken_ = true;
  }
  wakeUp_.notify_one();
}

void OutboxRelay::committedHere(const std::string& publisher) {
  const bool served = std::any_of(targets_.begin(), targets_.end(),
                                  [&](const Target& target) { return target.name == publisher; });
  {
    std::lock_guard lock(mutex_);
    localCommits_ = true;
    if (!served) foreignPublisher_ = true;
  }
  committed();
}

bool OutboxRelay::holdsAllLeases() const {
  const auto now = Clock::now();
  return std::all_of(targets_.begin(), targets_.end(),
                     [&](const Target& target) { return now < target.leaseUntil; });
}

void OutboxRelay::notifyOtherRelays() {
  try {
    database_.read([](pqxx::nontransaction& tx) {
      tx.exec_params("SELECT pg_notify($1, '')", std::string(kOutboxNotifyChannel));
    });
  } catch (const std::exception& e) {
    logger_.warn("outbox: could not notify the other relays; they find the rows by polling",
                 {{"error", e.what()}});
  }
}

void OutboxRelay::stop(Clock::time_point deadline) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      stopping_ = true;
      deadline_ = deadline;
    }
  }
  wakeUp_.notify_one();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void OutboxRelay::loop() {
  auto lastCleanup = Clock::now();
  for (;;) {
    bool stopping = false;
    Clock::time_point deadline;
    bool localCommits = false;
    bool foreignPublisher = false;
    {
      std::lock_guard lock(mutex_);
      stopping = stopping_;
      deadline = deadline_;
      woken_ = false;
      localCommits = std::exchange(localCommits_, false);
      foreignPublisher = std::exchange(foreignPublisher_, false);
    }
    if (localCommits && (foreignPublisher || !holdsAllLeases())) notifyOtherRelays();
    const auto passStart = Clock::now();
    if (stopping && passStart >= deadline) break;

    bool more = false;     // a pass filled its batch: go again at once
    bool pending = false;  // something may still be publishable later
    auto next = Clock::time_point::max();
    for (auto& target : targets_) {
      const auto now = Clock::now();
      if (stopping && now >= deadline) break;
      if (target.stragglers) {
        // Callbacks of the last batch are still out: publishing again now
        // would queue duplicates behind them.
        if (target.stragglers->pending() > 0 && now < target.stragglersUntil) {
          pending = true;
          next = std::min(next, now + settings_.idleInterval);
          continue;
        }
        target.stragglers.reset();
      }
      if (now < target.nextAttempt) {
        if (!stopping || target.nextAttempt < deadline) pending = true;
        next = std::min(next, target.nextAttempt);
        continue;
      }
      auto waitUntil = now + settings_.publishTimeout;
      if (stopping) waitUntil = std::min(waitUntil, deadline);
      PassResult result;
      try {
        result = pass(target, waitUntil);
      } catch (const std::exception& e) {
        result = PassResult{};
        result.error = std::string("outbox pass failed: ") + e.what();
      }
      published_.add(static_cast<double>(result.published));
      failures_.add(static_cast<double>(result.failed));
      if (!result.error.empty()) {
        backOff(target, result);
        pending = true;
        next = std::min(next, target.nextAttempt);
        continue;
      }
      if (target.backoff.count() > 0) {
        logger_.info("outbox publisher recovered",
                     {{"publisher", target.name}, {"published", std::to_string(result.published)}});
        target.backoff = std::chrono::milliseconds(0);
        target.pauses.reset();
      }
      if (result.locked && result.selected >= settings_.batchSize) more = true;
    }

    if (!stopping && settings_.retention.count() > 0 &&
        Clock::now() - lastCleanup >= settings_.cleanupInterval) {
      lastCleanup = Clock::now();
      try {
        cleanup();
      } catch (const std::exception& e) {
        logger_.warn("outbox cleanup failed", {{"error", e.what()}});
      }
    }
    if (stopping && !more && !pending) break;
    if (more) continue;

    std::unique_lock lock(mutex_);
    if (stopping_ != stopping) continue;  // stop requested during the pass
    const auto idle = notified_ ? settings_.notifiedIdleInterval : settings_.idleInterval;
    auto until = std::min(next, passStart + idle);
    if (stopping_) until = std::min(until, deadline_);
    wakeUp_.wait_until(lock, until, [&] { return woken_ || stopping_ != stopping; });
  }
  releaseLeases();
  logger_.debug("outbox relay stopped");
}

OutboxRelay::PassResult OutboxRelay::pass(Target& target, Clock::time_point waitUntil) {
  PassResult result;
  // Results of an earlier pass whose marking failed are marked first: their
  // rows were published, and must not be selected and published again.
  if (target.unmarked) {
    markResults(*target.unmarked);
    result.locked = true;
    result.published = target.unmarked->done.size();
    result.selected = settings_.batchSize;  // rows may wait behind them: go again at once
    target.unmarked.reset();
    return result;
  }

  // 1. Lease and rows, without side effects (the pool may run it again
  //    after a broken connection).
  std::vector<Event> events;
  std::vector<long long> ids;
  std::vector<int> rejections;
  const auto select = [&](pqxx::transaction_base& tx) {
    result.locked = true;
    if (Clock::now() - target.backlogAt >= std::chrono::seconds(1)) {
      target.backlogAt = Clock::now();
      target.backlog->set(tx.exec_params1("SELECT count(*) FROM public.commsvc_outbox"
                                          " WHERE publisher = $1 AND published_at IS NULL",
                                          target.name)[0]
                              .as<double>());
    }
    static const std::string kUnpublished =
        "SELECT id, event_id::text, event_type, event_version, event_timestamp, producer,"
        " event_key, payload, encode(headers, 'hex'), rejections"
        " FROM public.commsvc_outbox WHERE publisher = $1 AND published_at IS NULL"
        " ORDER BY id LIMIT $2";
    const auto rows = commsvc::execPrepared(tx, kUnpublished, target.name,
                                            static_cast<long long>(settings_.batchSize));
    result.selected = rows.size();
    for (const auto& row : rows) {
      ids.push_back(row[0].as<long long>());
      Event& event = events.emplace_back();
      event.id = row[1].as<std::string>();
      event.type = row[2].as<std::string>();
      event.version = row[3].as<std::string>();
      event.timestamp = row[4].as<std::string>();
      event.producer = row[5].as<std::string>();
      event.key = row[6].as<std::string>();
      event.payload = row[7].as<std::string>();
      event.headers = decodeHeaders(row[8].as<std::string>());
      rejections.push_back(row[9].as<int>());
    }
  };
  const auto restart = [&] {
    result = PassResult{};
    events.clear();
    ids.clear();
    rejections.clear();
  };
  const auto leaseRunningOut = [&] { return Clock::now() + kLeaseRenewal >= target.leaseUntil; };
  bool renew = leaseRunningOut();
  if (!renew) {
    // The lease holds for a while yet: the reads need no transaction block,
    // which saves the BEGIN and COMMIT round trips of every pass. Checked
    // again on every run: the pool may have waited for a connection or
    // reconnected since.
    database_.read([&](pqxx::nontransaction& tx) {
      restart();
      renew = leaseRunningOut();
      if (!renew) select(tx);
    });
  }
  if (renew) {
    try {
      database_.transaction([&](pqxx::work& tx) {
        restart();
        if (!takeLease(tx, target)) return;  // another relay is publishing this publisher's rows
        select(tx);
      });
    } catch (...) {
      target.leaseUntil = {};  // the renewal may not have committed
      throw;
    }
  }
  if (!result.locked || events.empty()) return result;

  // 2. Publish, outside any transaction, and wait for the reports.
  auto batch = std::make_shared<Batch>(events.size());
  std::vector<std::string> keys;
  keys.reserve(events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    keys.push_back(events[i].key);
    try {
      target.publisher->publish(std::move(events[i]), [batch, i](const PublishResult& outcome) {
        batch->report(i, outcome);
      });
    } catch (const std::exception& e) {
      batch->report(i, PublishResult::failed(e.what()));
    }
  }
  // The lease is renewed while waiting, so a slow broker does not hand the
  // rows to another relay.
  while (!batch->waitUntil(std::min(waitUntil, Clock::now() + kLeaseRenewal)) &&
         Clock::now() < waitUntil) {
    try {
      database_.transaction([&](pqxx::work& tx) { takeLease(tx, target); });
    } catch (const std::exception& e) {
      target.leaseUntil = {};  // the renewal may not have committed
      logger_.debug("could not renew the outbox lease", {{"error", e.what()}});
    }
  }

  // 3. What to mark. A failed row holds back the later rows of its key.
  Marks marks;
  std::vector<std::string> failedKeys;
  {
    std::lock_guard lock(batch->mutex);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const bool heldBack =
          std::find(failedKeys.begin(), failedKeys.end(), keys[i]) != failedKeys.end();
      if (batch->status[i] == kOk && !heldBack) {
        marks.done.push_back(ids[i]);
        continue;
      }
      if (batch->status[i] == kOk) continue;  // published after a failure of its key: again later
      if (batch->status[i] == kRejected) {
        if (rejections[i] + 1 >= settings_.maxRejections) {
          // Final: dead-lettered, so it no longer holds its key back.
          marks.deadLetters.emplace_back(ids[i], batch->errors[i]);
          continue;
        }
        marks.rejected.push_back(ids[i]);
      } else {
        marks.failed.push_back(ids[i]);
      }
      if (!heldBack) failedKeys.push_back(keys[i]);
      if (marks.error.empty()) {
        marks.error = batch->status[i] == kFailed
                          ? batch->errors[i]
                          : "no publish report within " +
                                millis(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    settings_.publishTimeout)) +
                                " ms or the stop deadline";
      }
    }
    if (batch->outstanding > 0) {
      target.stragglers = batch;
      target.stragglersUntil = Clock::now() + settings_.publishTimeout;
    }
  }
  result.error = marks.error;
  result.failed = marks.failed.size() + marks.rejected.size();

  // 4. Mark them. When the database is away, the marks are kept and tried
  //    again (after backoff) before anything else is published.
  try {
    markResults(marks);
  } catch (const std::exception& e) {
    target.unmarked = std::make_unique<Marks>(std::move(marks));
    result.error =
        std::string("published, but could not mark the rows (kept, retried): ") + e.what();
    return result;
  }
  result.published = marks.done.size();
  for (const auto& [id, error] : marks.deadLetters) {
    deadLettered_.at(target.name)->add();
    logger_.error(
        "outbox event dead-lettered: its publisher rejected it " +
            std::to_string(settings_.maxRejections) + " times",
        {{"publisher", target.name}, {"outbox_id", std::to_string(id)}, {"error", error}});
  }
  return result;
}

std::uint64_t OutboxRelay::marksWritten() const {
  std::lock_guard lock(marksMutex_);
  return marksWritten_;
}

void OutboxRelay::awaitMarks(std::uint64_t seen, Clock::time_point until) {
  std::unique_lock lock(marksMutex_);
  marked_.wait_until(lock, until, [&] { return marksWritten_ != seen; });
}

void OutboxRelay::markResults(const Marks& marks) {
  const auto mark = [&](pqxx::transaction_base& tx) {
    if (!marks.done.empty()) {
      if (settings_.retention.count() > 0) {
        static const std::string kPublished =
            "UPDATE public.commsvc_outbox SET published_at = now(), attempts = attempts + 1"
            " WHERE id = ANY($1::bigint[]) AND published_at IS NULL";
        commsvc::execPrepared(tx, kPublished, bigintArray(marks.done));
      } else {
        static const std::string kDelete =
            "DELETE FROM public.commsvc_outbox WHERE id = ANY($1::bigint[])";
        commsvc::execPrepared(tx, kDelete, bigintArray(marks.done));
      }
    }
    if (!marks.failed.empty()) {
      tx.exec_params(
          "UPDATE public.commsvc_outbox SET attempts = attempts + 1, last_error = $2"
          " WHERE id = ANY($1::bigint[])",
          bigintArray(marks.failed), marks.error);
    }
    if (!marks.rejected.empty()) {
      tx.exec_params(
          "UPDATE public.commsvc_outbox SET attempts = attempts + 1,"
          " rejections = rejections + 1, last_error = $2 WHERE id = ANY($1::bigint[])",
          bigintArray(marks.rejected), marks.error);
    }
    for (const auto& [id, error] : marks.deadLetters) {
      tx.exec_params(
          "UPDATE public.commsvc_outbox SET attempts = attempts + 1,"
          " rejections = rejections + 1, last_error = $2, published_at = now(),"
          " dead_lettered_at = now() WHERE id = $1 AND published_at IS NULL",
          id, error);
    }
  };
  if (marks.failed.empty() && marks.rejected.empty() && marks.deadLetters.empty()) {
    // Only published rows: one statement, which may run twice (a broken
    // connection) without harm, so no transaction block and its round trips.
    database_.read([&](pqxx::nontransaction& tx) { mark(tx); });
  } else {
    database_.transaction([&](pqxx::work& tx) { mark(tx); });
  }
  {
    std::lock_guard lock(marksMutex_);
    ++marksWritten_;
  }
  marked_.notify_all();
}

bool OutboxRelay::takeLease(pqxx::work& tx, Target& target) {
  const auto asked = Clock::now();
  const auto seconds = static_cast<double>(kLease.count());
  const auto current = tx.exec_params(
      "SELECT holder, expires_at::text, expires_at < now()"
      " FROM public.commsvc_outbox_lease WHERE publisher = $1 FOR UPDATE",
      target.name);
  bool taken = false;
  if (current.empty()) {
    taken = !tx.exec_params(
                   "INSERT INTO public.commsvc_outbox_lease (publisher, holder, expires_at)"
                   " VALUES ($1, $2, now() + make_interval(secs => $3))"
                   " ON CONFLICT (publisher) DO NOTHING RETURNING holder",
                   target.name, holder_, seconds)
                 .empty();
  } else {
    const auto holder = current[0][0].as<std::string>();
    bool mayTake = holder == holder_;
    if (!mayTake && current[0][2].as<bool>()) {
      // Another relay's lease ran out: taken once it stayed so for the grace.
      const std::string seen = holder + " " + current[0][1].as<std::string>();
      if (target.expiredLease != seen) {
        target.expiredLease = seen;
        target.expiredSeenAt = asked;
      }
      mayTake = asked - target.expiredSeenAt >= kTakeoverGrace;
    } else if (!mayTake) {
      target.expiredLease.clear();
    }
    if (mayTake) {
      tx.exec_params(
          "UPDATE public.commsvc_outbox_lease SET holder = $2,"
          " expires_at = now() + make_interval(secs => $3) WHERE publisher = $1",
          target.name, holder_, seconds);
      taken = true;
    }
  }
  if (taken) target.expiredLease.clear();
  // Counted from before the statement: never later than the server's.
  target.leaseUntil = taken ? asked + kLease : Clock::time_point{};
  return taken;
}

void OutboxRelay::releaseLeases() {
  try {
    database_.transaction([&](pqxx::work& tx) {
      tx.exec_params("DELETE FROM public.commsvc_outbox_lease WHERE holder = $1", holder_);
    });
  } catch (const std::exception& e) {
    logger_.debug("could not release the outbox leases (they expire)", {{"error", e.what()}});
  }
}

void OutboxRelay::backOff(Target& target, const PassResult& result) {
  target.backoff = target.pauses.next();
  // Unwritten marks are retried soon: the lease covers them only so long.
  const auto wait = target.unmarked
                        ? std::min<std::chrono::milliseconds>(target.backoff, kUnmarkedRetry)
                        : target.backoff;
  target.nextAttempt = Clock::now() + wait;
  logger_.warn("outbox publish failed; events kept, retrying after backoff",
               {{"publisher", target.name},
                {"failed", std::to_string(result.failed)},
                {"published", std::to_string(result.published)},
                {"error", result.error},
                {"retry_in_ms", millis(wait)}});
}

void OutboxRelay::cleanup() {
  database_.transaction([&](pqxx::work& tx) {
    tx.exec_params(
        "DELETE FROM public.commsvc_outbox"
        " WHERE published_at IS NOT NULL AND dead_lettered_at IS NULL"
        " AND published_at < now() - make_interval(secs => $1)",
        static_cast<double>(settings_.retention.count()));
  });
}

}  // namespace commsvc::outbox
