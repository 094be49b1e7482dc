// JSON replies and the mapping from Status codes to HTTP statuses, shared by the route files.
#pragma once

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/status.h"

namespace samcache {

int HttpStatusFor(StatusCode code);
std::string_view CodeName(StatusCode code);
void SendJson(httplib::Response& res, int status, const nlohmann::json& body);
// {"error": message}
void SendError(httplib::Response& res, int status, const std::string& message);
// The status's HTTP code and message; server faults are logged.
void SendStatus(httplib::Response& res, const Status& status);

}  // namespace samcache
