#include "postgres.hpp"

namespace commsvc::testing {

TemporaryPostgres::TemporaryPostgres(std::string database)
    : url_(server_.createDatabase(database)) {}

}  // namespace commsvc::testing
