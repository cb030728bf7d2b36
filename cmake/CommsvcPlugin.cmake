# commsvc_add_plugin(<name> SOURCES <files...> [LIBRARIES <targets...>] [OUTPUT_DIR <dir>] [NO_INSTALL])
#
# Builds a plugin as a MODULE library named <name>.so with hidden visibility,
# linked against the SDK only (plus LIBRARIES), into COMMSVC_PLUGIN_OUTPUT_DIR
# (or OUTPUT_DIR, for test plugins), and installs it into
# COMMSVC_PLUGIN_INSTALL_DIR unless NO_INSTALL. In this repository those are
# the build tree's and the install prefix's plugin directories (the binary's
# own); from an installed SDK (commsvcConfig.cmake) the top of the caller's
# build directory and the installed engine's plugin directory.
function(commsvc_add_plugin name)
  cmake_parse_arguments(ARG "NO_INSTALL" "OUTPUT_DIR" "SOURCES;LIBRARIES" ${ARGN})
  set(target commsvc_plugin_${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE commsvc::sdk ${ARG_LIBRARIES})
  if(NOT ARG_OUTPUT_DIR)
    set(ARG_OUTPUT_DIR ${COMMSVC_PLUGIN_OUTPUT_DIR})
  endif()
  set_target_properties(${target} PROPERTIES
    OUTPUT_NAME ${name}
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIR})
  if(NOT ARG_NO_INSTALL)
    install(TARGETS ${target} LIBRARY DESTINATION ${COMMSVC_PLUGIN_INSTALL_DIR})
  endif()
endfunction()
