#include "http_api.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <functional>
#include <limits>
#include <system_error>

#include "json_text.hpp"

namespace commsvc::plugins::api {
namespace {

using nlohmann::json;

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr std::string_view kEllipsis = "\xE2\x80\xA6";     // U+2026

// An integer written as decimal digits with an optional '-': its value,
// clamped to int64 when it is outside; nullopt when `text` is no integer.
std::optional<std::int64_t> clampedInteger(std::string_view text) {
  const bool negative = !text.empty() && text.front() == '-';
  const std::string_view digits = negative ? text.substr(1) : text;
  if (digits.empty() ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  if (const std::optional<std::int64_t> value = parseInteger(text)) return value;
  return negative ? std::numeric_limits<std::int64_t>::min()
                  : std::numeric_limits<std::int64_t>::max();
}

std::int64_t queryCount(const HttpRequest& request, std::string_view name, std::int64_t fallback) {
  const std::string* text = queryText(request, name);
  if (text == nullptr) return fallback;
  const std::optional<std::int64_t> value = clampedInteger(*text);
  if (!value) throw BadRequest(std::string(name) + " must be an integer");
  return *value;
}

}  // namespace

void QueryFilter::add(std::string_view sqlBefore, std::string value, std::string_view cast) {
  std::string condition(sqlBefore);
  condition += param(std::move(value));
  condition += cast;
  addCondition(condition);
}

void QueryFilter::addCondition(std::string_view sql) {
  where_ += where_.empty() ? " WHERE " : " AND ";
  where_ += sql;
}

std::string QueryFilter::param(std::string value) {
  params_.push_back(std::move(value));
  return "$" + std::to_string(params_.size());
}

pqxx::result execPrepared(pqxx::transaction_base& tx, const std::string& sql,
                          const std::vector<std::string>& params) {
  return tx.exec_prepared(commsvc::prepared(tx, sql), pqxx::prepare::make_dynamic_params(params));
}

HttpResponse jsonResponse(int status, const json& body) {
  return HttpResponse::json(status, body.dump(-1, ' ', false, json::error_handler_t::replace));
}

std::string echo(std::string_view text) {
  std::string out;
  out.reserve(std::min(text.size(), kMaxEchoedChars * 4) + kEllipsis.size());
  std::size_t chars = 0;
  while (!text.empty()) {
    if (chars == kMaxEchoedChars) {
      out += kEllipsis;
      break;
    }
    const std::size_t length = utf8SequenceLength(text);
    if (length == 0) {
      out += kReplacement;
      text.remove_prefix(1);
    } else {
      out += text.substr(0, length);
      text.remove_prefix(length);
    }
    ++chars;
  }
  return out;
}

std::string echoValue(const json& value) {
  if (value.is_string()) return echo(std::string_view(value.get_ref<const std::string&>()));
  return echo(std::string_view(value.dump(-1, ' ', false, json::error_handler_t::replace)));
}

json parseBody(const HttpRequest& request) {
  json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) throw BadRequest("request body is not valid JSON");
  if (!body.is_object()) throw BadRequest("request body must be a JSON object");
  return body;
}

const json* member(const json& body, std::string_view name) {
  const auto it = body.find(name);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

std::optional<std::string> optString(const json& body, std::string_view name) {
  const json* value = member(body, name);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string()) throw BadRequest(std::string(name) + " must be a string");
  std::string text = value->get<std::string>();
  // PostgreSQL text cannot hold NUL ("\u0000" in JSON): 400, not 500.
  if (text.find('\0') != std::string::npos) {
    throw BadRequest(std::string(name) + " must not contain NUL characters");
  }
  return text;
}

std::optional<std::int32_t> optInt(const json& body, std::string_view name, std::int32_t min) {
  const json* value = member(body, name);
  if (value == nullptr) return std::nullopt;
  bool ok = value->is_number_integer();
  std::int64_t number = 0;
  if (ok && value->is_number_unsigned()) {
    ok = value->get<std::uint64_t>() <= static_cast<std::uint64_t>(kMaxInt32);
    if (ok) number = static_cast<std::int64_t>(value->get<std::uint64_t>());
  } else if (ok) {
    number = value->get<std::int64_t>();
  }
  if (!ok || number < min || number > kMaxInt32) {
    throw BadRequest(std::string(name) + (min == 1
                                              ? " must be a positive integer"
                                              : " must be an integer >= " + std::to_string(min)));
  }
  return static_cast<std::int32_t>(number);
}

std::optional<bool> optBool(const json& body, std::string_view name) {
  const json* value = member(body, name);
  if (value == nullptr) return std::nullopt;
  if (!value->is_boolean()) throw BadRequest(std::string(name) + " must be a boolean");
  return value->get<bool>();
}

void requireOneRecipient(const std::optional<std::int32_t>& therapistId,
                         const std::optional<std::int32_t>& patientId) {
  if (!therapistId && !patientId) {
    throw BadRequest("Either therapist_id or patient_id is required");
  }
  if (therapistId && patientId) {
    throw BadRequest("Cannot specify both therapist_id and patient_id");
  }
}

std::int32_t pathId(const HttpRequest& request, std::string_view notFoundMessage,
                    std::string_view name) {
  const auto it = request.params.find(std::string(name));
  const std::string_view text =
      it == request.params.end() ? std::string_view() : std::string_view(it->second);
  std::uint64_t value = 0;
  const bool digits = !text.empty() && std::all_of(text.begin(), text.end(),
                                                   [](char c) { return c >= '0' && c <= '9'; });
  if (digits) {
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc() && value >= 1 && value <= static_cast<std::uint64_t>(kMaxInt32)) {
      return static_cast<std::int32_t>(value);
    }
  }
  throw NotFound(std::string(notFoundMessage));
}

std::optional<std::int64_t> parseInteger(std::string_view text) {
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

Paging paging(const HttpRequest& request) {
  Paging p;
  p.page = std::clamp<std::int64_t>(queryCount(request, "page", 1), 1, kMaxPage);
  p.limit = std::clamp<std::int64_t>(queryCount(request, "limit", kDefaultLimit), 1, kMaxLimit);
  return p;
}

const std::string* queryText(const HttpRequest& request, std::string_view name) {
  const std::string* text = request.queryParam(name);
  return text == nullptr || text->empty() ? nullptr : text;
}

std::optional<std::int32_t> queryInt(const HttpRequest& request, std::string_view name) {
  const std::string* text = queryText(request, name);
  if (text == nullptr) return std::nullopt;
  const std::optional<std::int64_t> value = parseInteger(*text);
  if (!value || *value < -kMaxInt32 - 1 || *value > kMaxInt32) {
    throw BadRequest(std::string(name) + " must be an integer (32 bits)");
  }
  return static_cast<std::int32_t>(*value);
}

std::optional<bool> queryBool(const HttpRequest& request, std::string_view name) {
  const std::string* text = queryText(request, name);
  if (text == nullptr) return std::nullopt;
  std::string lower = *text;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  if (lower == "true" || lower == "1") return true;
  if (lower == "false" || lower == "0") return false;
  throw BadRequest(std::string(name) + " must be true or false");
}

std::optional<std::string> queryRecipientType(const HttpRequest& request) {
  const std::string* text = queryText(request, "recipient_type");
  if (text == nullptr) return std::nullopt;
  if (*text != "therapist" && *text != "patient") {
    throw BadRequest("recipient_type must be therapist or patient");
  }
  return *text;
}

bool isOneOf(std::string_view value, std::span<const std::string_view> values) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

std::optional<std::string> toText(const std::optional<std::int32_t>& value) {
  return value ? std::optional<std::string>(std::to_string(*value)) : std::nullopt;
}

json textOrNull(const pqxx::field& field) {
  return field.is_null() ? json(nullptr) : json(field.as<std::string>());
}

json intOrNull(const pqxx::field& field) {
  return field.is_null() ? json(nullptr) : json(field.as<std::int64_t>());
}

}  // namespace commsvc::plugins::api
