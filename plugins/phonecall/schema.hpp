#pragma once

// The phonecall plugin's schema migrations (SPEC §2). Table, column, type and
// status names are a contract with the other services of the platform.

#include "commsvc/plugin.hpp"

namespace commsvc::plugins::phonecall {

/// The migrations the phonecall plugin ships, in version order. Version 1
/// creates or adopts the enum `telefonanrufstatus` (in schema public, where
/// the original service keeps it) and the table `telefonanrufe`: the table
/// is created only when missing, a column the original added later
/// (therapeutenanfrage_id) is added when missing, and the check and indexes
/// only when the table has none with the same definition (the engine's
/// commsvc_ensure_* helpers). Nothing existing is dropped or rewritten. The
/// email plugin also creates the schema, and plugin order is not
/// guaranteed, so every statement tolerates objects that already exist.
/// Version 2 moves the enum that older commsvc versions created in
/// communication_service to public. Version 3 adds the index in the list
/// order.
inline constexpr Migration kMigrations[] = {
    {1, "create or adopt enum public.telefonanrufstatus, table telefonanrufe",
     R"sql(
CREATE SCHEMA IF NOT EXISTS communication_service;

SELECT public.commsvc_ensure_enum('public', 'telefonanrufstatus',
  ARRAY['geplant', 'abgeschlossen', 'fehlgeschlagen', 'abgebrochen'],
  'communication_service');

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
  status                public.telefonanrufstatus NOT NULL DEFAULT 'geplant',
  ergebnis              text,
  notizen               text,
  created_at            timestamp DEFAULT now(),
  updated_at            timestamp DEFAULT now()
);

-- Added by the original's second migration: missing where only its first ran.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_attribute
                  WHERE attrelid = 'communication_service.telefonanrufe'::regclass
                    AND attname = 'therapeutenanfrage_id' AND NOT attisdropped) THEN
    ALTER TABLE communication_service.telefonanrufe
      ADD COLUMN IF NOT EXISTS therapeutenanfrage_id integer;
    RAISE NOTICE 'commsvc: added column therapeutenanfrage_id to communication_service.telefonanrufe';
  END IF;
END
$$;

-- Exactly one recipient, spelled as the original's phone_call_recipient_check
-- so that the definitions compare equal on an adopted table.
SELECT public.commsvc_ensure_check('communication_service.telefonanrufe',
  'telefonanrufe_one_recipient_check',
  '(therapist_id IS NOT NULL AND patient_id IS NULL) OR '
  '(therapist_id IS NULL AND patient_id IS NOT NULL)');
SELECT public.commsvc_ensure_index('communication_service.telefonanrufe',
  'ix_telefonanrufe_therapist_id', 'btree (therapist_id)');
SELECT public.commsvc_ensure_index('communication_service.telefonanrufe',
  'ix_telefonanrufe_patient_id', 'btree (patient_id)');
SELECT public.commsvc_ensure_index('communication_service.telefonanrufe',
  'ix_telefonanrufe_therapeutenanfrage_id', 'btree (therapeutenanfrage_id)');
SELECT public.commsvc_ensure_index('communication_service.telefonanrufe',
  'ix_telefonanrufe_status', 'btree (status)');
SELECT public.commsvc_ensure_index('communication_service.telefonanrufe',
  'ix_telefonanrufe_geplantes_datum', 'btree (geplantes_datum)');
)sql"},
    {2, "enum telefonanrufstatus in schema public, where the original service keeps it",
     R"sql(
SELECT public.commsvc_ensure_enum('public', 'telefonanrufstatus',
  ARRAY['geplant', 'abgeschlossen', 'fehlgeschlagen', 'abgebrochen'],
  'communication_service');
)sql"},
    {3, "index in the list order (newest planned date and time first)",
     R"sql(
SELECT public.commsvc_ensure_index('communication_service.telefonanrufe',
  'ix_telefonanrufe_geplant_id', 'btree (geplantes_datum DESC, geplante_zeit DESC, id DESC)');
)sql"},
    {4, "index in the list order after the status filter",
     R"sql(
-- With generic plans (database.generic_plans) the planner cannot see that a
-- status is rare; this index serves `status = $n` in the list order either way.
SELECT public.commsvc_ensure_index('communication_service.telefonanrufe',
  'ix_telefonanrufe_status_geplant_id',
  'btree (status, geplantes_datum DESC, geplante_zeit DESC, id DESC)');
)sql"},
};

}  // namespace commsvc::plugins::phonecall
