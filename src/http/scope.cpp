#include "http/scope.h"

#include "app/app.h"
#include "http/ids.h"

namespace samcache {

namespace {

std::string Unknown(std::string_view kind, const std::string& id) {
  return "no " + std::string(kind) + " with id '" + ShortPrefix(id) + "'";
}

}  // namespace

const Caller& CallerOf(const Request& request) {
  static const Caller everyone = Caller::Everyone();
  return request.caller != nullptr ? *request.caller : everyone;
}

Result<DatasetRecord> DatasetFor(App& app, const Request& request, const std::string& id, Role needed) {
  SAMCACHE_RETURN_IF_ERROR(CheckId(id, "dataset"));
  SAMCACHE_ASSIGN_OR_RETURN(DatasetRecord dataset, app.catalog().GetDataset(id));
  SAMCACHE_RETURN_IF_ERROR(CheckRole(CallerOf(request), dataset.project_id, needed, Unknown("dataset", id)));
  return dataset;
}

Result<ScopedImage> ImageFor(App& app, const Request& request, const std::string& id, Role needed) {
  SAMCACHE_RETURN_IF_ERROR(CheckId(id, "image"));
  SAMCACHE_ASSIGN_OR_RETURN(ImageRecord image, app.catalog().GetImage(id));
  SAMCACHE_ASSIGN_OR_RETURN(const DatasetRecord dataset, app.catalog().GetDataset(image.dataset_id));
  SAMCACHE_RETURN_IF_ERROR(CheckRole(CallerOf(request), dataset.project_id, needed, Unknown("image", id)));
  return ScopedImage{std::move(image), dataset.project_id};
}

Result<PrewarmJobRecord> PrewarmJobFor(App& app, const Request& request, const std::string& id, Role needed) {
  SAMCACHE_RETURN_IF_ERROR(CheckId(id, "prewarm job"));
  SAMCACHE_ASSIGN_OR_RETURN(PrewarmJobRecord job, app.catalog().GetPrewarmJob(id));
  Result<DatasetRecord> dataset = app.catalog().GetDataset(job.dataset_id);
  // A job outlives its deleted dataset; only an admin still sees it.
  const std::string project = dataset.ok() ? dataset->project_id : std::string();
  if (!dataset.ok() && dataset.status().code() != StatusCode::kNotFound) return dataset.status();
  SAMCACHE_RETURN_IF_ERROR(CheckRole(CallerOf(request), project, needed, Unknown("prewarm job", id)));
  return job;
}

Result<ScopedAnnotation> AnnotationFor(App& app, const Request& request, const std::string& id, Role needed) {
  SAMCACHE_RETURN_IF_ERROR(CheckId(id, "annotation"));
  SAMCACHE_ASSIGN_OR_RETURN(AnnotationRecord annotation, app.catalog().GetAnnotation(id));
  SAMCACHE_ASSIGN_OR_RETURN(ImageRecord image, app.catalog().GetImage(annotation.image_id));
  SAMCACHE_ASSIGN_OR_RETURN(const DatasetRecord dataset, app.catalog().GetDataset(image.dataset_id));
  SAMCACHE_RETURN_IF_ERROR(
      CheckRole(CallerOf(request), dataset.project_id, needed, Unknown("annotation", id)));
  return ScopedAnnotation{std::move(annotation), std::move(image), dataset.project_id};
}

Result<ProjectRecord> UploadProject(App& app, const Request& request, const std::string& requested) {
  const Caller& caller = CallerOf(request);
  const std::string not_found = "no project '" + ShortPrefix(requested, 64) + "'";
  if (!requested.empty()) {
    SAMCACHE_ASSIGN_OR_RETURN(const std::optional<ProjectRecord> project,
                              app.catalog().FindProject(requested));
    if (!project) return Status::NotFound(not_found);
    SAMCACHE_RETURN_IF_ERROR(CheckRole(caller, project->id, Role::kAnnotator, not_found));
    return *project;
  }
  const std::optional<Role> default_role = caller.RoleIn(kDefaultProjectId);
  if (default_role && *default_role >= Role::kAnnotator) {
    SAMCACHE_ASSIGN_OR_RETURN(const std::optional<ProjectRecord> project,
                              app.catalog().FindProject(kDefaultProjectId));
    if (project) return *project;
  }
  std::vector<std::string> writable;
  for (const auto& [project_id, role] : caller.memberships) {
    if (role >= Role::kAnnotator) writable.push_back(project_id);
  }
  if (writable.size() == 1) {
    SAMCACHE_ASSIGN_OR_RETURN(const std::optional<ProjectRecord> project,
                              app.catalog().FindProject(writable[0]));
    if (project) return *project;
  }
  if (writable.empty()) return Status::PermissionDenied("you may not upload into any project");
  return Status::InvalidArgument("you are in several projects: name one with ?project=<id or name>");
}

}  // namespace samcache
