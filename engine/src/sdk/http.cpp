#include "commsvc/http.hpp"

#include "commsvc/json.hpp"

namespace commsvc {

HttpResponse HttpResponse::error(int status, std::string_view message) {
  std::string body = "{\"message\":";
  appendJsonString(body, message);
  body += '}';
  return json(status, std::move(body));
}

}  // namespace commsvc
