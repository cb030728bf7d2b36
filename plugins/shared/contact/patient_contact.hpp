#pragma once

// Tells the patient service about a contact with a patient (SPEC §7): when
// an email to a patient becomes `Gesendet` or a call with a patient becomes
// `abgeschlossen`, an event `patient.last_contact` goes into the outbox of
// a configured publisher (e.g. publisher-http PATCHing
// /api/patients/{patient_id}/last-contact) in the same transaction as the
// status change, so it is delivered if and only if the change committed.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "commsvc/config.hpp"
#include "commsvc/context.hpp"
#include "commsvc/options.hpp"
#include "commsvc/outbox.hpp"

namespace commsvc::plugins::contact {

/// The event type of a patient contact.
inline constexpr const char* kEventType = "patient.last_contact";

/// Where patient contacts go: the part of a handler's settings struct that
/// PatientContact reads (a member `contact` of it, declared by options()).
struct ContactSettings {
  std::string publisher;                   ///< publisher of the contact events; empty = off
  std::string timeZone = "Europe/Berlin";  ///< IANA time zone of the contact date
  std::chrono::milliseconds wait{2000};    ///< how long an API request waits for the delivery
};

/// The options every handler that reports contacts declares (email,
/// phonecall), bound to the member `ContactSettings contact` of its
/// settings struct `Settings`: commsvc::optionList(..., contact::options<S>()).
template <typename Settings>
constexpr OptionList<Settings, 3> options() {
  using Opt = Option<Settings>;
  return optionList(
      Opt::template field<&Settings::contact, &ContactSettings::publisher>(
          "patient_contact_publisher",
          "publisher of patient last-contact updates (SPEC §7, e.g. an http publisher "
          "PATCHing the patient service); empty, or a publisher that is off: none"),
      Opt::template field<&Settings::contact, &ContactSettings::timeZone>(
          "patient_contact_timezone",
          "IANA time zone of the contact date sent to the patient service"),
      Opt::template field<&Settings::contact, &ContactSettings::wait>(
          "patient_contact_wait_ms",
          "how long an API request that caused a contact waits for its delivery before "
          "answering (it is delivered later in any case)")
          .range(0, 30000));
}

/// Where and how contacts are reported; off when no publisher is named or
/// the named one is off (e.g. PATIENT_SERVICE_URL empty).
class PatientContact {
 public:
  /// Off.
  PatientContact() = default;

  /// From a handler's contact settings (see options()) and its Context.
  /// Throws ConfigError for an unknown publisher or time zone. Logs whether
  /// contact updates are on, and where they go.
  PatientContact(const ContactSettings& settings, Context& context);

  /// True when contacts are reported.
  bool on() const { return outbox_ != nullptr; }

  /// Inside `tx` (the status change's transaction): adds the contact of
  /// patient `patientId` through `source` ("email" with its email id, or
  /// "phone_call" with its call id), dated today in the configured time
  /// zone. Returns the outbox entry (for await), or nothing when off.
  /// Throws what the outbox throws (the transaction then rolls back).
  std::optional<std::int64_t> add(pqxx::work& tx, long long patientId, std::string_view source,
                                  long long sourceId) const;

  /// After commit: waits (at most the configured wait) until `entries` were
  /// delivered; true when they were (or there is nothing to wait for).
  bool await(const std::vector<std::int64_t>& entries) const;

  /// Today's date (YYYY-MM-DD) in the configured time zone.
  std::string today() const;

  /// The payload of a contact event (exposed for tests).
  static std::string payload(long long patientId, const std::string& date, std::string_view source,
                             long long sourceId);

 private:
  Outbox* outbox_ = nullptr;
  std::string timeZone_ = "Europe/Berlin";
  std::chrono::milliseconds wait_{2000};
};

/// The date (YYYY-MM-DD) of `instant` in IANA time zone `timeZone`.
/// Throws std::runtime_error for an unknown zone.
std::string dateIn(const std::string& timeZone, std::chrono::system_clock::time_point instant);

}  // namespace commsvc::plugins::contact
