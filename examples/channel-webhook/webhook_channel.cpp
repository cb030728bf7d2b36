// The `example-webhook` channel (one POST per message): logic, options and descriptor.
#include "webhook_channel.hpp"

#include <curl/curl.h>

#include <boost/config.hpp>
#include <nlohmann/json.hpp>

namespace example::webhook {

std::string toJson(const commsvc::Message& m) {
  return nlohmann::json{{"id", m.id},          {"from", m.fromAddress}, {"to", m.toAddress},
                        {"to_name", m.toName}, {"subject", m.subject},  {"text", m.textBody},
                        {"html", m.htmlBody}}
      .dump();
}

commsvc::DeliveryResult classify(int curlError, long status, const std::string& detail) {
  if (curlError != 0) return commsvc::DeliveryResult::transient(detail);
  if (status >= 200 && status < 300) return commsvc::DeliveryResult::delivered();
  const auto why = "HTTP " + std::to_string(status);
  if (status >= 500) return commsvc::DeliveryResult::transient(why);
  return commsvc::DeliveryResult::permanent(why);
}

class WebhookChannel : public commsvc::Channel {
 public:
  WebhookChannel(const Settings& settings, commsvc::Context& context)
      : settings_(settings),
        failures_(context.metrics().counter("example_webhook_failures_total",
                                            "webhook requests that did not deliver")) {}

  commsvc::DeliveryResult deliver(const commsvc::Message& message) override {
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
    std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(
        curl_slist_append(nullptr, "Content-Type: application/json"), &curl_slist_free_all);
    curl_easy_setopt(curl.get(), CURLOPT_URL, settings_.url.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(curl.get(), CURLOPT_COPYPOSTFIELDS, toJson(message).c_str());
    curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(settings_.timeout.count()));
    curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
    auto discard = +[](char*, size_t, size_t n, void*) { return n; };  // reply body unused
    curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, discard);
    const CURLcode code = curl_easy_perform(curl.get());
    long status = 0;
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
    auto result = classify(code, status, curl_easy_strerror(code));
    if (!result.ok()) failures_.add(1);
    return result;
  }

 private:
  const Settings settings_;
  commsvc::Counter& failures_;
};

using Option = commsvc::Option<Settings>;
constexpr auto kOptions = commsvc::optionList(
    Option::field<&Settings::url>("url", "where each message is POSTed as JSON").required(),
    Option::field<&Settings::timeout>("timeout_ms", "request timeout").range(1, 600000));

std::unique_ptr<commsvc::Channel> create(const Settings& settings, commsvc::Context& context) {
  [[maybe_unused]] static const CURLcode init = curl_global_init(CURL_GLOBAL_DEFAULT);
  return std::make_unique<WebhookChannel>(settings, context);
}

}  // namespace example::webhook

/// The plugin descriptor the engine loads (`plugins: [example-webhook]`).
extern "C" BOOST_SYMBOL_EXPORT const commsvc::PluginInfo commsvc_plugin =
    commsvc::channelPlugin<example::webhook::kOptions, &example::webhook::create>(
        "example-webhook", "POSTs each message as JSON to a URL");
