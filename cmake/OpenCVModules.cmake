# Debian splits OpenCV into per-module -dev packages; only libopencv-dev ships the CMake
# config. samcache needs core, imgproc and imgcodecs, so find those three directly.
find_path(OpenCV_INCLUDE_DIR opencv2/imgcodecs.hpp PATH_SUFFIXES opencv4 REQUIRED)
add_library(samcache::opencv INTERFACE IMPORTED)
set(_samcache_cv_libs)
foreach(module core imgproc imgcodecs)
  find_library(OpenCV_${module}_LIBRARY NAMES opencv_${module} REQUIRED)
  list(APPEND _samcache_cv_libs "${OpenCV_${module}_LIBRARY}")
endforeach()
set_target_properties(samcache::opencv PROPERTIES
  INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${OpenCV_INCLUDE_DIR}"
  INTERFACE_INCLUDE_DIRECTORIES "${OpenCV_INCLUDE_DIR}"
  INTERFACE_LINK_LIBRARIES "${_samcache_cv_libs}")
