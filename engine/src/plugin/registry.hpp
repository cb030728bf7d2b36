#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "commsvc/plugin.hpp"

namespace boost::dll {
class shared_library;
}

namespace commsvc::plugin {

/// Thrown when a plugin library is refused; the message names the file.
class PluginError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A plugin library that passed the checks. The library stays loaded as
/// long as any copy of `library` lives: objects a plugin created must be
/// destroyed before the last copy goes.
struct LoadedPlugin {
  std::string file;                                     ///< path of the .so
  const PluginInfo* info = nullptr;                     ///< its descriptor
  std::shared_ptr<boost::dll::shared_library> library;  ///< keeps it loaded
};

/// Loaded plugin libraries, by kind and name.
class PluginRegistry {
 public:
  /// Loads plugin `name` (file `<name>.so`) from the first of `dirs` that
  /// has it. Throws PluginError when no directory has it, or when the
  /// library is refused (see loadFile).
  const LoadedPlugin& load(const std::string& name, const std::vector<std::string>& dirs);

  /// Loads one library. Refuses, naming the file: a library that does not
  /// load, no `commsvc_plugin` descriptor, another ABI version (both
  /// versions named), another build ABI (buildAbiMismatch), an unknown kind, a missing name or
  /// factory, and a kind+name already loaded from another file (both files named).
  const LoadedPlugin& loadFile(const std::string& path);

  /// The plugin of `kind` named `name`, or nullptr.
  const LoadedPlugin* find(PluginKind kind, std::string_view name) const;

  /// Names of loaded plugins of `kind`, sorted.
  std::vector<std::string> names(PluginKind kind) const;

  /// Every loaded plugin, in load order.
  const std::vector<LoadedPlugin>& plugins() const { return plugins_; }

 private:
  std::vector<LoadedPlugin> plugins_;
};

/// Why a plugin built with `plugin` cannot run in an engine built with
/// `engine`: each differing field named with both values ("built with
/// libpqxx 7, this engine has 6"), joined by "; ". Empty when compatible
/// (see BuildAbi for what must match).
std::string buildAbiMismatch(const BuildAbi& plugin, const BuildAbi& engine);

/// "handler", "channel" or "publisher".
std::string_view kindName(PluginKind kind);

}  // namespace commsvc::plugin
