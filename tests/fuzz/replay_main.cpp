// Replays fuzz inputs without libFuzzer: the same LLVMFuzzerTestOneInput,
// linked with this main in ordinary (GCC) builds and registered with ctest.
//
//   <target>_fuzz [--max-seconds=S] DIR_OR_FILE...
//
// Runs every regular file of each directory (sorted, not recursive) and each
// file given, once. A missing directory counts as empty (tests/fuzz/crashes/
// <target>/ exists only once something was found). Fails (exit 1) when an
// input takes longer than S seconds (default 10; slow inputs are findings
// too); a crash or an invariant failure aborts the process as under
// libFuzzer. Arguments starting with '-' other than --max-seconds are
// ignored, so libFuzzer-style command lines work.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

std::vector<char> readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

int main(int argc, char** argv) {
  double maxSeconds = 10;
  std::vector<std::filesystem::path> inputs;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--max-seconds=", 0) == 0) {
      maxSeconds = std::atof(arg.c_str() + 14);
      continue;
    }
    if (!arg.empty() && arg[0] == '-') continue;
    const std::filesystem::path path(arg);
    std::error_code error;
    if (std::filesystem::is_directory(path, error)) {
      std::vector<std::filesystem::path> files;
      for (const auto& entry : std::filesystem::directory_iterator(path)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
      std::sort(files.begin(), files.end());
      inputs.insert(inputs.end(), files.begin(), files.end());
    } else if (std::filesystem::is_regular_file(path, error)) {
      inputs.push_back(path);
    } else {
      std::printf("replay: %s does not exist (no inputs)\n", arg.c_str());
    }
  }

  int slow = 0;
  double slowest = 0;
  std::string slowestName;
  for (const auto& path : inputs) {
    const std::vector<char> bytes = readFile(path);
    const auto start = std::chrono::steady_clock::now();
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (seconds > slowest) {
      slowest = seconds;
      slowestName = path.filename().string();
    }
    if (seconds > maxSeconds) {
      std::printf("replay: SLOW %s: %.3f s (limit %.3f s)\n", path.string().c_str(), seconds,
                  maxSeconds);
      ++slow;
    }
  }
  std::printf("replay: %zu inputs run, slowest %.3f s (%s), %d over %.1f s\n", inputs.size(),
              slowest, slowestName.c_str(), slow, maxSeconds);
  return slow == 0 ? 0 : 1;
}
