// Tests of the email plugin against a real PostgreSQL: the schema its
// migrations create, the communication.send_email handler, the queue
// processor, claims under concurrency, and the factory.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "commsvc/testing/fake_context.hpp"
#include "database/pool.hpp"
#include "email_handler.hpp"
#include "plugin_database.hpp"
#include "schema.hpp"

namespace commsvc::plugins::email {
namespace {

using database::ConnectionPool;
using database::PoolSettings;
using std::chrono::milliseconds;
using std::chrono::seconds;

/// A Channel answering from a script (then Delivered), recording every
/// message; thread-safe; optionally slow.
class ScriptedChannel : public Channel {
 public:
  DeliveryResult deliver(const Message& message) override {
    if (delay_.count() > 0) std::this_thread::sleep_for(delay_);
    std::lock_guard lock(mutex_);
    messages_.push_back(message);
    if (script_.empty()) return DeliveryResult::delivered();
    DeliveryResult next = script_.front();
    script_.pop_front();
    return next;
  }
  void push(DeliveryResult result) {
    std::lock_guard lock(mutex_);
    script_.push_back(std::move(result));
  }
  std::vector<Message> messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
  }
  milliseconds delay_{0};

 private:
  mutable std::mutex mutex_;
  std::deque<DeliveryResult> script_;
  std::vector<Message> messages_;
};

/// The state of one emails row.
struct EmailState {
  std::string status;
  bool hasGesendetAm = false;
  std::optional<std::string> fehlermeldung;
  std::int64_t wiederholungsanzahl = 0;
};

class EmailTest : public testing::PluginDatabaseTest {
 protected:
  EmailTest() : PluginDatabaseTest(8) {}  // the claim tests run several senders at once

  void SetUp() override {
    PluginDatabaseTest::SetUp();
    migrate("email", kMigrations);
    exec("TRUNCATE communication_service.emails RESTART IDENTITY");
  }

  static SenderSettings fastSettings() {
    SenderSettings s;
    s.retryBackoff = seconds(0);
    return s;
  }

  std::unique_ptr<EmailSender> makeSender(SenderSettings settings = fastSettings()) {
    return std::make_unique<EmailSender>(*pool_, channel_, outbox_, context_.logger(),
                                         context_.metrics(), settings, shutdown_);
  }

  /// Queues `count` emails and claims them with `sender`: the batch to send;
  /// `ids` gets their ids.
  std::vector<ClaimedEmail> queueAndClaim(EmailSender& sender, int count,
                                          std::vector<std::int64_t>& ids) {
    for (int i = 0; i < count; ++i) ids.push_back(insertEmail("In_Warteschlange"));
    std::vector<ClaimedEmail> batch;
    for (auto& claim : sender.claimAll(ids)) batch.push_back(*claim.email);
    return batch;
  }

  /// Inserts an email; therapist/patient 0 = NULL; queuedSecondsAgo < 0 = NULL.
  std::int64_t insertEmail(const std::string& status, std::int64_t therapist = 7,
                           std::int64_t patient = 0, double queuedSecondsAgo = 0) {
    std::int64_t id = 0;
    pool_->transaction([&](pqxx::work& tx) {
      id = tx.exec_params1(
                 "INSERT INTO communication_service.emails (therapist_id, patient_id, betreff, "
                 "inhalt_html, inhalt_text, empfaenger_email, empfaenger_name, absender_email, "
                 "absender_name, status, in_warteschlange_am, created_at, updated_at) VALUES "
                 "(NULLIF($1, 0), "
                 "NULLIF($2, 0), 'Anfrage Therapieplatz', '<p>Hallo</p>', 'Hallo', "
                 "'dr.mueller@example.org', 'Dr. Müller', 'info@example.org', 'Curavani', "
                 "$3::public.emailstatus, CASE WHEN $4 < 0 THEN NULL ELSE "
                 "now() - make_interval(secs => $4) END, now(), now()) RETURNING id",
                 therapist, patient, status, queuedSecondsAgo)[0]
               .as<std::int64_t>();
    });
    return id;
  }

  EmailState state(std::int64_t id) {
    EmailState s;
    pool_->transaction([&](pqxx::work& tx) {
      const pqxx::row r = tx.exec_params1(
          "SELECT status::text, gesendet_am IS NOT NULL, fehlermeldung, wiederholungsanzahl "
          "FROM communication_service.emails WHERE id = $1",
          id);
      s.status = r[0].as<std::string>();
      s.hasGesendetAm = r[1].as<bool>();
      if (!r[2].is_null()) s.fehlermeldung = r[2].as<std::string>();
      s.wiederholungsanzahl = r[3].as<std::int64_t>();
    });
    return s;
  }

  static Event sendEvent(const std::string& payload, const std::string& key = "1") {
    Event e = makeEvent("communication.send_email", key, payload);
    return e;
  }
  static Event sendEvent(std::int64_t id) {
    return sendEvent("{\"email_id\": " + std::to_string(id) + "}", std::to_string(id));
  }

  ScriptedChannel channel_;
  Shutdown shutdown_;
  testing::FakeContext context_;
};

// ---- schema -------------------------------------------------------------

struct Column {
  std::string type;
  std::optional<int> length;
  bool nullable;
  std::optional<std::string> defaultValue;
  bool operator==(const Column&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Column& c) {
  return os << c.type << "(" << (c.length ? std::to_string(*c.length) : "-") << ") "
            << (c.nullable ? "NULL" : "NOT NULL")
            << " default=" << (c.defaultValue ? *c.defaultValue : "-");
}

TEST_F(EmailTest, SchemaMatchesSpec) {
  std::map<std::string, std::map<std::string, Column>> tables;
  pool_->transaction([&](pqxx::work& tx) {
    for (const auto& r : tx.exec(
             "SELECT table_name, column_name, CASE WHEN data_type = 'USER-DEFINED' THEN udt_name "
             "ELSE data_type END, character_maximum_length, is_nullable = 'YES', column_default "
             "FROM information_schema.columns WHERE table_schema = 'communication_service'")) {
      Column c{r[2].as<std::string>(), std::nullopt, r[4].as<bool>(), std::nullopt};
      if (!r[3].is_null()) c.length = r[3].as<int>();
      if (!r[5].is_null()) c.defaultValue = r[5].as<std::string>();
      tables[r[0].as<std::string>()][r[1].as<std::string>()] = c;
    }
  });
  const std::string ts = "timestamp without time zone";
  const char* layout = std::getenv(testing::kAdoptLayoutVariable);
  const bool adopted = layout != nullptr && *layout != '\0';
  const std::optional<std::string> kNone;
  const std::map<std::string, Column> emails = {
      {"id",
       {"integer", std::nullopt, false,
        "nextval('communication_service.emails_id_seq'::regclass)"}},
      {"therapist_id", {"integer", std::nullopt, true, std::nullopt}},
      {"patient_id", {"integer", std::nullopt, true, std::nullopt}},
      {"betreff", {"character varying", 255, false, std::nullopt}},
      {"inhalt_html", {"text", std::nullopt, false, std::nullopt}},
      {"inhalt_text", {"text", std::nullopt, false, std::nullopt}},
      {"empfaenger_email", {"character varying", 255, false, std::nullopt}},
      {"empfaenger_name", {"character varying", 255, false, std::nullopt}},
      {"absender_email", {"character varying", 255, false, std::nullopt}},
      {"absender_name", {"character varying", 255, false, std::nullopt}},
      {"antwort_erhalten", {"boolean", std::nullopt, false, "false"}},
      {"antwortdatum", {ts, std::nullopt, true, std::nullopt}},
      {"antwortinhalt", {"text", std::nullopt, true, std::nullopt}},
      {"status", {"emailstatus", std::nullopt, true, "'Entwurf'::emailstatus"}},
      {"in_warteschlange_am", {ts, std::nullopt, true, std::nullopt}},
      {"gesendet_am", {ts, std::nullopt, true, std::nullopt}},
      {"fehlermeldung", {"text", std::nullopt, true, std::nullopt}},
      {"wiederholungsanzahl", {"integer", std::nullopt, true, "0"}},
      // The original service's table (adopted) has no timestamp defaults.
      {"created_at", {ts, std::nullopt, true, adopted ? kNone : "now()"}},
      {"updated_at", {ts, std::nullopt, true, adopted ? kNone : "now()"}},
  };
  // The emails table, the Message-ID token and the list's totals (schema
  // version 4): telefonanrufe is the phonecall plugin's (an adopted
  // database has it already).
  EXPECT_EQ(tables.size(), adopted ? 4u : 3u);
  EXPECT_EQ(tables.count("commsvc_message_token"), 1u);
  EXPECT_EQ(
      tables["commsvc_email_counts"],
      (std::map<std::string, Column>{{"status", {"emailstatus", std::nullopt, true, std::nullopt}},
                                     {"recipient", {"text", std::nullopt, true, std::nullopt}},
                                     {"answered", {"boolean", std::nullopt, true, std::nullopt}},
                                     {"n", {"bigint", std::nullopt, false, std::nullopt}}}));
  EXPECT_EQ(tables["emails"], emails);

  std::map<std::string, std::vector<std::string>> enums;
  std::set<std::string> indexed;
  pool_->transaction([&](pqxx::work& tx) {
    for (const auto& r : tx.exec(
             "SELECT t.typname, e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid "
             "JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public' "
             "AND t.typname = 'emailstatus' ORDER BY t.typname, e.enumsortorder")) {
      enums[r[0].as<std::string>()].push_back(r[1].as<std::string>());
    }
    // Single-column indexes: "table.column".
    for (const auto& r : tx.exec(
             "SELECT c.relname, a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
             "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON "
             "a.attrelid = c.oid AND a.attnum = i.indkey[0] WHERE n.nspname = "
             "'communication_service' AND i.indnatts = 1")) {
      indexed.insert(r[0].as<std::string>() + "." + r[1].as<std::string>());
    }
  });
  EXPECT_EQ(enums["emailstatus"],
            (std::vector<std::string>{"Entwurf", "In_Warteschlange", "Wird_gesendet", "Gesendet",
                                      "Fehlgeschlagen"}));
  EXPECT_EQ(enums.size(), 1u);
  for (const char* expected :
       {"emails.id", "emails.therapist_id", "emails.patient_id", "emails.status"}) {
    EXPECT_TRUE(indexed.count(expected)) << expected;
  }
}

TEST_F(EmailTest, CheckConstraintWantsExactlyOneRecipient) {
  EXPECT_THROW(insertEmail("Entwurf", 1, 2), pqxx::check_violation);
  EXPECT_THROW(insertEmail("Entwurf", 0, 0), pqxx::check_violation);
  EXPECT_NO_THROW(insertEmail("Entwurf", 1, 0));
  EXPECT_NO_THROW(insertEmail("Entwurf", 0, 2));
}

// ---- handler ------------------------------------------------------------

TEST_F(EmailTest, QueuedEmailIsSentOnceWithEmailSentPayload) {
  EmailHandler handler(makeSender(), context_.logger());
  const auto id = insertEmail("In_Warteschlange", 7, 0);
  const HandleResult r = handler.handle(sendEvent(id));
  EXPECT_EQ(r.outcome, HandleResult::Outcome::Done) << r.reason;

  const auto messages = channel_.messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].id, std::to_string(id));
  EXPECT_EQ(messages[0].fromAddress, "info@example.org");
  EXPECT_EQ(messages[0].fromName, "Curavani");
  EXPECT_EQ(messages[0].toAddress, "dr.mueller@example.org");
  EXPECT_EQ(messages[0].toName, "Dr. Müller");
  EXPECT_EQ(messages[0].subject, "Anfrage Therapieplatz");
  EXPECT_EQ(messages[0].textBody, "Hallo");
  EXPECT_EQ(messages[0].htmlBody, "<p>Hallo</p>");

  const EmailState s = state(id);
  EXPECT_EQ(s.status, "Gesendet");
  EXPECT_TRUE(s.hasGesendetAm);
  EXPECT_FALSE(s.fehlermeldung);
  EXPECT_EQ(s.wiederholungsanzahl, 0);

  const auto events = outboxRows();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "email.sent");
  EXPECT_EQ(events[0].key, std::to_string(id));
  const nlohmann::json expected = {
      {"email_id", id},
      {"email_data",
       {{"therapist_id", 7},
        {"patient_id", nullptr},
        {"betreff", "Anfrage Therapieplatz"},
        {"recipient_type", "therapist"},
        {"status", "Gesendet"}}},
      {"communication_type", "email"},
      {"patient_id", nullptr},
      {"therapist_id", 7},
  };
  EXPECT_EQ(events[0].payload, expected) << events[0].payload.dump();
  EXPECT_EQ(context_.inMemoryMetrics().counterValue("emails_sent_total"), 1);

  // Redelivery of the same event sends nothing more.
  EXPECT_EQ(handler.handle(sendEvent(id)).outcome, HandleResult::Outcome::Done);
  EXPECT_EQ(channel_.messages().size(), 1u);
  EXPECT_EQ(outboxRows().size(), 1u);
}

TEST_F(EmailTest, AnEmailToAPatientSentByEventOrQueueAddsOneContactInItsTransaction) {
  testing::FakeContext context;
  context.setOutboxFor("patient-contact", &outbox_);
  const contact::PatientContact contact(contact::ContactSettings{.publisher = "patient-contact"},
                                        context);
  EmailSender sender(*pool_, channel_, outbox_, context_.logger(), context_.metrics(),
                     fastSettings(), shutdown_, contact);
  EmailHandler handler(
      std::make_unique<EmailSender>(*pool_, channel_, outbox_, context_.logger(),
                                    context_.metrics(), fastSettings(), shutdown_, contact),
      context_.logger());
  const auto byEvent = insertEmail("In_Warteschlange", 0, 42);
  ASSERT_EQ(handler.handle(sendEvent(byEvent)).outcome, HandleResult::Outcome::Done);
  ASSERT_EQ(handler.handle(sendEvent(byEvent)).outcome, HandleResult::Outcome::Done);
  const auto byQueue = insertEmail("In_Warteschlange", 0, 43);
  const auto toTherapist = insertEmail("In_Warteschlange", 7, 0);
  EXPECT_EQ(sender.processQueue().sent, 2u);
  std::map<std::string, int> contacts;  // by patient id
  for (const auto& e : outboxRows()) {
    if (e.type != "patient.last_contact") continue;
    ++contacts[e.key];
    EXPECT_EQ(e.payload["email_id"], e.key == "42" ? byEvent : byQueue);
  }
  EXPECT_EQ(contacts, (std::map<std::string, int>{{"42", 1}, {"43", 1}}));
  EXPECT_EQ(state(toTherapist).status, "Gesendet");
  EXPECT_TRUE(outbox_.awaited().empty()) << "sends never wait for the patient service";
}

TEST_F(EmailTest, PatientEmailPayloadSaysPatient) {
  EmailHandler handler(makeSender(), context_.logger());
  const auto id = insertEmail("In_Warteschlange", 0, 42);
  ASSERT_EQ(handler.handle(sendEvent(id)).outcome, HandleResult::Outcome::Done);
  const auto events = outboxRows();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].payload["email_data"]["recipient_type"], "patient");
  EXPECT_EQ(events[0].payload["patient_id"], 42);
  EXPECT_TRUE(events[0].payload["therapist_id"].is_null());
  EXPECT_TRUE(events[0].payload["email_data"]["therapist_id"].is_null());
}

TEST_F(EmailTest, EmailsNotQueuedAreNeverSentByAnEvent) {
  EmailHandler handler(makeSender(), context_.logger());
  for (const char* status : {"Entwurf", "Gesendet", "Fehlgeschlagen", "Wird_gesendet"}) {
    const auto id = insertEmail(status);
    const HandleResult r = handler.handle(sendEvent(id));
    EXPECT_EQ(r.outcome, HandleResult::Outcome::Done) << status;
    EXPECT_EQ(state(id).status, status);
  }
  EXPECT_TRUE(channel_.messages().empty());
  EXPECT_TRUE(outboxRows().empty());
}

TEST_F(EmailTest, UnknownIdAndBadPayloadsAreRejected) {
  EmailHandler handler(makeSender(), context_.logger());
  HandleResult r = handler.handle(sendEvent(999));
  EXPECT_EQ(r.outcome, HandleResult::Outcome::Reject);
  EXPECT_EQ(r.reason, "unknown email_id 999");
  for (const char* payload :
       {"{}", "{\"email_id\": \"5\"}", "{\"email_id\": 5.5}", "{\"email_id\": null}", "[1]",
        "not json", "{\"email_id\": 99999999999}", "{\"email_id\": 1e400}",
        "{\"email_id\": -1e400}", "{\"email_id\": 18446744073709551616}",
        "{\"email_id\": [[[[1]]]]}"}) {
    r = handler.handle(sendEvent(payload));
    EXPECT_EQ(r.outcome, HandleResult::Outcome::Reject) << payload;
    EXPECT_FALSE(r.reason.empty()) << payload;
  }
  EXPECT_TRUE(channel_.messages().empty());
}

TEST_F(EmailTest, PermanentFailureFailsAtOnce) {
  EmailHandler handler(makeSender(), context_.logger());
  const auto id = insertEmail("In_Warteschlange");
  channel_.push(DeliveryResult::permanent("550 5.1.1 mailbox unavailable"));
  EXPECT_EQ(handler.handle(sendEvent(id)).outcome, HandleResult::Outcome::Done);
  const EmailState s = state(id);
  EXPECT_EQ(s.status, "Fehlgeschlagen");
  EXPECT_EQ(s.fehlermeldung, "550 5.1.1 mailbox unavailable");
  EXPECT_EQ(s.wiederholungsanzahl, 1);
  EXPECT_FALSE(s.hasGesendetAm);
  EXPECT_TRUE(outboxRows().empty());
  EXPECT_EQ(context_.inMemoryMetrics().counterValue("emails_failed_total"), 1);
  // The processor does not pick it up again.
  EXPECT_EQ(handler.sender().processQueue().claimed, 0u);
}

TEST_F(EmailTest, TransientFailuresAreRetriedByTheProcessor) {
  EmailHandler handler(makeSender(), context_.logger());
  const auto id = insertEmail("In_Warteschlange");
  channel_.push(DeliveryResult::transient("421 try later"));
  channel_.push(DeliveryResult::transient("connection reset"));
  EXPECT_EQ(handler.handle(sendEvent(id)).outcome, HandleResult::Outcome::Done);
  EmailState s = state(id);
  EXPECT_EQ(s.status, "In_Warteschlange");
  EXPECT_EQ(s.wiederholungsanzahl, 1);
  EXPECT_EQ(s.fehlermeldung, "421 try later");

  QueueRun run = handler.sender().processQueue();
  EXPECT_EQ(run.requeued, 1u);
  s = state(id);
  EXPECT_EQ(s.status, "In_Warteschlange");
  EXPECT_EQ(s.wiederholungsanzahl, 2);
  EXPECT_EQ(s.fehlermeldung, "connection reset");

  run = handler.sender().processQueue();
  EXPECT_EQ(run.sent, 1u);
  s = state(id);
  EXPECT_EQ(s.status, "Gesendet");
  EXPECT_EQ(s.wiederholungsanzahl, 2);
  EXPECT_TRUE(s.hasGesendetAm);
  EXPECT_FALSE(s.fehlermeldung);
  EXPECT_EQ(channel_.messages().size(), 3u);
  ASSERT_EQ(outboxRows().size(), 1u);
  EXPECT_EQ(outboxRows()[0].type, "email.sent");
}

TEST_F(EmailTest, TransientFailuresAreBoundedByMaxAttempts) {
  SenderSettings settings = fastSettings();
  settings.maxAttempts = 2;
  auto sender = makeSender(settings);
  const auto id = insertEmail("In_Warteschlange");
  for (int i = 0; i < 5; ++i) channel_.push(DeliveryResult::transient("451 busy"));
  EXPECT_EQ(sender->processQueue().requeued, 1u);
  EXPECT_EQ(sender->processQueue().failed, 1u);
  const EmailState s = state(id);
  EXPECT_EQ(s.status, "Fehlgeschlagen");
  EXPECT_EQ(s.wiederholungsanzahl, 2);
  EXPECT_EQ(s.fehlermeldung, "451 busy");
  EXPECT_EQ(sender->processQueue().claimed, 0u);
  EXPECT_EQ(channel_.messages().size(), 2u);
}

TEST_F(EmailTest, ProcessorWaitsForTheRetryBackoff) {
  SenderSettings settings = fastSettings();
  settings.retryBackoff = seconds(3600);
  auto sender = makeSender(settings);
  const auto id = insertEmail("In_Warteschlange");
  channel_.push(DeliveryResult::transient("421 later"));
  EXPECT_EQ(sender->processQueue().requeued, 1u);
  EXPECT_EQ(sender->processQueue().claimed, 0u);  // backoff of 1 h not over
  // Once updated_at is older than the backoff, the row is claimed again.
  exec("UPDATE communication_service.emails SET updated_at = now() - interval '2 hours'");
  EXPECT_EQ(sender->processQueue().sent, 1u);
  EXPECT_EQ(state(id).status, "Gesendet");
}

// ---- faults (issue 7) -------------------------------------------------------

// A resend after a crash must be recognisable downstream: every attempt of
// one email carries the same stable id (the SMTP channel's Message-ID),
// made of the email id and a token per database.
TEST_F(EmailTest, EveryAttemptOfAnEmailCarriesTheSameStableId) {
  auto sender = makeSender();
  const auto id = insertEmail("In_Warteschlange");
  const auto other = insertEmail("In_Warteschlange");
  channel_.push(DeliveryResult::transient("451 later"));
  channel_.push(DeliveryResult::transient("451 later"));
  for (int i = 0; i < 3; ++i) sender->processQueue();
  const auto messages = channel_.messages();
  ASSERT_EQ(messages.size(), 4u);  // id fails once, other once, then both go out
  std::map<std::string, std::set<std::string>> idsByEmail;
  for (const Message& m : messages) idsByEmail[m.id].insert(m.stableId);
  ASSERT_EQ(idsByEmail[std::to_string(id)].size(), 1u);
  const std::string stable = *idsByEmail[std::to_string(id)].begin();
  std::string token;
  pool_->transaction([&](pqxx::work& tx) {
    token = tx.exec1("SELECT token FROM communication_service.commsvc_message_token")[0]
                .as<std::string>();
  });
  EXPECT_EQ(token.size(), 32u);
  EXPECT_EQ(stable, "email-" + std::to_string(id) + "." + token);
  EXPECT_NE(*idsByEmail[std::to_string(other)].begin(), stable);
  EXPECT_EQ(state(id).status, "Gesendet");
}

// A server answering in Latin-1 ("550 Empfänger unbekannt") made the
// fehlermeldung update fail; the row waited for the lease and went out again.
TEST_F(EmailTest, ServerTextThatIsNotUtf8IsStoredReadably) {
  auto sender = makeSender();
  const auto id = insertEmail("In_Warteschlange");
  channel_.push(DeliveryResult::permanent(std::string("550 Empf\xe4nger unbekannt\0!", 26)));
  EXPECT_EQ(sender->processQueue().failed, 1u);
  const EmailState s = state(id);
  EXPECT_EQ(s.status, "Fehlgeschlagen");
  EXPECT_EQ(s.fehlermeldung, "550 Empfänger unbekannt!");
  EXPECT_EQ(toValidUtf8("ok \xc3\xa4 \xed\xa0\x80 \xf0\x9f\x98\x80"),
            "ok ä \xc3\xad\xc2\xa0\xc2\x80 \xf0\x9f\x98\x80");
}

// Lease recoveries did not count as attempts: an email whose result could
// never be recorded went out again after every lease, forever.
TEST_F(EmailTest, LeaseRecoveriesCountAsAttemptsSoAPoisonEmailEnds) {
  SenderSettings settings = fastSettings();
  settings.maxAttempts = 3;
  auto sender = makeSender(settings);
  const auto id = insertEmail("Wird_gesendet");
  const auto expire = [&] {
    exec(
        "UPDATE communication_service.emails SET status = 'Wird_gesendet', "
        "updated_at = now() - interval '1 hour' WHERE id = " +
        std::to_string(id));
  };
  for (int attempt = 1; attempt <= 2; ++attempt) {
    expire();
    EXPECT_EQ(sender->recoverStaleClaims(), 1u);
    EXPECT_EQ(state(id).status, "In_Warteschlange");
    EXPECT_EQ(state(id).wiederholungsanzahl, attempt);
  }
  expire();
  EXPECT_EQ(sender->recoverStaleClaims(), 1u);
  const EmailState s = state(id);
  EXPECT_EQ(s.status, "Fehlgeschlagen");
  EXPECT_EQ(s.wiederholungsanzahl, 3);
  ASSERT_TRUE(s.fehlermeldung);
  EXPECT_NE(s.fehlermeldung->find("lease"), std::string::npos) << *s.fehlermeldung;
  EXPECT_EQ(context_.inMemoryMetrics().counterValue("email_claims_recovered_total"), 3);
  EXPECT_TRUE(channel_.messages().empty());
}

// A refused SMTP session (wrong password, 530, 554 greeting) is the
// channel's failure: it moved every queued email to Fehlgeschlagen.
TEST_F(EmailTest, AChannelFailureHoldsTheQueueWithoutSpendingAttempts) {
  SenderSettings settings = fastSettings();
  settings.maxAttempts = 1;
  auto sender = makeSender(settings);
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(insertEmail("In_Warteschlange", 7, 0, 30 - i));
  // One for the queue run (it stops there), one for the event below.
  for (int i = 0; i < 2; ++i) channel_.push(DeliveryResult::channelFailure("535 auth failed"));
  const QueueRun run = sender->processQueue();
  EXPECT_EQ(run.claimed, 3u);
  EXPECT_EQ(run.held, 3u);
  EXPECT_EQ(run.failed, 0u);
  EXPECT_EQ(channel_.messages().size(), 1u) << "the batch stops at the first channel failure";
  for (std::int64_t id : ids) {
    const EmailState s = state(id);
    EXPECT_EQ(s.status, "In_Warteschlange") << id;
    EXPECT_EQ(s.wiederholungsanzahl, 0) << id;
  }
  EXPECT_NE(state(ids[0]).fehlermeldung.value_or("").find("535"), std::string::npos);
  // The event path leaves the email queued too, and the event is done.
  EmailHandler handler(makeSender(settings), context_.logger());
  EXPECT_EQ(handler.handle(sendEvent(ids[1])).outcome, HandleResult::Outcome::Done);
  EXPECT_EQ(state(ids[1]).status, "In_Warteschlange");
  EXPECT_EQ(state(ids[1]).wiederholungsanzahl, 0);
  // Once the channel works again, everything goes out.
  const QueueRun later = sender->processQueue();
  EXPECT_EQ(later.sent, 3u);
  EXPECT_EQ(outboxRows().size(), 3u);
}

// The queue processor never looked at shutdown: a batch against a slow
// server ran for minutes past the engine's bound.
TEST_F(EmailTest, AQueueRunStopsBetweenEmailsWhenShutdownBegins) {
  SenderSettings settings = fastSettings();
  settings.queueBatchSize = 10;
  auto sender = makeSender(settings);
  for (int i = 0; i < 10; ++i) insertEmail("In_Warteschlange", 7, 0, 30 - i);
  channel_.delay_ = milliseconds(200);
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(300));
    shutdown_.request(std::chrono::steady_clock::now() + seconds(5));
  });
  const auto start = std::chrono::steady_clock::now();
  const QueueRun run = sender->processQueue();
  const auto took = std::chrono::steady_clock::now() - start;
  stopper.join();
  EXPECT_GE(run.sent, 1u);
  EXPECT_LE(run.sent, 3u);
  EXPECT_EQ(run.sent + run.held, 10u);
  EXPECT_LT(took, seconds(2)) << "ten sends of 0.2 s would take 2 s";
  EXPECT_EQ(count("SELECT count(*) FROM communication_service.emails "
                  "WHERE status = 'Wird_gesendet'"),
            0);
  EXPECT_EQ(count("SELECT count(*) FROM communication_service.emails "
                  "WHERE status = 'In_Warteschlange'"),
            static_cast<std::int64_t>(run.held));
  // Once shutdown has begun, a new run claims nothing.
  EXPECT_EQ(sender->processQueue().claimed, 0u);
}

// Fails the chosen transactions (before their work) to look like a
// database that went away; passes the rest to the pool.
class FailingDatabase final : public Database {
 public:
  explicit FailingDatabase(Database& inner) : inner_(inner) {}
  void transaction(const std::function<void(pqxx::work&)>& work) override {
    if (failing_.load() > 0) {
      --failing_;
      throw pqxx::broken_connection("simulated: the database went away");
    }
    inner_.transaction(work);
  }
  void read(const std::function<void(pqxx::nontransaction&)>& work) override { inner_.read(work); }
  std::atomic<int> failing_{0};

 private:
  Database& inner_;
};

// Recording the result of a delivered email gave up after ~3.6 s of a
// database outage; the lease then handed the email out again. Now it keeps
// trying for half the lease.
TEST_F(EmailTest, RecordingADeliveryKeepsTryingForHalfTheLease) {
  FailingDatabase flaky(*pool_);
  SenderSettings settings = fastSettings();
  settings.claimLease = seconds(60);
  EmailSender sender(flaky, channel_, outbox_, context_.logger(), context_.metrics(), settings,
                     shutdown_);
  const auto id = insertEmail("In_Warteschlange");
  const ClaimResult claim = sender.claim(id);
  ASSERT_EQ(claim.status, ClaimStatus::Claimed);
  flaky.failing_ = 6;  // about 4.5 s of tries with the backoff
  EXPECT_EQ(sender.send(*claim.email), SendOutcome::Sent);
  EXPECT_EQ(state(id).status, "Gesendet");
  EXPECT_EQ(channel_.messages().size(), 1u);

  // With a short lease it gives up in time, leaving the claim to the lease.
  settings.claimLease = seconds(2);
  EmailSender hurried(flaky, channel_, outbox_, context_.logger(), context_.metrics(), settings,
                      shutdown_);
  const auto second = insertEmail("In_Warteschlange");
  const ClaimResult claim2 = hurried.claim(second);
  ASSERT_EQ(claim2.status, ClaimStatus::Claimed);
  flaky.failing_ = 1000;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(hurried.send(*claim2.email), pqxx::broken_connection);
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(2));
  flaky.failing_ = 0;
  EXPECT_EQ(state(second).status, "Wird_gesendet");
}

TEST_F(EmailTest, TheLeaseMustCoverTheChannelsWorstCaseDeliveryTime) {
  struct SlowChannel : ScriptedChannel {
    std::chrono::milliseconds worstCaseDeliveryTime() const override { return seconds(90); }
  } slow;
  SenderSettings settings = fastSettings();
  settings.claimLease = seconds(100);
  try {
    checkLease(settings, slow);
    FAIL() << "a 100 s lease with a 90 s channel was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("claim_lease_s (100)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("at least 180"), std::string::npos) << e.what();
  }
  settings.claimLease = seconds(180);
  EXPECT_NO_THROW(checkLease(settings, slow));
  EXPECT_NO_THROW(checkLease(settings, channel_));  // unknown worst case: no check
}

TEST_F(EmailTest, DatabaseDownMeansRetry) {
  PoolSettings s;
  s.url = "postgresql://postgres@127.0.0.1:1/none";
  s.connectTimeout = seconds(1);
  s.acquireTimeout = milliseconds(1000);
  s.maxAttempts = 1;
  ConnectionPool down(s);
  EmailHandler handler(std::make_unique<EmailSender>(down, channel_, outbox_, context_.logger(),
                                                     context_.metrics(), fastSettings(), shutdown_),
                       context_.logger());
  const HandleResult r = handler.handle(sendEvent(1));
  EXPECT_EQ(r.outcome, HandleResult::Outcome::Retry);
  EXPECT_NE(r.reason.find("database error"), std::string::npos) << r.reason;
  EXPECT_TRUE(channel_.messages().empty());
}

// ---- queue processor ----------------------------------------------------

TEST_F(EmailTest, ProcessorSendsOldestFirstAndRespectsBatchSize) {
  SenderSettings settings = fastSettings();
  settings.queueBatchSize = 2;
  auto sender = makeSender(settings);
  const auto noDate = insertEmail("In_Warteschlange", 1, 0, -1);
  const auto newest = insertEmail("In_Warteschlange", 2, 0, 10);
  const auto oldest = insertEmail("In_Warteschlange", 3, 0, 300);
  const auto middle = insertEmail("In_Warteschlange", 4, 0, 60);
  insertEmail("Entwurf", 5, 0, 1000);

  EXPECT_EQ(sender->processQueue().sent, 2u);
  auto messages = channel_.messages();
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].id, std::to_string(oldest));
  EXPECT_EQ(messages[1].id, std::to_string(middle));
  EXPECT_EQ(state(newest).status, "In_Warteschlange");

  EXPECT_EQ(sender->processQueue().sent, 2u);
  EXPECT_EQ(sender->processQueue().claimed, 0u);
  messages = channel_.messages();
  ASSERT_EQ(messages.size(), 4u);
  EXPECT_EQ(messages[2].id, std::to_string(newest));
  EXPECT_EQ(messages[3].id, std::to_string(noDate));
  EXPECT_EQ(outboxRows().size(), 4u);
}

TEST_F(EmailTest, StaleClaimIsRecoveredAndSent) {
  auto sender = makeSender();
  const auto stale = insertEmail("Wird_gesendet");
  const auto fresh = insertEmail("Wird_gesendet");
  exec(
      "UPDATE communication_service.emails SET updated_at = now() - interval '10 minutes' "
      "WHERE id = " +
      std::to_string(stale));
  const QueueRun run = sender->processQueue();
  EXPECT_EQ(run.recovered, 1u);
  EXPECT_EQ(run.sent, 1u);
  EXPECT_EQ(state(stale).status, "Gesendet");
  EXPECT_EQ(state(fresh).status, "Wird_gesendet");  // within its lease
  ASSERT_EQ(channel_.messages().size(), 1u);
  EXPECT_EQ(channel_.messages()[0].id, std::to_string(stale));
  EXPECT_EQ(context_.inMemoryMetrics().counterValue("email_claims_recovered_total"), 1);
  ASSERT_EQ(outboxRows().size(), 1u);
}

TEST_F(EmailTest, TheLeaseOfABatchedEmailCountsFromItsOwnSend) {
  // Sender A claims a batch of two; each send takes 0.7 s and the lease is
  // 1 s. When B looks at 1.2 s, the second email's claim was renewed as A
  // started sending it (at 0.7 s), so B must not take it over and send it
  // again — as it would if the lease counted from the batch's claim.
  SenderSettings settings = fastSettings();
  settings.queueBatchSize = 2;
  settings.claimLease = seconds(1);
  auto a = makeSender(settings);
  auto b = makeSender(settings);
  const auto first = insertEmail("In_Warteschlange", 1, 0, 20);
  const auto second = insertEmail("In_Warteschlange", 2, 0, 10);
  channel_.delay_ = milliseconds(700);
  std::thread runA([&] { a->processQueue(); });
  std::this_thread::sleep_for(milliseconds(1200));
  const QueueRun runB = b->processQueue();
  runA.join();
  EXPECT_EQ(runB.recovered, 0u);
  EXPECT_EQ(runB.claimed, 0u);
  std::map<std::string, int> sends;
  for (const auto& m : channel_.messages()) ++sends[m.id];
  EXPECT_EQ(sends[std::to_string(first)], 1);
  EXPECT_EQ(sends[std::to_string(second)], 1);
  EXPECT_EQ(state(second).status, "Gesendet");
}

// ---- batches --------------------------------------------------------------

/// Counts the transactions run through it.
class CountingDatabase final : public Database {
 public:
  explicit CountingDatabase(Database& inner) : inner_(inner) {}
  void transaction(const std::function<void(pqxx::work&)>& work) override {
    ++count;
    inner_.transaction(work);
  }
  void read(const std::function<void(pqxx::nontransaction&)>& work) override {
    ++count;
    inner_.read(work);
  }
  std::atomic<int> count{0};

 private:
  Database& inner_;
};

TEST_F(EmailTest, ABatchOfEventsIsClaimedInOneStatementAndRecordedInFewTransactions) {
  CountingDatabase counting(*pool_);
  SenderSettings settings = fastSettings();
  settings.recordInterval = seconds(10);  // the whole batch in one result transaction
  EmailHandler handler(std::make_unique<EmailSender>(counting, channel_, outbox_, context_.logger(),
                                                     context_.metrics(), settings, shutdown_),
                       context_.logger());
  std::vector<Event> events;
  std::vector<std::int64_t> queued;
  for (int i = 0; i < 20; ++i) {
    queued.push_back(insertEmail("In_Warteschlange", 7, 0));
    events.push_back(sendEvent(queued.back()));
  }
  const auto draft = insertEmail("Entwurf");
  events.push_back(sendEvent(draft));
  events.push_back(sendEvent(999999));     // unknown
  events.push_back(sendEvent(queued[3]));  // the same email again
  Event bad = sendEvent(queued[0]);
  bad.payload = "{\"email_id\": \"x\"}";
  events.push_back(bad);

  const auto results = handler.handleBatch(events);
  ASSERT_EQ(results.size(), events.size());
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(results[i].outcome, HandleResult::Outcome::Done) << i << results[i].reason;
  }
  EXPECT_EQ(results[20].outcome, HandleResult::Outcome::Done) << "a draft is not sent";
  EXPECT_EQ(results[21].outcome, HandleResult::Outcome::Reject);
  EXPECT_EQ(results[22].outcome, HandleResult::Outcome::Done);
  EXPECT_EQ(results[23].outcome, HandleResult::Outcome::Reject);
  EXPECT_EQ(counting.count.load(), 2) << "one claim and one result transaction";
  EXPECT_EQ(channel_.messages().size(), 20u) << "each queued email once, the draft never";
  for (const auto id : queued) EXPECT_EQ(state(id).status, "Gesendet") << id;
  EXPECT_EQ(state(draft).status, "Entwurf");
  EXPECT_EQ(outboxRows().size(), 20u);
  EXPECT_EQ(context_.inMemoryMetrics().counterValue("emails_sent_total"), 20);
}

// A delivery that takes longer than the record interval is recorded before
// the next starts, so a crash resends at most one email per sender.
TEST_F(EmailTest, ASlowDeliveryIsRecordedBeforeTheNextOneStarts) {
  struct WatchingChannel : ScriptedChannel {
    std::function<void(const Message&)> before;
    DeliveryResult deliver(const Message& message) override {
      before(message);
      return ScriptedChannel::deliver(message);
    }
  } channel;
  channel.delay_ = milliseconds(60);
  SenderSettings settings = fastSettings();
  settings.recordInterval = milliseconds(20);
  EmailSender sender(*pool_, channel, outbox_, context_.logger(), context_.metrics(), settings,
                     shutdown_);
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(insertEmail("In_Warteschlange"));
  std::vector<std::string> statusOfPrevious;
  channel.before = [&](const Message& m) {
    const auto it = std::find(ids.begin(), ids.end(), std::stoll(m.id));
    if (it != ids.begin()) statusOfPrevious.push_back(state(*(it - 1)).status);
  };
  std::vector<ClaimedEmail> batch;
  for (auto& claim : sender.claimAll(ids)) batch.push_back(*claim.email);
  const BatchOutcome done = sender.sendAll(batch);
  EXPECT_FALSE(done.error);
  EXPECT_EQ(statusOfPrevious, (std::vector<std::string>{"Gesendet", "Gesendet"}));
  for (const auto id : ids) EXPECT_EQ(state(id).status, "Gesendet");
}

/// A ScriptedChannel that delivers up to `perCall` messages in one
/// deliverAll call and records where each call began and its budget.
struct SeveralAtOnceChannel : ScriptedChannel {
  std::size_t perCall = 3;
  std::vector<std::string> firstOfCall;
  std::vector<milliseconds> budgets;
  std::vector<DeliveryResult> deliverAll(std::span<const Message> messages,
                                         milliseconds budget) override {
    firstOfCall.push_back(messages.front().id);
    budgets.push_back(budget);
    std::vector<DeliveryResult> results;
    for (const Message& message : messages.first(std::min(perCall, messages.size()))) {
      results.push_back(deliver(message));
      if (results.back().status == DeliveryResult::Status::ChannelFailure) break;
    }
    return results;
  }
};

// A channel that delivers several emails per call gets the rest of the batch
// from where it stopped, the rest of the record interval as its budget, and
// each result is recorded as if delivered one at a time.
TEST_F(EmailTest, AChannelDeliveringSeveralAtOnceHasEveryResultRecorded) {
  SeveralAtOnceChannel channel;
  channel.push(DeliveryResult::delivered());
  channel.push(DeliveryResult::delivered());
  channel.push(DeliveryResult::delivered());
  channel.push(DeliveryResult::delivered());
  channel.push(DeliveryResult::permanent("550 no such user"));
  CountingDatabase counting(*pool_);
  SenderSettings settings = fastSettings();
  settings.recordInterval = seconds(10);
  EmailSender sender(counting, channel, outbox_, context_.logger(), context_.metrics(), settings,
                     shutdown_);
  std::vector<std::int64_t> ids;
  std::vector<ClaimedEmail> batch = queueAndClaim(sender, 7, ids);
  counting.count = 0;
  const BatchOutcome done = sender.sendAll(batch);
  EXPECT_FALSE(done.error);
  EXPECT_EQ(channel.firstOfCall,
            (std::vector<std::string>{std::to_string(ids[0]), std::to_string(ids[3]),
                                      std::to_string(ids[6])}));
  ASSERT_EQ(channel.budgets.size(), 3u);
  EXPECT_EQ(channel.budgets[0], seconds(10)) << "nothing unrecorded yet: the whole interval";
  EXPECT_LE(channel.budgets[2], channel.budgets[0]);
  EXPECT_GT(channel.budgets[2], seconds(9));
  EXPECT_EQ(counting.count.load(), 1) << "one result transaction for the batch";
  EXPECT_EQ(channel.messages().size(), 7u);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(state(ids[i]).status, i == 4 ? "Fehlgeschlagen" : "Gesendet") << i;
  }
  EXPECT_EQ(outboxRows().size(), 6u);
}

// A channel failure within a call ends the batch there: what came before is
// recorded, the failed email and the rest go back in the queue.
TEST_F(EmailTest, AChannelFailureWithinACallHandsTheRestBack) {
  SeveralAtOnceChannel channel;
  channel.perCall = 4;
  channel.push(DeliveryResult::delivered());
  channel.push(DeliveryResult::channelFailure("421 closing"));
  EmailSender sender(*pool_, channel, outbox_, context_.logger(), context_.metrics(),
                     fastSettings(), shutdown_);
  std::vector<std::int64_t> ids;
  std::vector<ClaimedEmail> batch = queueAndClaim(sender, 5, ids);
  const BatchOutcome done = sender.sendAll(batch);
  EXPECT_FALSE(done.error);
  EXPECT_EQ(channel.messages().size(), 2u);
  EXPECT_EQ(channel.firstOfCall.size(), 1u);
  EXPECT_EQ(state(ids[0]).status, "Gesendet");
  for (std::size_t i = 1; i < ids.size(); ++i) {
    EXPECT_EQ(state(ids[i]).status, "In_Warteschlange") << i;
    EXPECT_EQ(state(ids[i]).wiederholungsanzahl, 0) << "no attempt counted";
  }
}

// A channel that attempts none of the emails (against its contract) cannot
// stall the sender: the batch goes back in the queue.
TEST_F(EmailTest, AChannelAttemptingNoneHandsTheBatchBack) {
  struct NoneChannel : ScriptedChannel {
    std::vector<DeliveryResult> deliverAll(std::span<const Message>, milliseconds) override {
      return {};
    }
  } channel;
  EmailSender sender(*pool_, channel, outbox_, context_.logger(), context_.metrics(),
                     fastSettings(), shutdown_);
  std::vector<std::int64_t> ids;
  std::vector<ClaimedEmail> batch = queueAndClaim(sender, 2, ids);
  const BatchOutcome done = sender.sendAll(batch);
  EXPECT_FALSE(done.error);
  for (const auto id : ids) EXPECT_EQ(state(id).status, "In_Warteschlange") << id;
}

// A database that goes away mid-batch: nothing more is delivered once a
// result cannot be recorded; what was delivered keeps its claim (recovered
// by the lease, resent under the same Message-ID); what was not is put back
// in the queue when the database allows (Held), else its claim stays too.
TEST_F(EmailTest, ADatabaseOutageMidBatchStopsDeliveringAndKeepsClaimsConsistent) {
  FailingDatabase flaky(*pool_);
  SenderSettings settings = fastSettings();
  settings.claimLease = seconds(2);  // records give up within 1 s
  settings.recordInterval = milliseconds(0);
  EmailSender sender(flaky, channel_, outbox_, context_.logger(), context_.metrics(), settings,
                     shutdown_);
  std::vector<std::int64_t> ids;
  std::vector<ClaimedEmail> batch = queueAndClaim(sender, 4, ids);
  flaky.failing_ = 1000;  // from the first result on
  const BatchOutcome done = sender.sendAll(batch);
  flaky.failing_ = 0;
  ASSERT_TRUE(done.error);
  EXPECT_THROW(std::rethrow_exception(done.error), pqxx::broken_connection);
  EXPECT_FALSE(done.outcomes[0]) << "delivered, not recorded";
  EXPECT_EQ(channel_.messages().size(), 1u) << "nothing more is delivered once recording fails";
  EXPECT_EQ(state(ids[0]).status, "Wird_gesendet");
  for (std::size_t i = 1; i < ids.size(); ++i) {
    EXPECT_EQ(state(ids[i]).status,
              done.outcomes[i] == SendOutcome::Held ? "In_Warteschlange" : "Wird_gesendet")
        << i;
  }

  // With the database back, a handler gets a retry for such events and the
  // retry finds the email claimed (left to the lease), not sent twice.
  EmailHandler handler(makeSender(), context_.logger());
  EXPECT_EQ(handler.handle(sendEvent(ids[0])).outcome, HandleResult::Outcome::Done);
  EXPECT_EQ(channel_.messages().size(), 1u);
}

// ---- concurrency --------------------------------------------------------

TEST_F(EmailTest, SameEventTwiceConcurrentlyPlusProcessorSendsOnce) {
  channel_.delay_ = milliseconds(50);
  EmailHandler handler(makeSender(), context_.logger());
  for (int round = 0; round < 5; ++round) {
    const auto id = insertEmail("In_Warteschlange");
    std::thread a([&] { handler.handle(sendEvent(id)); });
    std::thread b([&] { handler.handle(sendEvent(id)); });
    std::thread c([&] { handler.sender().processQueue(); });
    a.join();
    b.join();
    c.join();
    EXPECT_EQ(state(id).status, "Gesendet");
  }
  EXPECT_EQ(channel_.messages().size(), 5u);
  EXPECT_EQ(outboxRows().size(), 5u);
}

TEST_F(EmailTest, TwoHundredEmailsFourThreadsAndProcessorSendEachOnce) {
  EmailHandler handler(makeSender(), context_.logger());
  std::vector<std::int64_t> events;
  for (int i = 0; i < 200; ++i) events.push_back(insertEmail("In_Warteschlange", i + 1));
  events.insert(events.end(), events.begin(), events.end());  // every event twice
  std::shuffle(events.begin(), events.end(), std::mt19937(42));

  std::atomic<std::size_t> next{0};
  std::atomic<bool> handlersDone{false};
  std::atomic<int> notDone{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&] {
      for (std::size_t i; (i = next++) < events.size();) {
        if (handler.handle(sendEvent(events[i])).outcome != HandleResult::Outcome::Done) {
          ++notDone;
        }
      }
    });
  }
  std::thread processor([&] {
    while (!handlersDone) handler.sender().processQueue();
  });
  for (auto& w : workers) w.join();
  handlersDone = true;
  processor.join();

  EXPECT_EQ(notDone.load(), 0);
  const auto messages = channel_.messages();
  EXPECT_EQ(messages.size(), 200u);
  std::set<std::string> ids;
  for (const auto& m : messages) ids.insert(m.id);
  EXPECT_EQ(ids.size(), 200u);
  EXPECT_EQ(outboxRows().size(), 200u);
  std::int64_t sent = 0;
  pool_->transaction([&](pqxx::work& tx) {
    sent = tx.exec(
                 "SELECT count(*) FROM communication_service.emails WHERE status = 'Gesendet' "
                 "AND gesendet_am IS NOT NULL")[0][0]
               .as<std::int64_t>();
  });
  EXPECT_EQ(sent, 200);
}

// ---- factory ------------------------------------------------------------

TEST(EmailOptions, AreSoundAndKeepTheirKeys) {
  EXPECT_TRUE(optionDeclarationProblems(kOptions.span()).empty());
  std::vector<std::string> names;
  for (const OptionSpec& spec : kOptions.specs) names.emplace_back(spec.name);
  EXPECT_EQ(
      names,
      (std::vector<std::string>{
          "queue_check_interval_s", "queue_batch_size", "claim_lease_s", "max_attempts",
          "retry_backoff_s", "record_interval_ms", "default_sender_email", "default_sender_name",
          "legal_footer_html", "legal_footer_text", "system_notification_email",
          "patient_contact_publisher", "patient_contact_timezone", "patient_contact_wait_ms"}));
  EXPECT_EQ(describeDefault(kOptions.specs[0]), "60");
  EXPECT_EQ(describeDefault(kOptions.specs[2]), "300");
  EXPECT_EQ(describeDefault(kOptions.specs[5]), "20");
  EXPECT_EQ(describeDefault(kOptions.specs[6]), "\"noreply@example.com\"");
}

EmailSettings defaultSettings() {
  return {.sender = {.queueCheckInterval = seconds(60),
                     .queueBatchSize = 10,
                     .claimLease = seconds(300),
                     .maxAttempts = 5,
                     .retryBackoff = seconds(30)},
          .api = {.defaultSenderEmail = "noreply@example.com",
                  .defaultSenderName = "Service",
                  .legalFooterHtml = "",
                  .legalFooterText = "",
                  .systemNotificationEmail = ""},
          .contact = {.publisher = "", .timeZone = "Europe/Berlin", .wait = milliseconds(2000)}};
}

TEST_F(EmailTest, FactoryRefusesWithoutChannelDatabaseOrOutbox) {
  testing::FakeContext context;
  const auto refusal = [&] {
    try {
      createEmailHandler(defaultSettings(), context);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("<accepted>");
  };
  context.setDatabase(pool_.get());
  context.setOutbox(&outbox_);
  EXPECT_NE(refusal().find("channel"), std::string::npos) << refusal();
  context.setChannel(&channel_);
  context.setDatabase(nullptr);
  EXPECT_NE(refusal().find("database"), std::string::npos) << refusal();
  context.setDatabase(pool_.get());
  context.setOutbox(nullptr);
  EXPECT_NE(refusal().find("publisher"), std::string::npos) << refusal();
  EXPECT_TRUE(context.scheduled().empty());
}

TEST_F(EmailTest, FactorySchedulesTheQueueProcessor) {
  testing::FakeContext context;
  context.setChannel(&channel_);
  context.setDatabase(pool_.get());
  context.setOutbox(&outbox_);
  auto handler = createEmailHandler(defaultSettings(), context);
  ASSERT_NE(handler, nullptr);
  ASSERT_EQ(context.scheduled().size(), 1u);
  const auto& job = context.scheduled()[0];
  EXPECT_EQ(job.name, "email-queue");
  EXPECT_EQ(context.routes().size(), 6u);  // the HTTP API (email_api_test.cpp)
  EXPECT_EQ(job.interval, seconds(60));
  EXPECT_EQ(job.notifyChannel, kQueuedChannel);  // woken when an email is queued
  ASSERT_TRUE(job.job);
  const auto id = insertEmail("In_Warteschlange");
  job.job();
  EXPECT_EQ(state(id).status, "Gesendet");
  EXPECT_EQ(channel_.messages().size(), 1u);
}

}  // namespace
}  // namespace commsvc::plugins::email
