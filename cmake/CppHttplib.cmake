# cpp-httplib, the HTTP client of the tests and benchmarks: Debian builds it as a shared library with TLS and compression enabled; its
# pkg-config file carries the matching defines, which must be the same in every user.
find_package(PkgConfig REQUIRED)
pkg_check_modules(CPP_HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
add_library(samcache::httplib INTERFACE IMPORTED)
target_link_libraries(samcache::httplib INTERFACE PkgConfig::CPP_HTTPLIB Threads::Threads)
