#pragma once

// The phonecall plugin's schema migrations (SPEC §2). Table, column, type and
// status names are a contract with the other services of the platform.

#include "commsvc/plugin.hpp"

namespace commsvc::plugins::phonecall {

/// The migrations the phonecall plugin ships, in version order. Version 1
/// creates the enum `telefonanrufstatus` and the table `telefonanrufe`. The
/// email plugin also creates the schema (and once created this table too),
/// and plugin order is not guaranteed, so every statement tolerates objects
/// that already exist.
inline constexpr Migration kMigrations[] = {
    {1, "create enum telefonanrufstatus, table telefonanrufe",
     R"sql(
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
)sql"},
};

}  // namespace commsvc::plugins::phonecall
