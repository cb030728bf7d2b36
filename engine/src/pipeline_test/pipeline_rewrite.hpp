#pragma once

// The copy of a pipeline file a test case runs: everything that would reach
// outside the process replaced, everything else as written.

#include <map>
#include <string>
#include <vector>

#include "config/pipeline_config.hpp"

namespace commsvc::pipeline_test {

/// What to change in the pipeline for a test case.
struct RewriteOptions {
  std::string workDir;  ///< the case's temporary directory (recordings, bootstrap file)
  /// Channel and publisher names kept as written; every other one becomes a
  /// recording `mock` block.
  std::vector<std::string> real;
  int partitions = 1;  ///< kafka.embedded_partitions
  /// When set, database.url becomes this; otherwise it is emptied, unless
  /// `keepDatabase`.
  std::string databaseUrl;
  bool keepDatabase = false;  ///< keep the pipeline's own `database:` block
};

/// The rewritten pipeline and where its recordings go.
struct RewrittenPipeline {
  std::string text;                                   ///< the YAML to validate and run
  std::map<std::string, std::string> channelFiles;    ///< recorded channel -> its JSON-lines file
  std::map<std::string, std::string> publisherFiles;  ///< recorded publisher -> its file
};

/// Rewrites the pipeline at `path` for a test: kafka.brokers `embedded`
/// (bootstrap_file in workDir, `partitions` partitions, the security,
/// SASL and SSL properties dropped); http on 127.0.0.1, port 0;
/// database.url as `options` say; each channel not in `real` becomes
/// `{type: mock, file: workDir/channel-<n>.jsonl}` and each such publisher
/// `{type: mock, file: workDir/publisher-<n>.jsonl}`; transport-mock and
/// publisher-mock are added to `plugins:` when missing; relative
/// engine.plugin_dir entries are made absolute (relative to `path`).
/// Values inserted are escaped against ${VAR} expansion. Throws
/// std::runtime_error when the file cannot be read or is not a YAML mapping.
RewrittenPipeline rewritePipeline(const std::string& path, const RewriteOptions& options);

/// Maps a problem found in the rewritten copy (`rewrittenFile`) back to the
/// original pipeline file `originalFile`: its dotted path (e.g.
/// "handlers[0].channel") is looked up there and the line and column of the
/// deepest node found are used. Problems about other files are returned
/// unchanged.
config::Problem mapProblem(const config::Problem& problem, const std::string& rewrittenFile,
                           const std::string& originalFile);

}  // namespace commsvc::pipeline_test
