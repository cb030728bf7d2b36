// Minimal reproduction of libpqxx 6.4's leak of a libpq result when a
// connection breaks under a statement (see engine/src/database/connection.hpp).
// Uses libpqxx alone; built and run by pqxx-leak-repro.sh with
// -fsanitize=address, against a throw-away PostgreSQL that it stops at the
// right moment through the shell command given as argv[2].
//
//   pqxx_leak_repro URL STOP_COMMAND START_COMMAND
//
// Case 1: the server stops while the connection is idle; the next
//         transaction's BEGIN finds the connection broken.
// Case 2: the server stops inside a transaction; the next statement finds
//         the connection broken.
// Built with -DCOMMSVC_FIX and linked with
// engine/src/database/broken_connection_fix.cpp (commsvc's work-around),
// the same program must not leak.
#include <cstdio>
#include <cstdlib>
#include <pqxx/pqxx>
#include <string>

#ifdef COMMSVC_FIX
#include "database/broken_connection_fix.hpp"
#endif

using Connection = pqxx::connection;

namespace {

void run(const char* command) {
  if (std::system(command) != 0) {
    std::fprintf(stderr, "command failed: %s\n", command);
    std::exit(2);
  }
}

void idleBreak(const std::string& url, const char* stop, const char* start) {
  Connection connection(url);
  {
    pqxx::work tx(connection);
    tx.exec("SELECT 1");
    tx.commit();
  }
  run(stop);
  try {
    pqxx::work tx(connection);
    tx.exec("SELECT 1");
    tx.commit();
    std::printf("idle break: no error?\n");
  } catch (const pqxx::broken_connection& error) {
    std::printf("idle break: pqxx::broken_connection: %s\n", error.what());
  }
  run(start);
}

void breakInTransaction(const std::string& url, const char* stop, const char* start) {
  Connection connection(url);
  try {
    pqxx::work tx(connection);
    tx.exec("SELECT 1");
    run(stop);
    tx.exec("SELECT 2");
    tx.commit();
    std::printf("break in transaction: no error?\n");
  } catch (const pqxx::broken_connection& error) {
    std::printf("break in transaction: pqxx::broken_connection: %s\n", error.what());
  }
  run(start);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s URL STOP_COMMAND START_COMMAND\n", argv[0]);
    return 2;
  }
  // LeakSanitizer ends the process with _exit: keep stdout unbuffered.
  std::setvbuf(stdout, nullptr, _IONBF, 0);
  idleBreak(argv[1], argv[2], argv[3]);
  breakInTransaction(argv[1], argv[2], argv[3]);
#ifdef COMMSVC_FIX
  std::printf("work-around active: %s, results rescued: %zu\n",
              commsvc::database::brokenConnectionFixActive() ? "yes" : "no",
              commsvc::database::brokenConnectionResultsRescued());
#endif
  // Connections are closed here; LeakSanitizer reports at exit.
  return 0;
}
