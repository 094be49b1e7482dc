// PostgreSQL backend: the prewarm queue (see postgres_catalog.h). Every update is one
// compare-and-set UPDATE on the runner and the state; taking the next job skips the rows other
// claimers hold (FOR UPDATE SKIP LOCKED).
#include "catalog/catalog_rows.h"
#include "catalog/postgres_catalog.h"

namespace samcache::catalog_internal::postgres {

Status PostgresCatalog::CreatePrewarmJob(const PrewarmJobRecord& j) {
  return Run("create a prewarm job", [&](pqxx::connection& c) -> Status {
    pqxx::nontransaction tx(c);
    tx.exec_params(
        "INSERT INTO prewarm_jobs (id, dataset_id, model_id, status, total, runner, heartbeat_ms, "
        "created_at, "
        "to_compute) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        j.id, j.dataset_id, j.model_id, j.status, j.total, j.runner, j.heartbeat_ms, j.created_at,
        j.to_compute);
    return Status::Ok();
  });
}

Result<PrewarmJobRecord> PostgresCatalog::GetPrewarmJob(const std::string& id) {
  return Run("read a prewarm job", [&](pqxx::connection& c) -> Result<PrewarmJobRecord> {
    pqxx::nontransaction tx(c);
    std::optional<PrewarmJobRecord> job =
        First(tx.exec_params(SAMCACHE_PREWARM_JOB_SELECT "WHERE id = $1", id), ReadPrewarmJob);
    if (!job) return Status::NotFound("no prewarm job with id '" + id + "'");
    return *std::move(job);
  });
}

Result<std::vector<PrewarmJobRecord>> PostgresCatalog::ListUnfinishedPrewarmJobs() {
  return Run("list prewarm jobs", [&](pqxx::connection& c) -> Result<std::vector<PrewarmJobRecord>> {
    pqxx::nontransaction tx(c);
    return Collect(
        tx.exec(SAMCACHE_PREWARM_JOB_SELECT "WHERE " SAMCACHE_UNFINISHED " ORDER BY created_at, seq"),
        ReadPrewarmJob);
  });
}

Result<std::optional<PrewarmJobRecord>> PostgresCatalog::FindUnfinishedPrewarmJob(
    const std::string& dataset_id, const std::string& model_id) {
  return Run("find a prewarm job", [&](pqxx::connection& c) -> Result<std::optional<PrewarmJobRecord>> {
    pqxx::nontransaction tx(c);
    return First(tx.exec_params(SAMCACHE_PREWARM_JOB_SELECT
                                "WHERE dataset_id = $1 AND model_id = $2 AND " SAMCACHE_UNFINISHED
                                " ORDER BY created_at DESC, seq DESC LIMIT 1",
                                dataset_id, model_id),
                 ReadPrewarmJob);
  });
}

Result<bool> PostgresCatalog::ClaimPrewarmJob(const std::string& id, const std::string& expected_runner,
                                              const std::string& runner, int64_t now_ms) {
  return Run("claim a prewarm job", [&](pqxx::connection& c) -> Result<bool> {
    pqxx::nontransaction tx(c);
    return tx.exec_params(
                 "UPDATE prewarm_jobs SET runner = $1, heartbeat_ms = $2 "
                 "WHERE id = $3 AND runner = $4 AND " SAMCACHE_UNFINISHED,
                 runner, now_ms, id, expected_runner)
               .affected_rows() > 0;
  });
}

Result<std::optional<PrewarmJobRecord>> PostgresCatalog::ClaimNextPrewarmJob(const std::string& model_id,
                                                                             const std::string& runner,
                                                                             int64_t now_ms,
                                                                             int64_t stale_before_ms) {
  return Run(
      "claim the next prewarm job", [&](pqxx::connection& c) -> Result<std::optional<PrewarmJobRecord>> {
        pqxx::nontransaction tx(c);
        // One statement: the row lock of the subquery is held by the UPDATE. Rows other claimers
        // hold are skipped, not waited for; a locked row is re-checked against the conditions once
        // it is ours, so a job taken meanwhile is not taken twice.
        return First(tx.exec_params(
                         "UPDATE prewarm_jobs SET runner = $1, heartbeat_ms = $2, status = 'running' "
                         "WHERE id = (SELECT id FROM prewarm_jobs WHERE model_id = $3 AND "
                         "((status = 'queued' AND runner = '') OR (" SAMCACHE_UNFINISHED
                         " AND heartbeat_ms < $4)) ORDER BY created_at, seq LIMIT 1 FOR UPDATE SKIP LOCKED) "
                         "RETURNING " SAMCACHE_PREWARM_JOB_COLUMNS,
                         runner, now_ms, model_id, stale_before_ms),
                     ReadPrewarmJob);
      });
}

Result<bool> PostgresCatalog::HeartbeatPrewarmJob(const std::string& id, const std::string& runner,
                                                  int64_t now_ms) {
  return Run("record a prewarm heartbeat", [&](pqxx::connection& c) -> Result<bool> {
    pqxx::nontransaction tx(c);
    return tx.exec_params(
                 "UPDATE prewarm_jobs SET heartbeat_ms = $1 WHERE id = $2 AND runner = $3 "
                 "AND " SAMCACHE_UNFINISHED,
                 now_ms, id, runner)
               .affected_rows() > 0;
  });
}

Result<bool> PostgresCatalog::SavePrewarmProgress(const PrewarmJobRecord& j,
                                                  const std::vector<PrewarmFailure>& new_failures) {
  return Run("save prewarm progress", [&](pqxx::connection& c) -> Result<bool> {
    pqxx::work tx(c);
    const pqxx::result updated = tx.exec_params(
        "UPDATE prewarm_jobs SET status = $1, total = $2, done = $3, computed = $4, skipped = $5, failed = "
        "$6, "
        "next_position = $7, to_compute = $8, compute_seconds = $9, error = $10, heartbeat_ms = $11, "
        "started_at = $12, finished_at = $13 "
        "WHERE id = $14 AND runner = $15 AND " SAMCACHE_UNFINISHED,
        j.status, j.total, j.done, j.computed, j.skipped, j.failed, j.next_position, j.to_compute,
        j.compute_seconds, j.error, j.heartbeat_ms, j.started_at, j.finished_at, j.id, j.runner);
    if (updated.affected_rows() == 0) return false;  // rolled back: nothing written
    for (const PrewarmFailure& f : new_failures) {
      tx.exec_params(
          "INSERT INTO prewarm_failures (job_id, image_id, filename, reason) VALUES ($1, $2, $3, $4) "
          "ON CONFLICT (job_id, image_id) DO UPDATE SET reason = excluded.reason",
          j.id, f.image_id, f.filename, f.reason);
    }
    tx.commit();
    return true;
  });
}

Result<bool> PostgresCatalog::CancelPrewarmJob(const std::string& id, const std::string& finished_at) {
  return Run("cancel a prewarm job", [&](pqxx::connection& c) -> Result<bool> {
    pqxx::nontransaction tx(c);
    return tx.exec_params(
                 "UPDATE prewarm_jobs SET status = 'cancelled', finished_at = $1 "
                 "WHERE id = $2 AND " SAMCACHE_UNFINISHED,
                 finished_at, id)
               .affected_rows() > 0;
  });
}

Result<std::vector<PrewarmFailure>> PostgresCatalog::ListPrewarmFailures(const std::string& job_id) {
  return Run("list prewarm failures", [&](pqxx::connection& c) -> Result<std::vector<PrewarmFailure>> {
    pqxx::nontransaction tx(c);
    return Collect(
        tx.exec_params(
            "SELECT image_id, filename, reason FROM prewarm_failures WHERE job_id = $1 ORDER BY seq", job_id),
        ReadPrewarmFailure);
  });
}

Result<std::vector<std::pair<std::string, int64_t>>> PostgresCatalog::CountPrewarmJobsByStatus() {
  return Run(
      "count prewarm jobs", [&](pqxx::connection& c) -> Result<std::vector<std::pair<std::string, int64_t>>> {
        pqxx::nontransaction tx(c);
        return Collect(tx.exec("SELECT status, COUNT(*) FROM prewarm_jobs GROUP BY status ORDER BY status"),
                       ReadKeyCount);
      });
}

}  // namespace samcache::catalog_internal::postgres
