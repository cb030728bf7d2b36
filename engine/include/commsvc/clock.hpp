#pragma once

#include <string>

namespace commsvc {

/// The current UTC time as ISO 8601 with microseconds and "+00:00", e.g.
/// "2024-05-01T12:00:00.123456+00:00" (the envelope's timestamp format).
/// Thread-safe. Throws only std::bad_alloc.
std::string nowIso8601();

}  // namespace commsvc
