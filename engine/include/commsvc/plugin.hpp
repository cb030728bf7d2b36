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

// libpqxx's version macros only (no library symbol is referenced): recorded
// in every descriptor when the plugin is built where libpqxx is available.
#if __has_include(<pqxx/version>)
#include <pqxx/version>
#endif

namespace commsvc {

/// Version of the plugin ABI: the layout of PluginInfo and of every SDK
/// interface. Raised on any incompatible change; the loader refuses
/// plugins built for another version.
inline constexpr std::uint32_t kAbiVersion = 7;

/// What a plugin and the engine must share beyond the SDK's own layout
/// (kAbiVersion): the C++ standard library's ABI, and the major version of
/// every third-party library whose types appear in SDK headers. Of those
/// there is one: libpqxx (pqxx::work in database.hpp and outbox.hpp).
/// No nlohmann or Boost type appears in an SDK header (plugins use
/// BOOST_SYMBOL_EXPORT, a macro, only). Each descriptor records the values
/// it was compiled with (kBuildAbi, filled in by handlerPlugin & co.); the
/// loader refuses a plugin whose values differ from the engine's, naming
/// both ("built with libpqxx 7, this engine has 6").
struct BuildAbi {
  /// The C++ standard library: 1 = libstdc++, 2 = libc++, 0 = another.
  /// Must match: std::string, std::function, std::vector cross the boundary.
  std::uint32_t stdlib;
  /// libstdc++'s dual ABI, _GLIBCXX_USE_CXX11_ABI (0 = the pre-C++11
  /// copy-on-write std::string and std::list); 0 for other libraries.
  /// Must match.
  std::uint32_t stdlibCxx11Abi;
  /// The Itanium C++ ABI revision, __GXX_ABI_VERSION (e.g. 1017 for GCC 12;
  /// Clang reports 1002), 0 when undefined. Only the major revision
  /// (value / 1000) must match: minor revisions change the mangling of rare
  /// constructs, never the layout of what crosses the boundary (the only
  /// symbol looked up is the extern "C" descriptor).
  std::uint32_t cxxAbiVersion;
  /// PQXX_VERSION_MAJOR of the libpqxx headers the plugin saw, 0 when it was
  /// built without them (it then cannot use Database or Outbox). When not 0
  /// it must match the engine's.
  std::uint32_t pqxxMajor;
};

/// The BuildAbi of the code being compiled (the plugin's, in a plugin; the
/// engine's, in the engine).
inline constexpr BuildAbi kBuildAbi = {
#if defined(_LIBCPP_VERSION)
    2,
#elif defined(__GLIBCXX__) || defined(__GLIBCPP__)
    1,
#else
    0,
#endif
#if defined(_GLIBCXX_USE_CXX11_ABI)
    static_cast<std::uint32_t>(_GLIBCXX_USE_CXX11_ABI),
#else
    0,
#endif
#if defined(__GXX_ABI_VERSION)
    static_cast<std::uint32_t>(__GXX_ABI_VERSION),
#else
    0,
#endif
#if defined(PQXX_VERSION_MAJOR)
    static_cast<std::uint32_t>(PQXX_VERSION_MAJOR),
#else
    0,
#endif
};

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
/// any version can be read and refused safely; the loader reads the rest
/// (from `build` on) only when it equals kAbiVersion.
struct PluginInfo {
  std::uint32_t abiVersion;               ///< kAbiVersion of the SDK the plugin was built with
  BuildAbi build;                         ///< kBuildAbi where the plugin was built
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
  return {.abiVersion = kAbiVersion,
          .build = kBuildAbi,
          .kind = PluginKind::Handler,
          .name = name,
          .description = description,
          .options = options.data(),
          .optionCount = options.size(),
          .createHandler = create,
          .createChannel = nullptr,
          .createPublisher = nullptr,
          .migrations = migrations.data(),
          .migrationCount = migrations.size()};
}

/// The descriptor of a channel plugin (see handlerPlugin).
constexpr PluginInfo channelPlugin(const char* name, const char* description,
                                   std::span<const OptionSpec> options, ChannelFactory create,
                                   std::span<const Migration> migrations = {}) {
  return {.abiVersion = kAbiVersion,
          .build = kBuildAbi,
          .kind = PluginKind::Channel,
          .name = name,
          .description = description,
          .options = options.data(),
          .optionCount = options.size(),
          .createHandler = nullptr,
          .createChannel = create,
          .createPublisher = nullptr,
          .migrations = migrations.data(),
          .migrationCount = migrations.size()};
}

/// The descriptor of a publisher plugin (see handlerPlugin).
constexpr PluginInfo publisherPlugin(const char* name, const char* description,
                                     std::span<const OptionSpec> options, PublisherFactory create,
                                     std::span<const Migration> migrations = {}) {
  return {.abiVersion = kAbiVersion,
          .build = kBuildAbi,
          .kind = PluginKind::Publisher,
          .name = name,
          .description = description,
          .options = options.data(),
          .optionCount = options.size(),
          .createHandler = nullptr,
          .createChannel = nullptr,
          .createPublisher = create,
          .migrations = migrations.data(),
          .migrationCount = migrations.size()};
}

}  // namespace commsvc
