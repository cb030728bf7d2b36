#pragma once

// The email plugin's schema migrations (SPEC §2). Table, column, type and
// status names are a contract with the other services of the platform.

#include "commsvc/plugin.hpp"

namespace commsvc::plugins::email {

/// The migrations the email plugin ships, in version order. Version 2
/// creates `telefonanrufe`, which belongs to the (future) phonecall plugin:
/// it is created here so the whole SPEC §2 schema exists from the first
/// start; the phonecall plugin must not create it again.
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
    // Owned by the phonecall plugin's domain; created here (see above).
    {2, "create enum telefonanrufstatus, table telefonanrufe (for the phonecall plugin)",
     R"sql(
CREATE TYPE communication_service.telefonanrufstatus AS ENUM
  ('geplant', 'abgeschlossen', 'fehlgeschlagen', 'abgebrochen');

CREATE TABLE communication_service.telefonanrufe (
  id                    serial PRIMARY KEY,
  therapist_id          integer,
  patient_id            integer,
  therapeutenanfrage_id integer,
  geplantes_datum       date NOT NULL,
  geplante_zeit         time NOT NULL,
  dauer_minuten         integer DEFAULT 5,
  tatsaechliches_datum  date,
  tatsaechliche_zeit    time,
  status                communication_service.telefonanrufstatus NOT NULL DEFAULT 'geplant',
  ergebnis              text,
  notizen               text,
  created_at            timestamp DEFAULT now(),
  updated_at            timestamp DEFAULT now(),
  CONSTRAINT telefonanrufe_exactly_one_recipient_check
    CHECK ((therapist_id IS NULL) <> (patient_id IS NULL))
);

CREATE INDEX ix_telefonanrufe_therapist_id ON communication_service.telefonanrufe (therapist_id);
CREATE INDEX ix_telefonanrufe_patient_id ON communication_service.telefonanrufe (patient_id);
CREATE INDEX ix_telefonanrufe_therapeutenanfrage_id
  ON communication_service.telefonanrufe (therapeutenanfrage_id);
CREATE INDEX ix_telefonanrufe_status ON communication_service.telefonanrufe (status);
CREATE INDEX ix_telefonanrufe_geplantes_datum
  ON communication_service.telefonanrufe (geplantes_datum);
)sql"},
};

}  // namespace commsvc::plugins::email
