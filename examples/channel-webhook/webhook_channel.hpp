#pragma once

#include <memory>
#include <string>

#include "commsvc/plugin.hpp"

namespace example::webhook {

/// The block's options (declared in webhook_channel.cpp); defaults here.
struct Settings {
  std::string url;                          ///< where each message is POSTed (required)
  std::chrono::milliseconds timeout{5000};  ///< request timeout
};

/// The JSON body POSTed for `message`.
std::string toJson(const commsvc::Message& message);

/// The outcome of a request, `curlError` (0 = none; else `detail` says why) or the
/// HTTP `status`: 2xx delivered; network errors and 5xx transient; else permanent.
commsvc::DeliveryResult classify(int curlError, long status, const std::string& detail);

/// The plugin's factory: a channel POSTing each message as JSON (toJson) to
/// `settings.url`, one request per message; deliver() never throws.
std::unique_ptr<commsvc::Channel> create(const Settings& settings, commsvc::Context& context);

}  // namespace example::webhook
