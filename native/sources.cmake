# Reads the native source list from native/sources.gypi into TFSLICE_SOURCES, so
# node-gyp and cmake-js compile exactly the same files.
file(READ "${CMAKE_CURRENT_LIST_DIR}/sources.gypi" _tfslice_gypi)
string(REGEX MATCHALL "'native/[A-Za-z0-9_./-]+\\.cc'" _tfslice_quoted "${_tfslice_gypi}")
set(TFSLICE_SOURCES "")
foreach(_q IN LISTS _tfslice_quoted)
  string(REPLACE "'" "" _path "${_q}")
  list(APPEND TFSLICE_SOURCES "${_path}")
endforeach()
if(NOT TFSLICE_SOURCES)
  message(FATAL_ERROR "no sources found in native/sources.gypi")
endif()
