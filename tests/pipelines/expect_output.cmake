# Runs `COMMSVC test TEST_FILE` in WORKDIR and checks its exit status
# (EXIT) and output (stdout and stderr together): every MATCH_<n> must occur
# in it literally and every REGEX_<n> must match (n = 0, 1, ... without gaps).
# Used by the negative pipeline tests in CMakeLists.txt beside it.
execute_process(COMMAND ${COMMSVC} test ${TEST_FILE}
                WORKING_DIRECTORY ${WORKDIR}
                RESULT_VARIABLE status
                OUTPUT_VARIABLE output
                ERROR_VARIABLE output)
set(problems "")
if(NOT status STREQUAL EXIT)
  string(APPEND problems "exit status ${status}, expected ${EXIT}\n")
endif()
foreach(i RANGE 0 50)
  if(DEFINED MATCH_${i})
    string(FIND "${output}" "${MATCH_${i}}" at)
    if(at EQUAL -1)
      string(APPEND problems "missing from the output: ${MATCH_${i}}\n")
    endif()
  endif()
  if(DEFINED REGEX_${i})
    if(NOT output MATCHES "${REGEX_${i}}")
      string(APPEND problems "no match in the output for: ${REGEX_${i}}\n")
    endif()
  endif()
endforeach()
if(problems)
  message(FATAL_ERROR "commsvc test ${TEST_FILE}:\n${problems}--- output:\n${output}")
endif()
message(STATUS "commsvc test ${TEST_FILE}: exit ${status} with the expected output")
