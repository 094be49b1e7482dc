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

// A Content-Disposition value ("inline" or "attachment") with the name RFC 5987-encoded, so
// any uploaded name is safe inside a header.
std::string ContentDisposition(std::string_view disposition, const std::string& filename);

// A request body that must be a JSON object. InvalidArgument, in words, otherwise; `example`
// is shown to the caller when the body is JSON but not an object.
Result<nlohmann::json> ParseJsonObject(const std::string& body, std::string_view example);

}  // namespace samcache
