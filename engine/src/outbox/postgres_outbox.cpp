#include "outbox/postgres_outbox.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <stdexcept>
#include <thread>

#include "commsvc/clock.hpp"
#include "commsvc/database.hpp"
#include "commsvc/uuid.hpp"
#include "database/pool.hpp"
#include "outbox/relay.hpp"

namespace commsvc::outbox {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void appendHex(std::string& out, std::string_view bytes) {
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0x0F]);
  }
}

void appendLength(std::string& out, std::size_t size) {
  const auto n = static_cast<std::uint32_t>(size);
  const char bytes[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                         static_cast<char>(n >> 8), static_cast<char>(n)};
  appendHex(out, std::string_view(bytes, 4));
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  throw std::invalid_argument("outbox headers: not hex");
}

}  // namespace

std::string encodeHeaders(const std::vector<Header>& headers) {
  std::string out;
  for (const auto& [name, value] : headers) {
    appendLength(out, name.size());
    appendHex(out, name);
    appendLength(out, value.size());
    appendHex(out, value);
  }
  return out;
}

std::vector<Header> decodeHeaders(std::string_view hex) {
  if (hex.size() % 2 != 0) throw std::invalid_argument("outbox headers: odd hex length");
  std::string bytes;
  bytes.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    bytes.push_back(static_cast<char>(hexValue(hex[i]) << 4 | hexValue(hex[i + 1])));
  }
  std::vector<Header> headers;
  std::size_t pos = 0;
  auto take = [&]() {
    if (bytes.size() - pos < 4) throw std::invalid_argument("outbox headers: truncated");
    std::uint32_t n = 0;
    for (int i = 0; i < 4; ++i) n = n << 8 | static_cast<unsigned char>(bytes[pos++]);
    if (bytes.size() - pos < n) throw std::invalid_argument("outbox headers: truncated");
    std::string text = bytes.substr(pos, n);
    pos += n;
    return text;
  };
  while (pos < bytes.size()) {
    std::string name = take();
    std::string value = take();
    headers.emplace_back(std::move(name), std::move(value));
  }
  return headers;
}

PostgresOutbox::PostgresOutbox(std::string publisher, OutboxRelay* relay, Database* database)
    : publisher_(std::move(publisher)), relay_(relay), database_(database) {}

namespace {

// `event` as stored: id (lowercase uuid), version, timestamp and payload
// filled in when empty.
Event normalized(const Event& event) {
  Event stored = event;
  if (stored.id.empty()) stored.id = newUuid4();
  std::transform(stored.id.begin(), stored.id.end(), stored.id.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (stored.version.empty()) stored.version = "1.0";
  if (stored.timestamp.empty()) stored.timestamp = nowIso8601();
  if (stored.payload.empty()) stored.payload = "{}";
  return stored;
}

}  // namespace

void PostgresOutbox::wakeRelayAfterCommit() {
  if (relay_ == nullptr) return;
  database::afterCommit([relay = relay_, this] { relay->committedHere(publisher_); });
}

std::int64_t PostgresOutbox::add(pqxx::work& tx, const Event& event) {
  const Event stored = normalized(event);
  const std::string envelope = toEnvelopeJson(stored);
  static const std::string kInsert =
      "INSERT INTO public.commsvc_outbox (publisher, event_id, event_type,"
      " event_version, event_timestamp, producer, event_key, payload, headers,"
      " envelope)"
      " VALUES ($1, $2::uuid, $3, $4, $5, $6, $7, $8, decode($9, 'hex'), $10)"
      " RETURNING id";
  const auto id =
      commsvc::execPrepared(tx, kInsert, publisher_, stored.id, stored.type, stored.version,
                            stored.timestamp, stored.producer, stored.key, stored.payload,
                            encodeHeaders(stored.headers), envelope)
          .at(0)[0]
          .as<std::int64_t>();
  wakeRelayAfterCommit();
  return id;
}

std::vector<std::int64_t> PostgresOutbox::addAll(pqxx::work& tx, const std::vector<Event>& events) {
  std::vector<std::int64_t> ids;
  if (events.empty()) return ids;
  if (events.size() == 1) {
    ids.push_back(add(tx, events.front()));
    return ids;
  }
  // One text array per column, in event order (NUL cannot occur: events
  // are text and the driver refuses NUL in parameters).
  std::array<std::string, 9> columns;
  for (auto& c : columns) c = "{";
  for (const Event& event : events) {
    const Event stored = normalized(event);
    appendArrayElement(columns[0], stored.id);
    appendArrayElement(columns[1], stored.type);
    appendArrayElement(columns[2], stored.version);
    appendArrayElement(columns[3], stored.timestamp);
    appendArrayElement(columns[4], stored.producer);
    appendArrayElement(columns[5], stored.key);
    appendArrayElement(columns[6], stored.payload);
    appendArrayElement(columns[7], encodeHeaders(stored.headers));
    appendArrayElement(columns[8], toEnvelopeJson(stored));
  }
  for (auto& c : columns) c += '}';
  static const std::string kInsertAll =
      "INSERT INTO public.commsvc_outbox (publisher, event_id, event_type, event_version,"
      " event_timestamp, producer, event_key, payload, headers, envelope)"
      " SELECT $1, e.id::uuid, e.type, e.version, e.ts, e.producer, e.key, e.payload,"
      " decode(e.headers, 'hex'), e.envelope"
      " FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],"
      " $8::text[], $9::text[], $10::text[]) WITH ORDINALITY"
      " AS e(id, type, version, ts, producer, key, payload, headers, envelope, n)"
      " ORDER BY e.n RETURNING id";
  const pqxx::result rows =
      commsvc::execPrepared(tx, kInsertAll, publisher_, columns[0], columns[1], columns[2],
                            columns[3], columns[4], columns[5], columns[6], columns[7], columns[8]);
  for (const auto& row : rows) ids.push_back(row[0].as<std::int64_t>());
  std::sort(ids.begin(), ids.end());  // serial ids follow the insert order
  wakeRelayAfterCommit();
  return ids;
}

bool PostgresOutbox::awaitPublished(const std::vector<std::int64_t>& ids,
                                    std::chrono::milliseconds timeout) {
  if (ids.empty()) return true;
  if (database_ == nullptr) return false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::string array = bigintArray(ids);
  for (;;) {
    // Any relay may publish them (the one holding the publisher's lease can
    // be another instance's), so the table is the truth; this relay's marks
    // only wake the wait early.
    const auto seen = relay_ != nullptr ? relay_->marksWritten() : 0;
    try {
      bool pending = true;
      database_->transaction([&](pqxx::work& tx) {
        pending = tx.exec_params1(
                        "SELECT count(*) FROM public.commsvc_outbox"
                        " WHERE id = ANY($1::bigint[]) AND published_at IS NULL",
                        array)[0]
                      .as<long long>() > 0;
      });
      if (!pending) return true;
    } catch (const std::exception&) {
      // The database is away: keep waiting until the deadline.
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    const auto until = std::min(deadline, now + kAwaitPoll);
    if (relay_ != nullptr) {
      relay_->awaitMarks(seen, until);
    } else {
      std::this_thread::sleep_until(until);
    }
  }
}

}  // namespace commsvc::outbox
