// Fuzz target: the pipelines.yaml loader (engine/src/config/
// pipeline_config.hpp): YAML parsing, ${VAR} expansion in place, structural
// validation of every section, as `commsvc validate` and `commsvc run` do.
// The input is the file's text. The environment is fixed: variables whose
// name starts with 'U' are unset, with 'E' empty, others are "8004".
//
// Oracles: parsePipeline throws nothing but ConfigErrors; every problem
// has a message; expandVariables either succeeds or says why.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/pipeline_config.hpp"
#include "fuzz_support.hpp"

namespace {

using commsvc::fuzz::fail;
namespace config = commsvc::config;

std::optional<std::string> lookup(std::string_view name) {
  if (!name.empty() && name.front() == 'U') return std::nullopt;
  if (!name.empty() && name.front() == 'E') return std::string();
  return std::string("8004");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(commsvc::fuzz::asText(data, size));
  const config::EnvLookup env = lookup;

  std::string error;
  const std::string expanded = config::expandVariables(text, env, error);
  if (!error.empty() && !expanded.empty()) fail("pipeline_config", "error with a value");

  std::vector<config::Problem> problems;
  try {
    const config::PipelineConfig parsed = config::parsePipeline(text, "fuzz.yaml", env, problems);
    (void)parsed;
  } catch (const config::ConfigErrors& errors) {
    if (errors.problems().empty()) fail("pipeline_config", "ConfigErrors without problems");
    problems.insert(problems.end(), errors.problems().begin(), errors.problems().end());
  }
  config::sortProblems(problems);
  for (const config::Problem& problem : problems) {
    if (problem.message.empty()) fail("pipeline_config", "problem without a message");
    (void)problem.toString();
  }
  return 0;
}
