-- The database layout the original (Python) communication service's
-- migrations leave behind, written from the facts in issue 8 / SPEC §7:
-- enum types in schema public, tables in communication_service, the
-- original's constraint and index names, no defaults on emails.created_at /
-- updated_at. Tests lay it on an empty database to check that commsvc adopts
-- it. No rows here: see original_rows.sql.
--
-- The lines ending in "-- original migration 2" are the original's second
-- migration; without them (tests drop them) the layout is the one after its
-- first migration only (no telefonanrufe.therapeutenanfrage_id).

CREATE SCHEMA IF NOT EXISTS communication_service;

CREATE TYPE public.emailstatus AS ENUM
  ('Entwurf', 'In_Warteschlange', 'Wird_gesendet', 'Gesendet', 'Fehlgeschlagen');
CREATE TYPE public.telefonanrufstatus AS ENUM
  ('geplant', 'abgeschlossen', 'fehlgeschlagen', 'abgebrochen');

CREATE TABLE communication_service.emails (
  id                  serial NOT NULL,
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
  status              emailstatus DEFAULT 'Entwurf',
  in_warteschlange_am timestamp,
  gesendet_am         timestamp,
  fehlermeldung       text,
  wiederholungsanzahl integer DEFAULT 0,
  created_at          timestamp,
  updated_at          timestamp,
  PRIMARY KEY (id),
  CONSTRAINT email_recipient_check CHECK (
    (therapist_id IS NOT NULL AND patient_id IS NULL) OR
    (therapist_id IS NULL AND patient_id IS NOT NULL))
);
CREATE INDEX ix_communication_service_emails_id ON communication_service.emails (id);
CREATE INDEX ix_communication_service_emails_therapist_id
  ON communication_service.emails (therapist_id);
CREATE INDEX ix_communication_service_emails_patient_id
  ON communication_service.emails (patient_id);

CREATE TABLE communication_service.telefonanrufe (
  id                   serial NOT NULL,
  therapist_id         integer,
  patient_id           integer,
  geplantes_datum      date NOT NULL,
  geplante_zeit        time NOT NULL,
  dauer_minuten        integer DEFAULT 5,
  tatsaechliches_datum date,
  tatsaechliche_zeit   time,
  status               telefonanrufstatus NOT NULL DEFAULT 'geplant',
  ergebnis             text,
  notizen              text,
  created_at           timestamp DEFAULT CURRENT_TIMESTAMP,
  updated_at           timestamp,
  PRIMARY KEY (id),
  CONSTRAINT phone_call_recipient_check CHECK (
    (therapist_id IS NOT NULL AND patient_id IS NULL) OR
    (therapist_id IS NULL AND patient_id IS NOT NULL))
);
CREATE INDEX idx_phone_calls_therapist_id ON communication_service.telefonanrufe (therapist_id);
CREATE INDEX idx_phone_calls_patient_id ON communication_service.telefonanrufe (patient_id);
CREATE INDEX idx_phone_calls_scheduled_date
  ON communication_service.telefonanrufe (geplantes_datum);
CREATE INDEX idx_phone_calls_status ON communication_service.telefonanrufe (status);

ALTER TABLE communication_service.telefonanrufe ADD COLUMN therapeutenanfrage_id integer; -- original migration 2
CREATE INDEX ix_communication_service_telefonanrufe_therapeutenanfrage_id ON communication_service.telefonanrufe (therapeutenanfrage_id); -- original migration 2
