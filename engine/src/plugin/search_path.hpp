#pragma once

#include <string>
#include <string_view>
#include <vector>

// Where plugins are looked for: the binary's own plugin directory, then the
// directories a pipeline (engine.plugin_dir) or the command line
// (--plugin-dir) add to it.

namespace commsvc::plugin {

/// The binary's own plugin directory: COMMSVC_PLUGIN_DIR_FROM_BINARY (the
/// configured <libdir>/commsvc/plugins relative to <bindir>) resolved
/// against the running binary's directory; the same in the build tree and
/// under any install prefix.
std::string builtinPluginDir();

/// builtinPluginDir() followed by `extra` in order, each directory once
/// (compared after making it absolute and normal).
std::vector<std::string> pluginSearchPath(const std::vector<std::string>& extra);

/// Every `<name>.so` found in `dirs`, in directory order.
std::vector<std::string> findPluginFiles(std::string_view name,
                                         const std::vector<std::string>& dirs);

/// Throws PluginError naming both files when `<name>.so` exists in more than
/// one of `dirs`: a plugin name must be unambiguous, never shadowed by
/// directory order.
void requireUnambiguous(std::string_view name, const std::vector<std::string>& dirs);

}  // namespace commsvc::plugin
