#pragma once

// The communication.schedule_call handler (SPEC §1) and the plugin factory.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "commsvc/config.hpp"
#include "commsvc/context.hpp"
#include "commsvc/handler.hpp"
#include "commsvc/logger.hpp"
#include "commsvc/metrics.hpp"
#include "commsvc/options.hpp"
#include "patient_contact.hpp"
#include "phone_call_api.hpp"

namespace commsvc::plugins::phonecall {

/// The phonecall plugin's settings, filled from its handler block (kOptions).
struct PhoneCallSettings {
  contact::ContactSettings contact;  ///< patient contact updates (a call becoming abgeschlossen)
};

/// The phonecall plugin's options: those of the patient contact updates.
inline constexpr auto kOptions = contact::options<PhoneCallSettings>();

/// The ids of a communication.schedule_call payload; each may be absent.
struct ScheduleCallRequest {
  std::optional<std::int64_t> therapistId;  ///< `therapist_id`, when given
  std::optional<std::int64_t> patientId;    ///< `patient_id`, when given
};

/// Reads a communication.schedule_call payload. Returns the ids, or nullopt
/// with the reason in `error` (not JSON, not an object, a field that is
/// neither absent, null nor an integer; the reason names the field).
std::optional<ScheduleCallRequest> parseScheduleCall(const std::string& payload,
                                                     std::string& error);

/// Handles communication.schedule_call: logs the request (ids and event id)
/// and counts it in `phone_call_requests_total`; rejects invalid payloads.
/// Scheduling itself happens through the HTTP API. Keeps the API alive for
/// as long as the handler lives.
class ScheduleCallHandler : public Handler {
 public:
  /// Logs to `logger` and counts in `metrics`; both must outlive the handler.
  ScheduleCallHandler(Logger& logger, Metrics& metrics, std::shared_ptr<PhoneCallApi> api = {});

  /// Handles one event (see the class comment).
  HandleResult handle(const Event& event) override;

 private:
  Logger& logger_;
  Counter& requests_;
  std::shared_ptr<PhoneCallApi> api_;
};

/// The plugin's factory: checks that there is a database and an outbox (a
/// `publisher:` in the handler entry), throwing ConfigError naming what is
/// missing; registers the /api/phone-calls routes and builds the handler.
std::unique_ptr<Handler> createPhoneCallHandler(const PhoneCallSettings& settings,
                                                Context& context);

}  // namespace commsvc::plugins::phonecall
