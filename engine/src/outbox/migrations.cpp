#include "outbox/migrations.hpp"

namespace commsvc::outbox {
namespace {

// The event columns rebuild the Event exactly (the relay publishes what
// add() stored, so eventId and timestamp never change across retries);
// `envelope` is the wire form as built at add() time, kept for inspection
// and checked to be JSON. The partial index serves the relay's scan of
// unpublished rows per publisher in id order.
const Migration kMigrations[] = {
    {1, "create outbox",
     "CREATE TABLE public.commsvc_outbox ("
     " id bigserial PRIMARY KEY,"
     " publisher text NOT NULL,"
     " event_id uuid NOT NULL,"
     " event_type text NOT NULL,"
     " event_version text NOT NULL,"
     " event_timestamp text NOT NULL,"
     " producer text NOT NULL,"
     " event_key text NOT NULL,"
     " payload text NOT NULL,"
     " headers bytea NOT NULL DEFAULT ''::bytea,"
     " envelope text NOT NULL CHECK (envelope::json IS NOT NULL),"
     " created_at timestamptz NOT NULL DEFAULT now(),"
     " published_at timestamptz NULL,"
     " attempts integer NOT NULL DEFAULT 0,"
     " last_error text NULL);"
     "CREATE INDEX commsvc_outbox_unpublished ON public.commsvc_outbox (publisher, id)"
     " WHERE published_at IS NULL"},
    // One relay at a time publishes a publisher's rows: it holds the lease
    // (renewed each pass) while it publishes outside any transaction.
    {2, "create outbox relay lease",
     "CREATE TABLE IF NOT EXISTS public.commsvc_outbox_lease ("
     " publisher text PRIMARY KEY,"
     " holder text NOT NULL,"
     " expires_at timestamptz NOT NULL)"},
    // A row its publisher keeps rejecting (e.g. HTTP 4xx) is dead-lettered
    // after a bounded number of rejections: kept, with published_at and
    // dead_lettered_at set and the last error, never published again.
    {3, "outbox dead letters",
     "ALTER TABLE public.commsvc_outbox"
     " ADD COLUMN IF NOT EXISTS rejections integer NOT NULL DEFAULT 0,"
     " ADD COLUMN IF NOT EXISTS dead_lettered_at timestamptz NULL"},
    // Each transaction that adds rows notifies the relays (delivered on
    // commit, once per transaction), so they publish at once instead of
    // polling.
    {4, "outbox notifies its relays",
     "CREATE OR REPLACE FUNCTION public.commsvc_outbox_notify() RETURNS trigger"
     " LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('commsvc_outbox', ''); RETURN NULL; END $$;"
     "DROP TRIGGER IF EXISTS commsvc_outbox_notify ON public.commsvc_outbox;"
     "CREATE TRIGGER commsvc_outbox_notify AFTER INSERT ON public.commsvc_outbox"
     " FOR EACH STATEMENT EXECUTE FUNCTION public.commsvc_outbox_notify()"},
    // ... except from sessions that set commsvc.outbox_notify = off: a
    // commsvc process wakes its relay after commit in-process, and the relay
    // tells other instances with one notification of its own per pass.
    // Notifying transactions commit one at a time (PostgreSQL holds a
    // database-wide lock from before their commit until after its WAL
    // flush), which capped the writes that add rows.
    {5, "outbox notifies unless the session says its relay is woken in-process",
     "CREATE OR REPLACE FUNCTION public.commsvc_outbox_notify() RETURNS trigger"
     " LANGUAGE plpgsql AS $$ BEGIN"
     " IF coalesce(current_setting('commsvc.outbox_notify', true), '') <> 'off' THEN"
     " PERFORM pg_notify('commsvc_outbox', ''); END IF;"
     " RETURN NULL; END $$;"},
};

}  // namespace

std::span<const Migration> outboxMigrations() { return kMigrations; }

database::PluginMigrations engineMigrations() {
  return {kEngineMigrationsName, outboxMigrations()};
}

}  // namespace commsvc::outbox
