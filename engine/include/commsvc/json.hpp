#pragma once

#include <string>
#include <string_view>

namespace commsvc {

/// Appends `text` to `out` as a JSON string literal: quoted, with '"', '\\'
/// and control characters escaped (\n, \r, \t, else \u00XX). Bytes >= 0x80
/// are copied as they are, so valid UTF-8 in gives valid JSON out. Throws
/// only std::bad_alloc.
void appendJsonString(std::string& out, std::string_view text);

}  // namespace commsvc
