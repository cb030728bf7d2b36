#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "commsvc/channel.hpp"
#include "commsvc/config.hpp"
#include "commsvc/context.hpp"
#include "commsvc/handler.hpp"
#include "commsvc/publisher.hpp"

namespace commsvc {

/// Version of the plugin ABI: the layout of PluginInfo and of every SDK
/// interface. Raised on any incompatible change; the loader refuses
/// plugins built for another version.
inline constexpr std::uint32_t kAbiVersion = 6;

/// True when `name` can name a plugin in `plugins:`: 1 to 64 letters,
/// digits, '-' or '_' (a plain file name, never a path: plugins load only
/// from the plugin directories).
inline bool isPlainPluginName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

/// The exported symbol every plugin library defines, once:
///   extern "C" BOOST_SYMBOL_EXPORT const commsvc::PluginInfo commsvc_plugin = {...};
inline constexpr const char* kPluginSymbol = "commsvc_plugin";

/// What a plugin provides.
enum class PluginKind : std::uint32_t { Handler = 1, Channel = 2, Publisher = 3 };

/// Creates a handler from its validated block; throws ConfigError (or any
/// std::exception) when it cannot.
using HandlerFactory = std::unique_ptr<Handler> (*)(const Config& config, Context& context);
/// Creates a channel; throws as HandlerFactory.
using ChannelFactory = std::unique_ptr<Channel> (*)(const Config& config, Context& context);
/// Creates a publisher; throws as HandlerFactory.
using PublisherFactory = std::unique_ptr<Publisher> (*)(const Config& config, Context& context);

/// One versioned schema change a plugin ships. `commsvc migrate` (and
/// `run`, unless told not to) applies each plugin's pending migrations in
/// version order, each in its own transaction, and records them.
///
/// To adopt a schema that may exist already (made by the service commsvc
/// replaces, or by an older version), a migration's SQL can call helpers
/// the runner (re)creates in schema public before any pending migration:
/// `commsvc_ensure_enum(schema, name, labels text[], move_from text)`
/// creates the enum, or moves it from `move_from`, or keeps it, and fails
/// naming any missing label (never alters it);
/// `commsvc_ensure_index(tbl regclass, name, definition)` (e.g.
/// 'btree (status)') and `commsvc_ensure_check(tbl regclass, name,
/// expression)` add the object only when the table has none with the same
/// definition as PostgreSQL prints it (names are not compared); they return
/// whether they added it. Their NOTICEs are logged with the migration.
struct Migration {
  std::int32_t version;  ///< increasing per plugin, starting at 1; never reused
  const char* name;      ///< short description, e.g. "create emails"
  const char* sql;       ///< the statements (may be several, separated by ';')
};

/// The plugin descriptor. `abiVersion` must stay the first member so that
/// any version can be read and refused safely.
struct PluginInfo {
  std::uint32_t abiVersion;               ///< kAbiVersion of the SDK the plugin was built with
  PluginKind kind;                        ///< what it provides
  const char* name;                       ///< the `type:` that selects it, unique per kind ("smtp")
  const char* description;                ///< one line for `commsvc plugins`
  const OptionSpec* options;              ///< its YAML options
  std::size_t optionCount;                ///< number of entries in `options`
  HandlerFactory createHandler;           ///< set when kind == Handler
  ChannelFactory createChannel;           ///< set when kind == Channel
  PublisherFactory createPublisher;       ///< set when kind == Publisher
  const Migration* migrations = nullptr;  ///< schema changes, in version order
  std::size_t migrationCount = 0;         ///< number of entries in `migrations`
};

/// The descriptor of a handler plugin, for
///   extern "C" BOOST_SYMBOL_EXPORT const commsvc::PluginInfo commsvc_plugin =
///       commsvc::handlerPlugin("email", "sends email", kOptions, &create, kMigrations);
constexpr PluginInfo handlerPlugin(const char* name, const char* description,
                                   std::span<const OptionSpec> options, HandlerFactory create,
                                   std::span<const Migration> migrations = {}) {
  return {kAbiVersion,
          PluginKind::Handler,
          name,
          description,
          options.data(),
          options.size(),
          create,
          nullptr,
          nullptr,
          migrations.data(),
          migrations.size()};
}

/// The descriptor of a channel plugin (see handlerPlugin).
constexpr PluginInfo channelPlugin(const char* name, const char* description,
                                   std::span<const OptionSpec> options, ChannelFactory create,
                                   std::span<const Migration> migrations = {}) {
  return {kAbiVersion,
          PluginKind::Channel,
          name,
          description,
          options.data(),
          options.size(),
          nullptr,
          create,
          nullptr,
          migrations.data(),
          migrations.size()};
}

/// The descriptor of a publisher plugin (see handlerPlugin).
constexpr PluginInfo publisherPlugin(const char* name, const char* description,
                                     std::span<const OptionSpec> options, PublisherFactory create,
                                     std::span<const Migration> migrations = {}) {
  return {kAbiVersion,
          PluginKind::Publisher,
          name,
          description,
          options.data(),
          options.size(),
          nullptr,
          nullptr,
          create,
          migrations.data(),
          migrations.size()};
}

}  // namespace commsvc
