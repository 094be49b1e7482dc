# Finds ONNX Runtime and defines the INTERFACE target samcache::onnxruntime.
#
# A system installation wins; otherwise ONNXRUNTIME_ROOT (default: third_party/onnxruntime,
# filled by scripts/setup.sh) is searched. The C API is versioned, so headers of one release
# work with a newer shared library.
set(ONNXRUNTIME_ROOT "${CMAKE_SOURCE_DIR}/third_party/onnxruntime"
    CACHE PATH "Folder with include/ and lib/ of ONNX Runtime, used when no system copy exists")

find_path(OnnxRuntime_INCLUDE_DIR onnxruntime_cxx_api.h PATH_SUFFIXES onnxruntime)
find_library(OnnxRuntime_LIBRARY NAMES onnxruntime)
if(NOT OnnxRuntime_INCLUDE_DIR OR NOT OnnxRuntime_LIBRARY)
  unset(OnnxRuntime_INCLUDE_DIR CACHE)
  unset(OnnxRuntime_LIBRARY CACHE)
  find_path(OnnxRuntime_INCLUDE_DIR onnxruntime_cxx_api.h
            PATHS "${ONNXRUNTIME_ROOT}/include" NO_DEFAULT_PATH)
  find_library(OnnxRuntime_LIBRARY NAMES onnxruntime libonnxruntime.so.1
               PATHS "${ONNXRUNTIME_ROOT}/lib" NO_DEFAULT_PATH)
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(OnnxRuntime
  REQUIRED_VARS OnnxRuntime_LIBRARY OnnxRuntime_INCLUDE_DIR
  FAIL_MESSAGE "ONNX Runtime not found: run scripts/setup.sh (it fetches it into third_party/onnxruntime) or set ONNXRUNTIME_ROOT")

if(OnnxRuntime_FOUND AND NOT TARGET samcache::onnxruntime)
  add_library(samcache::onnxruntime INTERFACE IMPORTED)
  # SYSTEM: warnings in ONNX Runtime's headers are not ours to fix.
  set_target_properties(samcache::onnxruntime PROPERTIES
    INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${OnnxRuntime_INCLUDE_DIR}"
    INTERFACE_INCLUDE_DIRECTORIES "${OnnxRuntime_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${OnnxRuntime_LIBRARY}")
  get_filename_component(OnnxRuntime_LIBRARY_DIR "${OnnxRuntime_LIBRARY}" DIRECTORY)
endif()
mark_as_advanced(OnnxRuntime_INCLUDE_DIR OnnxRuntime_LIBRARY)
