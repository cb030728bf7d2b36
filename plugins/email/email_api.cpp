#include "email_api.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <exception>
#include <iterator>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "commsvc/email_address.hpp"
#include "commsvc/event.hpp"
#include "email_sender.hpp"
#include "html_text.hpp"
#include "http_api.hpp"
#include "json_text.hpp"
#include "markdown.hpp"

namespace commsvc::plugins::email {
namespace {

using nlohmann::json;

// The statuses of the emailstatus enum (SPEC §2).
constexpr std::array<std::string_view, 5> kStatuses = {
    "Entwurf", "In_Warteschlange", "Wird_gesendet", "Gesendet", "Fehlgeschlagen"};

constexpr std::size_t kMaxVarchar = 255;
// POSTs stored in one transaction at most, and such transactions at once
// (each holds a pooled connection; the rest of the pool stays for the
// other routes and the sender).
constexpr std::size_t kMaxCreateBatch = 64;
constexpr std::size_t kCreateBatchesAtOnce = 2;

#define COMMSVC_TS(column) "to_char(" column ", 'YYYY-MM-DD\"T\"HH24:MI:SS.US') AS " column

// Columns of an email in API responses, in two parts: the list leaves the
// bodies out.
constexpr const char* kSummaryColumns =
    "id, therapist_id, patient_id, betreff, empfaenger_email, empfaenger_name, "
    "absender_email, absender_name, antwort_erhalten, " COMMSVC_TS(
        "antwortdatum") ", antwortinhalt, status::text AS status, " COMMSVC_TS("in_warteschlange_am") ", " COMMSVC_TS("gesendet_am") ", fehlermeldung, wiederholungsanzahl, " COMMSVC_TS("created_at") ", " COMMSVC_TS("updated_at");
constexpr const char* kBodyColumns = "inhalt_html, inhalt_text, ";

#undef COMMSVC_TS

using api::BadRequest;
using api::JsonKind;
using api::jsonResponse;
using api::member;
using api::nullable;
using api::optBool;
using api::optString;

constexpr const char* kNotFound = "Email not found";

// 409 while a sender holds the email's claim (status Wird_gesendet).
HttpResponse sendingConflict() {
  HttpResponse r = HttpResponse::error(
      409, "Email is being sent right now; its status cannot change until the send is recorded");
  r.headers["Retry-After"] = "5";
  return r;
}

std::string statusList() {
  std::string out;
  for (std::string_view s : kStatuses) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

std::size_t utf8Length(const std::string& text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

bool hasLineBreak(const std::string& text) {
  return text.find_first_of("\r\n") != std::string::npos;
}

// A string for a varchar(255) header-like column: non-empty, no line breaks.
std::optional<std::string> optHeaderString(const json& body, const char* name) {
  std::optional<std::string> value = optString(body, name);
  if (!value) return value;
  if (value->empty()) throw BadRequest(std::string(name) + " must not be empty");
  if (hasLineBreak(*value)) throw BadRequest(std::string(name) + " must not contain line breaks");
  if (utf8Length(*value) > kMaxVarchar) {
    throw BadRequest(std::string(name) + " must be at most 255 characters");
  }
  return value;
}

std::string requiredHeaderString(const json& body, const char* name) {
  std::optional<std::string> value = optHeaderString(body, name);
  if (!value) throw BadRequest(std::string(name) + " is required");
  return *value;
}

void checkAddress(const std::string& address, const char* name) {
  if (!isMailboxAddress(address)) {
    throw BadRequest(std::string(name) +
                     " must be an email address (local@domain, ASCII, no spaces)");
  }
}

// Reads `count` digits of `text` at `at` into `value`; advances `at`.
bool digits(std::string_view text, std::size_t& at, std::size_t count, int& value) {
  if (text.size() - at < count) return false;
  value = 0;
  for (std::size_t i = 0; i < count; ++i, ++at) {
    if (text[at] < '0' || text[at] > '9') return false;
    value = value * 10 + (text[at] - '0');
  }
  return true;
}

// True when `text` is an ISO 8601 date or date-time that exists and that
// PostgreSQL takes: YYYY-MM-DD, then optionally T (or a space) HH:MM,
// :SS, .f to .ffffff, and Z or an offset ±HH, ±HHMM or ±HH:MM up to ±14:59.
// A single left-to-right pass (request data: no regex).
bool isIsoTimestamp(std::string_view text) {
  std::size_t at = 0;
  int year = 0, month = 0, day = 0;
  if (!digits(text, at, 4, year) || at >= text.size() || text[at++] != '-' ||
      !digits(text, at, 2, month) || at >= text.size() || text[at++] != '-' ||
      !digits(text, at, 2, day)) {
    return false;
  }
  const std::chrono::year_month_day date{std::chrono::year(year),
                                         std::chrono::month(static_cast<unsigned>(month)),
                                         std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok() || year < 1) return false;
  if (at == text.size()) return true;
  if (text[at] != 'T' && text[at] != ' ') return false;
  ++at;
  int hour = 0, minute = 0, second = 0;
  if (!digits(text, at, 2, hour) || at >= text.size() || text[at++] != ':' ||
      !digits(text, at, 2, minute) || hour > 23 || minute > 59) {
    return false;
  }
  if (at < text.size() && text[at] == ':') {
    ++at;
    if (!digits(text, at, 2, second) || second > 59) return false;
    if (at < text.size() && text[at] == '.') {
      const std::size_t start = ++at;
      while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at;
      if (at == start || at - start > 6) return false;
    }
  }
  if (at == text.size()) return true;
  if (text[at] == 'Z') return at + 1 == text.size();
  if (text[at] != '+' && text[at] != '-') return false;
  ++at;
  int offsetHours = 0, offsetMinutes = 0;
  if (!digits(text, at, 2, offsetHours) || offsetHours > 14) return false;
  if (at == text.size()) return true;
  if (text[at] == ':') ++at;
  return digits(text, at, 2, offsetMinutes) && offsetMinutes <= 59 && at == text.size();
}

// An email's members in API answers; the bodies come last, as the list
// leaves them out (kSummaryJson).
constexpr api::JsonColumn kEmailJson[] = {
    {"id", JsonKind::Integer},
    {"therapist_id", JsonKind::Integer},
    {"patient_id", JsonKind::Integer},
    {"betreff", JsonKind::Text},
    {"empfaenger_email", JsonKind::Text},
    {"empfaenger_name", JsonKind::Text},
    {"absender_email", JsonKind::Text},
    {"absender_name", JsonKind::Text},
    {"antwort_erhalten", JsonKind::Boolean},
    {"antwortdatum", JsonKind::Text},
    {"antwortinhalt", JsonKind::Text},
    {"status", JsonKind::Text},
    {"in_warteschlange_am", JsonKind::Text},
    {"gesendet_am", JsonKind::Text},
    {"fehlermeldung", JsonKind::Text},
    {"wiederholungsanzahl", JsonKind::Integer},
    {"created_at", JsonKind::Text},
    {"updated_at", JsonKind::Text},
    {"inhalt_html", JsonKind::Text},
    {"inhalt_text", JsonKind::Text},
};
constexpr std::span<const api::JsonColumn> kSummaryJson =
    std::span(kEmailJson).first(std::size(kEmailJson) - 2);

// An email (bodies included) as the JSON text of the API's answers.
std::string emailJson(const pqxx::row& row) {
  std::string out;
  api::RowJsonWriter(row, kEmailJson).append(out, row);
  return out;
}

EmailEventData eventData(const pqxx::row& row) {
  EmailEventData data;
  data.id = row["id"].as<std::int64_t>();
  if (!row["therapist_id"].is_null()) data.therapistId = row["therapist_id"].as<std::int64_t>();
  if (!row["patient_id"].is_null()) data.patientId = row["patient_id"].as<std::int64_t>();
  data.betreff = row["betreff"].as<std::string>();
  data.status = row["status"].is_null() ? std::string() : row["status"].as<std::string>();
  return data;
}

std::string fullColumns() { return std::string(kBodyColumns) + kSummaryColumns; }

// True when `row` holds what `email` asked to store. A batch's rows are
// matched to its POSTs by id order; this check makes a mismatch (a trigger
// of the platform's that rewrites ids or values) an error instead of one
// POST answering with another's row.
bool storedAsAsked(const pqxx::row& row, const NewEmail& email) {
  const auto sameId = [&](const char* column, const std::optional<std::int32_t>& value) {
    return row[column].is_null() ? !value : value && row[column].as<std::int64_t>() == *value;
  };
  const auto sameText = [&](const char* column, const std::string& value) {
    const pqxx::field field = row[column];
    return !field.is_null() && std::string_view(field.c_str(), field.size()) == value;
  };
  return sameId("therapist_id", email.therapistId) && sameId("patient_id", email.patientId) &&
         sameText("betreff", email.betreff) && sameText("inhalt_html", email.html) &&
         sameText("inhalt_text", email.text) &&
         sameText("empfaenger_email", email.empfaengerEmail) &&
         sameText("empfaenger_name", email.empfaengerName) &&
         sameText("absender_email", email.absenderEmail) &&
         sameText("absender_name", email.absenderName) && sameText("status", email.status);
}

/// A batch whose rows did not come back as its POSTs asked (see
/// storedAsAsked): rolled back, then each POST is stored on its own.
struct BatchMismatch : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string htmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace

ListQuery listQuery(const ListFilters& filters, std::int64_t limit, std::int64_t offset) {
  // The page's rows: only the filters given, so that the list order's
  // indexes (schema version 4) serve them.
  const auto rowFilter = [&filters](api::QueryFilter f) {
    if (filters.therapistId) {
      f.add("therapist_id = ", std::to_string(*filters.therapistId), "::integer");
    }
    if (filters.patientId) f.add("patient_id = ", std::to_string(*filters.patientId), "::integer");
    if (filters.recipientType) {
      f.addCondition(*filters.recipientType == "therapist"
                         ? "therapist_id IS NOT NULL AND patient_id IS NULL"
                         : "patient_id IS NOT NULL AND therapist_id IS NULL");
    }
    if (filters.status) f.add("status = ", *filters.status, "::text::public.emailstatus");
    if (filters.answered) {
      f.addCondition(*filters.answered ? "antwort_erhalten" : "NOT antwort_erhalten");
    }
    return f;
  };
  // The total, exact. Without an id filter: the sum of the matching groups
  // of commsvc_email_counts (maintained by triggers, a few dozen rows).
  // With one: a count through that id's index.
  const bool byId = filters.therapistId || filters.patientId;
  const auto totalQuery = [&](api::QueryFilter f) {
    if (byId) {
      f = rowFilter(std::move(f));
      return std::pair("SELECT count(*) FROM communication_service.emails" + f.where(), f);
    }
    if (filters.recipientType) f.add("recipient = ", *filters.recipientType, "::text");
    if (filters.status) f.add("status = ", *filters.status, "::text::public.emailstatus");
    if (filters.answered) f.addCondition(*filters.answered ? "answered" : "NOT answered");
    return std::pair(
        "SELECT COALESCE(sum(n), 0)::bigint FROM communication_service.commsvc_email_counts" +
            f.where(),
        f);
  };

  ListQuery out;
  const api::QueryFilter rows = rowFilter({});
  // One round trip when the page has rows: the total is an init plan of
  // the page's query, its placeholders numbered after the rows' ones.
  auto [totalInPage, pageParams] = totalQuery(api::QueryFilter(rows.params()));
  const std::string limitRef = pageParams.param(std::to_string(limit));
  const std::string offsetRef = pageParams.param(std::to_string(offset));
  out.page = "SELECT (" + totalInPage + ") AS total, " + kSummaryColumns +
             " FROM communication_service.emails" + rows.where() +
             // Qualified: the bare names are the to_char() output columns.
             " ORDER BY emails.created_at DESC NULLS LAST, emails.id DESC LIMIT " + limitRef +
             "::bigint OFFSET " + offsetRef + "::bigint";
  out.pageParams = pageParams.params();
  auto [total, totalParams] = totalQuery({});
  out.total = std::move(total);
  out.totalParams = totalParams.params();
  return out;
}

std::string textToHtml(const std::string& text) {
  std::string out = "<p>";
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t nl = text.find('\n', pos);
    std::string_view line(text.data() + pos, (nl == std::string::npos ? text.size() : nl) - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out += htmlEscape(line);
    if (nl == std::string::npos) break;
    const bool blank = text.compare(nl + 1, 1, "\n") == 0 || text.compare(nl + 1, 2, "\r\n") == 0;
    if (blank) {
      out += "</p>\n<p>";
      pos = text.find_first_not_of("\r\n", nl);
      if (pos == std::string::npos) break;
    } else {
      out += "<br>\n";
      pos = nl + 1;
    }
  }
  out += "</p>\n";
  return out;
}

EmailApi::EmailApi(Database& database, Outbox& outbox, Channel& channel, Logger& logger,
                   ApiSettings settings, contact::PatientContact contact)
    : database_(database),
      outbox_(outbox),
      channel_(channel),
      logger_(logger),
      settings_(std::move(settings)),
      contact_(std::move(contact)),
      creator_(kMaxCreateBatch, kCreateBatchesAtOnce,
               [this](std::span<Creator::Entry* const> batch) { storeBatch(batch); }) {}

void EmailApi::storeBatch(std::span<Creator::Entry* const> batch) {
  try {
    storeTogether(batch);
  } catch (const std::exception& e) {
    // A row was refused (a constraint, a trigger), the batch lost a deadlock
    // or serialization conflict, or its rows did not come back as asked:
    // store each on its own, so only the POST at fault fails. Not for a
    // lost connection or a commit in doubt (rows may exist: never twice).
    const bool perEntry = dynamic_cast<const pqxx::sql_error*>(&e) != nullptr ||
                          dynamic_cast<const pqxx::deadlock_detected*>(&e) != nullptr ||
                          dynamic_cast<const pqxx::serialization_failure*>(&e) != nullptr ||
                          dynamic_cast<const BatchMismatch*>(&e) != nullptr;
    if (!perEntry || batch.size() == 1) throw;
    for (Creator::Entry* entry : batch) {
      try {
        storeTogether(std::span<Creator::Entry* const>(&entry, 1));
      } catch (...) {
        entry->error = std::current_exception();
      }
    }
  }
}

void EmailApi::storeTogether(std::span<Creator::Entry* const> batch) {
  // One text array per column, in batch order; PostgreSQL numbers the rows
  // in that order (ORDER BY n), so their serial ids follow it too; each row
  // is checked against its POST (storedAsAsked) before it is answered.
  std::array<std::string, 10> columns;
  for (auto& c : columns) c = "{";
  for (const Creator::Entry* entry : batch) {
    const NewEmail& e = entry->job;
    e.therapistId ? appendArrayElement(columns[0], std::to_string(*e.therapistId))
                  : appendArrayNull(columns[0]);
    e.patientId ? appendArrayElement(columns[1], std::to_string(*e.patientId))
                : appendArrayNull(columns[1]);
    appendArrayElement(columns[2], e.betreff);
    appendArrayElement(columns[3], e.html);
    appendArrayElement(columns[4], e.text);
    appendArrayElement(columns[5], e.empfaengerEmail);
    appendArrayElement(columns[6], e.empfaengerName);
    appendArrayElement(columns[7], e.absenderEmail);
    appendArrayElement(columns[8], e.absenderName);
    appendArrayElement(columns[9], e.status);
  }
  for (auto& c : columns) c += '}';

  std::vector<CreatedEmail> created;
  database_.transaction([&](pqxx::work& tx) {
    created.clear();
    static const std::string kInsertAll =
        "INSERT INTO communication_service.emails (therapist_id, patient_id, betreff, "
        "inhalt_html, inhalt_text, empfaenger_email, empfaenger_name, absender_email, "
        "absender_name, status, in_warteschlange_am, created_at, updated_at) "
        "SELECT e.therapist_id, e.patient_id, e.betreff, e.html, e.text, e.to_email, e.to_name, "
        "e.from_email, e.from_name, e.status::public.emailstatus, "
        "CASE WHEN e.status = 'In_Warteschlange' THEN now() END, now(), now() "
        "FROM unnest($1::integer[], $2::integer[], $3::text[], $4::text[], $5::text[], "
        "$6::text[], $7::text[], $8::text[], $9::text[], $10::text[]) WITH ORDINALITY "
        "AS e(therapist_id, patient_id, betreff, html, text, to_email, to_name, from_email, "
        "from_name, status, n) ORDER BY e.n RETURNING " +
        fullColumns();
    const pqxx::result rows = commsvc::execPrepared(tx, kInsertAll, columns[0], columns[1],
                                                    columns[2], columns[3], columns[4], columns[5],
                                                    columns[6], columns[7], columns[8], columns[9]);
    if (rows.size() != batch.size()) {
      throw BatchMismatch("email insert returned " + std::to_string(rows.size()) + " rows for " +
                          std::to_string(batch.size()));
    }
    // RETURNING need not keep the insertion order; the ids do.
    std::vector<pqxx::result::size_type> order(rows.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](pqxx::result::size_type a, pqxx::result::size_type b) {
                return rows[a]["id"].as<std::int64_t>() < rows[b]["id"].as<std::int64_t>();
              });
    std::vector<Event> events;
    events.reserve(rows.size());
    for (std::size_t k = 0; k < order.size(); ++k) {
      const pqxx::row row = rows[order[k]];
      if (batch.size() > 1 && !storedAsAsked(row, batch[k]->job)) {
        throw BatchMismatch("a batched email row does not hold what its POST asked to store");
      }
      const EmailEventData data = eventData(row);
      events.push_back(makeEvent("communication.email_created", std::to_string(data.id),
                                 emailEventPayload(data, /*withCommunicationFields=*/false)));
      created.push_back({data.id, emailJson(row)});
    }
    outbox_.addAll(tx, events);
  });
  for (std::size_t i = 0; i < batch.size(); ++i) batch[i]->result = std::move(created[i]);
}

HttpResponse EmailApi::listEmails(const HttpRequest& request) {
  return api::guarded([&] {
    const std::optional<std::int32_t> therapist = api::queryInt(request, "therapist_id");
    const std::optional<std::int32_t> patient = api::queryInt(request, "patient_id");
    const std::optional<std::string> recipientType = api::queryRecipientType(request);
    const std::string* status = api::queryText(request, "status");
    const std::optional<bool> answered = api::queryBool(request, "antwort_erhalten");
    const api::Paging page = api::paging(request);

    std::string data;  // the rows' JSON objects, comma-separated
    std::int64_t total = 0;
    // An unknown status matches nothing (the enum cast would fail).
    if (status == nullptr || api::isOneOf(*status, kStatuses)) {
      const ListQuery query =
          listQuery({.therapistId = therapist,
                     .patientId = patient,
                     .recipientType = recipientType,
                     .status = status ? std::optional<std::string>(*status) : std::nullopt,
                     .answered = answered},
                    page.limit, page.offset());
      // One statement (the total is part of the page's): no transaction
      // block, one round trip.
      database_.read([&](pqxx::nontransaction& tx) {
        data.clear();
        const pqxx::result rows = api::execPrepared(tx, query.page, query.pageParams);
        if (rows.empty()) {
          total = api::execPrepared(tx, query.total, query.totalParams)[0][0].as<std::int64_t>();
          return;
        }
        total = rows[0]["total"].as<std::int64_t>();
        const api::RowJsonWriter writer(rows[0], kSummaryJson);
        for (const auto& row : rows) {
          if (!data.empty()) data += ',';
          writer.append(data, row);
        }
      });
    }
    // Members in key order, as every other answer (nlohmann's).
    std::string body = "{\"data\":[";
    body += data;
    body += "],\"limit\":";
    api::appendJsonInteger(body, page.limit);
    body += ",\"page\":";
    api::appendJsonInteger(body, page.page);
    body += ",\"total\":";
    api::appendJsonInteger(body, total);
    body += '}';
    return HttpResponse::json(200, std::move(body));
  });
}

HttpResponse EmailApi::createEmail(const HttpRequest& request) {
  return api::guarded([&] {
    const json body = api::parseBody(request);
    const std::string betreff = requiredHeaderString(body, "betreff");
    const std::string empfaengerEmail = requiredHeaderString(body, "empfaenger_email");
    checkAddress(empfaengerEmail, "empfaenger_email");
    const std::string empfaengerName = requiredHeaderString(body, "empfaenger_name");
    const std::optional<std::int32_t> therapist = api::optInt(body, "therapist_id");
    const std::optional<std::int32_t> patient = api::optInt(body, "patient_id");
    api::requireOneRecipient(therapist, patient);

    const std::optional<std::string> markdown = optString(body, "inhalt_markdown");
    std::optional<std::string> html = optString(body, "inhalt_html");
    std::optional<std::string> text = optString(body, "inhalt_text");
    if (markdown && html) {
      throw BadRequest("inhalt_markdown and inhalt_html exclude each other: give one");
    }
    if (markdown) {
      RenderedMarkdown rendered;
      try {
        rendered = renderMarkdown(*markdown);
      } catch (const MarkdownTooComplex& e) {
        throw BadRequest(std::string("inhalt_markdown ") + e.what());
      }
      html = std::move(rendered.html);
      if (!text) text = std::move(rendered.text);
    } else if (html && !text) {
      text = htmlToText(*html);
    } else if (text && !html) {
      html = textToHtml(*text);
    } else if (!html && !text) {
      throw BadRequest("Either inhalt_html, inhalt_text, or inhalt_markdown is required");
    }

    std::string absenderEmail =
        optHeaderString(body, "absender_email").value_or(settings_.defaultSenderEmail);
    checkAddress(absenderEmail, "absender_email");
    const std::string absenderName =
        optHeaderString(body, "absender_name").value_or(settings_.defaultSenderName);
    if (optBool(body, "add_legal_footer").value_or(true)) {
      if (!settings_.legalFooterHtml.empty()) *html += "\n" + settings_.legalFooterHtml;
      if (!settings_.legalFooterText.empty()) *text += "\n\n" + settings_.legalFooterText;
    }
    std::string status = "Entwurf";
    if (const json* value = member(body, "status"); value != nullptr) {
      if (!value->is_string() || (value->get<std::string>() != "Entwurf" &&
                                  value->get<std::string>() != "In_Warteschlange")) {
        throw BadRequest("status must be Entwurf or In_Warteschlange");
      }
      status = value->get<std::string>();
    }

    CreatedEmail created = creator_.run({.therapistId = therapist,
                                         .patientId = patient,
                                         .betreff = betreff,
                                         .html = std::move(*html),
                                         .text = std::move(*text),
                                         .empfaengerEmail = empfaengerEmail,
                                         .empfaengerName = empfaengerName,
                                         .absenderEmail = std::move(absenderEmail),
                                         .absenderName = absenderName,
                                         .status = status});
    logger_.info("email created", {{"email_id", std::to_string(created.id)}, {"status", status}});
    return HttpResponse::json(201, std::move(created.json));
  });
}

HttpResponse EmailApi::getEmail(const HttpRequest& request) {
  return api::guarded([&] {
    const std::int32_t id = api::pathId(request, kNotFound);
    std::optional<std::string> email;
    database_.read([&](pqxx::nontransaction& tx) {
      email.reset();
      static const std::string kSelect =
          "SELECT " + fullColumns() + " FROM communication_service.emails WHERE id = $1";
      const pqxx::result r = commsvc::execPrepared(tx, kSelect, id);
      if (!r.empty()) email = emailJson(r[0]);
    });
    return email ? HttpResponse::json(200, std::move(*email)) : HttpResponse::error(404, kNotFound);
  });
}

HttpResponse EmailApi::updateEmail(const HttpRequest& request) {
  return api::guarded([&] {
    const std::int32_t id = api::pathId(request, kNotFound);
    const json body = api::parseBody(request);
    std::optional<std::string> status;
    if (body.contains("status")) {
      const json& value = body["status"];
      if (!value.is_string() || !api::isOneOf(value.get<std::string>(), kStatuses)) {
        throw BadRequest("status must be one of " + statusList());
      }
      status = value.get<std::string>();
    }
    std::optional<bool> answered;
    if (body.contains("antwort_erhalten")) {
      if (!body["antwort_erhalten"].is_boolean()) {
        throw BadRequest("antwort_erhalten must be a boolean");
      }
      answered = body["antwort_erhalten"].get<bool>();
    }
    const bool setDate = body.contains("antwortdatum");
    const std::optional<std::string> date = optString(body, "antwortdatum");
    if (date && !isIsoTimestamp(*date)) {
      throw BadRequest("antwortdatum must be an ISO 8601 date or timestamp");
    }
    const bool setAnswer = body.contains("antwortinhalt");
    const std::optional<std::string> answer = optString(body, "antwortinhalt");
    const bool setError = body.contains("fehlermeldung");
    const std::optional<std::string> error = optString(body, "fehlermeldung");
    const std::optional<std::string> answeredText =
        answered ? std::optional<std::string>(*answered ? "true" : "false") : std::nullopt;

    std::optional<std::string> email;
    std::string newStatus;
    bool conflict = false;
    std::vector<std::int64_t> contacts;  // patient contacts this change caused
    database_.transaction([&](pqxx::work& tx) {
      email.reset();
      conflict = false;
      contacts.clear();
      const pqxx::result before = tx.exec_params(
          "SELECT COALESCE(status::text, '') AS status, antwort_erhalten FROM "
          "communication_service.emails WHERE id = $1 FOR UPDATE",
          id);
      if (before.empty()) return;
      const std::string oldStatus = before[0]["status"].as<std::string>();
      const bool wasAnswered = before[0]["antwort_erhalten"].as<bool>();
      if (oldStatus == "Wird_gesendet" && status && *status != oldStatus) {
        // A sender holds the claim: changing the status now would send the
        // email twice (In_Warteschlange) or lose its Gesendet and email.sent.
        conflict = true;
        return;
      }
      const pqxx::row row = tx.exec_params1(
          "UPDATE communication_service.emails SET "
          "status = CASE WHEN $2::text IS NULL THEN status "
          "ELSE $2::text::public.emailstatus END, "
          "antwort_erhalten = COALESCE($3::boolean, antwort_erhalten), "
          "antwortdatum = CASE WHEN $4::boolean THEN $5::timestamptz::timestamp "
          "ELSE antwortdatum END, "
          "antwortinhalt = CASE WHEN $6::boolean THEN $7::text ELSE antwortinhalt END, "
          "fehlermeldung = CASE WHEN $8::boolean THEN $9::text ELSE fehlermeldung END, "
          "in_warteschlange_am = CASE WHEN $2::text = 'In_Warteschlange' AND in_warteschlange_am "
          "IS NULL THEN now() ELSE in_warteschlange_am END, "
          "gesendet_am = CASE WHEN $2::text = 'Gesendet' AND gesendet_am IS NULL THEN now() "
          "ELSE gesendet_am END, updated_at = now() WHERE id = $1 RETURNING " +
              fullColumns(),
          id, nullable(status), nullable(answeredText), setDate, nullable(date), setAnswer,
          nullable(answer), setError, nullable(error));
      const EmailEventData data = eventData(row);
      const std::string key = std::to_string(id);
      // The status change of a PUT: its events join this transaction.
      if (status == "Gesendet" && oldStatus != "Gesendet") {
        EmailEventData sent = data;
        sent.status = "Gesendet";
        outbox_.add(tx, makeEvent("email.sent", key,
                                  emailEventPayload(sent, /*withCommunicationFields=*/true)));
        if (data.patientId) {
          if (const auto entry = contact_.add(tx, *data.patientId, "email", id)) {
            contacts.push_back(*entry);
          }
        }
      }
      if (answered == true && !wasAnswered) {
        outbox_.add(tx, makeEvent("email.response_received", key,
                                  emailEventPayload(data, /*withCommunicationFields=*/true)));
      }
      newStatus = data.status;
      email = emailJson(row);
    });
    if (conflict) return sendingConflict();
    if (!email) return HttpResponse::error(404, kNotFound);
    if (!contact_.await(contacts)) {
      logger_.warn("patient service not told of the contact yet; it is delivered in the background",
                   {{"email_id", std::to_string(id)}});
    }
    logger_.info("email updated", {{"email_id", std::to_string(id)}, {"status", newStatus}});
    return HttpResponse::json(200, std::move(*email));
  });
}

HttpResponse EmailApi::deleteEmail(const HttpRequest& request) {
  return api::guarded([&] {
    const std::int32_t id = api::pathId(request, kNotFound);
    bool deleted = false;
    bool conflict = false;
    database_.transaction([&](pqxx::work& tx) {
      const pqxx::result r = tx.exec_params(
          "DELETE FROM communication_service.emails WHERE id = $1 "
          "AND status IS DISTINCT FROM 'Wird_gesendet' RETURNING id",
          id);
      deleted = !r.empty();
      conflict = !deleted && !tx.exec_params(
                                    "SELECT 1 FROM communication_service.emails "
                                    "WHERE id = $1",
                                    id)
                                  .empty();
    });
    if (conflict) return sendingConflict();
    if (!deleted) return HttpResponse::error(404, kNotFound);
    logger_.info("email deleted", {{"email_id", std::to_string(id)}});
    return jsonResponse(200, {{"message", "Email deleted successfully"}});
  });
}

HttpResponse EmailApi::sendSystemMessage(const HttpRequest& request) {
  return api::guarded([&] {
    // The original's texts: "No data provided" for a missing or empty body,
    // "<Field> is required" for a missing or empty subject / message.
    json body;
    try {
      body = api::parseBody(request);
    } catch (const BadRequest& e) {
      throw BadRequest(std::string("No data provided (") + e.what() + ")");
    }
    if (body.empty()) throw BadRequest("No data provided");
    const auto requiredText = [&body](const char* name, const char* missing) {
      const std::optional<std::string> value = optString(body, name);
      if (!value || value->empty()) throw BadRequest(missing);
      return *value;
    };
    const std::string subject = requiredText("subject", "Subject is required");
    if (hasLineBreak(subject)) throw BadRequest("subject must not contain line breaks");
    if (utf8Length(subject) > kMaxVarchar) {
      throw BadRequest("subject must be at most 255 characters");
    }
    const std::string text = requiredText("message", "Message is required");
    const std::optional<std::string> senderName = optHeaderString(body, "sender_name");
    if (settings_.systemNotificationEmail.empty()) {
      return HttpResponse::error(503,
                                 "System messages are not configured: set the email handler's "
                                 "system_notification_email (SYSTEM_NOTIFICATION_EMAIL)");
    }
    Message message;
    message.id = "system-message";
    message.fromAddress = settings_.defaultSenderEmail;
    message.fromName = senderName.value_or(settings_.defaultSenderName);
    message.toAddress = settings_.systemNotificationEmail;
    message.subject = subject;
    message.textBody = text;
    message.htmlBody = textToHtml(text);
    const DeliveryResult result = channel_.deliver(message);
    if (!result.ok()) {
      logger_.warn("system message not delivered",
                   {{"subject", subject}, {"detail", result.detail}});
      return HttpResponse::error(
          500, "System message could not be sent: " +
                   (result.detail.empty() ? std::string("delivery failed") : result.detail));
    }
    logger_.info("system message sent", {{"recipient", settings_.systemNotificationEmail}});
    return jsonResponse(200, {{"message", "System message sent successfully"},
                              {"recipient", settings_.systemNotificationEmail}});
  });
}

void registerEmailRoutes(Context& context, const std::shared_ptr<EmailApi>& api) {
  context.addRoute("GET", "/api/emails",
                   [api](const HttpRequest& r) { return api->listEmails(r); });
  context.addRoute("POST", "/api/emails",
                   [api](const HttpRequest& r) { return api->createEmail(r); });
  context.addRoute("GET", "/api/emails/{id}",
                   [api](const HttpRequest& r) { return api->getEmail(r); });
  context.addRoute("PUT", "/api/emails/{id}",
                   [api](const HttpRequest& r) { return api->updateEmail(r); });
  context.addRoute("DELETE", "/api/emails/{id}",
                   [api](const HttpRequest& r) { return api->deleteEmail(r); });
  context.addRoute("POST", "/api/system-messages",
                   [api](const HttpRequest& r) { return api->sendSystemMessage(r); });
}

}  // namespace commsvc::plugins::email
