// `samcache dupes [DATASET]`: the duplicate report (same file, same pixels, near duplicates)
// as text or JSON.
#pragma once

#include <optional>
#include <string>

#include "app/app.h"

namespace samcache {

// Prints the report for the dataset named (id or name) or, without one, the whole catalog.
// Returns the process exit code: 0 with the report printed, 1 on error (logged).
int RunDupesCommand(App& app, const std::optional<std::string>& dataset, int max_distance, bool as_json);

}  // namespace samcache
