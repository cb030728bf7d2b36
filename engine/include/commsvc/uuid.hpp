#pragma once

#include <string>

namespace commsvc {

/// A fresh random uuid4 (RFC 4122) in its canonical 36-character lowercase
/// text form. Thread-safe (one generator per thread, seeded from
/// std::random_device); not for secrets. Throws only std::bad_alloc.
std::string newUuid4();

}  // namespace commsvc
