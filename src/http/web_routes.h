// The web page: GET / answers web/index.html and GET /web/<path> the page's other files
// (CSS, JavaScript modules, icons). The files are compiled into the binary
// (cmake/EmbedFiles.cmake), so `samcache serve` shows the page from any folder; a web folder
// given instead is read on every request, so edits show on reload (for development).
// The routes themselves: AddWebRoutes in http/route.h, from ServerOptions::web_dir (empty:
// the embedded files; otherwise the folder that holds index.html, css and js, and a request
// never reaches a file outside it). Unknown files get a 404 JSON error.
#pragma once

#include <string>

namespace samcache {

// The Content-Type for a file name, from its extension (application/octet-stream when unknown).
std::string WebContentType(const std::string& path);

// Whether `path` (relative, '/'-separated) is a name the page may serve: segments of
// letters, digits, '-', '_' and '.', none empty, none starting with '.'.
bool IsSafeWebPath(const std::string& path);

}  // namespace samcache
