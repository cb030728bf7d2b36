#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "commsvc/backoff.hpp"
#include "commsvc/database.hpp"
#include "commsvc/logger.hpp"
#include "commsvc/metrics.hpp"
#include "commsvc/publisher.hpp"

namespace commsvc::outbox {

/// How an OutboxRelay polls, batches, waits and backs off.
struct RelaySettings {
  std::size_t batchSize = 500;  ///< rows per pass at most
  /// Poll interval until commit notifications arrive (committed()).
  std::chrono::milliseconds idleInterval{50};
  /// Poll interval once commit notifications arrive (committed()): only a
  /// safety net then.
  std::chrono::milliseconds notifiedIdleInterval{1000};
  std::chrono::milliseconds backoffInitial{100};    ///< first pause after a failed pass
  std::chrono::milliseconds backoffMax{10000};      ///< pauses double up to this
  std::chrono::milliseconds publishTimeout{70000};  ///< wait for a pass's callbacks at most
  /// How long published rows are kept (published_at set); zero deletes
  /// them as soon as they are published.
  std::chrono::seconds retention{0};
  std::chrono::milliseconds cleanupInterval{60000};  ///< how often kept rows are pruned
  /// A row its publisher rejected this many times (PublishResult::Rejected,
  /// e.g. HTTP 4xx) is dead-lettered: kept with dead_lettered_at and its
  /// last error, logged, counted, never published again.
  int maxRejections = 5;
};

/// Publishes the rows of commsvc_outbox after their transaction committed,
/// on one thread, through the publishers named in the rows.
///
/// A pass (per publisher) first takes or renews the publisher's lease
/// (commsvc_outbox_lease: 10 s, renewed every 5 s while held), so across any number of
/// relays on one database a publisher's rows are published by one relay at
/// a time, and selects up to batchSize unpublished rows in id order — one
/// transaction without side effects. Then, outside any transaction, it
/// publishes them all and waits for the callbacks (publishTimeout, or the
/// stop deadline); then marks the ones reported ok (deleted, or
/// published_at set when retention > 0) and records attempts and last_error
/// on the rest. Marks that cannot be written (the database went away) are
/// kept and written first on the next pass, so a database outage never
/// republishes a batch. A failed row holds back the
/// later rows of its key (left unmarked even when reported ok, so they are
/// published again after it): per-key order holds at the price of a
/// possible duplicate. Rows are never dropped; a publisher that keeps
/// failing is retried with exponential backoff (backoffInitial up to
/// backoffMax). A row the publisher rejects (the receiver refuses that
/// event) is retried the same way up to maxRejections times, then
/// dead-lettered (kept in the table with dead_lettered_at, counted in
/// outbox_dead_lettered_total, logged as an error), releasing its key. Events are rebuilt exactly
/// as add() stored them, so the eventId and the envelope never change across retries.
class OutboxRelay {
 public:
  /// `publishers` maps the publisher names of pipelines.yaml to their
  /// objects; rows naming another publisher are left alone. All references
  /// must outlive the relay. Counts outbox_published_total and
  /// outbox_publish_failures_total in `metrics`.
  OutboxRelay(Database& database, std::map<std::string, Publisher*> publishers, Logger& logger,
              Metrics& metrics, RelaySettings settings = {});
  /// Stops at once (see stop) when still running.
  ~OutboxRelay();
  OutboxRelay(const OutboxRelay&) = delete;
  OutboxRelay& operator=(const OutboxRelay&) = delete;

  /// Starts the relay thread; the first pass runs at once. Once only.
  void start();

  /// A transaction that added rows committed (the outbox table's
  /// notification, from any instance): the relay runs a pass at once. From
  /// the first call on, it polls only every notifiedIdleInterval. Cheap,
  /// never blocks.
  void committed();

  /// A transaction of this process that added rows for `publisher`
  /// committed (PostgresOutbox, through database::afterCommit): as
  /// committed(). When another relay may have to publish them (this one
  /// lacks the lease of a publisher, or has no publisher of that name), the
  /// relay also notifies the outbox channel, once for all such commits
  /// before its next pass: this process's own transactions do not notify
  /// (see PoolSettings::outboxNotify). Cheap, never blocks.
  void committedHere(const std::string& publisher);

  /// Publishes what it can until `deadline` (passes keep running while rows
  /// remain and publishers succeed), then stops the thread. Rows left
  /// unpublished stay for the next start. Idempotent; no-op before start().
  void stop(std::chrono::steady_clock::time_point deadline);

  /// How many times this relay has written marks so far (for awaitMarks).
  std::uint64_t marksWritten() const;

  /// Waits until this relay writes marks after the `seen`-th time, or `until`.
  void awaitMarks(std::uint64_t seen, std::chrono::steady_clock::time_point until);

 private:
  struct Batch;
  // What a pass learned: rows to mark published and rows that failed.
  struct Marks {
    std::vector<long long> done;
    std::vector<long long> failed;    // not accepted: attempts + 1
    std::vector<long long> rejected;  // refused, below maxRejections: rejections + 1
    std::vector<std::pair<long long, std::string>> deadLetters;  // refused for the last time
    std::string error;                                           // first failure's reason
  };
  struct Target {
    std::string name;
    Publisher* publisher;
    Backoff pauses;                                     // pauses after failed passes
    Gauge* backlog = nullptr;                           // outbox_backlog{publisher}
    std::chrono::steady_clock::time_point backlogAt{};  // last time it was counted
    std::chrono::milliseconds backoff{0};
    std::chrono::steady_clock::time_point nextAttempt{};
    std::shared_ptr<Batch> stragglers;  // last batch, while callbacks are outstanding
    std::chrono::steady_clock::time_point stragglersUntil{};
    std::unique_ptr<Marks> unmarked;  // a published batch whose marks could not be written
    std::chrono::steady_clock::time_point leaseUntil{};  // while held: when it ends at the latest
    std::string expiredLease;  // another relay's expired lease seen (holder and end), or empty
    std::chrono::steady_clock::time_point expiredSeenAt{};  // when it was first seen expired
  };
  struct PassResult {
    bool locked = false;        // false: another relay holds this publisher
    std::size_t selected = 0;   // rows read
    std::size_t published = 0;  // rows marked published
    std::size_t failed = 0;     // rows reported failed (or not reported in time)
    std::string error;          // first failure's reason
  };

  void loop();
  // One pass for `target`; callbacks are awaited until `waitUntil`.
  PassResult pass(Target& target, std::chrono::steady_clock::time_point waitUntil);
  // Records a failed pass: the next pause of the target's backoff, logged.
  void backOff(Target& target, const PassResult& result);
  // Writes `marks` in one transaction (idempotent: safe to run again).
  void markResults(const Marks& marks);
  // Takes or renews `target`'s lease in `tx`; false when another relay holds
  // it, or held it until lately (see kTakeoverGrace).
  bool takeLease(pqxx::work& tx, Target& target);
  // Gives up this relay's leases (at stop), so another relay goes on at once.
  void releaseLeases();
  // True while this relay holds the lease of every publisher it serves.
  bool holdsAllLeases() const;
  // Notifies the outbox channel in a statement of its own (other relays
  // then run a pass); failures are logged, the others' polling covers them.
  void notifyOtherRelays();
  // Deletes rows published more than `retention` ago.
  void cleanup();

  Database& database_;
  Logger& logger_;
  Counter& published_;
  Counter& failures_;
  std::map<std::string, Counter*> deadLettered_;  // outbox_dead_lettered_total{publisher}
  RelaySettings settings_;
  const std::string holder_;  // this relay's lease holder id (a uuid)
  std::vector<Target> targets_;

  std::mutex mutex_;
  std::condition_variable wakeUp_;
  bool woken_ = false;
  bool notified_ = false;          // commit notifications arrive
  bool localCommits_ = false;      // committedHere() since the last pass began
  bool foreignPublisher_ = false;  // ... for a publisher this relay does not serve
  bool stopping_ = false;
  std::chrono::steady_clock::time_point deadline_{};
  std::thread thread_;

  mutable std::mutex marksMutex_;
  std::condition_variable marked_;
  std::uint64_t marksWritten_ = 0;
};

}  // namespace commsvc::outbox
