#include "phone_call_api.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <utility>
#include <vector>

#include "http_api.hpp"

namespace commsvc::plugins::phonecall {
namespace {

using api::BadRequest;
using api::nullable;
using api::toText;
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
// The labels of the telefonanrufstatus enum (SPEC §2).
constexpr std::array<std::string_view, 4> kStatuses = {"geplant", "abgeschlossen", "fehlgeschlagen",
                                                       "abgebrochen"};
// The therapist slots tried, in order, when a call has no geplante_zeit.
constexpr std::array<const char*, 2> kTherapistSlots = {"10:00", "14:00"};
constexpr const char* kPatientTime = "10:00";
constexpr int kTherapistMinutes = 5;
constexpr int kPatientMinutes = 10;
// First key of the advisory lock that serialises slot searches per therapist.
constexpr int kSlotLockClass = 0x50484f4e;  // "PHON"

// How a date or time field that is not valid is answered: the original
// service's text ("Invalid date format: v" when creating, "Invalid date
// format for <field>: v" when updating), then the field and the format.
enum class FormatText { kCreate, kUpdate };

[[noreturn]] void invalidFormat(FormatText text, const char* kind, const char* name,
                                const json& value, const char* format) {
  std::string message = std::string("Invalid ") + kind + " format";
  if (text == FormatText::kUpdate) message += std::string(" for ") + name;
  message += ": " + api::echoValue(value) + " (" + name + " must be a " + kind + " in " + format +
             " format)";
  throw BadRequest(message);
}

Text dateField(const json& body, const char* name, FormatText text) {
  const json* value = api::member(body, name);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string() || !isValidDate(value->get<std::string>())) {
    invalidFormat(text, "date", name, *value, "YYYY-MM-DD");
  }
  return value->get<std::string>();
}

Text timeField(const json& body, const char* name, FormatText text) {
  const json* value = api::member(body, name);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string() || !isValidTime(value->get<std::string>())) {
    invalidFormat(text, "time", name, *value, "HH:MM");
  }
  return value->get<std::string>();
}

// A call row (kColumns) as the API shows it.
json rowToJson(const pqxx::row& row) {
  return {
      {"id", row[0].as<std::int64_t>()},
      {"therapist_id", api::intOrNull(row[1])},
      {"patient_id", api::intOrNull(row[2])},
      {"therapeutenanfrage_id", api::intOrNull(row[3])},
      {"geplantes_datum", api::textOrNull(row[4])},
      {"geplante_zeit", api::textOrNull(row[5])},
      {"dauer_minuten", api::intOrNull(row[6])},
      {"tatsaechliches_datum", api::textOrNull(row[7])},
      {"tatsaechliche_zeit", api::textOrNull(row[8])},
      {"status", api::textOrNull(row[9])},
      {"ergebnis", api::textOrNull(row[10])},
      {"notizen", api::textOrNull(row[11])},
      {"created_at", api::textOrNull(row[12])},
      {"updated_at", api::textOrNull(row[13])},
  };
}

const char* recipientType(const pqxx::row& row) {
  return row[1].is_null() ? "patient" : "therapist";
}

// The communication.call_scheduled payload (SPEC §1) of a new call row.
json scheduledPayload(const pqxx::row& row) {
  return {{"call_id", row[0].as<std::int64_t>()},
          {"call_data",
           {{"therapist_id", api::intOrNull(row[1])},
            {"patient_id", api::intOrNull(row[2])},
            {"therapeutenanfrage_id", api::intOrNull(row[3])},
            {"recipient_type", recipientType(row)},
            {"scheduled_date", api::textOrNull(row[4])},
            {"scheduled_time", api::textOrNull(row[14])}}}};
}

// The phone_call.completed payload (SPEC §1) of a completed call row.
json completedPayload(const pqxx::row& row) {
  json payload = {{"call_id", row[0].as<std::int64_t>()},
                  {"call_data",
                   {{"call_id", row[0].as<std::int64_t>()},
                    {"therapist_id", api::intOrNull(row[1])},
                    {"patient_id", api::intOrNull(row[2])},
                    {"therapeutenanfrage_id", api::intOrNull(row[3])},
                    {"recipient_type", recipientType(row)},
                    {"status", api::textOrNull(row[9])},
                    {"ergebnis", api::textOrNull(row[10])}}},
                  {"communication_type", "phone_call"},
                  {"patient_id", api::intOrNull(row[2])},
                  {"therapist_id", api::intOrNull(row[1])}};
  if (!row[10].is_null() && !row[10].as<std::string>().empty()) {
    payload["outcome"] = row[10].as<std::string>();
  }
  return payload;
}

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
  for (const Text& p : params) out.push_back(nullable(p));
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
                           TodayFunction today, contact::PatientContact contact)
    : database_(database),
      outbox_(outbox),
      logger_(logger),
      created_(metrics.counter("phone_calls_created_total", "phone calls created through the API")),
      completed_(metrics.counter("phone_calls_completed_total",
                                 "phone calls whose status changed into abgeschlossen")),
      today_(today ? std::move(today) : TodayFunction(&localToday)),
      contact_(std::move(contact)) {}

HttpResponse PhoneCallApi::list(const HttpRequest& request) {
  return api::guarded([&] {
    std::string where;
    std::vector<Text> params;
    const auto next = [&where]() -> std::string& {
      where += where.empty() ? " WHERE " : " AND ";
      return where;
    };
    for (const char* name : {"therapist_id", "patient_id", "therapeutenanfrage_id"}) {
      if (const auto number = api::queryInt(request, name)) {
        addParam(next(), std::string(name) + " = ", "::integer", std::to_string(*number), params);
      }
    }
    if (const auto type = api::queryRecipientType(request)) {
      next() += *type == "therapist" ? "therapist_id IS NOT NULL AND patient_id IS NULL"
                                     : "patient_id IS NOT NULL AND therapist_id IS NULL";
    }
    // An unknown status matches nothing (an empty page), as for emails.
    // Only known values reach PostgreSQL (a value that is not UTF-8 made it fail: 500).
    if (const std::string* status = api::queryText(request, "status")) {
      if (api::isOneOf(*status, kStatuses)) {
        addParam(next(), "status = ", "::public.telefonanrufstatus", *status, params);
      } else {
        next() += "false";
      }
    }
    if (const std::string* date = api::queryText(request, "geplantes_datum")) {
      if (!isValidDate(*date)) {
        throw BadRequest("geplantes_datum must be a date in YYYY-MM-DD format");
      }
      addParam(next(), "geplantes_datum = ", "::date", *date, params);
    }
    const api::Paging page = api::paging(request);

    const std::vector<const char*> filterParams = pointers(params);
    std::vector<const char*> pageParams = filterParams;
    const std::string limitText = std::to_string(page.limit);
    const std::string offsetText = std::to_string(page.offset());
    pageParams.push_back(limitText.c_str());
    pageParams.push_back(offsetText.c_str());
    const std::string limitRef = "$" + std::to_string(filterParams.size() + 1);
    const std::string offsetRef = "$" + std::to_string(filterParams.size() + 2);

    json data = json::array();
    std::int64_t total = 0;
    // Read committed gives each statement its own snapshot inside a
    // transaction too: without one, two round trips fewer.
    database_.read([&](pqxx::nontransaction& tx) {
      data = json::array();
      // Prepared: the SQL text depends only on which filters are given.
      total = tx.exec_prepared(
                    commsvc::prepared(tx, std::string("SELECT count(*) FROM ") + kTable + where),
                    pqxx::prepare::make_dynamic_params(filterParams))
                  .at(0)[0]
                  .as<std::int64_t>();
      const pqxx::result rows = tx.exec_prepared(
          commsvc::prepared(tx, std::string("SELECT ") + kColumns + " FROM " + kTable + where +
                                    " ORDER BY geplantes_datum DESC, geplante_zeit DESC, id DESC "
                                    "LIMIT " +
                                    limitRef + "::bigint OFFSET " + offsetRef + "::bigint"),
          pqxx::prepare::make_dynamic_params(pageParams));
      for (const auto& row : rows) data.push_back(rowToJson(row));
    });
    return api::jsonResponse(
        200,
        {{"data", std::move(data)}, {"page", page.page}, {"limit", page.limit}, {"total", total}});
  });
}

HttpResponse PhoneCallApi::create(const HttpRequest& request) {
  return api::guarded([&] {
    const json body = api::parseBody(request);
    const auto therapist = api::optInt(body, "therapist_id");
    const auto patient = api::optInt(body, "patient_id");
    api::requireOneRecipient(therapist, patient);
    const auto anfrage = api::optInt(body, "therapeutenanfrage_id");
    const Text requestedDate = dateField(body, "geplantes_datum", FormatText::kCreate);
    const Text requestedTime = timeField(body, "geplante_zeit", FormatText::kCreate);
    const auto dauer = api::optInt(body, "dauer_minuten");
    const Text notizen = api::optString(body, "notizen");
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
              "dauer_minuten, notizen, created_at, updated_at) VALUES ($1::integer, $2::integer, "
              "$3::integer, $4::date, $5::time, $6::integer, $7::text, now(), now()) RETURNING " +
              kColumns,
          nullable(toText(therapist)), nullable(toText(patient)), nullable(toText(anfrage)), date,
          time, minutes, nullable(notizen));
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
    return api::jsonResponse(201, created);
  });
}

HttpResponse PhoneCallApi::get(const HttpRequest& request) {
  return api::guarded([&] {
    const std::int32_t id = api::pathId(request, kNotFoundMessage);
    std::optional<json> call;
    database_.read([&](pqxx::nontransaction& tx) {
      const pqxx::result rows = tx.exec_params(
          std::string("SELECT ") + kColumns + " FROM " + kTable + " WHERE id = $1", id);
      call = rows.empty() ? std::nullopt : std::optional<json>(rowToJson(rows[0]));
    });
    if (!call) return HttpResponse::error(404, kNotFoundMessage);
    return api::jsonResponse(200, *call);
  });
}

HttpResponse PhoneCallApi::update(const HttpRequest& request) {
  return api::guarded([&] {
    const std::int32_t id = api::pathId(request, kNotFoundMessage);
    const json body = api::parseBody(request);
    // SET clauses from fixed fragments; $1 is the id.
    std::string sets;
    std::vector<Text> params{std::to_string(id)};
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
    if (requireNotNull("status")) {
      const json& value = body["status"];
      if (!value.is_string() || !api::isOneOf(value.get<std::string>(), kStatuses)) {
        throw BadRequest("Invalid status value: " + api::echoValue(value) +
                         " (status must be one of: geplant, abgeschlossen, fehlgeschlagen, "
                         "abgebrochen)");
      }
      set("status", "::public.telefonanrufstatus", value.get<std::string>());
    }
    if (body.contains("therapeutenanfrage_id")) {
      set("therapeutenanfrage_id", "::integer", toText(api::optInt(body, "therapeutenanfrage_id")));
    }
    if (requireNotNull("geplantes_datum")) {
      set("geplantes_datum", "::date", dateField(body, "geplantes_datum", FormatText::kUpdate));
    }
    if (requireNotNull("geplante_zeit")) {
      set("geplante_zeit", "::time", timeField(body, "geplante_zeit", FormatText::kUpdate));
    }
    if (requireNotNull("dauer_minuten")) {
      set("dauer_minuten", "::integer", toText(api::optInt(body, "dauer_minuten")));
    }
    if (body.contains("tatsaechliches_datum")) {
      set("tatsaechliches_datum", "::date",
          dateField(body, "tatsaechliches_datum", FormatText::kUpdate));
    }
    if (body.contains("tatsaechliche_zeit")) {
      set("tatsaechliche_zeit", "::time",
          timeField(body, "tatsaechliche_zeit", FormatText::kUpdate));
    }
    for (const char* name : {"ergebnis", "notizen"}) {
      if (body.contains(name)) set(name, "::text", api::optString(body, name));
    }

    const std::vector<const char*> values = pointers(params);
    std::optional<json> updated;
    bool completed = false;
    std::optional<std::int64_t> contact;  // the patient contact this change caused
    database_.transaction([&](pqxx::work& tx) {
      updated.reset();
      completed = false;
      contact.reset();
      const pqxx::result before = tx.exec_params(
          std::string("SELECT status::text FROM ") + kTable + " WHERE id = $1 FOR UPDATE", id);
      if (before.empty()) return;
      const std::string oldStatus = before[0][0].as<std::string>();
      const pqxx::row row = tx.exec_params1(std::string("UPDATE ") + kTable + " SET " + sets +
                                                "updated_at = now() WHERE id = $1::integer "
                                                "RETURNING " +
                                                kColumns,
                                            pqxx::prepare::make_dynamic_params(values));
      // The status change of a PUT: its events join this transaction.
      if (oldStatus != "abgeschlossen" && row[9].as<std::string>() == "abgeschlossen") {
        outbox_.add(tx, makeEvent("phone_call.completed", std::to_string(id),
                                  completedPayload(row).dump()));
        completed = true;
        if (!row[2].is_null()) contact = contact_.add(tx, row[2].as<long long>(), "phone_call", id);
      }
      updated = rowToJson(row);
    });
    if (!updated) return HttpResponse::error(404, kNotFoundMessage);
    if (completed) {
      completed_.add();
      logger_.info("phone call completed", {{"call_id", std::to_string(id)}});
    }
    if (contact && !contact_.await({*contact})) {
      logger_.warn("patient service not told of the contact yet; it is delivered in the background",
                   {{"call_id", std::to_string(id)}});
    }
    return api::jsonResponse(200, *updated);
  });
}

HttpResponse PhoneCallApi::remove(const HttpRequest& request) {
  return api::guarded([&] {
    const std::int32_t id = api::pathId(request, kNotFoundMessage);
    bool deleted = false;
    database_.transaction([&](pqxx::work& tx) {
      deleted =
          !tx.exec_params(std::string("DELETE FROM ") + kTable + " WHERE id = $1 RETURNING id", id)
               .empty();
    });
    if (!deleted) return HttpResponse::error(404, kNotFoundMessage);
    return api::jsonResponse(200, {{"message", "Phone call deleted successfully"}});
  });
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
