#include "phone_call_api.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <stdexcept>
#include <utility>
#include <vector>

namespace commsvc::plugins::phonecall {
namespace {

using nlohmann::json;
// A nullable SQL parameter in text form.
using Text = std::optional<std::string>;

constexpr const char* kTable = "communication_service.telefonanrufe";
// What every query returns for a call; rowToJson() reads these positions.
constexpr const char* kColumns =
    "id, therapist_id, patient_id, therapeutenanfrage_id, "
    "to_char(geplantes_datum, 'YYYY-MM-DD'), left(geplante_zeit::text, 5), dauer_minuten, "
    "to_char(tatsaechliches_datum, 'YYYY-MM-DD'), left(tatsaechliche_zeit::text, 5), "
    "status::text, ergebnis, notizen, "
    "to_char(created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), "
    "to_char(updated_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), left(geplante_zeit::text, 8)";
constexpr std::array<const char*, 4> kStatuses = {"geplant", "abgeschlossen", "fehlgeschlagen",
                                                  "abgebrochen"};
constexpr const char* kStatusMessage =
    "status must be one of: geplant, abgeschlossen, fehlgeschlagen, abgebrochen";
// The therapist slots tried, in order, when a call has no geplante_zeit.
constexpr std::array<const char*, 2> kTherapistSlots = {"10:00", "14:00"};
constexpr const char* kPatientTime = "10:00";
constexpr int kTherapistMinutes = 5;
constexpr int kPatientMinutes = 10;
// First key of the advisory lock that serialises slot searches per therapist.
constexpr int kSlotLockClass = 0x50484f4e;  // "PHON"

// A validation failure; its message names the field and becomes a 400.
class BadRequest : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

const char* param(const Text& text) { return text ? text->c_str() : nullptr; }

Text toText(const std::optional<std::int32_t>& value) {
  return value ? Text(std::to_string(*value)) : std::nullopt;
}

bool toInt32(const json& value, std::int32_t& out) {
  if (!value.is_number_integer()) return false;
  if (value.is_number_unsigned()) {
    const auto u = value.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())) return false;
    out = static_cast<std::int32_t>(u);
    return true;
  }
  const auto s = value.get<std::int64_t>();
  if (s < std::numeric_limits<std::int32_t>::min() || s > std::numeric_limits<std::int32_t>::max())
    return false;
  out = static_cast<std::int32_t>(s);
  return true;
}

// Parses a whole decimal integer (optionally negative) that fits in int32.
std::optional<std::int32_t> parseInt32(const std::string& text) {
  std::int32_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

json parseBody(const std::string& body) {
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) throw BadRequest("request body is not valid JSON");
  if (!parsed.is_object()) throw BadRequest("request body must be a JSON object");
  return parsed;
}

// The body field `name`, or nullptr when it is absent or null.
const json* present(const json& body, const char* name) {
  const auto it = body.find(name);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

// An integer field >= `min`; nullopt when absent or null.
std::optional<std::int32_t> intField(const json& body, const char* name, std::int32_t min = 1) {
  const json* value = present(body, name);
  if (value == nullptr) return std::nullopt;
  std::int32_t out = 0;
  if (!toInt32(*value, out) || out < min) {
    throw BadRequest(std::string(name) + (min == 1
                                              ? " must be a positive integer"
                                              : " must be an integer >= " + std::to_string(min)));
  }
  return out;
}

// A string field; nullopt when absent or null.
Text stringField(const json& body, const char* name) {
  const json* value = present(body, name);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string()) throw BadRequest(std::string(name) + " must be a string");
  std::string text = value->get<std::string>();
  // PostgreSQL text cannot hold NUL ("\u0000" in JSON): 400, not 500.
  if (text.find('\0') != std::string::npos) {
    throw BadRequest(std::string(name) + " must not contain NUL characters");
  }
  return text;
}

Text dateField(const json& body, const char* name) {
  const json* value = present(body, name);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string() || !isValidDate(value->get<std::string>())) {
    throw BadRequest(std::string(name) + " must be a date in YYYY-MM-DD format");
  }
  return value->get<std::string>();
}

Text timeField(const json& body, const char* name) {
  const json* value = present(body, name);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string() || !isValidTime(value->get<std::string>())) {
    throw BadRequest(std::string(name) + " must be a time in HH:MM format");
  }
  return value->get<std::string>();
}

// The {id} path parameter; nullopt for a number no call can have.
std::optional<std::int32_t> pathId(const HttpRequest& request) {
  const auto it = request.params.find("id");
  const std::string text = it == request.params.end() ? std::string() : it->second;
  bool digits = !text.empty() && text.size() <= 18;
  for (const char c : text) digits = digits && c >= '0' && c <= '9';
  if (!digits) throw BadRequest("id must be a positive integer");
  const long long value = std::stoll(text);
  if (value < 1 || value > std::numeric_limits<std::int32_t>::max()) return std::nullopt;
  return static_cast<std::int32_t>(value);
}

json nullableInt(const pqxx::field& field) {
  return field.is_null() ? json(nullptr) : json(field.as<std::int64_t>());
}

json nullableText(const pqxx::field& field) {
  return field.is_null() ? json(nullptr) : json(field.as<std::string>());
}

// A call row (kColumns) as the API shows it.
json rowToJson(const pqxx::row& row) {
  return {
      {"id", row[0].as<std::int64_t>()},
      {"therapist_id", nullableInt(row[1])},
      {"patient_id", nullableInt(row[2])},
      {"therapeutenanfrage_id", nullableInt(row[3])},
      {"geplantes_datum", nullableText(row[4])},
      {"geplante_zeit", nullableText(row[5])},
      {"dauer_minuten", nullableInt(row[6])},
      {"tatsaechliches_datum", nullableText(row[7])},
      {"tatsaechliche_zeit", nullableText(row[8])},
      {"status", nullableText(row[9])},
      {"ergebnis", nullableText(row[10])},
      {"notizen", nullableText(row[11])},
      {"created_at", nullableText(row[12])},
      {"updated_at", nullableText(row[13])},
  };
}

const char* recipientType(const pqxx::row& row) {
  return row[1].is_null() ? "patient" : "therapist";
}

// The communication.call_scheduled payload (SPEC §1) of a new call row.
json scheduledPayload(const pqxx::row& row) {
  return {{"call_id", row[0].as<std::int64_t>()},
          {"call_data",
           {{"therapist_id", nullableInt(row[1])},
            {"patient_id", nullableInt(row[2])},
            {"therapeutenanfrage_id", nullableInt(row[3])},
            {"recipient_type", recipientType(row)},
            {"scheduled_date", nullableText(row[4])},
            {"scheduled_time", nullableText(row[14])}}}};
}

// The phone_call.completed payload (SPEC §1) of a completed call row.
json completedPayload(const pqxx::row& row) {
  json payload = {{"call_id", row[0].as<std::int64_t>()},
                  {"call_data",
                   {{"call_id", row[0].as<std::int64_t>()},
                    {"therapist_id", nullableInt(row[1])},
                    {"patient_id", nullableInt(row[2])},
                    {"therapeutenanfrage_id", nullableInt(row[3])},
                    {"recipient_type", recipientType(row)},
                    {"status", nullableText(row[9])},
                    {"ergebnis", nullableText(row[10])}}},
                  {"communication_type", "phone_call"},
                  {"patient_id", nullableInt(row[2])},
                  {"therapist_id", nullableInt(row[1])}};
  if (!row[10].is_null() && !row[10].as<std::string>().empty()) {
    payload["outcome"] = row[10].as<std::string>();
  }
  return payload;
}

HttpResponse badRequest(const BadRequest& e) { return HttpResponse::error(400, e.what()); }

// Appends "<prefix>$<n><suffix>" to a clause list and `value` to `params`.
void addParam(std::string& clause, const std::string& prefix, const char* suffix, Text value,
              std::vector<Text>& params) {
  params.push_back(std::move(value));
  clause += prefix;
  clause += "$" + std::to_string(params.size());
  clause += suffix;
}

std::vector<const char*> pointers(const std::vector<Text>& params) {
  std::vector<const char*> out;
  out.reserve(params.size());
  for (const Text& p : params) out.push_back(param(p));
  return out;
}

}  // namespace

std::string localToday() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buffer[16];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%d", &local);
  return buffer;
}

bool isValidDate(const std::string& text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return false;
  for (const std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (text[i] < '0' || text[i] > '9') return false;
  }
  const int y = std::stoi(text.substr(0, 4));
  const unsigned m = std::stoul(text.substr(5, 2));
  const unsigned d = std::stoul(text.substr(8, 2));
  return y >= 1 && std::chrono::year_month_day(std::chrono::year(y), std::chrono::month(m),
                                               std::chrono::day(d))
                       .ok();
}

bool isValidTime(const std::string& text) {
  if (text.size() != 5 || text[2] != ':') return false;
  for (const std::size_t i : {0, 1, 3, 4}) {
    if (text[i] < '0' || text[i] > '9') return false;
  }
  return std::stoi(text.substr(0, 2)) < 24 && std::stoi(text.substr(3, 2)) < 60;
}

std::string nextDay(const std::string& date) {
  using namespace std::chrono;
  const year_month_day ymd(year(std::stoi(date.substr(0, 4))),
                           month(static_cast<unsigned>(std::stoul(date.substr(5, 2)))),
                           day(static_cast<unsigned>(std::stoul(date.substr(8, 2)))));
  const year_month_day next(sys_days(ymd) + days(1));
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02u", static_cast<int>(next.year()),
                static_cast<unsigned>(next.month()), static_cast<unsigned>(next.day()));
  return buffer;
}

PhoneCallApi::PhoneCallApi(Database& database, Outbox& outbox, Logger& logger, Metrics& metrics,
                           TodayFunction today)
    : database_(database),
      outbox_(outbox),
      logger_(logger),
      created_(metrics.counter("phone_calls_created_total", "phone calls created through the API")),
      completed_(metrics.counter("phone_calls_completed_total",
                                 "phone calls whose status changed into abgeschlossen")),
      today_(today ? std::move(today) : TodayFunction(&localToday)) {}

HttpResponse PhoneCallApi::list(const HttpRequest& request) {
  try {
    std::string where;
    std::vector<Text> params;
    const auto next = [&where]() -> std::string& {
      where += where.empty() ? " WHERE " : " AND ";
      return where;
    };
    for (const char* name : {"therapist_id", "patient_id", "therapeutenanfrage_id"}) {
      const std::string* value = request.queryParam(name);
      if (value == nullptr) continue;
      const auto number = parseInt32(*value);
      if (!number) throw BadRequest(std::string(name) + " must be an integer");
      addParam(next(), std::string(name) + " = ", "::integer", std::to_string(*number), params);
    }
    if (const std::string* type = request.queryParam("recipient_type")) {
      if (*type == "therapist") {
        next() += "therapist_id IS NOT NULL AND patient_id IS NULL";
      } else if (*type == "patient") {
        next() += "patient_id IS NOT NULL AND therapist_id IS NULL";
      } else {
        throw BadRequest("recipient_type must be therapist or patient");
      }
    }
    // An unknown status matches nothing (an empty page), as for emails.
    // Only known values reach PostgreSQL (a value that is not UTF-8 made it fail: 500).
    if (const std::string* status = request.queryParam("status")) {
      if (std::find(kStatuses.begin(), kStatuses.end(), *status) != kStatuses.end()) {
        addParam(next(), "status::text = ", "", *status, params);
      } else {
        next() += "false";
      }
    }
    if (const std::string* date = request.queryParam("geplantes_datum")) {
      if (!isValidDate(*date)) {
        throw BadRequest("geplantes_datum must be a date in YYYY-MM-DD format");
      }
      addParam(next(), "geplantes_datum = ", "::date", *date, params);
    }

    std::int64_t page = 1;
    std::int64_t limit = kDefaultLimit;
    if (const std::string* text = request.queryParam("page")) {
      const auto value = parseInt32(*text);
      if (!value) throw BadRequest("page must be an integer");
      page = std::max<std::int64_t>(1, *value);
    }
    if (const std::string* text = request.queryParam("limit")) {
      const auto value = parseInt32(*text);
      if (!value) throw BadRequest("limit must be an integer");
      limit = std::clamp<std::int64_t>(*value, 1, kMaxLimit);
    }

    const std::vector<const char*> filterParams = pointers(params);
    std::vector<const char*> pageParams = filterParams;
    const std::string limitText = std::to_string(limit);
    const std::string offsetText = std::to_string((page - 1) * limit);
    pageParams.push_back(limitText.c_str());
    pageParams.push_back(offsetText.c_str());
    const std::string limitRef = "$" + std::to_string(filterParams.size() + 1);
    const std::string offsetRef = "$" + std::to_string(filterParams.size() + 2);

    json data = json::array();
    std::int64_t total = 0;
    database_.transaction([&](pqxx::work& tx) {
      data = json::array();
      total = tx.exec_params1(std::string("SELECT count(*) FROM ") + kTable + where,
                              pqxx::prepare::make_dynamic_params(filterParams))[0]
                  .as<std::int64_t>();
      const pqxx::result rows =
          tx.exec_params(std::string("SELECT ") + kColumns + " FROM " + kTable + where +
                             " ORDER BY geplantes_datum DESC, geplante_zeit DESC, id DESC LIMIT " +
                             limitRef + "::bigint OFFSET " + offsetRef + "::bigint",
                         pqxx::prepare::make_dynamic_params(pageParams));
      for (const auto& row : rows) data.push_back(rowToJson(row));
    });
    const json body = {
        {"data", std::move(data)}, {"page", page}, {"limit", limit}, {"total", total}};
    return HttpResponse::json(200, body.dump());
  } catch (const BadRequest& e) {
    return badRequest(e);
  }
}

HttpResponse PhoneCallApi::create(const HttpRequest& request) {
  try {
    const json body = parseBody(request.body);
    const auto therapist = intField(body, "therapist_id");
    const auto patient = intField(body, "patient_id");
    if (therapist.has_value() == patient.has_value()) {
      throw BadRequest("exactly one of therapist_id or patient_id must be set");
    }
    const auto anfrage = intField(body, "therapeutenanfrage_id");
    const Text requestedDate = dateField(body, "geplantes_datum");
    const Text requestedTime = timeField(body, "geplante_zeit");
    const auto dauer = intField(body, "dauer_minuten");
    const Text notizen = stringField(body, "notizen");
    const std::string baseDate = requestedDate ? *requestedDate : nextDay(today_());
    const int minutes = dauer ? *dauer : (therapist ? kTherapistMinutes : kPatientMinutes);

    bool noSlot = false;
    json created;
    database_.transaction([&](pqxx::work& tx) {
      noSlot = false;
      std::string date = baseDate;
      std::string time = requestedTime ? *requestedTime : kPatientTime;
      if (therapist && !requestedTime) {
        // SPEC §4: the first free slot of 10:00 then 14:00 on the day after
        // geplantes_datum. The lock keeps two requests from taking one slot.
        tx.exec_params("SELECT pg_advisory_xact_lock($1, $2)", kSlotLockClass, *therapist);
        date = nextDay(baseDate);
        noSlot = true;
        for (const char* slot : kTherapistSlots) {
          const pqxx::result taken = tx.exec_params(
              std::string("SELECT 1 FROM ") + kTable +
                  " WHERE therapist_id = $1 AND geplantes_datum = $2::date AND geplante_zeit = "
                  "$3::time AND status <> 'abgebrochen' LIMIT 1",
              *therapist, date, slot);
          if (taken.empty()) {
            time = slot;
            noSlot = false;
            break;
          }
        }
        if (noSlot) return;
      }
      const pqxx::row row = tx.exec_params1(
          std::string("INSERT INTO ") + kTable +
              " (therapist_id, patient_id, therapeutenanfrage_id, geplantes_datum, geplante_zeit, "
              "dauer_minuten, notizen) VALUES ($1::integer, $2::integer, $3::integer, $4::date, "
              "$5::time, $6::integer, $7::text) RETURNING " +
              kColumns,
          param(toText(therapist)), param(toText(patient)), param(toText(anfrage)), date, time,
          minutes, param(notizen));
      const std::string id = std::to_string(row[0].as<std::int64_t>());
      outbox_.add(tx, makeEvent("communication.call_scheduled", id, scheduledPayload(row).dump()));
      created = rowToJson(row);
    });
    if (noSlot) return HttpResponse::error(400, kNoSlotMessage);
    created_.add();
    logger_.info("phone call scheduled",
                 {{"call_id", std::to_string(created["id"].get<std::int64_t>())},
                  {"recipient_type", therapist ? "therapist" : "patient"},
                  {"recipient_id", std::to_string(therapist ? *therapist : *patient)},
                  {"geplantes_datum", created["geplantes_datum"].get<std::string>()},
                  {"geplante_zeit", created["geplante_zeit"].get<std::string>()}});
    return HttpResponse::json(201, created.dump());
  } catch (const BadRequest& e) {
    return badRequest(e);
  }
}

HttpResponse PhoneCallApi::get(const HttpRequest& request) {
  try {
    const auto id = pathId(request);
    if (!id) return HttpResponse::error(404, kNotFoundMessage);
    std::optional<json> call;
    database_.transaction([&](pqxx::work& tx) {
      const pqxx::result rows = tx.exec_params(
          std::string("SELECT ") + kColumns + " FROM " + kTable + " WHERE id = $1", *id);
      call = rows.empty() ? std::nullopt : std::optional<json>(rowToJson(rows[0]));
    });
    if (!call) return HttpResponse::error(404, kNotFoundMessage);
    return HttpResponse::json(200, call->dump());
  } catch (const BadRequest& e) {
    return badRequest(e);
  }
}

HttpResponse PhoneCallApi::update(const HttpRequest& request) {
  try {
    const auto id = pathId(request);
    const json body = parseBody(request.body);
    // SET clauses from fixed fragments; $1 is the id.
    std::string sets;
    std::vector<Text> params{id ? Text(std::to_string(*id)) : Text("0")};
    const auto set = [&](const char* column, const char* cast, Text value) {
      sets += std::string(column) + " = ";
      addParam(sets, "", cast, std::move(value), params);
      sets += ", ";
    };
    const auto requireNotNull = [&body](const char* name) {
      const auto it = body.find(name);
      if (it != body.end() && it->is_null())
        throw BadRequest(std::string(name) + " must not be null");
      return it != body.end();
    };
    std::optional<std::string> newStatus;
    if (requireNotNull("status")) {
      const json& value = body["status"];
      const bool known = value.is_string() &&
                         std::find(kStatuses.begin(), kStatuses.end(), value.get<std::string>()) !=
                             kStatuses.end();
      if (!known) throw BadRequest(kStatusMessage);
      newStatus = value.get<std::string>();
      set("status", "::communication_service.telefonanrufstatus", newStatus);
    }
    if (body.contains("therapeutenanfrage_id")) {
      set("therapeutenanfrage_id", "::integer", toText(intField(body, "therapeutenanfrage_id")));
    }
    if (requireNotNull("geplantes_datum")) {
      set("geplantes_datum", "::date", dateField(body, "geplantes_datum"));
    }
    if (requireNotNull("geplante_zeit")) {
      set("geplante_zeit", "::time", timeField(body, "geplante_zeit"));
    }
    if (requireNotNull("dauer_minuten")) {
      set("dauer_minuten", "::integer", toText(intField(body, "dauer_minuten")));
    }
    if (body.contains("tatsaechliches_datum")) {
      set("tatsaechliches_datum", "::date", dateField(body, "tatsaechliches_datum"));
    }
    if (body.contains("tatsaechliche_zeit")) {
      set("tatsaechliche_zeit", "::time", timeField(body, "tatsaechliche_zeit"));
    }
    for (const char* name : {"ergebnis", "notizen"}) {
      if (body.contains(name)) set(name, "::text", stringField(body, name));
    }
    if (!id) return HttpResponse::error(404, kNotFoundMessage);

    const std::vector<const char*> values = pointers(params);
    std::optional<json> updated;
    bool completed = false;
    database_.transaction([&](pqxx::work& tx) {
      updated.reset();
      completed = false;
      const pqxx::result before = tx.exec_params(
          std::string("SELECT status::text FROM ") + kTable + " WHERE id = $1 FOR UPDATE", *id);
      if (before.empty()) return;
      const std::string oldStatus = before[0][0].as<std::string>();
      const pqxx::row row = tx.exec_params1(std::string("UPDATE ") + kTable + " SET " + sets +
                                                "updated_at = now() WHERE id = $1::integer "
                                                "RETURNING " +
                                                kColumns,
                                            pqxx::prepare::make_dynamic_params(values));
      if (oldStatus != "abgeschlossen" && row[9].as<std::string>() == "abgeschlossen") {
        outbox_.add(tx, makeEvent("phone_call.completed", std::to_string(*id),
                                  completedPayload(row).dump()));
        completed = true;
      }
      updated = rowToJson(row);
    });
    if (!updated) return HttpResponse::error(404, kNotFoundMessage);
    if (completed) {
      completed_.add();
      logger_.info("phone call completed", {{"call_id", std::to_string(*id)}});
    }
    return HttpResponse::json(200, updated->dump());
  } catch (const BadRequest& e) {
    return badRequest(e);
  }
}

HttpResponse PhoneCallApi::remove(const HttpRequest& request) {
  try {
    const auto id = pathId(request);
    if (!id) return HttpResponse::error(404, kNotFoundMessage);
    bool deleted = false;
    database_.transaction([&](pqxx::work& tx) {
      deleted =
          !tx.exec_params(std::string("DELETE FROM ") + kTable + " WHERE id = $1 RETURNING id", *id)
               .empty();
    });
    if (!deleted) return HttpResponse::error(404, kNotFoundMessage);
    return HttpResponse::json(200, json{{"message", "Phone call deleted successfully"}}.dump());
  } catch (const BadRequest& e) {
    return badRequest(e);
  }
}

void PhoneCallApi::registerRoutes(const std::shared_ptr<PhoneCallApi>& api, Context& context) {
  context.addRoute("GET", "/api/phone-calls",
                   [api](const HttpRequest& request) { return api->list(request); });
  context.addRoute("POST", "/api/phone-calls",
                   [api](const HttpRequest& request) { return api->create(request); });
  context.addRoute("GET", "/api/phone-calls/{id}",
                   [api](const HttpRequest& request) { return api->get(request); });
  context.addRoute("PUT", "/api/phone-calls/{id}",
                   [api](const HttpRequest& request) { return api->update(request); });
  context.addRoute("DELETE", "/api/phone-calls/{id}",
                   [api](const HttpRequest& request) { return api->remove(request); });
}

}  // namespace commsvc::plugins::phonecall
