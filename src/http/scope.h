// What a caller may reach: each resource is found by id and then checked against the
// caller's role in the project it belongs to (dataset → project; image, job, annotation →
// dataset → project). A resource in a project the caller does not see answers exactly like an
// unknown id (404, the same message), so a refusal tells nothing an unknown id would not.
#pragma once

#include <string>

#include "access/caller.h"
#include "catalog/records.h"
#include "common/status.h"
#include "http/request.h"

namespace samcache {

class App;

struct ScopedImage {
  ImageRecord image;
  std::string project_id;
};

struct ScopedAnnotation {
  AnnotationRecord annotation;
  ImageRecord image;
  std::string project_id;
};

// The request's caller (set by the gate); Caller::Everyone() on a route without one.
const Caller& CallerOf(const Request& request);

Result<DatasetRecord> DatasetFor(App& app, const Request& request, const std::string& id, Role needed);
Result<ScopedImage> ImageFor(App& app, const Request& request, const std::string& id, Role needed);
Result<PrewarmJobRecord> PrewarmJobFor(App& app, const Request& request, const std::string& id, Role needed);
Result<ScopedAnnotation> AnnotationFor(App& app, const Request& request, const std::string& id, Role needed);

// The project an upload without a dataset goes into: `requested` (id or name) if given,
// else the default project if the caller may write there, else the caller's only project it
// may write in. NotFound for a project the caller does not see; InvalidArgument when the
// choice is ambiguous.
Result<ProjectRecord> UploadProject(App& app, const Request& request, const std::string& requested);

}  // namespace samcache
