#pragma once

// The email plugin's schema migrations (SPEC §2). Table, column, type and
// status names are a contract with the other services of the platform.

#include "commsvc/plugin.hpp"

namespace commsvc::plugins::email {

/// The migrations the email plugin ships, in version order. They touch only
/// the emails table and its enum; `telefonanrufe` is the phonecall plugin's.
/// Version 1 adopts a schema made by the original service (SPEC §7): the
/// enum `emailstatus` lives in schema public (created there when missing),
/// the table is created only when missing, and the check and indexes are
/// added only when the table has none with the same definition (the
/// engine's commsvc_ensure_* helpers). Nothing existing is dropped or
/// rewritten. Version 3 moves the enum that older commsvc versions created
/// in communication_service to public, where the original keeps it.
inline constexpr Migration kMigrations[] = {
    {1, "create or adopt schema communication_service, enum public.emailstatus, table emails",
     R"sql(
CREATE SCHEMA IF NOT EXISTS communication_service;

SELECT public.commsvc_ensure_enum('public', 'emailstatus',
  ARRAY['Entwurf', 'In_Warteschlange', 'Wird_gesendet', 'Gesendet', 'Fehlgeschlagen'],
  'communication_service');

CREATE TABLE IF NOT EXISTS communication_service.emails (
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
  status              public.emailstatus DEFAULT 'Entwurf',
  in_warteschlange_am timestamp,
  gesendet_am         timestamp,
  fehlermeldung       text,
  wiederholungsanzahl integer DEFAULT 0,
  created_at          timestamp DEFAULT now(),
  updated_at          timestamp DEFAULT now()
);

-- Exactly one recipient, spelled as the original's email_recipient_check so
-- that the definitions compare equal on an adopted table.
SELECT public.commsvc_ensure_check('communication_service.emails',
  'emails_one_recipient_check',
  '(therapist_id IS NOT NULL AND patient_id IS NULL) OR '
  '(therapist_id IS NULL AND patient_id IS NOT NULL)');
SELECT public.commsvc_ensure_index('communication_service.emails',
  'ix_emails_therapist_id', 'btree (therapist_id)');
SELECT public.commsvc_ensure_index('communication_service.emails',
  'ix_emails_patient_id', 'btree (patient_id)');
SELECT public.commsvc_ensure_index('communication_service.emails',
  'ix_emails_status', 'btree (status)');
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
    {3, "enum emailstatus in schema public, where the original service keeps it",
     R"sql(
SELECT public.commsvc_ensure_enum('public', 'emailstatus',
  ARRAY['Entwurf', 'In_Warteschlange', 'Wird_gesendet', 'Gesendet', 'Fehlgeschlagen'],
  'communication_service');
)sql"},
    {4, "list indexes in the list order and trigger-maintained totals (commsvc_email_counts)",
     R"sql(
-- Writers wait until this commits, so the totals start exact.
LOCK TABLE communication_service.emails IN SHARE ROW EXCLUSIVE MODE;

-- The list order (newest first), alone and after each equality filter.
SELECT public.commsvc_ensure_index('communication_service.emails',
  'ix_emails_created_at_id', 'btree (created_at DESC NULLS LAST, id DESC)');
SELECT public.commsvc_ensure_index('communication_service.emails',
  'ix_emails_therapist_id_created_at', 'btree (therapist_id, created_at DESC NULLS LAST, id DESC)');
SELECT public.commsvc_ensure_index('communication_service.emails',
  'ix_emails_patient_id_created_at', 'btree (patient_id, created_at DESC NULLS LAST, id DESC)');
SELECT public.commsvc_ensure_index('communication_service.emails',
  'ix_emails_status_created_at', 'btree (status, created_at DESC NULLS LAST, id DESC)');

-- The number of emails per (status, recipient, answered), as signed deltas:
-- writers only insert (no row every writer updates, so no lock they queue
-- on); a compaction now and then folds the deltas into one row per group.
-- The sum of n over the groups a filter matches is its exact total.
CREATE TABLE IF NOT EXISTS communication_service.commsvc_email_counts (
  status    public.emailstatus,
  recipient text,      -- 'therapist', 'patient' or NULL (neither or both ids)
  answered  boolean,
  n         bigint NOT NULL
);

CREATE OR REPLACE FUNCTION communication_service.commsvc_email_recipient(
  therapist integer, patient integer) RETURNS text
LANGUAGE sql IMMUTABLE AS $commsvc$
  SELECT CASE WHEN therapist IS NOT NULL AND patient IS NULL THEN 'therapist'
              WHEN patient IS NOT NULL AND therapist IS NULL THEN 'patient' END
$commsvc$;

-- Folds the deltas into one row per group; one transaction at a time (the
-- others skip it rather than wait). False when another one holds it.
CREATE OR REPLACE FUNCTION communication_service.commsvc_email_counts_compact() RETURNS boolean
LANGUAGE plpgsql AS $commsvc$
BEGIN
  IF NOT pg_try_advisory_xact_lock(4711004004) THEN
    RETURN false;
  END IF;
  WITH gone AS (DELETE FROM communication_service.commsvc_email_counts RETURNING *)
  INSERT INTO communication_service.commsvc_email_counts (status, recipient, answered, n)
  SELECT status, recipient, answered, sum(n) FROM gone GROUP BY 1, 2, 3 HAVING sum(n) <> 0;
  RETURN true;
END
$commsvc$;

-- Statement-level, through the transition tables: one insert per
-- statement, however many rows it touched.
CREATE OR REPLACE FUNCTION communication_service.commsvc_email_counts_apply() RETURNS trigger
LANGUAGE plpgsql AS $commsvc$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    DELETE FROM communication_service.commsvc_email_counts;
    RETURN NULL;
  ELSIF TG_OP = 'INSERT' THEN
    INSERT INTO communication_service.commsvc_email_counts (status, recipient, answered, n)
    SELECT status, communication_service.commsvc_email_recipient(therapist_id, patient_id),
           antwort_erhalten, count(*)
      FROM commsvc_new GROUP BY 1, 2, 3;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO communication_service.commsvc_email_counts (status, recipient, answered, n)
    SELECT status, communication_service.commsvc_email_recipient(therapist_id, patient_id),
           antwort_erhalten, -count(*)
      FROM commsvc_old GROUP BY 1, 2, 3;
  ELSE
    INSERT INTO communication_service.commsvc_email_counts (status, recipient, answered, n)
    SELECT status, recipient, answered, sum(n) FROM (
      SELECT status, communication_service.commsvc_email_recipient(therapist_id, patient_id)
               AS recipient, antwort_erhalten AS answered, 1 AS n FROM commsvc_new
      UNION ALL
      SELECT status, communication_service.commsvc_email_recipient(therapist_id, patient_id),
             antwort_erhalten, -1 FROM commsvc_old) AS d
    GROUP BY 1, 2, 3 HAVING sum(n) <> 0;
  END IF;
  -- About one statement in 64 compacts.
  IF random() < 1.0 / 64 THEN
    PERFORM communication_service.commsvc_email_counts_compact();
  END IF;
  RETURN NULL;
END
$commsvc$;

CREATE TRIGGER commsvc_email_counts_insert AFTER INSERT ON communication_service.emails
  REFERENCING NEW TABLE AS commsvc_new
  FOR EACH STATEMENT EXECUTE FUNCTION communication_service.commsvc_email_counts_apply();
CREATE TRIGGER commsvc_email_counts_update AFTER UPDATE ON communication_service.emails
  REFERENCING OLD TABLE AS commsvc_old NEW TABLE AS commsvc_new
  FOR EACH STATEMENT EXECUTE FUNCTION communication_service.commsvc_email_counts_apply();
CREATE TRIGGER commsvc_email_counts_delete AFTER DELETE ON communication_service.emails
  REFERENCING OLD TABLE AS commsvc_old
  FOR EACH STATEMENT EXECUTE FUNCTION communication_service.commsvc_email_counts_apply();
CREATE TRIGGER commsvc_email_counts_truncate AFTER TRUNCATE ON communication_service.emails
  FOR EACH STATEMENT EXECUTE FUNCTION communication_service.commsvc_email_counts_apply();

DELETE FROM communication_service.commsvc_email_counts;
INSERT INTO communication_service.commsvc_email_counts (status, recipient, answered, n)
SELECT status, communication_service.commsvc_email_recipient(therapist_id, patient_id),
       antwort_erhalten, count(*)
  FROM communication_service.emails GROUP BY 1, 2, 3;
)sql"},
    {5, "emails notify the queue processor when one is queued",
     R"sql(
-- An email that becomes In_Warteschlange (created so, or queued by PUT or by
-- SQL) wakes every instance's queue processor when its transaction commits
-- (one notification per transaction and channel).
CREATE OR REPLACE FUNCTION communication_service.commsvc_email_queued_notify()
  RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('commsvc_email_queued', '');
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS commsvc_email_queued ON communication_service.emails;
CREATE TRIGGER commsvc_email_queued
  AFTER INSERT OR UPDATE OF status ON communication_service.emails
  FOR EACH ROW WHEN (NEW.status = 'In_Warteschlange')
  EXECUTE FUNCTION communication_service.commsvc_email_queued_notify();
)sql"},
    {6, "a claim handed back to the queue does not notify the queue processor",
     R"sql(
-- Wird_gesendet -> In_Warteschlange is a sender handing its claim back (the
-- channel is unavailable, a transient failure waits for its backoff, a
-- stale claim is recovered): no new work, and waking the processor for it
-- would claim and hand back the same emails in a loop for the whole of a
-- mail server outage. The queue check interval retries them. Everything
-- else that makes an email In_Warteschlange still notifies.
DROP TRIGGER IF EXISTS commsvc_email_queued ON communication_service.emails;
CREATE TRIGGER commsvc_email_queued
  AFTER INSERT ON communication_service.emails
  FOR EACH ROW WHEN (NEW.status = 'In_Warteschlange')
  EXECUTE FUNCTION communication_service.commsvc_email_queued_notify();
DROP TRIGGER IF EXISTS commsvc_email_requeued ON communication_service.emails;
CREATE TRIGGER commsvc_email_requeued
  AFTER UPDATE OF status ON communication_service.emails
  FOR EACH ROW WHEN (NEW.status = 'In_Warteschlange'
                     AND OLD.status IS DISTINCT FROM 'Wird_gesendet')
  EXECUTE FUNCTION communication_service.commsvc_email_queued_notify();
)sql"},
};

}  // namespace commsvc::plugins::email
