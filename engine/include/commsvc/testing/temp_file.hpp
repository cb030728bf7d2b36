#pragma once

// A temporary file path for plugin tests that write files (header-only).

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

namespace commsvc::testing {

/// A unique path in the temp directory, removed when destroyed.
class TempFile {
 public:
  /// Picks a fresh path named after `stem`; the file is not created.
  explicit TempFile(const std::string& stem) {
    static std::atomic<int> sequence{0};
    path_ = std::filesystem::temp_directory_path() /
            (stem + "-" + std::to_string(::getpid()) + "-" + std::to_string(sequence++) + ".jsonl");
    std::filesystem::remove(path_);
  }
  /// Removes the file.
  ~TempFile() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  /// The path as text.
  std::string path() const { return path_.string(); }
  /// The file's lines (without newlines); empty when it does not exist.
  std::vector<std::string> lines() const {
    std::ifstream in(path_, std::ios::binary);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
  /// The whole file content.
  std::string content() const {
    std::ifstream in(path_, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

 private:
  std::filesystem::path path_;
};

}  // namespace commsvc::testing
