// The SQLite backend of the Catalog: one connection (sqlite_connection.h) guarded by a mutex.
// Several processes (serve, ingest) may share the file: writers take the lock up front
// (BEGIN IMMEDIATE) and wait on each other (busy_timeout).
//
// Its methods are defined by area: sqlite_catalog.cpp (schema, datasets, images, blobs),
// sqlite_pages.cpp, sqlite_prewarm_queue.cpp, sqlite_annotations.cpp and sqlite_access.cpp. Internal to
// src/catalog: callers use OpenSqliteCatalog (catalog.h).
#pragma once

#include <mutex>
#include <string>
#include <utility>

#include "catalog/catalog.h"
#include "catalog/sqlite_connection.h"

namespace samcache::catalog_internal::sqlite {

class SqliteCatalog final : public Catalog {
 public:
  Status Open(const std::string& path);

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
  // Runs `body` (returning a Status or a Result) in one write transaction, taken up front so
  // that a concurrent writer waits rather than fails: committed when `body` succeeds and
  // `commit(result)` agrees, rolled back otherwise. Called with mu_ held.
  template <typename Body, typename Commit>
  auto InWriteTransaction(Body&& body, Commit&& commit) -> decltype(body()) {
    SAMCACHE_RETURN_IF_ERROR(conn_.Exec("BEGIN IMMEDIATE"));
    auto result = body();
    if (result.ok() && commit(result)) {
      Status committed = conn_.Exec("COMMIT");
      if (committed.ok()) return result;
      result = std::move(committed);
    }
    (void)conn_.Exec("ROLLBACK");
    return result;
  }
  template <typename Body>
  auto InWriteTransaction(Body&& body) -> decltype(body()) {
    return InWriteTransaction(std::forward<Body>(body), [](const auto&) { return true; });
  }

  Result<int> VersionLocked();
  Result<ImageRecord> GetImageLocked(const std::string& id);
  Result<std::optional<BlobRecord>> FindBlobLocked(const std::string& content_hash);
  Result<AddImageOutcome> AddImageLocked(const NewImage& img);
  Result<std::vector<std::string>> DeleteDatasetLocked(const std::string& id);
  Result<std::optional<PrewarmJobRecord>> ClaimNextPrewarmJobLocked(const std::string& model_id,
                                                                    const std::string& runner, int64_t now_ms,
                                                                    int64_t stale_before_ms);
  Result<bool> SavePrewarmProgressLocked(const PrewarmJobRecord& j,
                                         const std::vector<PrewarmFailure>& new_failures);
  Status CreateAnnotationLocked(const AnnotationRecord& a);
  // Adds `delta` to the image's annotation_count and moves its dataset's "annotated" counter.
  Status CountAnnotationLocked(const std::string& image_id, int64_t delta);
  Result<DatasetCounts> CountDatasetImagesLocked(const std::string& dataset_id, const std::string& model_id);
  // Adds `delta` to a counter of dataset_counts (image_pages.h), creating it at 0.
  Status BumpCounterLocked(const std::string& dataset_id, const std::string& name, int64_t delta);
  // Points the other datasets' images whose oldest copy is in `dataset_id` at the next oldest
  // (or at none), and recounts their datasets' duplicates: before `dataset_id` is deleted.
  Status ReassignDuplicatesLocked(const std::string& dataset_id);

  std::mutex mu_;
  Connection conn_;
};

}  // namespace samcache::catalog_internal::sqlite
