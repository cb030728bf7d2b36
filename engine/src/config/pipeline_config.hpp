#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "commsvc/config.hpp"
#include "config/settings.hpp"

// Loading and validation of pipelines.yaml.
//
// Line numbers: yaml-cpp's YAML::Clone drops marks (every cloned node reports
// line 0), so variables are NOT expanded into a new tree. parsePipeline()
// parses the document once and rewrites every scalar value (never a key) in
// place with its expanded text; node marks survive that assignment. Every
// PluginBlock::node is therefore a node of the original document: it already
// holds expanded values AND still knows the line/column of each key and
// value, so the engine's later validateBlock() call with the plugin's own
// OptionSpecs reports problems at the right place. validateBlock() itself
// never expands variables.

namespace commsvc::config {

/// One problem found in a configuration file, with its place.
struct Problem {
  std::string file;     ///< the configuration file, as given to the loader
  int line = 0;         ///< 1-based; 0 when unknown
  int column = 0;       ///< 1-based; 0 when unknown
  std::string path;     ///< dotted place in the document, e.g. "channels.smtp.port"
  std::string message;  ///< what is wrong, e.g. "unknown key 'hots' (valid keys: host, port, tls)"

  /// "file:line:column: path: message". A part that is unknown (line or
  /// column 0, empty path) is left out together with its separator.
  std::string toString() const;
};

/// Thrown when a configuration has problems; carries all of them.
/// what() lists every problem, one per line.
class ConfigErrors : public std::runtime_error {
 public:
  /// Takes the problems found (in the order they should be shown).
  explicit ConfigErrors(std::vector<Problem> problems);
  /// Every problem, e.g. for tests or structured output.
  const std::vector<Problem>& problems() const { return problems_; }

 private:
  std::vector<Problem> problems_;
};

/// Looks up an environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

/// The process environment (getenv).
EnvLookup processEnvironment();

/// Expands ${VAR} and ${VAR:-default} in `text`. An unset variable without
/// a default, or a malformed reference, sets `error` and returns "".
/// "$$" is a literal "$"; a "$" not followed by "{" or "$" is kept as is.
/// Shell semantics: ":-default" is used when VAR is unset OR empty;
/// ${VAR:-} gives "" for an unset VAR. The default may itself contain
/// references (${A:-${B:-x}}). `error` is cleared on success.
std::string expandVariables(std::string_view text, const EnvLookup& env, std::string& error);

/// Splits a colon-separated directory list ("a:b", as --plugin-dir and a
/// string engine.plugin_dir take it), dropping empty parts.
std::vector<std::string> splitPluginDirs(std::string_view list);

/// A block of pipelines.yaml that configures one plugin instance.
struct PluginBlock {
  std::string name;  ///< channel/publisher name, or "handlers[i]" for handlers
  std::string path;  ///< dotted path, e.g. "channels.smtp"
  std::string type;  ///< the plugin selected by `type:`
  int line = 0;      ///< where the block starts (1-based)
  int column = 0;    ///< column where the block starts (1-based)
  /// The block as a node of the parsed document: variables already expanded
  /// in place, marks kept, so validateBlock() can report the line of each key.
  YAML::Node node;
};

/// A `handlers:` entry.
struct HandlerEntry {
  PluginBlock block;
  std::string event;      ///< event type routed to this handler
  std::string channel;    ///< channel name, or empty
  std::string publisher;  ///< publisher name, or empty
};

/// The keys the engine itself reads in each kind of block (never passed to
/// plugin validation as unknown keys).
inline constexpr std::string_view kChannelEngineKeys[] = {"type"};
inline constexpr std::string_view kPublisherEngineKeys[] = {"type"};
inline constexpr std::string_view kHandlerEngineKeys[] = {"event", "type", "channel", "publisher"};

/// A parsed and structurally validated pipelines.yaml. Plugin blocks are
/// kept as YAML until the plugins' own option declarations are known.
struct PipelineConfig {
  std::string file;                  ///< the path it was read from
  std::vector<std::string> plugins;  ///< `plugins:` entries, in order
  /// `engine:`, `kafka:`, `database:` and `http:`, validated against
  /// engineOptions() ... httpOptions(); an option that is not written, or
  /// whose value was refused, has its default.
  Settings settings;
  std::vector<PluginBlock> channels;    ///< in file order
  std::vector<PluginBlock> publishers;  ///< in file order
  std::vector<HandlerEntry> handlers;   ///< in file order
};

/// Reads `path`, expands variables in every scalar, and checks everything
/// that does not depend on plugins: YAML syntax (line of the error), the
/// top-level keys, the engine sections, that each plugin block has a `type`,
/// that handlers name existing channels/publishers, no event type twice.
/// Throws ConfigErrors with every problem found; std::runtime_error when the
/// file cannot be read.
PipelineConfig loadPipeline(const std::string& path, const EnvLookup& env = processEnvironment());

/// Same, from text; `file` is used in messages.
PipelineConfig parsePipeline(const std::string& text, const std::string& file,
                             const EnvLookup& env = processEnvironment());

/// Like loadPipeline, but appends the problems to `problems` instead of
/// throwing, and returns what could be read (invalid values keep their
/// defaults), so later checks (plugin options) can report theirs in the
/// same run. Still throws ConfigErrors when the file is not YAML or its top
/// level is not a mapping, and std::runtime_error when it cannot be read.
PipelineConfig loadPipeline(const std::string& path, const EnvLookup& env,
                            std::vector<Problem>& problems);

/// Like parsePipeline, collecting problems as the loadPipeline overload does.
PipelineConfig parsePipeline(const std::string& text, const std::string& file, const EnvLookup& env,
                             std::vector<Problem>& problems);

/// The choices of `spec`, comma-separated, as messages and `plugins` show them.
std::string choiceNames(const OptionSpec& spec);

/// Orders problems by line and column (stable).
void sortProblems(std::vector<Problem>& problems);

/// Validates `node` (a mapping) against `options`: unknown keys (with the
/// list of valid keys), duplicate keys, missing required keys, wrong types,
/// out-of-range integers, values outside `choices`. Keys in `engineKeys` are
/// skipped. A null/undefined node is an empty block (defaults only).
/// Appends problems to `problems` (with `file`, the line of the offending key
/// or value, and `path` / `path.key`) and returns the values, defaults filled
/// in, as a Config whose where() is "file:line" of the block. Default texts
/// are converted to the declared type; for StringMap "k=v,k2=v2" and for
/// StringList "a,b" ("" = empty). Does not expand variables (the node is
/// expected to come from parsePipeline(), which already did). Never throws
/// for bad input; an option whose value is wrong keeps its default (a
/// required one is left out), so use the Config only when no problem was added.
Config validateBlock(const YAML::Node& node, std::span<const OptionSpec> options,
                     std::span<const std::string_view> engineKeys, const std::string& file,
                     const std::string& path, std::vector<Problem>& problems);

}  // namespace commsvc::config
