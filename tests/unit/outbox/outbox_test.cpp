#include <algorithm>
#include <stdexcept>

#include "outbox_fixture.hpp"

namespace commsvc::outbox {
namespace {

TEST(Headers, RoundTripIncludingBinaryAndEmpty) {
  const std::vector<Header> headers = {
      {"traceparent", "00-abc-01"}, {"empty", ""}, {"bin", std::string("\0\xff\n", 3)}};
  EXPECT_EQ(decodeHeaders(encodeHeaders(headers)), headers);
  EXPECT_EQ(encodeHeaders({}), "");
  EXPECT_TRUE(decodeHeaders("").empty());
  EXPECT_THROW(decodeHeaders("0000000a61"), std::invalid_argument);
  EXPECT_THROW(decodeHeaders("zz"), std::invalid_argument);
}

TEST(EngineMigrations, AreValidAndNamedEngine) {
  const database::PluginMigrations engine[] = {engineMigrations()};
  EXPECT_NO_THROW(database::checkMigrations(engine));
  EXPECT_EQ(engine[0].plugin, "engine");
  EXPECT_FALSE(engine[0].migrations.empty());
}

TEST_F(OutboxTest, AddStoresTheEnvelopeBuiltOnce) {
  PostgresOutbox outbox("events");
  Event event = makeEvent("email.sent", "42", "{\"email_id\": 42}");
  event.headers = {{"h", "v"}};
  addCommitted(outbox, {event});
  pool_->transaction([&](pqxx::work& tx) {
    const auto row = tx.exec_params1(
        "SELECT publisher, event_id::text, event_type, event_key, envelope,"
        " envelope::jsonb = $1::jsonb, published_at IS NULL, attempts, encode(headers, 'hex')"
        " FROM public.commsvc_outbox",
        toEnvelopeJson(event));
    EXPECT_EQ(row[0].as<std::string>(), "events");
    EXPECT_EQ(row[1].as<std::string>(), event.id);
    EXPECT_EQ(row[2].as<std::string>(), "email.sent");
    EXPECT_EQ(row[3].as<std::string>(), "42");
    EXPECT_EQ(row[4].as<std::string>(), toEnvelopeJson(event));
    EXPECT_TRUE(row[5].as<bool>());
    EXPECT_TRUE(row[6].as<bool>());
    EXPECT_EQ(row[7].as<int>(), 0);
    EXPECT_EQ(decodeHeaders(row[8].as<std::string>()), event.headers);
  });
}

TEST_F(OutboxTest, AddFillsAMissingIdAndLowercasesIt) {
  PostgresOutbox outbox("events");
  Event noId;
  noId.type = "t";
  noId.key = "1";
  noId.payload = "{}";
  Event upper = makeEvent("t", "2", "{}");
  for (auto& c : upper.id) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  addCommitted(outbox, {noId, upper});
  pool_->transaction([&](pqxx::work& tx) {
    const auto rows = tx.exec(
        "SELECT event_id::text, event_version, event_timestamp, envelope FROM "
        "public.commsvc_outbox ORDER BY id");
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0][0].as<std::string>().size(), 36u);
    EXPECT_EQ(rows[0][1].as<std::string>(), "1.0");
    EXPECT_FALSE(rows[0][2].as<std::string>().empty());
    std::string lower = upper.id;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_EQ(rows[1][0].as<std::string>(), lower);
    EXPECT_NE(rows[1][3].as<std::string>().find(lower), std::string::npos);
  });
}

TEST_F(OutboxTest, AddRefusesAPayloadThatIsNotJsonAndAnIdThatIsNoUuid) {
  PostgresOutbox outbox("events");
  EXPECT_ANY_THROW(addCommitted(outbox, {makeEvent("t", "1", "{not json")}));
  Event bad = makeEvent("t", "1", "{}");
  bad.id = "not-a-uuid";
  EXPECT_ANY_THROW(addCommitted(outbox, {bad}));
  EXPECT_EQ(unpublished("events"), 0);
}

// addAll stores what add() stores, in order, whatever the bytes of the
// values (array-literal quoting: quotes, backslashes, braces, commas,
// NULL-looking text, non-ASCII, binary headers).
TEST_F(OutboxTest, AddAllStoresEachEventAsAddWouldInOrder) {
  PostgresOutbox outbox("events");
  std::vector<Event> events;
  const std::vector<std::string> payloads = {
      R"({"a": "quote \" and backslash \\ and {brace}, comma"})", R"({"b": "NULL"})",
      R"({"c": "Grüße ✓"})", "{}"};
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    Event e = makeEvent("email.sent", i == 1 ? "NULL" : "k\"" + std::to_string(i), payloads[i]);
    e.headers = {{"h", std::string("\0\xff\"", 3)}, {"empty", ""}};
    events.push_back(e);
  }
  std::vector<std::int64_t> ids;
  pool_->transaction([&](pqxx::work& tx) { ids = outbox.addAll(tx, events); });
  ASSERT_EQ(ids.size(), events.size());
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  pool_->transaction([&](pqxx::work& tx) {
    const auto rows = tx.exec(
        "SELECT id, event_id::text, event_key, payload, envelope, encode(headers, 'hex')"
        " FROM public.commsvc_outbox ORDER BY id");
    ASSERT_EQ(rows.size(), events.size());
    for (std::size_t i = 0; i < events.size(); ++i) {
      EXPECT_EQ(rows[i][0].as<std::int64_t>(), ids[i]);
      EXPECT_EQ(rows[i][1].as<std::string>(), events[i].id);
      EXPECT_EQ(rows[i][2].as<std::string>(), events[i].key);
      EXPECT_EQ(rows[i][3].as<std::string>(), events[i].payload);
      EXPECT_EQ(rows[i][4].as<std::string>(), toEnvelopeJson(events[i]));
      EXPECT_EQ(decodeHeaders(rows[i][5].as<std::string>()), events[i].headers);
    }
  });
}

TEST_F(OutboxTest, RolledBackAddsLeaveNoRow) {
  PostgresOutbox outbox("events");
  EXPECT_THROW(pool_->transaction([&](pqxx::work& tx) {
    outbox.add(tx, makeEvent("t", "1", "{}"));
    throw std::runtime_error("state change failed");
  }),
               std::runtime_error);
  EXPECT_EQ(unpublished("events"), 0);
}

TEST_F(OutboxTest, MigrationIsRecordedUnderEngine) {
  pool_->transaction([&](pqxx::work& tx) {
    const auto row =
        tx.exec1("SELECT count(*) FROM public.commsvc_schema_migrations WHERE plugin = 'engine'");
    EXPECT_EQ(row[0].as<std::size_t>(), outboxMigrations().size());  // each version once
    EXPECT_GE(row[0].as<int>(), 3);  // the outbox, its relay lease, its dead letters
    const auto lease = tx.exec1("SELECT to_regclass('public.commsvc_outbox_lease') IS NOT NULL");
    EXPECT_TRUE(lease[0].as<bool>());
    const auto index =
        tx.exec1("SELECT to_regclass('public.commsvc_outbox_unpublished') IS NOT NULL");
    EXPECT_TRUE(index[0].as<bool>());
  });
}

}  // namespace
}  // namespace commsvc::outbox
