#include "app/file_sha256.hpp"

#include <nettle/sha2.h>

#include <cstdint>
#include <fstream>

namespace commsvc::app {

std::string fileSha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  sha256_ctx context;
  sha256_init(&context);
  char chunk[16384];
  while (in) {
    in.read(chunk, sizeof chunk);
    const auto got = static_cast<std::size_t>(in.gcount());
    sha256_update(&context, got, reinterpret_cast<const std::uint8_t*>(chunk));
  }
  if (in.bad()) return "";
  std::uint8_t digest[SHA256_DIGEST_SIZE];
  sha256_digest(&context, sizeof digest, digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * sizeof digest);
  for (const std::uint8_t byte : digest) {
    hex += kHex[byte >> 4];
    hex += kHex[byte & 0x0f];
  }
  return hex;
}

}  // namespace commsvc::app
