#pragma once

// One deployment of the communication service for a fault scenario: a
// throw-away PostgreSQL, a fresh broker process (`commsvc broker`), an SMTP
// server process whose faults can be changed while it runs, and two
// `commsvc run` instances in one consumer group.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

#include "../integration/harness.hpp"
#include "../support/postgres.hpp"

namespace commsvc::faults {

/// Row locks on every email `Wird_gesendet` at construction (SELECT ... FOR
/// UPDATE in a transaction left open) until release() or destruction. A
/// sender that delivers one of those emails then waits in its database
/// update: between the server's 250 and the record, where a crash makes a
/// resend.
class ClaimedRowsLock {
 public:
  explicit ClaimedRowsLock(const std::string& url);
  ~ClaimedRowsLock();
  /// How many rows are locked.
  std::size_t rows() const { return rows_; }
  /// Rolls the transaction back: the waiting updates go on.
  void release();

 private:
  std::unique_ptr<pqxx::connection> connection_;
  std::size_t rows_ = 0;
};

using integration::Process;

/// What a scenario's deployment looks like.
struct ClusterOptions {
  int emails = 300;              ///< queued emails inserted (env COMMSVC_FAULT_EMAILS overrides)
  int sinkDelayMs = 100;         ///< the SMTP server's pause before answering DATA
  bool smtpAuth = false;         ///< the server requires AUTH, the channel logs in
  int workers = 4;               ///< engine.workers of each instance
  int shutdownTimeoutMs = 5000;  ///< engine.shutdown_timeout_ms
  int smtpPoolSize = 2;          ///< channel pool_size (SMTP connections, sends at once)
  int smtpTimeoutMs = 1500;      ///< channel timeout_ms (one whole delivery)
  int queueBatchSize = 10;       ///< email queue_batch_size
  /// email claim_lease_s; validation wants at least twice the channel's
  /// worst case (3 x timeout_ms for transport-smtp).
  int claimLeaseS = 10;
  int maxAttempts = 5;    ///< email max_attempts
  int retryBackoffS = 0;  ///< email retry_backoff_s
};

/// The deployment. Everything is stopped by the destructor.
class FaultCluster {
 public:
  /// Starts PostgreSQL, the broker (topics events, events.dlq; 3 partitions)
  /// and the SMTP sink, and applies the migrations. `name` names the scratch dir.
  FaultCluster(const std::string& name, ClusterOptions options);
  ~FaultCluster();

  /// Inserts `options().emails` emails in `In_Warteschlange` (subject
  /// "fault-email-<id>"), returns their ids in order.
  std::vector<std::int64_t> queueEmails();

  /// Starts instance `name` (its pipeline file is written first) and returns
  /// it once it logged "pipeline ready".
  Process& startInstance(const std::string& name);
  /// Starts instances "a" and "b" at once (one group join) and waits for both.
  void startTwoInstances();
  /// The instance started as `name`.
  Process& instance(const std::string& name);

  /// Puts one communication.send_email event per id on the topic.
  void sendEvents(const std::vector<std::int64_t>& ids);

  /// Rows with status `status` among all emails.
  long countStatus(const std::string& status);
  /// Rows per status, e.g. "Gesendet=300 Wird_gesendet=0".
  std::string statusSummary();
  /// Waits until all `n` emails are final (`Gesendet`, or `Fehlgeschlagen`,
  /// which the checker then reports) or `timeout` passes; true when all are
  /// `Gesendet`... or final.
  bool waitAllSent(long n, std::chrono::milliseconds timeout);

  /// How an instance ended.
  struct Exit {
    std::optional<int> code;  ///< exit code (128+n for signal n); nullopt: still ran, killed
    std::chrono::milliseconds took{0};  ///< from the signal to the exit
  };
  /// Sends `signal` to instance `name` and waits up to `timeout` for its exit
  /// (then kills it).
  Exit stop(const std::string& name, int signal,
            std::chrono::milliseconds timeout = std::chrono::seconds(20));
  /// SIGTERM to every instance still running, at once; EXPECTs each exits 0
  /// within `timeout`.
  void stopAll(std::chrono::milliseconds timeout = std::chrono::seconds(20));

  /// The sum of counter `name` over the "final counters" lines the instances
  /// logged at shutdown (an instance killed with SIGKILL logs none), and how
  /// many instances logged one.
  std::pair<double, int> finalCounter(const std::string& name) const;

  /// Every instance's log, headed by its name (for failure messages).
  std::string logs() const;

  const ClusterOptions& options() const { return options_; }
  integration::ScratchDir& dir() { return dir_; }
  testing::TemporaryPostgres& postgres() { return postgres_; }
  integration::BrokerProcess& broker() { return *broker_; }
  integration::SmtpSink& sink() { return *sink_; }

 private:
  std::filesystem::path writeConfig(const std::string& name);

  struct Instance {
    std::string name;
    std::unique_ptr<Process> process;
    bool exited = false;
  };

  ClusterOptions options_;
  integration::ScratchDir dir_;
  testing::TemporaryPostgres postgres_;
  std::unique_ptr<integration::BrokerProcess> broker_;
  std::unique_ptr<integration::SmtpSink> sink_;
  std::vector<Instance> instances_;
};

}  // namespace commsvc::faults
