#include "database/broken_connection_fix.hpp"

#include <dlfcn.h>
#include <libpq-fe.h>

#include <atomic>

// Exported by libpq (its encoding-name lookup), not declared in libpq-fe.h.
extern "C" int pg_char_to_encoding(const char* name);

namespace {

using ClientEncodingFn = int (*)(const PGconn*);

std::atomic<std::size_t> rescued{0};

// libpq's own PQclientEncoding: the next definition after this one.
ClientEncodingFn libpqClientEncoding() {
  static const ClientEncodingFn next = [] {
    auto fn = reinterpret_cast<ClientEncodingFn>(dlsym(RTLD_NEXT, "PQclientEncoding"));
    return fn == &PQclientEncoding ? nullptr : fn;
  }();
  return next;
}

}  // namespace

// See broken_connection_fix.hpp. Must keep libpq's signature and meaning for
// every connection that is not CONNECTION_BAD.
extern "C" int PQclientEncoding(const PGconn* conn) {
  if (conn == nullptr) return -1;
  if (PQstatus(conn) != CONNECTION_BAD) {
    if (const ClientEncodingFn libpq = libpqClientEncoding(); libpq != nullptr) return libpq(conn);
    // No libpq definition behind ours (cannot happen when linked normally):
    // the value libpq keeps, which comes from the server's client_encoding
    // report.
    if (PQstatus(conn) != CONNECTION_OK) return -1;
    const char* name = PQparameterStatus(conn, "client_encoding");
    return name != nullptr ? pg_char_to_encoding(name) : -1;
  }
  // Broken: the last encoding the server reported (libpq keeps the reports
  // until the connection is reset or freed), else SQL_ASCII (0).
  rescued.fetch_add(1, std::memory_order_relaxed);
  const char* name = PQparameterStatus(conn, "client_encoding");
  const int encoding = name != nullptr ? pg_char_to_encoding(name) : -1;
  return encoding >= 0 ? encoding : 0;
}

namespace commsvc::database {

bool brokenConnectionFixActive() {
  return dlsym(RTLD_DEFAULT, "PQclientEncoding") == reinterpret_cast<void*>(&PQclientEncoding);
}

std::size_t brokenConnectionResultsRescued() { return rescued.load(std::memory_order_relaxed); }

}  // namespace commsvc::database
