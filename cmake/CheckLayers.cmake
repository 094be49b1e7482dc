# Script mode (cmake -P): fails when a file under SOURCE_DIR includes a folder of a higher layer.
#
#   cmake -DSOURCE_DIR=src -DLAYERS="common|image|store,catalog|..." -P cmake/CheckLayers.cmake
#
# LAYERS lists the folders of SOURCE_DIR from the lowest layer up; folders joined by a comma
# share a layer and may not include each other. A file may include its own folder and the
# folders of lower layers, nothing else. A folder that LAYERS does not name is an error too, so
# a new folder gets its place in the order (and in docs/ARCHITECTURE.md) before it gets code.
if(NOT DEFINED SOURCE_DIR OR NOT DEFINED LAYERS)
  message(FATAL_ERROR "usage: cmake -DSOURCE_DIR=<dir> -DLAYERS=<a|b,c|...> -P CheckLayers.cmake")
endif()
# Groups are separated by '|' (or ';', when called from CMake code with a list).
string(REPLACE "|" ";" LAYERS "${LAYERS}")

cmake_minimum_required(VERSION 3.25)
get_filename_component(SOURCE_DIR "${SOURCE_DIR}" ABSOLUTE)
set(rank 0)
set(known_folders "")
foreach(group IN LISTS LAYERS)
  string(REPLACE "," ";" members "${group}")
  foreach(folder IN LISTS members)
    set(rank_of_${folder} ${rank})
    list(APPEND known_folders ${folder})
  endforeach()
  math(EXPR rank "${rank} + 1")
endforeach()

file(GLOB_RECURSE sources RELATIVE "${SOURCE_DIR}" "${SOURCE_DIR}/*.h" "${SOURCE_DIR}/*.cpp")
list(SORT sources)
set(violations 0)
foreach(source IN LISTS sources)
  if(NOT source MATCHES "^([^/]+)/")
    continue()  # files directly in SOURCE_DIR (none today) belong to no layer
  endif()
  set(folder "${CMAKE_MATCH_1}")
  if(NOT folder IN_LIST known_folders)
    message("${source}: folder '${folder}' has no place in the layer order")
    math(EXPR violations "${violations} + 1")
    continue()
  endif()
  file(STRINGS "${SOURCE_DIR}/${source}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
  foreach(line IN LISTS lines)
    if(NOT line MATCHES "#[ \t]*include[ \t]*\"([^\"/]+)/")
      continue()  # an include without a folder: a file of the same folder
    endif()
    set(target "${CMAKE_MATCH_1}")
    if(target STREQUAL folder)
      continue()
    endif()
    if(NOT target IN_LIST known_folders)
      message("${source}: includes '${target}/', which is not a layer of ${SOURCE_DIR}")
      math(EXPR violations "${violations} + 1")
    elseif(NOT rank_of_${target} LESS rank_of_${folder})
      string(STRIP "${line}" shown)
      message("${source}: layer '${folder}' may not include '${target}/' (${shown})")
      math(EXPR violations "${violations} + 1")
    endif()
  endforeach()
endforeach()

list(LENGTH sources file_count)
if(violations GREATER 0)
  message(FATAL_ERROR "layer check: ${violations} violation(s) in ${file_count} files")
endif()
message("layer check: ${file_count} files, no upward include")
