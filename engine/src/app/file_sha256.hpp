#pragma once

#include <string>

namespace commsvc::app {

/// SHA-256 of the file at `path` as 64 lowercase hex digits (the
/// configuration's identity on /readyz and in reload answers); "" when the
/// file cannot be read. Computed with nettle, which needs no initialisation:
/// OpenSSL's EVP would load its provider tables (~2 MB of libcrypto pages in
/// every process's RSS) for this one hash.
std::string fileSha256(const std::string& path);

}  // namespace commsvc::app
