#pragma once

#include <memory>
#include <string>

#include "commsvc/channel.hpp"
#include "commsvc/config.hpp"
#include "commsvc/context.hpp"
#include "commsvc/database.hpp"
#include "commsvc/http.hpp"
#include "commsvc/logger.hpp"
#include "commsvc/outbox.hpp"
#include "patient_contact.hpp"

namespace commsvc::plugins::email {

/// The options of the HTTP API (see plugin.cpp for their declarations).
struct ApiSettings {
  std::string defaultSenderEmail;       ///< absender_email when a POST gives none
  std::string defaultSenderName;        ///< absender_name when a POST gives none
  std::string legalFooterHtml;          ///< appended to inhalt_html when add_legal_footer
  std::string legalFooterText;          ///< appended to inhalt_text when add_legal_footer
  std::string systemNotificationEmail;  ///< where system messages go; empty = not configured
};

/// ApiSettings from a validated handler block.
ApiSettings apiSettingsFrom(const Config& config);

/// The email routes of SPEC §5 (`/api/emails`, `/api/emails/{id}`,
/// `/api/system-messages`). Every state change and the event it causes
/// (`communication.email_created`, `email.sent`, `email.response_received`)
/// are written in one transaction through the outbox. Invalid input gives
/// 400 `{"message"}` naming the field (starting with the original service's
/// text where it had one, SPEC §7), unknown ids and ids no email can have
/// ("abc", "-1") 404 `Email not found`.
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

 private:
  Database& database_;
  Outbox& outbox_;
  Channel& channel_;
  Logger& logger_;
  ApiSettings settings_;
  contact::PatientContact contact_;
};

/// Registers the routes of `api` on `context` (call from a factory). The
/// route handlers share ownership of `api`.
void registerEmailRoutes(Context& context, const std::shared_ptr<EmailApi>& api);

/// The plain-text body as minimal HTML: escaped, paragraphs on blank
/// lines, <br> on single line breaks.
std::string textToHtml(const std::string& text);

}  // namespace commsvc::plugins::email
