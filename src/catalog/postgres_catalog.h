// The PostgreSQL backend of the Catalog, for several samcache processes sharing one database.
//
// Each call borrows a connection from a small pool (postgres_pool.h) for its whole duration.
// Transactions run at READ COMMITTED; where the SQLite backend relies on its single writer,
// this one takes row locks instead:
//   - AddImage locks the dataset row (so positions within a dataset are handed out one at a
//     time) and inserts the blob with ON CONFLICT DO NOTHING, which makes a concurrent upload
//     of the same new content wait for the first one's commit. It then holds a share lock on
//     the blob row until it commits, and a transaction-scoped advisory lock on (project,
//     content) before looking for an earlier image of the project: of N uploads of one content
//     into one project exactly one finds none, also when the blob existed in another project.
//   - DeleteDataset locks the dataset, then its blob rows, before deleting those no image
//     refers to any more, so it never removes a blob an upload is about to refer to.
//   - The prewarm job updates are single compare-and-set UPDATEs (PostgreSQL re-checks the
//     WHERE clause on the newest row version after waiting for a concurrent writer).
// A connection that broke is dropped and the call is retried once on a new one; deadlocks and
// serialization failures are retried a few times. Error messages never contain the password.
//
// Its methods are defined by area: postgres_catalog.cpp (schema, datasets, images, blobs),
// postgres_pages.cpp, postgres_prewarm_queue.cpp, postgres_annotations.cpp and postgres_access.cpp. Internal
// to src/catalog: callers use OpenPostgresCatalog (catalog.h).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "catalog/catalog.h"
#include "catalog/postgres_pool.h"

namespace samcache::catalog_internal::postgres {

// The advisory lock AddImage and AddClaims take on a project's pixels (hashtextextended).
std::string PixelLockKey(const std::string& project_id, const std::string& pixel_hash);
// Adds `delta` to a counter of dataset_counts (image_pages.h), creating it at 0.
void BumpCounter(pqxx::work& tx, const std::string& dataset_id, const std::string& name, int64_t delta);
// Before a dataset is deleted: its images' copies in other datasets get the next oldest.
void ReassignDuplicates(pqxx::work& tx, const std::string& dataset_id);

class PostgresCatalog final : public Catalog {
 public:
  explicit PostgresCatalog(std::unique_ptr<ConnectionPool> pool) : pool_(std::move(pool)) {}

  // Opens one connection now, so that a wrong URL or an unreachable server is reported at
  // start-up rather than on the first request.
  Status Connect();

  // CatalogSchema
  Status Migrate() override;
  Result<int> SchemaVersion() override;

  // ImageCatalog
  Status CreateDataset(const DatasetRecord& d) override;
  Result<DatasetRecord> GetDataset(const std::string& id) override;
  Result<std::optional<DatasetRecord>> FindDataset(const std::string& id_or_name) override;
  Result<std::vector<DatasetRecord>> ListDatasets() override;
  Result<std::vector<std::string>> DeleteDataset(const std::string& id) override;
  Result<AddImageOutcome> AddImage(const NewImage& img) override;
  Result<ImageRecord> GetImage(const std::string& id) override;
  Result<std::vector<ImageRecord>> ListImages(const std::string& dataset_id) override;
  Result<std::vector<ImageKey>> ListImageKeys(const std::string& dataset_id) override;
  Result<std::optional<BlobRecord>> FindBlob(const std::string& content_hash) override;
  Result<bool> HasBlob(const std::string& content_hash) override;
  Result<CatalogStats> Stats() override;
  Status ForEachPicture(
      const std::string& stored_since,
      const std::function<void(const std::string& pixel_hash, const PerceptualHash& hash)>& visit) override;
  Result<std::vector<ImageRecord>> ListImagesWithPixelHash(const std::string& pixel_hash,
                                                           const std::string& project_id) override;
  Result<std::vector<std::string>> BlobsWithoutPerceptualHash(const std::string& after,
                                                              size_t limit) override;
  Status SetPerceptualHash(const std::string& content_hash, const PerceptualHash& hash) override;
  Result<std::vector<PixelCopy>> ListPixelCopies(const std::string& dataset_id) override;
  Status MarkNearDuplicates(const std::vector<std::string>& image_ids) override;

  // ImagePages
  Result<ImagePage> ListImagePage(const ImagePageQuery& query) override;
  Result<DatasetCounts> CountDatasetImages(const std::string& dataset_id,
                                           const std::string& model_id) override;
  Result<std::string> CursorKey() override;

  // PrewarmQueue
  Status CreatePrewarmJob(const PrewarmJobRecord& j) override;
  Result<PrewarmJobRecord> GetPrewarmJob(const std::string& id) override;
  Result<std::vector<PrewarmJobRecord>> ListUnfinishedPrewarmJobs() override;
  Result<std::optional<PrewarmJobRecord>> FindUnfinishedPrewarmJob(const std::string& dataset_id,
                                                                   const std::string& model_id) override;
  Result<bool> ClaimPrewarmJob(const std::string& id, const std::string& expected_runner,
                               const std::string& runner, int64_t now_ms) override;
  Result<std::optional<PrewarmJobRecord>> ClaimNextPrewarmJob(const std::string& model_id,
                                                              const std::string& runner, int64_t now_ms,
                                                              int64_t stale_before_ms) override;
  Result<bool> HeartbeatPrewarmJob(const std::string& id, const std::string& runner, int64_t now_ms) override;
  Result<bool> SavePrewarmProgress(const PrewarmJobRecord& j,
                                   const std::vector<PrewarmFailure>& new_failures) override;
  Result<bool> CancelPrewarmJob(const std::string& id, const std::string& finished_at) override;
  Result<std::vector<PrewarmFailure>> ListPrewarmFailures(const std::string& job_id) override;
  Result<std::vector<std::pair<std::string, int64_t>>> CountPrewarmJobsByStatus() override;

  // AnnotationCatalog
  Status CreateAnnotation(const AnnotationRecord& a) override;
  Result<AnnotationRecord> GetAnnotation(const std::string& id) override;
  Result<std::vector<AnnotationRecord>> ListAnnotations(const std::string& image_id) override;
  Result<std::vector<AnnotationRecord>> ListAnnotationsPage(const std::string& image_id,
                                                            int64_t after_position, size_t limit) override;
  Result<std::vector<AnnotationRecord>> ListDatasetAnnotations(const std::string& dataset_id) override;
  Status UpdateAnnotation(const AnnotationRecord& a) override;
  Status DeleteAnnotation(const std::string& id) override;
  Result<std::vector<std::pair<std::string, int64_t>>> CountAnnotationsPerImage(
      const std::string& dataset_id) override;

  // AccessCatalog
  Status CreateProject(const ProjectRecord& p) override;
  Result<std::optional<ProjectRecord>> FindProject(const std::string& id_or_name) override;
  Result<std::vector<ProjectRecord>> ListProjects() override;
  Status DeleteProject(const std::string& id) override;
  Status CreateUser(const UserRecord& u) override;
  Result<std::optional<UserRecord>> FindUser(const std::string& id_or_name) override;
  Result<std::vector<UserRecord>> ListUsers() override;
  Result<int64_t> CountUsers() override;
  Status UpdateUser(const UserRecord& u) override;
  Status DeleteUser(const std::string& id) override;
  Status SetMembership(const MembershipRecord& m) override;
  Status RemoveMembership(const std::string& project_id, const std::string& user_id) override;
  Result<std::vector<MembershipRecord>> ListMemberships(const std::string& user_id,
                                                        const std::string& project_id) override;
  Status CreateToken(const TokenRecord& t) override;
  Result<std::optional<TokenRecord>> FindTokenByHash(const std::string& hash) override;
  Result<std::optional<TokenRecord>> GetToken(const std::string& id) override;
  Result<std::vector<TokenRecord>> ListTokens(const std::string& user_id, TokenKind kind) override;
  Result<bool> RevokeToken(const std::string& id, const std::string& revoked_at) override;
  Status TouchToken(const std::string& id, const std::string& last_used_at) override;
  Result<int64_t> PurgeTokens(TokenKind kind, const std::string& before) override;
  Status AddClaims(const std::string& project_id, const std::string& model_id,
                   const std::vector<std::string>& pixel_hashes) override;
  Result<std::vector<std::string>> FilterClaimed(const std::string& project_id, const std::string& model_id,
                                                 const std::vector<std::string>& pixel_hashes) override;
  Result<int64_t> CountClaims(const std::string& project_id, const std::string& model_id) override;
  Result<std::vector<std::pair<std::string, std::string>>> ListClaims(const std::string& model_id) override;

  // --- Whole-dataset work (streamed) ---
  Result<std::vector<ImageRecord>> ListImagesAfterPosition(const std::string& dataset_id,
                                                           int64_t after_position, size_t limit) override;
  Result<std::vector<std::pair<std::string, PerceptualHash>>> ListPicturesAfter(
      const std::string& stored_since, const std::string& after_pixel_hash, size_t limit) override;
  Result<std::vector<std::string>> ListSharedContent(const std::string& after, size_t limit) override;
  Result<std::vector<std::string>> ListMultiFilePictures(const std::string& after, size_t limit) override;
  Result<std::vector<ImageRecord>> ListImagesWithContentHash(const std::string& content_hash) override;
  Result<DatasetDeletion> BeginDatasetDeletion(const std::string& id, const std::string& now) override;
  Result<DeletionBatch> DeleteDatasetBatch(const std::string& id, size_t limit,
                                           const std::string& now) override;
  Result<std::optional<DatasetDeletion>> GetDatasetDeletion(const std::string& id) override;
  Result<std::vector<DatasetDeletion>> ListUnfinishedDatasetDeletions() override;
  Result<std::vector<std::string>> ListPendingBlobRemovals(const std::string& id) override;
  Status ForgetPendingBlobRemovals(const std::string& id, const std::vector<std::string>& content_hashes,
                                   int64_t files_removed) override;
  Result<std::vector<PlacedAnnotation>> ListDatasetAnnotationsAfter(const std::string& dataset_id,
                                                                    const AnnotationPlace& after,
                                                                    size_t limit) override;
  Result<std::vector<std::string>> ListDatasetCategories(const std::string& dataset_id) override;

 private:
  template <typename Body>
  auto Run(const char* what, Body&& body) {
    return RunOnPool(*pool_, what, std::forward<Body>(body));
  }
  const std::vector<std::string>& secrets() const { return pool_->url().secrets; }

  std::unique_ptr<ConnectionPool> pool_;
  // Made once at migration and never changed: read once, not at every listing.
  std::mutex cursor_key_mu_;
  std::string cursor_key_;
};

}  // namespace samcache::catalog_internal::postgres
