#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "combiner.hpp"
#include "commsvc/channel.hpp"
#include "commsvc/context.hpp"
#include "commsvc/database.hpp"
#include "commsvc/http.hpp"
#include "commsvc/logger.hpp"
#include "commsvc/outbox.hpp"
#include "patient_contact.hpp"

namespace commsvc::plugins::email {

/// The HTTP API's part of the email plugin's settings (EmailSettings in
/// email_handler.hpp, where the options are declared). The footers are
/// placeholders, to be replaced in pipelines.yaml.
struct ApiSettings {
  /// absender_email when a POST gives none; the sender of system messages.
  std::string defaultSenderEmail = "noreply@example.com";
  /// absender_name when a POST gives none.
  std::string defaultSenderName = "Communication Service";
  /// Appended to inhalt_html when add_legal_footer; empty = none.
  std::string legalFooterHtml =
      "<hr><p style=\"font-size:small;color:#666\">Example GmbH · Musterstraße 1 · 12345 "
      "Musterstadt<br>Geschäftsführung: Erika Mustermann · Amtsgericht Musterstadt HRB 00000</p>";
  /// Appended to inhalt_text when add_legal_footer; empty = none.
  std::string legalFooterText =
      "--\nExample GmbH · Musterstraße 1 · 12345 Musterstadt\nGeschäftsführung: Erika Mustermann "
      "· Amtsgericht Musterstadt HRB 00000";
  std::string systemNotificationEmail;  ///< where system messages go; empty = not configured
};

/// An email a POST creates, validated and rendered (bodies with footers).
struct NewEmail {
  std::optional<std::int32_t> therapistId;  ///< therapist_id, or nullopt
  std::optional<std::int32_t> patientId;    ///< patient_id, or nullopt
  std::string betreff;                      ///< subject
  std::string html;                         ///< inhalt_html
  std::string text;                         ///< inhalt_text
  std::string empfaengerEmail;              ///< recipient address
  std::string empfaengerName;               ///< recipient name
  std::string absenderEmail;                ///< sender address
  std::string absenderName;                 ///< sender name
  std::string status;                       ///< Entwurf or In_Warteschlange
};

/// A stored NewEmail: its id and the JSON text the POST answers.
struct CreatedEmail {
  std::int64_t id = 0;  ///< the new row's id
  std::string json;     ///< the email as the API shows it
};

/// The email routes of SPEC §5 (`/api/emails`, `/api/emails/{id}`,
/// `/api/system-messages`). Every state change and the event it causes
/// (`communication.email_created`, `email.sent`, `email.response_received`)
/// are written in one transaction through the outbox. Invalid input gives
/// 400 `{"message"}` naming the field (starting with the original service's
/// text where it had one, SPEC §7), unknown ids and ids no email can have
/// ("abc", "-1") 404 `Email not found`.
/// POSTs arriving together are stored together: one transaction and one
/// INSERT for all of them (a lone POST is stored at once); a batch refused
/// by PostgreSQL is stored again one email at a time, so only the email at
/// fault fails.
/// Thread-safe. Database errors propagate (the server answers 500).
class EmailApi {
 public:
  /// Uses the given collaborators, which must outlive the API object.
  /// `contact` reports a patient's email becoming `Gesendet` through PUT to
  /// the patient service; the PUT answers once that was delivered (bounded
  /// wait). Off by default.
  EmailApi(Database& database, Outbox& outbox, Channel& channel, Logger& logger,
           ApiSettings settings, contact::PatientContact contact = {});

  /// GET /api/emails: a filtered, paginated list, newest created_at first.
  HttpResponse listEmails(const HttpRequest& request);
  /// POST /api/emails: validates, renders Markdown, stores; 201 with the email.
  HttpResponse createEmail(const HttpRequest& request);
  /// GET /api/emails/{id}: the email with its bodies.
  HttpResponse getEmail(const HttpRequest& request);
  /// PUT /api/emails/{id}: status, answer fields and fehlermeldung.
  HttpResponse updateEmail(const HttpRequest& request);
  /// DELETE /api/emails/{id}.
  HttpResponse deleteEmail(const HttpRequest& request);
  /// POST /api/system-messages: sends a text to the configured admin address.
  HttpResponse sendSystemMessage(const HttpRequest& request);

  /// POSTs validated and waiting for a batch to store them (for tests).
  std::size_t postsWaiting() const { return creator_.waiting(); }

 private:
  Database& database_;
  Outbox& outbox_;
  Channel& channel_;
  Logger& logger_;
  ApiSettings settings_;
  contact::PatientContact contact_;
  using Creator = api::Combiner<NewEmail, CreatedEmail>;
  Creator creator_;  // combines concurrent POSTs into batches for storeBatch

  // Stores `batch` together; when PostgreSQL refuses that, each on its own.
  void storeBatch(std::span<Creator::Entry* const> batch);
  // Stores `batch` in one transaction (the emails and their
  // communication.email_created events) and sets each entry's result.
  void storeTogether(std::span<Creator::Entry* const> batch);
};

/// The filters of GET /api/emails, each nullopt when not given.
struct ListFilters {
  std::optional<std::int32_t> therapistId;   ///< therapist_id = value
  std::optional<std::int32_t> patientId;     ///< patient_id = value
  std::optional<std::string> recipientType;  ///< "therapist" or "patient"
  std::optional<std::string> status;         ///< one of the emailstatus labels
  std::optional<bool> answered;              ///< antwort_erhalten = value
};

/// The SQL of one list request, built from the filters given (exposed for
/// the tests). Values are parameters only; the text depends on which
/// filters are given, so each shape is one prepared statement.
struct ListQuery {
  std::string page;                      ///< the page's rows, each with column `total`
  std::vector<std::string> pageParams;   ///< parameters of `page`
  std::string total;                     ///< the total alone (when the page is empty)
  std::vector<std::string> totalParams;  ///< parameters of `total`
};

/// The list query for `filters`, `limit` rows after the first `offset`.
ListQuery listQuery(const ListFilters& filters, std::int64_t limit, std::int64_t offset);

/// Registers the routes of `api` on `context` (call from a factory). The
/// route handlers share ownership of `api`.
void registerEmailRoutes(Context& context, const std::shared_ptr<EmailApi>& api);

/// The plain-text body as minimal HTML: escaped, paragraphs on blank
/// lines, <br> on single line breaks.
std::string textToHtml(const std::string& text);

}  // namespace commsvc::plugins::email
