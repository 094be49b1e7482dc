# One static library per folder of src/, linking only downward.
#
#   samcache_layers(common image store,catalog ...)      the order, lowest first (src/CMakeLists.txt)
#   samcache_layer(catalog SOURCES ... DEPENDS common image PUBLIC_LIBS ... PRIVATE_LIBS ...)
#
# samcache_layer() refuses a DEPENDS on a layer that is not lower than the folder's own, so the
# link graph follows the order; cmake/CheckLayers.cmake (the layer_check test) holds the
# includes to the same order. Third-party libraries are PRIVATE to the folder that wraps them
# unless its headers expose their types.
function(samcache_layers)
  set(rank 0)
  foreach(group IN LISTS ARGN)
    string(REPLACE "," ";" members "${group}")
    foreach(folder IN LISTS members)
      set_property(GLOBAL PROPERTY SAMCACHE_LAYER_RANK_${folder} ${rank})
    endforeach()
    math(EXPR rank "${rank} + 1")
  endforeach()
  set_property(GLOBAL PROPERTY SAMCACHE_LAYERS "${ARGN}")
endfunction()

function(samcache_layer name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPENDS;PUBLIC_LIBS;PRIVATE_LIBS" ${ARGN})
  get_property(own_rank GLOBAL PROPERTY SAMCACHE_LAYER_RANK_${name})
  if(own_rank STREQUAL "")
    message(FATAL_ERROR "src/${name}: not in the layer order (samcache_layers in src/CMakeLists.txt)")
  endif()
  set(layer_targets "")
  foreach(dependency IN LISTS ARG_DEPENDS)
    get_property(rank GLOBAL PROPERTY SAMCACHE_LAYER_RANK_${dependency})
    if(rank STREQUAL "" OR NOT rank LESS own_rank)
      message(FATAL_ERROR "src/${name} may not link src/${dependency}: not a lower layer")
    endif()
    list(APPEND layer_targets samcache_${dependency})
  endforeach()
  add_library(samcache_${name} STATIC ${ARG_SOURCES})
  target_include_directories(samcache_${name} PUBLIC "${PROJECT_SOURCE_DIR}/src")
  target_compile_options(samcache_${name} PRIVATE ${SAMCACHE_WARNINGS})
  target_link_libraries(samcache_${name} PUBLIC ${layer_targets} ${ARG_PUBLIC_LIBS} PRIVATE ${ARG_PRIVATE_LIBS})
endfunction()
