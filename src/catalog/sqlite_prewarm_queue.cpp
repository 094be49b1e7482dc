// SQLite backend: the prewarm queue (see sqlite_catalog.h). Every update re-checks the runner
// and the state in its WHERE clause; taking the next job is one write transaction, so another
// process's claim waits for the lock and then sees this one.
#include "catalog/catalog_rows.h"
#include "catalog/sqlite_catalog.h"

namespace samcache::catalog_internal::sqlite {

Status SqliteCatalog::CreatePrewarmJob(const PrewarmJobRecord& j) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q,
                            conn_.Prepare("INSERT INTO prewarm_jobs (id, dataset_id, model_id, status, "
                                          "total, runner, heartbeat_ms, created_at, to_compute) "
                                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  return q.Bind(j.id)
      .Bind(j.dataset_id)
      .Bind(j.model_id)
      .Bind(j.status)
      .Bind(j.total)
      .Bind(j.runner)
      .Bind(j.heartbeat_ms)
      .Bind(j.created_at)
      .Bind(j.to_compute)
      .Run();
}

Result<PrewarmJobRecord> SqliteCatalog::GetPrewarmJob(const std::string& id) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare(SAMCACHE_PREWARM_JOB_SELECT "WHERE id = ?"));
  SAMCACHE_ASSIGN_OR_RETURN(std::optional<PrewarmJobRecord> job, q.Bind(id).First(ReadPrewarmJob));
  if (!job) return Status::NotFound("no prewarm job with id '" + id + "'");
  return *std::move(job);
}

Result<std::vector<PrewarmJobRecord>> SqliteCatalog::ListUnfinishedPrewarmJobs() {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(
      Query q,
      conn_.Prepare(SAMCACHE_PREWARM_JOB_SELECT "WHERE " SAMCACHE_UNFINISHED " ORDER BY created_at, rowid"));
  return q.Collect(ReadPrewarmJob);
}

Result<std::optional<PrewarmJobRecord>> SqliteCatalog::FindUnfinishedPrewarmJob(const std::string& dataset_id,
                                                                                const std::string& model_id) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q,
                            conn_.Prepare(SAMCACHE_PREWARM_JOB_SELECT
                                          "WHERE dataset_id = ? AND model_id = ? AND " SAMCACHE_UNFINISHED
                                          " ORDER BY created_at DESC, rowid DESC LIMIT 1"));
  return q.Bind(dataset_id).Bind(model_id).First(ReadPrewarmJob);
}

Result<bool> SqliteCatalog::ClaimPrewarmJob(const std::string& id, const std::string& expected_runner,
                                            const std::string& runner, int64_t now_ms) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare("UPDATE prewarm_jobs SET runner = ?, heartbeat_ms = ? "
                                                   "WHERE id = ? AND runner = ? AND " SAMCACHE_UNFINISHED));
  SAMCACHE_RETURN_IF_ERROR(q.Bind(runner).Bind(now_ms).Bind(id).Bind(expected_runner).Run());
  return conn_.Changes() > 0;
}

Result<std::optional<PrewarmJobRecord>> SqliteCatalog::ClaimNextPrewarmJob(const std::string& model_id,
                                                                           const std::string& runner,
                                                                           int64_t now_ms,
                                                                           int64_t stale_before_ms) {
  std::lock_guard lock(mu_);
  return InWriteTransaction(
      [&] { return ClaimNextPrewarmJobLocked(model_id, runner, now_ms, stale_before_ms); });
}

Result<std::optional<PrewarmJobRecord>> SqliteCatalog::ClaimNextPrewarmJobLocked(const std::string& model_id,
                                                                                 const std::string& runner,
                                                                                 int64_t now_ms,
                                                                                 int64_t stale_before_ms) {
  std::optional<std::string> id;
  {
    SAMCACHE_ASSIGN_OR_RETURN(
        Query q,
        conn_.Prepare(
            "SELECT id FROM prewarm_jobs WHERE model_id = ? AND ((status = 'queued' AND runner = '') "
            "OR (" SAMCACHE_UNFINISHED " AND heartbeat_ms < ?)) ORDER BY created_at, rowid LIMIT 1"));
    SAMCACHE_ASSIGN_OR_RETURN(id, q.Bind(model_id).Bind(stale_before_ms).First(ReadFirstText));
    if (!id) return std::optional<PrewarmJobRecord>();
  }
  {
    SAMCACHE_ASSIGN_OR_RETURN(
        Query q,
        conn_.Prepare(
            "UPDATE prewarm_jobs SET runner = ?, heartbeat_ms = ?, status = 'running' WHERE id = ?"));
    SAMCACHE_RETURN_IF_ERROR(q.Bind(runner).Bind(now_ms).Bind(*id).Run());
  }
  SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare(SAMCACHE_PREWARM_JOB_SELECT "WHERE id = ?"));
  SAMCACHE_ASSIGN_OR_RETURN(std::optional<PrewarmJobRecord> job, q.Bind(*id).First(ReadPrewarmJob));
  if (!job) return Status::Internal("prewarm job " + *id + " vanished while being claimed");
  return job;
}

Result<bool> SqliteCatalog::HeartbeatPrewarmJob(const std::string& id, const std::string& runner,
                                                int64_t now_ms) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(
      Query q,
      conn_.Prepare(
          "UPDATE prewarm_jobs SET heartbeat_ms = ? WHERE id = ? AND runner = ? AND " SAMCACHE_UNFINISHED));
  SAMCACHE_RETURN_IF_ERROR(q.Bind(now_ms).Bind(id).Bind(runner).Run());
  return conn_.Changes() > 0;
}

Result<bool> SqliteCatalog::SavePrewarmProgress(const PrewarmJobRecord& j,
                                                const std::vector<PrewarmFailure>& new_failures) {
  std::lock_guard lock(mu_);
  // Not saved (the job is no longer this runner's): rolled back, nothing written.
  return InWriteTransaction([&] { return SavePrewarmProgressLocked(j, new_failures); },
                            [](const Result<bool>& saved) { return *saved; });
}

Result<bool> SqliteCatalog::SavePrewarmProgressLocked(const PrewarmJobRecord& j,
                                                      const std::vector<PrewarmFailure>& new_failures) {
  {
    SAMCACHE_ASSIGN_OR_RETURN(
        Query q,
        conn_.Prepare(
            "UPDATE prewarm_jobs SET status = ?, total = ?, done = ?, computed = ?, skipped = ?, failed = ?, "
            "next_position = ?, to_compute = ?, compute_seconds = ?, error = ?, heartbeat_ms = ?, "
            "started_at = ?, finished_at = ? "
            "WHERE id = ? AND runner = ? AND " SAMCACHE_UNFINISHED));
    SAMCACHE_RETURN_IF_ERROR(q.Bind(j.status)
                                 .Bind(j.total)
                                 .Bind(j.done)
                                 .Bind(j.computed)
                                 .Bind(j.skipped)
                                 .Bind(j.failed)
                                 .Bind(j.next_position)
                                 .Bind(j.to_compute)
                                 .Bind(j.compute_seconds)
                                 .Bind(j.error)
                                 .Bind(j.heartbeat_ms)
                                 .Bind(j.started_at)
                                 .Bind(j.finished_at)
                                 .Bind(j.id)
                                 .Bind(j.runner)
                                 .Run());
    if (conn_.Changes() == 0) return false;
  }
  for (const PrewarmFailure& f : new_failures) {
    SAMCACHE_ASSIGN_OR_RETURN(
        Query q,
        conn_.Prepare("INSERT INTO prewarm_failures (job_id, image_id, filename, reason) VALUES (?, ?, ?, ?) "
                      "ON CONFLICT (job_id, image_id) DO UPDATE SET reason = excluded.reason"));
    SAMCACHE_RETURN_IF_ERROR(q.Bind(j.id).Bind(f.image_id).Bind(f.filename).Bind(f.reason).Run());
  }
  return true;
}

Result<bool> SqliteCatalog::CancelPrewarmJob(const std::string& id, const std::string& finished_at) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q,
                            conn_.Prepare("UPDATE prewarm_jobs SET status = 'cancelled', finished_at = ? "
                                          "WHERE id = ? AND " SAMCACHE_UNFINISHED));
  SAMCACHE_RETURN_IF_ERROR(q.Bind(finished_at).Bind(id).Run());
  return conn_.Changes() > 0;
}

Result<std::vector<PrewarmFailure>> SqliteCatalog::ListPrewarmFailures(const std::string& job_id) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(
      Query q,
      conn_.Prepare(
          "SELECT image_id, filename, reason FROM prewarm_failures WHERE job_id = ? ORDER BY rowid"));
  return q.Bind(job_id).Collect(ReadPrewarmFailure);
}

Result<std::vector<std::pair<std::string, int64_t>>> SqliteCatalog::CountPrewarmJobsByStatus() {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(
      Query q, conn_.Prepare("SELECT status, COUNT(*) FROM prewarm_jobs GROUP BY status ORDER BY status"));
  return q.Collect(ReadKeyCount);
}

}  // namespace samcache::catalog_internal::sqlite
