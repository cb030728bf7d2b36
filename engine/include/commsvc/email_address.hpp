#pragma once

#include <string_view>

namespace commsvc {

/// True when `address` is a mailbox address every part of the service can
/// carry as it is: local@domain with one '@', both sides non-empty, printable
/// ASCII without spaces, quotes, '<', '>', ',' or ';', at most 254 octets.
/// The HTTP API accepts exactly what the SMTP channel will send, so an
/// email is never accepted and then refused at sending time.
inline bool isMailboxAddress(std::string_view address) {
  if (address.empty() || address.size() > 254) return false;
  const auto at = address.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size() ||
      address.find('@', at + 1) != std::string_view::npos) {
    return false;
  }
  for (const char c : address) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7F || c == '<' || c == '>' || c == ',' || c == ';' || c == '"') {
      return false;
    }
  }
  return true;
}

}  // namespace commsvc
