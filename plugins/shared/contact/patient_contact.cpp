#include "patient_contact.hpp"

#include <date/tz.h>

#include <stdexcept>

#include "commsvc/event.hpp"
#include "commsvc/logger.hpp"

namespace commsvc::plugins::contact {

std::string dateIn(const std::string& timeZone, std::chrono::system_clock::time_point instant) {
  const auto* zone = date::locate_zone(timeZone);  // throws std::runtime_error when unknown
  const auto local = date::floor<date::days>(zone->to_local(instant));
  return date::format("%F", local);
}

PatientContact::PatientContact(const ContactSettings& settings, Context& context)
    : timeZone_(settings.timeZone), wait_(settings.wait) {
  try {
    (void)dateIn(timeZone_, std::chrono::system_clock::now());
  } catch (const std::exception& e) {
    throw ConfigError("patient_contact_timezone: unknown time zone '" + timeZone_ +
                      "' (an IANA name such as Europe/Berlin): " + e.what());
  }
  const std::string& publisher = settings.publisher;
  if (publisher.empty()) {
    context.logger().info("patient contact updates off: no patient_contact_publisher");
    return;
  }
  outbox_ = context.outboxFor(publisher);  // throws ConfigError for an unknown name
  if (outbox_ == nullptr) {
    context.logger().warn(
        "patient contact updates off: publisher '" + publisher +
            "' is off or there is no database (see the engine's start log and /readyz)",
        {{"publisher", publisher}});
    return;
  }
  context.logger().info("patient contact updates on",
                        {{"publisher", publisher}, {"time_zone", timeZone_}});
}

std::string PatientContact::today() const {
  return dateIn(timeZone_, std::chrono::system_clock::now());
}

std::string PatientContact::payload(long long patientId, const std::string& date,
                                    std::string_view source, long long sourceId) {
  const std::string idField = source == "email" ? "email_id" : "call_id";
  return "{\"patient_id\": " + std::to_string(patientId) + ", \"date\": \"" + date +
         "\", \"source\": \"" + std::string(source == "email" ? "email" : "phone_call") + "\", \"" +
         idField + "\": " + std::to_string(sourceId) + "}";
}

std::optional<std::int64_t> PatientContact::add(pqxx::work& tx, long long patientId,
                                                std::string_view source, long long sourceId) const {
  if (outbox_ == nullptr) return std::nullopt;
  return outbox_->add(tx, makeEvent(kEventType, std::to_string(patientId),
                                    payload(patientId, today(), source, sourceId)));
}

bool PatientContact::await(const std::vector<std::int64_t>& entries) const {
  if (outbox_ == nullptr || entries.empty()) return true;
  return outbox_->awaitPublished(entries, wait_);
}

}  // namespace commsvc::plugins::contact
