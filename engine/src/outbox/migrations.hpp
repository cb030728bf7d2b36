#pragma once

#include <span>

#include "commsvc/plugin.hpp"
#include "database/migrations.hpp"

namespace commsvc::outbox {

/// The outbox table.
inline constexpr const char* kOutboxTable = "public.commsvc_outbox";

/// The notification channel of the outbox table: a transaction that added
/// rows notifies it when it commits (trigger of migration 4).
inline constexpr const char* kOutboxNotifyChannel = "commsvc_outbox";

/// The name the engine's own migrations are recorded under.
inline constexpr const char* kEngineMigrationsName = "engine";

/// The engine's schema changes (the outbox table and its index), in version order.
std::span<const Migration> outboxMigrations();

/// outboxMigrations() under kEngineMigrationsName, ready for database::migrate.
database::PluginMigrations engineMigrations();

}  // namespace commsvc::outbox
