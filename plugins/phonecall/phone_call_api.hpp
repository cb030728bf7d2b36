#pragma once

// The /api/phone-calls routes (SPEC §4-5): listing, creating with the slot
// rules, reading, updating and deleting calls in
// communication_service.telefonanrufe, with communication.call_scheduled and
// phone_call.completed written to the outbox in the changing transaction.

#include <functional>
#include <memory>
#include <string>

#include "commsvc/context.hpp"
#include "commsvc/database.hpp"
#include "commsvc/http.hpp"
#include "commsvc/logger.hpp"
#include "commsvc/metrics.hpp"
#include "commsvc/outbox.hpp"
#include "patient_contact.hpp"

namespace commsvc::plugins::phonecall {

/// Message of the 404 answer for an unknown call id.
inline constexpr const char* kNotFoundMessage = "Phone call not found";
/// Message of the 400 answer when neither therapist slot is free.
inline constexpr const char* kNoSlotMessage = "No available slots found for this therapist";

/// Returns today's date as "YYYY-MM-DD"; injectable for tests.
using TodayFunction = std::function<std::string()>;

/// Today's date in the local time zone, "YYYY-MM-DD".
std::string localToday();

/// True when `text` is a valid calendar date written "YYYY-MM-DD" (year >= 1).
bool isValidDate(const std::string& text);

/// True when `text` is a time of day written "HH:MM" (00:00 to 23:59).
bool isValidTime(const std::string& text);

/// The day after `date` ("YYYY-MM-DD", valid), in the same format.
std::string nextDay(const std::string& date);

/// The phone call HTTP API. Thread-safe: every request runs in its own
/// transaction from the pool; the references must outlive the object.
class PhoneCallApi {
 public:
  /// Uses `database` for the calls, `outbox` for their events; `today`
  /// gives the date the defaults are computed from (localToday when empty);
  /// `contact` reports a call with a patient becoming abgeschlossen to the
  /// patient service before the PUT answers (bounded wait; off by default).
  PhoneCallApi(Database& database, Outbox& outbox, Logger& logger, Metrics& metrics,
               TodayFunction today = {}, contact::PatientContact contact = {});

  /// GET /api/phone-calls: filtered, newest date and time first, paginated.
  HttpResponse list(const HttpRequest& request);
  /// POST /api/phone-calls: validates, applies defaults and slot rules,
  /// inserts and publishes communication.call_scheduled; 201 with the call.
  HttpResponse create(const HttpRequest& request);
  /// GET /api/phone-calls/{id}: the call, or 404.
  HttpResponse get(const HttpRequest& request);
  /// PUT /api/phone-calls/{id}: updates the given fields; a change of
  /// status into `abgeschlossen` publishes phone_call.completed.
  HttpResponse update(const HttpRequest& request);
  /// DELETE /api/phone-calls/{id}: deletes the call, or 404.
  HttpResponse remove(const HttpRequest& request);

  /// Registers the five routes above on `context` (call from a factory).
  /// The routes keep `api` alive.
  static void registerRoutes(const std::shared_ptr<PhoneCallApi>& api, Context& context);

 private:
  Database& database_;
  Outbox& outbox_;
  Logger& logger_;
  Counter& created_;
  Counter& completed_;
  TodayFunction today_;
  contact::PatientContact contact_;
};

}  // namespace commsvc::plugins::phonecall
