#include "schedule_call_handler.hpp"

#include <nlohmann/json.hpp>
#include <utility>

#include "commsvc/database.hpp"
#include "commsvc/outbox.hpp"

namespace commsvc::plugins::phonecall {
namespace {

// Reads the optional integer field `name` into `out`; false with `error`
// when it is present, not null and not an integer.
bool readId(const nlohmann::json& payload, const char* name, std::optional<std::int64_t>& out,
            std::string& error) {
  const auto it = payload.find(name);
  if (it == payload.end() || it->is_null()) return true;
  if (!it->is_number_integer() ||
      (it->is_number_unsigned() && it->get<std::uint64_t>() > 2147483647u) ||
      (!it->is_number_unsigned() &&
       (it->get<std::int64_t>() > 2147483647 || it->get<std::int64_t>() < -2147483648LL))) {
    error = std::string(name) + " is not an integer: " + it->dump();
    return false;
  }
  out = it->get<std::int64_t>();
  return true;
}

}  // namespace

std::optional<ScheduleCallRequest> parseScheduleCall(const std::string& payload,
                                                     std::string& error) {
  const nlohmann::json json = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    error = "payload is not valid JSON";
    return std::nullopt;
  }
  if (!json.is_object()) {
    error = "payload is not a JSON object";
    return std::nullopt;
  }
  ScheduleCallRequest request;
  if (!readId(json, "therapist_id", request.therapistId, error)) return std::nullopt;
  if (!readId(json, "patient_id", request.patientId, error)) return std::nullopt;
  return request;
}

ScheduleCallHandler::ScheduleCallHandler(Logger& logger, Metrics& metrics,
                                         std::shared_ptr<PhoneCallApi> api)
    : logger_(logger),
      requests_(metrics.counter("phone_call_requests_total",
                                "communication.schedule_call requests received")),
      api_(std::move(api)) {}

HandleResult ScheduleCallHandler::handle(const Event& event) {
  std::string error;
  const std::optional<ScheduleCallRequest> request = parseScheduleCall(event.payload, error);
  if (!request) return HandleResult::reject(error);
  const auto text = [](const std::optional<std::int64_t>& id) {
    return id ? std::to_string(*id) : std::string("null");
  };
  requests_.add();
  logger_.info("phone call requested; scheduling happens through the API",
               {{"therapist_id", text(request->therapistId)},
                {"patient_id", text(request->patientId)},
                {"event_id", event.id}});
  return HandleResult::done();
}

std::unique_ptr<Handler> createPhoneCallHandler(const PhoneCallSettings& settings,
                                                Context& context) {
  Database* database = context.database();
  Outbox* outbox = context.outbox();
  if (database == nullptr) {
    throw ConfigError("the phonecall handler needs a database: set `database.url` in the pipeline");
  }
  if (outbox == nullptr) {
    throw ConfigError(
        "the phonecall handler needs `publisher:` in its handler entry: "
        "communication.call_scheduled and phone_call.completed events go through the outbox to "
        "that publisher");
  }
  auto api = std::make_shared<PhoneCallApi>(*database, *outbox, context.logger(), context.metrics(),
                                            TodayFunction{},
                                            contact::PatientContact(settings.contact, context));
  PhoneCallApi::registerRoutes(api, context);
  return std::make_unique<ScheduleCallHandler>(context.logger(), context.metrics(), api);
}

}  // namespace commsvc::plugins::phonecall
