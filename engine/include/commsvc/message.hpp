#pragma once

#include <string>

namespace commsvc {

/// A message for a channel to deliver: an email today, an SMS or push
/// notification tomorrow. Channels use the fields that apply to them.
struct Message {
  std::string id;  ///< caller's id for logs, e.g. the email id.
  /// Identity of this message, the same on every attempt to send it (e.g.
  /// "email-42.<per-database token>"); channels that can carry one use it
  /// (SMTP: the Message-ID), so a resend is recognisable downstream. Empty:
  /// the channel makes a fresh one per attempt.
  std::string stableId;
  std::string fromAddress;  ///< sender address; empty means channel default.
  std::string fromName;     ///< sender display name; may be empty.
  std::string toAddress;    ///< recipient address (email, phone number, ...).
  std::string toName;       ///< recipient display name; may be empty.
  std::string subject;      ///< subject line; may be empty for channels without one.
  std::string textBody;     ///< plain-text body (UTF-8).
  std::string htmlBody;     ///< HTML body (UTF-8); may be empty.
};

}  // namespace commsvc
