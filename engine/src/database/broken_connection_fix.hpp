#pragma once

#include <cstddef>

namespace commsvc::database {

// libpqxx 6.4 leaks one libpq result (a PGresult: 216 bytes plus a 2 KiB data
// block) each time a connection breaks under a statement:
// `connection_base::make_result(PGresult*, query)` evaluates `encoding_id()`
// before it hands the raw result to the pqxx::result that would own it, and
// `PQclientEncoding()` returns -1 on a connection libpq has marked
// CONNECTION_BAD, so encoding_id() throws broken_connection and nobody owns
// the result. exec, exec_params, prepared statements, BEGIN/COMMIT and
// pipelines all go through make_result; no fixed 6.x is packaged for Debian
// 12. tests/sanitizers/pqxx-leak-repro.sh shows the leak with libpqxx alone.
//
// broken_connection_fix.cpp defines PQclientEncoding in the executable, which
// the dynamic linker binds libpqxx's calls to ahead of libpq's. It returns
// what libpq returns, except for a connection libpq has marked CONNECTION_BAD:
// there it returns the connection's last client encoding instead of -1. So
// make_result wraps the result, and check_result, which runs next, throws the
// same pqxx::broken_connection (it tests is_open()), now with the result owned
// and freed. Nothing else changes: libpq reads its encoding field directly,
// and libpqxx only ever uses the value to interpret text.

/// True when libpqxx's calls reach our PQclientEncoding (the executable
/// exports it; see CMakeLists.txt). False would mean one leaked result per
/// broken connection again.
bool brokenConnectionFixActive();

/// Times PQclientEncoding answered for a broken connection (each one a
/// result libpqxx 6.4 would otherwise have leaked), in this process.
std::size_t brokenConnectionResultsRescued();

}  // namespace commsvc::database
