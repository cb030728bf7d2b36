-- A database made by the previous commsvc version (before issue 8): its email
-- migrations 1 and 2 and its phonecall migration 1, verbatim, recorded in
-- public.commsvc_schema_migrations as that version recorded them. Its enum
-- types live in schema communication_service (the original service keeps
-- them in public). The engine's own migrations are left for `commsvc migrate`.

CREATE TABLE public.commsvc_schema_migrations (
  plugin text NOT NULL, version integer NOT NULL, name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (plugin, version));
INSERT INTO public.commsvc_schema_migrations (plugin, version, name) VALUES
  ('email', 1, 'create schema communication_service, enum emailstatus, table emails'),
  ('email', 2, 'table commsvc_message_token: one random token per database for stable Message-IDs'),
  ('phonecall', 1, 'create enum telefonanrufstatus, table telefonanrufe');

-- email migration 1

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
-- email migration 2

CREATE TABLE IF NOT EXISTS communication_service.commsvc_message_token (
  token text PRIMARY KEY
);
INSERT INTO communication_service.commsvc_message_token (token)
SELECT md5(random()::text || clock_timestamp()::text || txid_current()::text)
WHERE NOT EXISTS (SELECT 1 FROM communication_service.commsvc_message_token);
-- phonecall migration 1

CREATE SCHEMA IF NOT EXISTS communication_service;

DO $$
BEGIN
  CREATE TYPE communication_service.telefonanrufstatus AS ENUM
    ('geplant', 'abgeschlossen', 'fehlgeschlagen', 'abgebrochen');
EXCEPTION WHEN duplicate_object THEN
  NULL;
END
$$;

CREATE TABLE IF NOT EXISTS communication_service.telefonanrufe (
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

CREATE INDEX IF NOT EXISTS ix_telefonanrufe_therapist_id
  ON communication_service.telefonanrufe (therapist_id);
CREATE INDEX IF NOT EXISTS ix_telefonanrufe_patient_id
  ON communication_service.telefonanrufe (patient_id);
CREATE INDEX IF NOT EXISTS ix_telefonanrufe_therapeutenanfrage_id
  ON communication_service.telefonanrufe (therapeutenanfrage_id);
CREATE INDEX IF NOT EXISTS ix_telefonanrufe_status
  ON communication_service.telefonanrufe (status);
CREATE INDEX IF NOT EXISTS ix_telefonanrufe_geplantes_datum
  ON communication_service.telefonanrufe (geplantes_datum);
-- Rows as that version wrote them.
INSERT INTO communication_service.emails
  (therapist_id, patient_id, betreff, inhalt_html, inhalt_text, empfaenger_email,
   empfaenger_name, absender_email, absender_name, status, in_warteschlange_am)
VALUES
  (NULL, 51, 'Ihr Termin', '<p>Guten Tag</p>', 'Guten Tag', 'patient51@example.org',
   'Frau Braun', 'info@example.org', 'Praxis Dr. Öz', 'In_Warteschlange', now()),
  (9, NULL, 'Anfrage', '<p>Anfrage</p>', 'Anfrage', 'dr9@example.org', 'Dr. Neun',
   'info@example.org', 'Praxis Dr. Öz', 'Gesendet', now() - interval '1 day');
INSERT INTO communication_service.telefonanrufe
  (therapist_id, patient_id, geplantes_datum, geplante_zeit, status)
VALUES (9, NULL, '2026-12-10', '11:00', 'geplant');
