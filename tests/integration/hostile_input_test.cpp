// A hostile-input battery over HTTP against the commsvc binary (email and
// phonecall plugins, a real PostgreSQL, a broker process): every request is
// answered 2xx or 4xx (never 5xx, never a dead connection), the process
// stays alive and the emails table keeps its rows.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <regex>
#include <sstream>

#include "../support/postgres.hpp"
#include "api_service.hpp"
#include "harness.hpp"

namespace commsvc::integration {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

/// One response read off a raw connection.
struct RawResponse {
  int status = 0;     ///< 0 when no complete response came
  std::string head;   ///< status line and headers
  std::string body;   ///< the body (Content-Length bytes)
  std::string error;  ///< why no complete response came
};

/// Writes `bytes` to a fresh connection to 127.0.0.1:`port` (stopping when
/// the server answers early, e.g. 413 before the whole body) and reads one
/// response, within `timeout` in all.
RawResponse roundTrip(int port, const std::string& bytes, std::chrono::seconds timeout = 30s) {
  RawResponse out;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return {0, "", "", std::string("socket: ") + std::strerror(errno)};
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    out.error = std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    return out;
  }
  const auto deadline = Clock::now() + timeout;
  const auto msLeft = [&] {
    return static_cast<int>(std::max<long long>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count()));
  };
  std::size_t sent = 0;
  std::string received;
  bool sawInput = false;
  while (sent < bytes.size() && !sawInput) {
    pollfd p{fd, POLLOUT | POLLIN, 0};
    if (::poll(&p, 1, msLeft()) <= 0) break;
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      sawInput = true;  // the server answered (or closed) before taking everything
      break;
    }
    const ssize_t n = ::send(fd, bytes.data() + sent,
                             std::min<std::size_t>(bytes.size() - sent, 65536), MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  // Read until a complete response (head + Content-Length body) or EOF.
  std::size_t headEnd = std::string::npos;
  std::size_t contentLength = 0;
  for (;;) {
    if (headEnd == std::string::npos) {
      headEnd = received.find("\r\n\r\n");
      if (headEnd != std::string::npos) {
        out.head = received.substr(0, headEnd);
        std::smatch m;
        static const std::regex length("\r\ncontent-length: *([0-9]+)", std::regex::icase);
        if (std::regex_search(out.head, m, length)) contentLength = std::stoul(m[1]);
      }
    }
    if (headEnd != std::string::npos && received.size() >= headEnd + 4 + contentLength) break;
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, msLeft());
    if (ready <= 0) {
      out.error = "no complete response within the timeout";
      break;
    }
    char chunk[65536];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) {
      out.error = n == 0 ? "connection closed without a complete response"
                         : std::string("recv: ") + std::strerror(errno);
      break;
    }
    received.append(chunk, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (headEnd == std::string::npos || received.size() < headEnd + 4 + contentLength) {
    if (out.error.empty()) out.error = "incomplete response";
    out.error += " (" + std::to_string(received.size()) + " bytes received, " +
                 std::to_string(sent) + " of " + std::to_string(bytes.size()) + " sent)";
    return out;
  }
  out.body = received.substr(headEnd + 4, contentLength);
  if (out.head.rfind("HTTP/1.", 0) == 0 && out.head.size() >= 12) {
    out.status = std::atoi(out.head.c_str() + 9);
  } else {
    out.error = "not an HTTP response: " + out.head.substr(0, 80);
  }
  return out;
}

/// A request with `body` (Content-Length set).
std::string request(const std::string& method, const std::string& target,
                    const std::string& body = "", const std::string& extraHeaders = "") {
  std::string out = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!body.empty() || method == "POST" || method == "PUT") {
    out +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  out += extraHeaders + "\r\n" + body;
  return out;
}

/// A POST /api/emails body with `field` set to `rawValue` (already JSON,
/// or raw bytes inside quotes), the other required fields valid.
std::string emailWith(const std::string& field, const std::string& rawValue) {
  json base = {{"betreff", "Test"},
               {"empfaenger_email", "t@example.org"},
               {"empfaenger_name", "Dr. T"},
               {"therapist_id", 11},
               {"inhalt_text", "Hallo"}};
  base.erase(field);
  std::string text = base.dump();
  text.pop_back();  // the closing brace
  return text + ",\"" + field + "\":" + rawValue + "}";
}

/// One hostile request and what it is.
struct Case {
  std::string name;
  std::string bytes;
};

std::vector<Case> battery() {
  std::vector<Case> cases;
  const auto add = [&](std::string name, std::string bytes) {
    cases.push_back({std::move(name), std::move(bytes)});
  };
  // Bodies that stress the HTML → text conversion.
  add("300 KB of '<' in inhalt_html", request("POST", "/api/emails",
                                              json({{"betreff", "x"},
                                                    {"empfaenger_email", "t@example.org"},
                                                    {"empfaenger_name", "T"},
                                                    {"therapist_id", 1},
                                                    {"inhalt_html", std::string(300 * 1024, '<')}})
                                                  .dump()));
  add("'<' then 300,000 'a' in inhalt_html (no inhalt_text)",
      request("POST", "/api/emails",
              json({{"betreff", "x"},
                    {"empfaenger_email", "t@example.org"},
                    {"empfaenger_name", "T"},
                    {"therapist_id", 1},
                    {"inhalt_html", "<" + std::string(300000, 'a')}})
                  .dump()));
  add("300 KB of '<' in inhalt_markdown",
      request("POST", "/api/emails",
              json({{"betreff", "x"},
                    {"empfaenger_email", "t@example.org"},
                    {"empfaenger_name", "T"},
                    {"therapist_id", 1},
                    {"inhalt_markdown", std::string(300 * 1024, '<')}})
                  .dump()));
  // Invalid UTF-8 and broken escapes in JSON strings.
  add("invalid UTF-8 in betreff",
      request("POST", "/api/emails", emailWith("betreff", "\"\xff\xfe\"")));
  add("invalid UTF-8 in empfaenger_name",
      request("POST", "/api/emails", emailWith("empfaenger_name", "\"M\xc3\x28ller\"")));
  add("invalid UTF-8 in inhalt_text",
      request("POST", "/api/emails", emailWith("inhalt_text", "\"\xed\xa0\x80 surrogate\"")));
  add("lone surrogate escape in betreff",
      request("POST", "/api/emails", emailWith("betreff", "\"\\ud800\"")));
  add("NUL escape in betreff",
      request("POST", "/api/emails", emailWith("betreff", "\"a\\u0000b\"")));
  add("invalid UTF-8 in a system message",
      request("POST", "/api/system-messages", "{\"subject\":\"\xc0\xaf\",\"message\":\"\xff\"}"));
  add("invalid UTF-8 in a phone call's notizen",
      request("POST", "/api/phone-calls", "{\"therapist_id\":3,\"notizen\":\"\xfe\xff\"}"));
  // Deep nesting.
  add("200,000 nested '[' (unclosed)", request("POST", "/api/emails", std::string(200000, '[')));
  add("200,000 nested '[' (closed)",
      request("POST", "/api/emails", std::string(200000, '[') + std::string(200000, ']')));
  add("200,000 nested '[' in a field",
      request("POST", "/api/emails",
              emailWith("betreff", std::string(200000, '[') + std::string(200000, ']'))));
  add("100,000 nested objects", request("POST", "/api/phone-calls", [] {
        std::string s;
        for (int i = 0; i < 100000; ++i) s += "{\"a\":";
        return s + "1" + std::string(100000, '}');
      }()));
  // CR/LF in header-like fields.
  add("CR/LF in betreff",
      request("POST", "/api/emails", emailWith("betreff", "\"Hi\\r\\nBcc: x@evil.example\"")));
  add("CR/LF in empfaenger_email",
      request("POST", "/api/emails",
              emailWith("empfaenger_email", "\"t@example.org\\r\\nBcc: x@evil.example\"")));
  add("CR/LF in absender_name",
      request("POST", "/api/emails", emailWith("absender_name", "\"A\\r\\nBcc: x@evil.example\"")));
  add("CR/LF in absender_email",
      request("POST", "/api/emails", emailWith("absender_email", "\"a@b.example\\nBcc: x@y\"")));
  add("CR/LF in a system message subject",
      request("POST", "/api/system-messages",
              R"({"subject":"S\r\nBcc: x@evil.example","message":"m","sender_name":"N\r\nX: y"})"));
  add("bare CR in an HTTP header value",
      "GET /api/emails HTTP/1.1\r\nHost: x\r\nX-Evil: a\rb\r\nConnection: close\r\n\r\n");
  add("bare LF line endings", "GET /api/emails HTTP/1.1\nHost: x\nConnection: close\n\n");
  add("header without a colon", "GET /api/emails HTTP/1.1\r\nHost x\r\nConnection: close\r\n\r\n");
  add("CR/LF encoded in the path", request("GET", "/api/emails/1%0D%0ASet-Cookie:%20x=1"));
  // Huge and odd numbers in queries.
  for (const std::string query :
       {"page=99999999999999999999999999", "page=9223372036854775807&limit=1000",
        "page=-9223372036854775808", "limit=99999999999999999999", "page=1e400", "limit=NaN",
        "page=%00", "therapist_id=99999999999999999999999", "therapist_id=1e400", "status=%FF%FE",
        "recipient_type=%FF", "geplantes_datum=%FF", "antwort_erhalten=%FF",
        "page=9223372036854775807&limit=9223372036854775807"}) {
    add("GET /api/emails?" + query, request("GET", "/api/emails?" + query));
    add("GET /api/phone-calls?" + query, request("GET", "/api/phone-calls?" + query));
  }
  // SQL and junk in path ids.
  for (const std::string id :
       {"1;DROP%20TABLE%20communication_service.emails", "1;DROP TABLE emails", "1'%20OR%20'1'='1",
        "1%3BDELETE%20FROM%20communication_service.emails", "99999999999999999999999", "-1", "0x10",
        "1e3", "%00", "%FF"}) {
    add("GET /api/emails/" + id, request("GET", "/api/emails/" + id));
    add("PUT /api/emails/" + id, request("PUT", "/api/emails/" + id, R"({"status":"Entwurf"})"));
    add("DELETE /api/emails/" + id, request("DELETE", "/api/emails/" + id));
    add("GET /api/phone-calls/" + id, request("GET", "/api/phone-calls/" + id));
    add("DELETE /api/phone-calls/" + id, request("DELETE", "/api/phone-calls/" + id));
  }
  // Sizes.
  add("a 1.5 MiB body", request("POST", "/api/emails",
                                emailWith("betreff", "\"" + std::string(1536 * 1024, 'x') + "\"")));
  add("a chunked body over 1 MiB", [] {
    std::string s =
        "POST /api/emails HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: application/json\r\nConnection: close\r\n\r\n";
    for (int i = 0; i < 20; ++i) s += "10000\r\n" + std::string(0x10000, ' ') + "\r\n";
    return s + "0\r\n\r\n";
  }());
  add("a 100 KB request target", request("GET", "/api/emails?x=" + std::string(100 * 1024, 'a')));
  add("a 100 KB header",
      request("GET", "/api/emails", "", "X-Big: " + std::string(100 * 1024, 'h') + "\r\n"));
  // Garbage request lines.
  add("garbage request line", "GARBAGE\r\n\r\n");
  add("binary request line", std::string("\x00\x01\x02\x03\xff\r\n\r\n", 9));
  add("method only", "GET\r\n\r\n");
  add("too many spaces", "GET  /api/emails  HTTP/1.1\r\nHost: x\r\n\r\n");
  add("unknown HTTP version", "GET /api/emails HTTP/7.3\r\nHost: x\r\n\r\n");
  add("TLS client hello",
      std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + "garbage\r\n\r\n");
  add("absolute-form target", request("GET", "http://evil.example/api/emails"));
  add("path traversal", request("GET", "/api/../../etc/passwd"));
  add("unknown method", request("BREW", "/api/emails"));
  add("negative Content-Length",
      "POST /api/emails HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n");
  add("two Content-Lengths",
      "POST /api/emails HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}");
  add("body not JSON", request("POST", "/api/emails", "\xff\xfe\x00\x01"));
  add("JSON array body", request("POST", "/api/emails", "[1,2,3]"));
  add("wrong types everywhere",
      request(
          "POST", "/api/emails",
          R"({"betreff":{},"empfaenger_email":[],"empfaenger_name":1.5,"therapist_id":"x","inhalt_text":true})"));
  add("huge therapist_id", request("POST", "/api/emails", emailWith("therapist_id", "1e400")));
  add("therapist_id past int64",
      request("POST", "/api/emails", emailWith("therapist_id", "99999999999999999999")));
  add("antwortdatum +99:99",
      request("PUT", "/api/emails/1", R"({"antwortdatum":"2026-01-01T10:00:00+99:99"})"));
  add("phone call date year 99999",
      request("POST", "/api/phone-calls", R"({"therapist_id":3,"geplantes_datum":"99999-01-01"})"));
  add("phone call time 25:61",
      request("POST", "/api/phone-calls", R"({"therapist_id":3,"geplante_zeit":"25:61"})"));
  return cases;
}

TEST(HostileInput, EveryRequestIsAnswered2xxOr4xxAndNothingIsLost) {
  ApiService service(
      {.name = "hostile", .mockChannel = true, .partitions = 1, .bodyLimitBytes = std::nullopt});
  // Rows that must survive the battery.
  std::vector<std::pair<long, std::string>> kept;
  for (int i = 0; i < 3; ++i) {
    const std::string subject = "Bleibt " + std::to_string(i);
    const auto r = roundTrip(service.port_, request("POST", "/api/emails",
                                                    json({{"betreff", subject},
                                                          {"empfaenger_email", "p@example.org"},
                                                          {"empfaenger_name", "P"},
                                                          {"patient_id", 7},
                                                          {"inhalt_text", "Hallo"}})
                                                        .dump()));
    ASSERT_EQ(r.status, 201) << r.error << r.head << r.body;
    kept.emplace_back(json::parse(r.body).at("id").get<long>(), subject);
  }

  std::vector<std::string> failures;
  for (const auto& c : battery()) {
    const auto r = roundTrip(service.port_, c.bytes);
    if (std::getenv("HOSTILE_VERBOSE") != nullptr) {
      std::cerr << c.name.substr(0, 100) << " -> " << r.status << " " << r.body.substr(0, 120)
                << r.error << "\n";
    }
    if (r.status == 0) {
      failures.push_back(c.name + ": no response: " + r.error);
    } else if (r.status < 200 || r.status >= 500) {
      failures.push_back(c.name + ": " + std::to_string(r.status) + " " + r.body.substr(0, 200));
    }
    if (!service.alive()) {
      failures.push_back(c.name + ": THE PROCESS DIED; log tail: " +
                         service.log().substr(service.log().size() -
                                              std::min<std::size_t>(2000, service.log().size())));
      break;
    }
  }
  std::string report;
  for (const auto& f : failures) report += "\n  " + f;
  if (!failures.empty()) {  // the causes, as the service logged them
    std::istringstream log(service.log());
    std::string line;
    while (std::getline(log, line)) {
      if (line.find("http handler threw") != std::string::npos) report += "\n  log: " + line;
    }
  }
  EXPECT_TRUE(failures.empty()) << failures.size()
                                << " hostile requests not answered 2xx/4xx:" << report;

  ASSERT_TRUE(service.alive()) << "the process died";
  const auto livez = roundTrip(service.port_, request("GET", "/livez"));
  EXPECT_EQ(livez.status, 200) << livez.error;
  for (const auto& [id, subject] : kept) {
    const auto r = roundTrip(service.port_, request("GET", "/api/emails/" + std::to_string(id)));
    ASSERT_EQ(r.status, 200) << "email " << id << " lost: " << r.error << r.body;
    EXPECT_EQ(json::parse(r.body).at("betreff"), subject);
  }
  pqxx::connection c(service.postgres_.url());
  pqxx::work tx(c);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM communication_service.emails "
                     "WHERE betreff LIKE 'Bleibt %'")[0]
                .as<long>(),
            3);
}

}  // namespace
}  // namespace commsvc::integration
