// Patient last contact (SPEC §7) end to end: the commsvc binary with the
// shipped publisher-http plugin PATCHing a real HTTP server standing in for
// the patient service (tests/support/http_sink.py), for every path that
// makes an email to a patient `Gesendet` (PUT, communication.send_email,
// the queue processor) and for a call with a patient becoming
// `abgeschlossen`: exactly one PATCH each, delivered after an outage, a
// PUT answering only after its PATCH arrived, an unknown patient
// dead-lettered after a bounded number of attempts, and off without a URL.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <thread>

#include "api_service.hpp"
#include "http_sink_process.hpp"

namespace commsvc::integration {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::HttpSinkProcess;
using testing::SinkRequest;

constexpr int kMaxRejections = 3;

/// The patient-contact publisher as pipelines.yaml declares it, at `baseUrl`.
std::string contactPublisher(const std::string& baseUrl) {
  return "  patient-contact:\n"
         "    type: http\n"
         "    base_url: \"" +
         baseUrl +
         "\"\n"
         "    method: PATCH\n"
         "    path: /api/patients/{patient_id}/last-contact\n"
         "    body: '{\"date\": {date}}'\n"
         "    timeout_ms: 1000\n"
         "    connect_timeout_ms: 500\n";
}

ApiServiceOptions withPatientService(const std::string& baseUrl, int queueIntervalS = 3600) {
  ApiServiceOptions o;
  o.name = "patient-contact";
  o.plugins = {"publisher-http"};
  o.publishersYaml = contactPublisher(baseUrl);
  o.handlerExtra = "patient_contact_publisher: patient-contact";
  o.databaseExtra =
      "outbox_backoff_max_ms: 500, outbox_max_rejections: " + std::to_string(kMaxRejections);
  o.queueCheckIntervalS = queueIntervalS;
  return o;
}

/// Today in Europe/Berlin, as the service dates contacts.
std::string todayInBerlin() {
  const auto [code, out] = runCommand({"env", "TZ=Europe/Berlin", "date", "+%F"});
  if (code != 0) throw std::runtime_error("date failed");
  return out.substr(0, 10);
}

/// The PATCHes for `patientId` the sink received.
std::vector<SinkRequest> patchesFor(const HttpSinkProcess& sink, long patientId) {
  std::vector<SinkRequest> out;
  for (const auto& r : sink.requests()) {
    if (r.method == "PATCH" &&
        r.path == "/api/patients/" + std::to_string(patientId) + "/last-contact") {
      out.push_back(r);
    }
  }
  return out;
}

/// Creates an email for a patient (or a therapist) through the API.
long createEmail(ApiService& api, const std::string& recipient, long id,
                 const std::string& status) {
  const auto [code, body] = api.call("POST", "/api/emails",
                                     json({{"betreff", "Ihr Termin"},
                                           {"empfaenger_email", "p@example.org"},
                                           {"empfaenger_name", "P"},
                                           {recipient, id},
                                           {"inhalt_text", "Guten Tag"},
                                           {"status", status}})
                                         .dump());
  if (code != 201) throw std::runtime_error("POST /api/emails: " + body.dump());
  return body.at("id").get<long>();
}

/// Creates a phone call for a patient (or a therapist) through the API.
long createCall(ApiService& api, const std::string& recipient, long id) {
  const auto [code, body] = api.call(
      "POST", "/api/phone-calls",
      json({{recipient, id}, {"geplantes_datum", "2026-12-10"}, {"geplante_zeit", "11:00"}})
          .dump());
  if (code != 201) throw std::runtime_error("POST /api/phone-calls: " + body.dump());
  return body.at("id").get<long>();
}

TEST(PatientContact, APutToGesendetAnswersAfterItsPatchArrived) {
  HttpSinkProcess patients;
  ApiService api(withPatientService(patients.url()));
  const long email = createEmail(api, "patient_id", 7, "Entwurf");
  const long toTherapist = createEmail(api, "therapist_id", 8, "Entwurf");

  const auto [status, body] =
      api.call("PUT", "/api/emails/" + std::to_string(email), R"({"status": "Gesendet"})");
  ASSERT_EQ(status, 200) << body.dump();
  // Read at once: the PATCH must be there when the PUT has answered.
  const auto patches = patchesFor(patients, 7);
  ASSERT_EQ(patches.size(), 1u) << api.log();
  EXPECT_EQ(json::parse(patches[0].body), json({{"date", todayInBerlin()}}));
  EXPECT_EQ(patches[0].status, 200);

  EXPECT_EQ(
      api.call("PUT", "/api/emails/" + std::to_string(toTherapist), R"({"status": "Gesendet"})")
          .first,
      200);
  // Nothing more for an unchanged status, nothing for a therapist.
  EXPECT_EQ(
      api.call("PUT", "/api/emails/" + std::to_string(email), R"({"status": "Gesendet"})").first,
      200);
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(patchesFor(patients, 7).size(), 1u);
  EXPECT_EQ(patients.requests().size(), 1u) << "no PATCH for the therapist's email";
}

TEST(PatientContact, AnEmailSentByTheSendEmailEventPatchesOnce) {
  HttpSinkProcess patients;
  ApiService api(withPatientService(patients.url()));
  // Queued after a failed attempt a moment ago: the queue processor leaves
  // it alone for retry_backoff_s (30 s), the event sends it at once.
  long email = 0;
  {
    pqxx::connection c(api.postgres_.url());
    pqxx::work tx(c);
    email = tx.exec1(
                  "INSERT INTO communication_service.emails (patient_id, betreff, inhalt_html, "
                  "inhalt_text, empfaenger_email, empfaenger_name, absender_email, absender_name, "
                  "status, in_warteschlange_am, wiederholungsanzahl, created_at, updated_at) "
                  "VALUES (11, 'Ihr Termin', '<p>Hallo</p>', 'Hallo', 'p@example.org', 'P', "
                  "'praxis@example.org', 'Praxis', 'In_Warteschlange', now(), 1, now(), now()) "
                  "RETURNING id")[0]
                .as<long>();
    tx.commit();
  }
  produceWithKcat(
      api.broker_.bootstrap(), "events",
      {std::to_string(email) + "|" +
       envelope("communication.send_email", "{\"email_id\": " + std::to_string(email) + "}")},
      api.dir_);
  ASSERT_TRUE(waitFor([&] { return patchesFor(patients, 11).size() == 1; }, 15s)) << api.log();
  std::this_thread::sleep_for(2s);  // would reveal a second PATCH
  EXPECT_EQ(patchesFor(patients, 11).size(), 1u);
  EXPECT_EQ(json::parse(patchesFor(patients, 11)[0].body).at("date"), todayInBerlin());
  EXPECT_EQ(api.call("GET", "/api/emails/" + std::to_string(email)).second.at("status"),
            "Gesendet");
}

TEST(PatientContact, AnEmailSentByTheQueueProcessorPatchesOnce) {
  HttpSinkProcess patients;
  ApiService api(withPatientService(patients.url(), /*queueIntervalS=*/1));
  const long email = createEmail(api, "patient_id", 12, "In_Warteschlange");
  ASSERT_TRUE(waitFor([&] { return patchesFor(patients, 12).size() == 1; }, 15s)) << api.log();
  std::this_thread::sleep_for(2s);  // would reveal a second PATCH
  EXPECT_EQ(patchesFor(patients, 12).size(), 1u);
  EXPECT_EQ(api.call("GET", "/api/emails/" + std::to_string(email)).second.at("status"),
            "Gesendet");
}

TEST(PatientContact, ACompletedCallWithAPatientPatchesOnce) {
  HttpSinkProcess patients;
  ApiService api(withPatientService(patients.url()));
  const long call = createCall(api, "patient_id", 21);
  const long withTherapist = createCall(api, "therapist_id", 22);
  const auto [status, body] = api.call("PUT", "/api/phone-calls/" + std::to_string(call),
                                       R"({"status": "abgeschlossen", "ergebnis": "erreicht"})");
  ASSERT_EQ(status, 200) << body.dump();
  ASSERT_EQ(patchesFor(patients, 21).size(), 1u) << "answered before its PATCH arrived";
  EXPECT_EQ(json::parse(patchesFor(patients, 21)[0].body).at("date"), todayInBerlin());
  EXPECT_EQ(api.call("PUT", "/api/phone-calls/" + std::to_string(call),
                     R"({"status": "abgeschlossen", "notizen": "again"})")
                .first,
            200);
  EXPECT_EQ(api.call("PUT", "/api/phone-calls/" + std::to_string(withTherapist),
                     R"({"status": "abgeschlossen"})")
                .first,
            200);
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(patients.requests().size(), 1u) << "once per change into abgeschlossen, patients only";
}

TEST(PatientContact, PatchesAreDeliveredAfterThePatientServiceComesBack) {
  HttpSinkProcess patients;
  ApiService api(withPatientService(patients.url()));
  const long down = createEmail(api, "patient_id", 31, "Entwurf");
  const long failing = createEmail(api, "patient_id", 32, "Entwurf");

  // Down: the PUT answers after its bounded wait, the change is committed.
  patients.stop();
  const auto before = std::chrono::steady_clock::now();
  const auto [status, body] =
      api.call("PUT", "/api/emails/" + std::to_string(down), R"({"status": "Gesendet"})");
  const auto took = std::chrono::steady_clock::now() - before;
  EXPECT_EQ(status, 200) << body.dump();
  EXPECT_EQ(body.at("status"), "Gesendet");
  EXPECT_LT(took, 6s) << "the PUT waits for the patient service at most patient_contact_wait_ms";
  std::this_thread::sleep_for(2s);
  patients.restart();
  ASSERT_TRUE(waitFor([&] { return patchesFor(patients, 31).size() == 1; }, 15s)) << api.log();

  // 5xx for a while: retried until it is accepted, once.
  patients.setControl("status 503\n");
  EXPECT_EQ(
      api.call("PUT", "/api/emails/" + std::to_string(failing), R"({"status": "Gesendet"})").first,
      200);
  ASSERT_TRUE(waitFor([&] { return patchesFor(patients, 32).size() >= 2; }, 10s));
  patients.setControl("");
  ASSERT_TRUE(waitFor(
      [&] {
        const auto p = patchesFor(patients, 32);
        return !p.empty() && p.back().status == 200;
      },
      15s))
      << api.log();
  std::this_thread::sleep_for(1500ms);
  std::size_t accepted = 0;
  for (const auto& p : patchesFor(patients, 32)) accepted += p.status == 200 ? 1 : 0;
  EXPECT_EQ(accepted, 1u);
  EXPECT_EQ(patchesFor(patients, 31).size(), 1u);
}

TEST(PatientContact, AnUnknownPatientIsDeadLetteredAfterBoundedAttempts) {
  HttpSinkProcess patients;
  patients.setControl(
      "PATCH /api/patients/404/ status 404 body {\"message\": \"Patient not found\"}\n");
  ApiService api(withPatientService(patients.url()));
  const long email = createEmail(api, "patient_id", 404, "Entwurf");
  EXPECT_EQ(
      api.call("PUT", "/api/emails/" + std::to_string(email), R"({"status": "Gesendet"})").first,
      200);
  ASSERT_TRUE(waitFor(
      [&] {
        pqxx::connection c(api.postgres_.url());
        pqxx::work tx(c);
        return tx.exec1(
                     "SELECT count(*) FROM public.commsvc_outbox WHERE dead_lettered_at IS "
                     "NOT NULL AND publisher = 'patient-contact'")[0]
                   .as<int>() == 1;
      },
      15s))
      << api.log();
  std::this_thread::sleep_for(1500ms);  // would reveal more attempts
  EXPECT_EQ(patchesFor(patients, 404).size(), static_cast<std::size_t>(kMaxRejections));
  const auto [code, metrics] = runCommand(
      {"curl", "-s", "-m", "5", "http://127.0.0.1:" + std::to_string(api.port_) + "/metrics"});
  EXPECT_NE(metrics.find("outbox_dead_lettered_total{publisher=\"patient-contact\"} 1"),
            std::string::npos);
  EXPECT_NE(api.log().find("dead-lettered"), std::string::npos);
  // The email itself is Gesendet: the contact never holds up a send.
  EXPECT_EQ(api.call("GET", "/api/emails/" + std::to_string(email)).second.at("status"),
            "Gesendet");
}

TEST(PatientContact, WithoutAPatientServiceUrlUpdatesAreOffAndSaySo) {
  ApiService api(withPatientService(""));
  EXPECT_NE(api.log().find("publisher is off"), std::string::npos) << api.log();
  EXPECT_NE(api.log().find("patient contact updates off"), std::string::npos);
  const auto ready = waitFor(
      [&] {
        const auto [code, body] = api.call("GET", "/readyz");
        return body.contains("publishers") &&
               body["publishers"].value("patient-contact", "").rfind("off:", 0) == 0;
      },
      10s);
  EXPECT_TRUE(ready) << api.call("GET", "/readyz").second.dump();
  const long email = createEmail(api, "patient_id", 41, "Entwurf");
  EXPECT_EQ(
      api.call("PUT", "/api/emails/" + std::to_string(email), R"({"status": "Gesendet"})").first,
      200);
  pqxx::connection c(api.postgres_.url());
  pqxx::work tx(c);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM public.commsvc_outbox WHERE publisher = "
                     "'patient-contact'")[0]
                .as<int>(),
            0);
}

}  // namespace
}  // namespace commsvc::integration
