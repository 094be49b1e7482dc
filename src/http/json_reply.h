// JSON replies, and the one mapping from a Status to an HTTP reply, shared by the route
// files and the transport adapter.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/status.h"
#include "http/reply.h"
#include "http/request.h"

namespace samcache {

int HttpStatusFor(StatusCode code);
std::string_view CodeName(StatusCode code);
Reply JsonReply(int status, const nlohmann::json& body);
// {"error": message}, the message cut to kMaxErrorMessageBytes (http/input_limits.h).
Reply ErrorReply(int status, const std::string& message);
// The status's HTTP code and {"error": message}; Retry-After for kUnavailable (busy now,
// worth retrying); server faults are logged.
Reply StatusReply(const Status& status);

// A Content-Disposition value ("inline" or "attachment") with the name RFC 5987-encoded, so
// any uploaded name is safe inside a header.
std::string ContentDisposition(std::string_view disposition, const std::string& filename);

// A request body that must be a JSON object. InvalidArgument, in words, otherwise; `example`
// is shown to the caller when the body is JSON but not an object.
Result<nlohmann::json> ParseJsonObject(const std::string& body, std::string_view example);

// A whole-number query parameter in [min, max]; `fallback` when absent.
Result<int> IntParam(const Request& request, const std::string& name, int min, int max, int fallback);

}  // namespace samcache
