// The fault suite (ctest -L faults): two commsvc instances in one consumer
// group, a real PostgreSQL, a fresh broker process and an SMTP server
// process per scenario; a few hundred queued emails sent by
// communication.send_email events and the queue processor while a fault
// hits; then the shared invariants (invariants.hpp).
#include <gtest/gtest.h>
#include <signal.h>

#include <iostream>
#include <thread>

#include "fault_cluster.hpp"
#include "invariants.hpp"

namespace commsvc::faults {
namespace {

using namespace std::chrono_literals;
using integration::waitFor;

// How long the emails may take to reach Gesendet after the fault ended
// (a lease of 10-13 s included).
constexpr auto kDrainTimeout = 75s;

// Waits until the SMTP server holds `n` messages (sends are in flight).
void waitForMessages(FaultCluster& c, std::size_t n) {
  ASSERT_TRUE(waitFor([&] { return c.sink().count() >= n; }, 60s))
      << "only " << c.sink().count() << " messages\n"
      << c.logs();
}

// Threads of one instance that can be between the server's 250 and the
// database update at once: the handler workers and the queue processor.
std::size_t sendersPerInstance(const FaultCluster& c) {
  return static_cast<std::size_t>(c.options().workers) + 1;
}

// (a) kill -9 of an instance in the middle of its sends: the survivor takes
// over its partitions and, once the lease passes, its claims. To make the
// crash fall between the server's 250 and the database update (the one
// place a crash makes a resend), the emails being sent are row-locked for a
// second before the kill: senders that delivered one wait in their update.
// Resends are allowed for those of the killed instance, under the same
// Message-ID.
TEST(Faults, KillNineOfAnInstanceMidBatch) {
  FaultCluster c("faults-kill9", {.sinkDelayMs = 50});
  const auto ids = c.queueEmails();
  const std::size_t n = ids.size();
  c.startTwoInstances();
  c.sendEvents(ids);
  ASSERT_NO_FATAL_FAILURE(waitForMessages(c, n / 5));
  ClaimedRowsLock lock(c.postgres().url());
  const std::size_t atLock = c.sink().count();
  std::this_thread::sleep_for(1s);
  const std::size_t deliveredWhileLocked = c.sink().count() - atLock;
  const long inFlight = c.countStatus("Wird_gesendet");
  const auto killed = c.stop("a", SIGKILL, 5s);
  lock.release();
  EXPECT_EQ(killed.code, 128 + SIGKILL);
  EXPECT_TRUE(c.waitAllSent(static_cast<long>(n), kDrainTimeout)) << c.statusSummary() << "\n"
                                                                  << c.logs();
  std::this_thread::sleep_for(2s);  // would reveal late duplicates
  c.stopAll();
  checkInvariants(c, ids,
                  {.scenario = "a_kill9",
                   .resendBound = sendersPerInstance(c),
                   // A kill between a publish and its mark republishes that
                   // event under the same eventId (at-least-once).
                   .republishAllowed = true,
                   .extra = "rows_locked=" + std::to_string(lock.rows()) +
                            " delivered_while_locked=" + std::to_string(deliveredWhileLocked) +
                            " wird_gesendet_at_kill=" + std::to_string(inFlight) +
                            " messages_at_lock=" + std::to_string(atLock)});
}

// (b) PostgreSQL stopped for longer than the record retries while sends are
// in flight, then started again. Resends allowed for the sends of both
// instances caught between the 250 and the database update.
TEST(Faults, PostgresStoppedLongerThanTheRetries) {
  FaultCluster c("faults-postgres", {.sinkDelayMs = 50});
  const auto ids = c.queueEmails();
  const std::size_t n = ids.size();
  c.startTwoInstances();
  c.sendEvents(ids);
  ASSERT_NO_FATAL_FAILURE(waitForMessages(c, n / 5));
  const long inFlight = c.countStatus("Wird_gesendet");
  const std::size_t atStop = c.sink().count();
  c.postgres().stop();
  std::this_thread::sleep_for(7s);
  const std::size_t duringOutage = c.sink().count() - atStop;
  c.postgres().start();
  EXPECT_TRUE(c.waitAllSent(static_cast<long>(n), kDrainTimeout)) << c.statusSummary() << "\n"
                                                                  << c.logs();
  std::this_thread::sleep_for(2s);
  c.stopAll();
  checkInvariants(c, ids,
                  {.scenario = "b_postgres_down_7s",
                   .resendBound = 2 * sendersPerInstance(c),
                   // A relay that published a batch but could not mark it
                   // writes the marks first when the database is back; its
                   // lease is not taken over meanwhile (kTakeoverGrace), so
                   // nothing is published twice.
                   .republishAllowed = false,
                   .extra = "wird_gesendet_at_stop=" + std::to_string(inFlight) +
                            " messages_during_outage=" + std::to_string(duringOutage)});
}

// The issue's scenario: kill -9 of one instance while PostgreSQL is down
// (6 s) and sends are in flight. Resends allowed for the sends of both
// instances caught between the 250 and the database update, each under the
// email's one Message-ID.
TEST(Faults, KillNineDuringAPostgresOutage) {
  FaultCluster c("faults-kill9-postgres", {.sinkDelayMs = 50});
  const auto ids = c.queueEmails();
  const std::size_t n = ids.size();
  c.startTwoInstances();
  c.sendEvents(ids);
  ASSERT_NO_FATAL_FAILURE(waitForMessages(c, n / 5));
  const long inFlight = c.countStatus("Wird_gesendet");
  const std::size_t atStop = c.sink().count();
  c.postgres().stop();
  std::this_thread::sleep_for(3s);
  const auto killed = c.stop("a", SIGKILL, 5s);
  EXPECT_EQ(killed.code, 128 + SIGKILL);
  std::this_thread::sleep_for(3s);
  const std::size_t duringOutage = c.sink().count() - atStop;
  c.postgres().start();
  EXPECT_TRUE(c.waitAllSent(static_cast<long>(n), kDrainTimeout)) << c.statusSummary() << "\n"
                                                                  << c.logs();
  std::this_thread::sleep_for(2s);
  c.stopAll();
  checkInvariants(c, ids,
                  {.scenario = "ab_kill9_during_postgres_down_6s",
                   .resendBound = 2 * sendersPerInstance(c),
                   // The killed relay may have published email.sent rows whose
                   // "published" marks it could not write while PostgreSQL was
                   // down; the next relay publishes them again under the same
                   // eventId (at-least-once; one eventId per email still holds).
                   .republishAllowed = true,
                   .extra = "wird_gesendet_at_stop=" + std::to_string(inFlight) +
                            " messages_during_outage=" + std::to_string(duringOutage)});
}

// (c) SMTP flapping: 4xx bursts, connections dropped mid-DATA, AUTH refused,
// then healthy. Nothing was accepted twice by the server, so no resend; no
// email may end Fehlgeschlagen for the session-level failures (AUTH) either.
TEST(Faults, SmtpFlapping) {
  FaultCluster c("faults-smtp-flap", {.sinkDelayMs = 50,
                                      .smtpAuth = true,
                                      .queueBatchSize = 20,
                                      .maxAttempts = 100,
                                      .retryBackoffS = 0});
  const auto ids = c.queueEmails();
  const std::size_t n = ids.size();
  c.startTwoInstances();
  c.sendEvents(ids);
  ASSERT_NO_FATAL_FAILURE(waitForMessages(c, n / 10));
  const std::vector<std::pair<std::string, std::chrono::milliseconds>> script = {
      {R"({"fail_code": 451, "fail_on": "data"})", 3000ms},
      {"{}", 1000ms},
      {R"({"drop_on": "data"})", 3000ms},
      {"{}", 1000ms},
      {R"({"fail_code": 452, "fail_on": "rcpt", "fail_every": 2})", 2000ms},
      {R"({"fail_code": 421, "fail_on": "mail"})", 1500ms},
      // New sessions are refused AUTH; sessions already logged in are
      // dropped at their next MAIL, so every sender meets the refusal.
      {R"({"auth": "temporary", "drop_on": "mail"})", 1500ms},
      {R"({"auth": "refuse", "drop_on": "mail"})", 3000ms},
      {"{}", 0ms},
  };
  for (const auto& [faults, duration] : script) {
    c.sink().setFaults(faults);
    std::this_thread::sleep_for(duration);
  }
  const std::size_t afterFlapping = c.sink().count();
  EXPECT_TRUE(c.waitAllSent(static_cast<long>(n), kDrainTimeout)) << c.statusSummary() << "\n"
                                                                  << c.logs();
  std::this_thread::sleep_for(2s);
  c.stopAll();
  checkInvariants(c, ids,
                  {.scenario = "c_smtp_flapping",
                   .resendBound = 0,
                   .extra = "messages_after_flapping=" + std::to_string(afterFlapping)});
}

// (d) The broker frozen (SIGSTOP) for 8 s while both instances send, then
// resumed: the queue processors go on, email.sent waits in the outbox.
TEST(Faults, BrokerFrozenWhileSending) {
  FaultCluster c("faults-broker-freeze", {.sinkDelayMs = 50});
  const auto ids = c.queueEmails();
  const std::size_t n = ids.size();
  c.startTwoInstances();
  c.sendEvents(ids);
  ASSERT_NO_FATAL_FAILURE(waitForMessages(c, n / 5));
  const std::size_t atFreeze = c.sink().count();
  c.broker().freeze();
  std::this_thread::sleep_for(8s);
  const std::size_t duringFreeze = c.sink().count() - atFreeze;
  c.broker().thaw();
  EXPECT_TRUE(c.waitAllSent(static_cast<long>(n), kDrainTimeout)) << c.statusSummary() << "\n"
                                                                  << c.logs();
  std::this_thread::sleep_for(2s);
  c.stopAll();
  checkInvariants(c, ids,
                  {.scenario = "d_broker_frozen_8s",
                   .resendBound = 0,
                   .republishAllowed = true,  // at-least-once publishing, same eventId
                   .extra = "messages_during_freeze=" + std::to_string(duringFreeze)});
}

// (e) SIGTERM of an instance while its queue processor works through a
// batch against a slow SMTP server: it exits 0 within its shutdown bound;
// the other instance sends the rest, nothing twice.
TEST(Faults, SigtermDuringAQueueBatchWithSlowSmtp) {
  FaultCluster c(
      "faults-sigterm",
      {.emails = 200, .sinkDelayMs = 400, .shutdownTimeoutMs = 5000, .queueBatchSize = 50});
  const auto ids = c.queueEmails();
  const std::size_t n = ids.size();
  c.startTwoInstances();
  c.sendEvents(ids);
  // Both processors claimed a batch of 50 within their first second; at
  // ~2 messages a second per instance a batch takes half a minute.
  ASSERT_NO_FATAL_FAILURE(waitForMessages(c, 10));
  const long claimed = c.countStatus("Wird_gesendet");
  const auto bound = std::chrono::milliseconds(c.options().shutdownTimeoutMs);
  // Teardown after the drain (consumer close, flushing) may add a little.
  const auto slack = 1500ms;
  const auto exit = c.stop("a", SIGTERM, bound + 30s);
  std::cout << "[fault-figures] e_sigterm: shutdown took " << exit.took.count() << " ms (bound "
            << bound.count() << " ms), exit code "
            << (exit.code ? std::to_string(*exit.code) : "none (killed)") << std::endl;
  EXPECT_EQ(exit.code, 0) << c.instance("a").log();
  EXPECT_LE(exit.took, bound + slack) << "shutdown bound\n" << c.instance("a").log();
  c.sink().setFaults(R"({"delay_ms": 0})");  // the rest goes quickly
  EXPECT_TRUE(c.waitAllSent(static_cast<long>(n), kDrainTimeout)) << c.statusSummary() << "\n"
                                                                  << c.logs();
  std::this_thread::sleep_for(2s);
  c.stopAll();
  checkInvariants(c, ids,
                  {.scenario = "e_sigterm_slow_smtp",
                   .resendBound = 0,
                   .extra = "wird_gesendet_at_sigterm=" + std::to_string(claimed) +
                            " shutdown_ms=" + std::to_string(exit.took.count()) +
                            " bound_ms=" + std::to_string(bound.count()) +
                            " exit_code=" + (exit.code ? std::to_string(*exit.code) : "killed")});
}

}  // namespace
}  // namespace commsvc::faults
