// fileSha256 (engine/src/app/file_sha256): the configuration's hash on
// /readyz, checked against the FIPS 180-2 test vectors.

#include "app/file_sha256.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace commsvc::app {
namespace {

class FileSha256Test : public ::testing::Test {
 protected:
  std::string write(const std::string& bytes) {
    std::ofstream(path_, std::ios::binary) << bytes;
    return path_.string();
  }
  void TearDown() override { std::filesystem::remove(path_); }

  std::filesystem::path path_ = std::filesystem::temp_directory_path() /
                                ("file_sha256_test_" + std::to_string(::getpid()) + "_" +
                                 ::testing::UnitTest::GetInstance()->current_test_info()->name());
};

TEST_F(FileSha256Test, KnownVectors) {
  EXPECT_EQ(fileSha256(write("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(fileSha256(write("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(fileSha256(write("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_F(FileSha256Test, AFileLongerThanOneReadChunk) {
  // One million 'a': read in several chunks, hashed as one message.
  EXPECT_EQ(fileSha256(write(std::string(1000000, 'a'))),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_F(FileSha256Test, AnUnreadableFileHasNoHash) {
  EXPECT_EQ(fileSha256((path_ / "missing").string()), "");
  EXPECT_EQ(fileSha256(std::filesystem::temp_directory_path().string()), "");
}

}  // namespace
}  // namespace commsvc::app
