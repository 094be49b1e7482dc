// Files compiled into the binary (see cmake/EmbedFiles.cmake): the demo model and the web page.
#pragma once

#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace samcache {

// (path relative to the repository root, bytes). The bytes live as long as the program.
const std::vector<std::pair<std::string_view, std::string_view>>& EmbeddedFiles();

// The bytes of `path`, or nullopt when it was not embedded.
std::optional<std::string_view> EmbeddedFile(std::string_view path);

}  // namespace samcache
