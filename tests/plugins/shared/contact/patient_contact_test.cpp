// Patient last-contact updates (plugins/shared/contact): the date in the
// configured time zone, the event written through the publisher's outbox in
// the caller's transaction, off without a publisher, refusals of bad
// configuration.
#include "patient_contact.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "plugin_database.hpp"

namespace commsvc::plugins::contact {
namespace {

using namespace std::chrono_literals;
using std::chrono::sys_days;
using std::chrono::system_clock;

// 2026-06-30 22:30 UTC, etc., as a system_clock time point.
system_clock::time_point utc(int y, unsigned m, unsigned d, int hour, int minute) {
  const auto day = sys_days(std::chrono::year(y) / std::chrono::month(m) / std::chrono::day(d));
  return system_clock::time_point(day) + std::chrono::hours(hour) + std::chrono::minutes(minute);
}

TEST(DateIn, IsTheLocalDayOfTheZoneAcrossMidnightAndDaylightSaving) {
  // Summer (UTC+2): 22:30 UTC is already the next day in Berlin.
  EXPECT_EQ(dateIn("Europe/Berlin", utc(2026, 6, 30, 22, 30)), "2026-07-01");
  EXPECT_EQ(dateIn("Europe/Berlin", utc(2026, 6, 30, 21, 59)), "2026-06-30");
  // Winter (UTC+1): 22:59 UTC is still the same day, 23:00 the next.
  EXPECT_EQ(dateIn("Europe/Berlin", utc(2026, 12, 31, 22, 59)), "2026-12-31");
  EXPECT_EQ(dateIn("Europe/Berlin", utc(2026, 12, 31, 23, 0)), "2027-01-01");
  EXPECT_EQ(dateIn("UTC", utc(2026, 12, 31, 23, 0)), "2026-12-31");
  EXPECT_EQ(dateIn("America/New_York", utc(2026, 7, 1, 3, 0)), "2026-06-30");
  EXPECT_THROW(dateIn("Mars/Olympus_Mons", system_clock::now()), std::runtime_error);
}

TEST(Payload, NamesThePatientTheDateAndTheSource) {
  const auto email = nlohmann::json::parse(PatientContact::payload(7, "2026-12-01", "email", 42));
  EXPECT_EQ(email,
            nlohmann::json::parse(
                R"({"patient_id": 7, "date": "2026-12-01", "source": "email", "email_id": 42})"));
  const auto call =
      nlohmann::json::parse(PatientContact::payload(8, "2026-12-01", "phone_call", 3));
  EXPECT_EQ(call["call_id"], 3);
  EXPECT_EQ(call["source"], "phone_call");
}

// A handler's settings struct with the contact part options() binds to.
struct HandlerSettings {
  ContactSettings contact;
};

TEST(ContactOptions, AreSoundAndKeepTheirKeysAndDefaults) {
  constexpr auto kOptions = options<HandlerSettings>();
  EXPECT_TRUE(optionDeclarationProblems(kOptions.span()).empty());
  ASSERT_EQ(kOptions.specs.size(), 3u);
  EXPECT_STREQ(kOptions.specs[0].name, "patient_contact_publisher");
  EXPECT_EQ(describeDefault(kOptions.specs[0]), "\"\"");
  EXPECT_STREQ(kOptions.specs[1].name, "patient_contact_timezone");
  EXPECT_EQ(describeDefault(kOptions.specs[1]), "\"Europe/Berlin\"");
  EXPECT_STREQ(kOptions.specs[2].name, "patient_contact_wait_ms");
  EXPECT_EQ(kOptions.specs[2].type, OptionType::Integer);
  EXPECT_EQ(describeDefault(kOptions.specs[2]), "2000");
  EXPECT_EQ(kOptions.specs[2].minimum, 0);
  EXPECT_EQ(kOptions.specs[2].maximum, 30000);
}

class PatientContactTest : public testing::PluginDatabaseTest {};

ContactSettings contactSettings(const std::string& publisher,
                                const std::string& zone = "Europe/Berlin") {
  return {.publisher = publisher, .timeZone = zone, .wait = 1500ms};
}

TEST_F(PatientContactTest, WritesTheContactThroughThePublishersOutboxInTheTransaction) {
  testing::FakeContext context;
  context.setDatabase(pool_.get());
  context.setOutboxFor("patient-contact", &outbox_);
  const PatientContact contact(contactSettings("patient-contact"), context);
  ASSERT_TRUE(contact.on());
  std::optional<std::int64_t> entry;
  (*pool_).transaction([&](pqxx::work& tx) { entry = contact.add(tx, 7, "email", 42); });
  ASSERT_TRUE(entry.has_value());
  const auto rows = outboxRows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].type, "patient.last_contact");
  EXPECT_EQ(rows[0].key, "7");
  EXPECT_EQ(rows[0].payload["patient_id"], 7);
  EXPECT_EQ(rows[0].payload["email_id"], 42);
  EXPECT_EQ(rows[0].payload["date"], dateIn("Europe/Berlin", system_clock::now()));
  EXPECT_TRUE(contact.await({*entry}));
  EXPECT_EQ(outbox_.awaited(), std::vector<std::int64_t>{*entry});
}

TEST_F(PatientContactTest, ARolledBackChangeLeavesNoContact) {
  testing::FakeContext context;
  context.setOutboxFor("patient-contact", &outbox_);
  const PatientContact contact(contactSettings("patient-contact"), context);
  EXPECT_THROW((*pool_).transaction([&](pqxx::work& tx) {
    contact.add(tx, 7, "phone_call", 1);
    throw std::runtime_error("the status change failed");
  }),
               std::runtime_error);
  EXPECT_TRUE(outboxRows().empty());
}

TEST_F(PatientContactTest, IsOffWithoutAPublisherOrWhenThePublisherIsOff) {
  testing::FakeContext context;
  const PatientContact none(contactSettings(""), context);
  EXPECT_FALSE(none.on());
  // The fake context answers nullptr for every publisher, as the engine
  // does for one configured off.
  const PatientContact off(contactSettings("patient-contact"), context);
  EXPECT_FALSE(off.on());
  (*pool_).transaction(
      [&](pqxx::work& tx) { EXPECT_FALSE(off.add(tx, 7, "email", 1).has_value()); });
  EXPECT_TRUE(outboxRows().empty());
  EXPECT_TRUE(off.await({}));
  bool saidOff = false;
  for (const auto& line : context.recordingLogger().entries()) {
    saidOff = saidOff || line.message.find("patient contact updates off") != std::string::npos;
  }
  EXPECT_TRUE(saidOff);
}

TEST_F(PatientContactTest, RefusesAnUnknownTimeZone) {
  testing::FakeContext context;
  try {
    PatientContact(contactSettings("", "Europe/Atlantis"), context);
    FAIL() << "an unknown time zone was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("patient_contact_timezone"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("Europe/Atlantis"), std::string::npos);
  }
}

}  // namespace
}  // namespace commsvc::plugins::contact
