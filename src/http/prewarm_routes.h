// Prewarm endpoints: start, follow (snapshot and Server-Sent Events), cancel and resume.
#pragma once

#include <httplib.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "jobs/prewarm_jobs.h"

namespace samcache {

class App;

// A job as the API shows it, texts included.
nlohmann::json PrewarmJson(const PrewarmSnapshot& snapshot);

// `stopping` turns true when the server shuts down: event streams end then.
void AddPrewarmRoutes(httplib::Server& server, App& app, const std::atomic<bool>& stopping);

}  // namespace samcache
