// The paging query parameters of the list endpoints (docs/API.md, "Paged lists"): each one
// bounded, and refused with a 400 whose message starts with the parameter's name.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"
#include "http/request.h"
#include "service/dataset_view.h"

namespace samcache {

// `name` as an integer in [min, max]; `fallback` when absent.
Result<int64_t> Int64Param(const Request& req, const std::string& name, int64_t min, int64_t max,
                           int64_t fallback);
// The `cursor` parameter, or empty when absent. InvalidArgument when present but empty or
// longer than kMaxCursorBytes (the signature is checked where the listing is known).
Result<std::string> CursorParam(const Request& req);
// Every parameter of GET /api/sam/dataset/{id}.
Result<DatasetPageRequest> DatasetPageParams(const Request& req);

}  // namespace samcache
