#pragma once

#include <string>
#include <vector>

#include "commsvc/config.hpp"
#include "config/pipeline_config.hpp"
#include "plugin/registry.hpp"

namespace commsvc::app {

/// A pipelines.yaml that passed every check, with its plugins loaded and
/// every plugin block validated against the plugin's own options. Nothing
/// is instantiated and nothing touches the network.
struct ValidatedPipeline {
  config::PipelineConfig config;
  plugin::PluginRegistry registry;
  std::vector<Config> channelConfigs;    ///< parallel to config.channels
  std::vector<Config> publisherConfigs;  ///< parallel to config.publishers
  std::vector<Config> handlerConfigs;    ///< parallel to config.handlers
};

/// Reads and checks `path`: the file itself (config::loadPipeline), then
/// loads the plugins it lists from the binary's own plugin directory plus
/// engine.plugin_dir plus `pluginDirs` (resolvePluginDirs), then checks that each block's `type`
/// names a loaded plugin of the right kind and validates the block's options. Throws
/// config::ConfigErrors listing every problem found.
ValidatedPipeline validatePipeline(const std::string& path,
                                   const std::vector<std::string>& pluginDirs,
                                   const config::EnvLookup& env = config::processEnvironment());

/// The plugin directories for `config`: the binary's own, then
/// engine.plugin_dir (relative entries relative to the pipeline file), then
/// `extraDirs` (--plugin-dir), each once (plugin::pluginSearchPath). A plugin
/// name found in two of them is refused (plugin::requireUnambiguous).
std::vector<std::string> resolvePluginDirs(const config::PipelineConfig& config,
                                           const std::vector<std::string>& extraDirs);

}  // namespace commsvc::app
