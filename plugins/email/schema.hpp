#pragma once

// The email plugin's schema migrations (SPEC §2). Table, column, type and
// status names are a contract with the other services of the platform.

#include "commsvc/plugin.hpp"

namespace commsvc::plugins::email {

/// The migrations the email plugin ships, in version order. They touch only
/// the emails table and its enum; `telefonanrufe` is the phonecall plugin's.
inline constexpr Migration kMigrations[] = {
    {1, "create schema communication_service, enum emailstatus, table emails",
     R"sql(
CREATE SCHEMA IF NOT EXISTS communication_service;

CREATE TYPE communication_service.emailstatus AS ENUM
  ('Entwurf', 'In_Warteschlange', 'Wird_gesendet', 'Gesendet', 'Fehlgeschlagen');

CREATE TABLE communication_service.emails (
  id                  serial PRIMARY KEY,
  therapist_id        integer,
  patient_id          integer,
  betreff             varchar(255) NOT NULL,
  inhalt_html         text NOT NULL,
  inhalt_text         text NOT NULL,
  empfaenger_email    varchar(255) NOT NULL,
  empfaenger_name     varchar(255) NOT NULL,
  absender_email      varchar(255) NOT NULL,
  absender_name       varchar(255) NOT NULL,
  antwort_erhalten    boolean NOT NULL DEFAULT false,
  antwortdatum        timestamp,
  antwortinhalt       text,
  status              communication_service.emailstatus DEFAULT 'Entwurf',
  in_warteschlange_am timestamp,
  gesendet_am         timestamp,
  fehlermeldung       text,
  wiederholungsanzahl integer DEFAULT 0,
  created_at          timestamp DEFAULT now(),
  updated_at          timestamp DEFAULT now(),
  CONSTRAINT emails_exactly_one_recipient_check
    CHECK ((therapist_id IS NULL) <> (patient_id IS NULL))
);

CREATE INDEX ix_emails_therapist_id ON communication_service.emails (therapist_id);
CREATE INDEX ix_emails_patient_id ON communication_service.emails (patient_id);
CREATE INDEX ix_emails_status ON communication_service.emails (status);
)sql"},
    {2, "table commsvc_message_token: one random token per database for stable Message-IDs",
     R"sql(
CREATE TABLE IF NOT EXISTS communication_service.commsvc_message_token (
  token text PRIMARY KEY
);
INSERT INTO communication_service.commsvc_message_token (token)
SELECT md5(random()::text || clock_timestamp()::text || txid_current()::text)
WHERE NOT EXISTS (SELECT 1 FROM communication_service.commsvc_message_token);
)sql"},
};

}  // namespace commsvc::plugins::email
