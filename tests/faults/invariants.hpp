#pragma once

// The invariants every fault scenario ends with, checked in one place:
//  - every queued email delivered: its row `Gesendet`, a message at the SMTP server;
//  - each email under ONE Message-ID (however many times it reached the server);
//  - resends (messages beyond one per email) only where the scenario allows
//    them (a crash or a database outage between the server's 250 and the
//    database update), counted and at most `resendBound`;
//  - one `email.sent` event per email id on the topic (one eventId; the same
//    event published twice only where `republishAllowed`);
//  - no row left `Wird_gesendet`.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fault_cluster.hpp"

namespace commsvc::faults {

/// What a scenario allows.
struct Expectations {
  std::string scenario;           ///< name in the figures line
  std::size_t resendBound = 0;    ///< messages beyond one per email allowed
  bool republishAllowed = false;  ///< an email.sent event (same eventId) on the topic twice
  std::string extra;              ///< scenario figures appended to the line (e.g. "in_flight=4")
};

/// What was found at the end of a scenario.
struct Figures {
  std::size_t emails = 0;              ///< queued emails of the scenario
  std::size_t rowsSent = 0;            ///< rows `Gesendet`
  std::size_t rowsSending = 0;         ///< rows `Wird_gesendet`
  std::size_t rowsFailed = 0;          ///< rows `Fehlgeschlagen`
  std::size_t rowsQueued = 0;          ///< rows `In_Warteschlange`
  std::size_t messages = 0;            ///< messages at the SMTP server
  std::size_t unattributed = 0;        ///< messages naming no email of the scenario
  std::size_t distinctMessageIds = 0;  ///< distinct Message-IDs over all messages
  std::size_t emailsDelivered = 0;     ///< emails with at least one message
  std::size_t emailsSeveralIds = 0;    ///< emails whose messages carry > 1 Message-ID
  std::size_t resends = 0;             ///< messages beyond one per email
  std::size_t sentRecords = 0;         ///< email.sent records on the topic for these emails
  std::size_t sentEvents = 0;          ///< distinct eventIds among them
  std::size_t emailsWithoutSent = 0;   ///< emails with no email.sent
  std::size_t emailsSeveralSent = 0;   ///< emails with > 1 distinct email.sent event
  std::size_t deadLettered = 0;        ///< records on events.dlq
  std::string journal;                 ///< the SMTP server's outcomes, e.g. "stored=310 failed=40"
  /// email_claims_recovered_total summed over the instances' final counters
  /// ("N(k_instances)": a killed instance logs none).
  std::string claimsRecovered;
  std::vector<std::string> examples;  ///< a few offending emails, for the failure message
};

/// Waits (bounded) for the email.sent events of every `Gesendet` email,
/// collects the figures, prints them as one line ("[fault-figures] ..."),
/// appends it to tests-scratch/fault-figures.log, and EXPECTs every
/// invariant. Call after the instances stopped (or at least went quiet).
Figures checkInvariants(FaultCluster& cluster, const std::vector<std::int64_t>& ids,
                        const Expectations& expect);

/// The value of header `name` (case-insensitive, unfolded) in a raw message.
std::string headerValue(const std::string& message, const std::string& name);

}  // namespace commsvc::faults
