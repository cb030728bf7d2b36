# cmake -DSOURCE_DIR=<repo> -P no_regex_check.cmake
#
# Fails when std::regex (or <regex>) is used under engine/src, engine/include
# or plugins/: nothing on a request or event path may run a backtracking
# regex on outside data (libstdc++'s recurses per character and overflows
# the stack on long input).
file(GLOB_RECURSE sources
  ${SOURCE_DIR}/engine/src/*.cpp ${SOURCE_DIR}/engine/src/*.hpp
  ${SOURCE_DIR}/engine/include/*.hpp
  ${SOURCE_DIR}/plugins/*.cpp ${SOURCE_DIR}/plugins/*.hpp)
set(offenders "")
foreach(source IN LISTS sources)
  file(STRINGS ${source} lines REGEX "std::regex|std::wregex|std::regex_|#include <regex>")
  if(lines)
    file(RELATIVE_PATH relative ${SOURCE_DIR} ${source})
    list(APPEND offenders "${relative}: ${lines}")
  endif()
endforeach()
if(offenders)
  list(JOIN offenders "\n  " text)
  message(FATAL_ERROR "std::regex used on a request path:\n  ${text}")
endif()
list(LENGTH sources count)
message(STATUS "no std::regex in ${count} engine and plugin sources")
