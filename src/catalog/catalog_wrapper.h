// A Catalog that forwards every call to another one (leveldb's EnvWrapper idea): a subclass
// overrides only the calls it wants to change, e.g. a test that makes AddImage fail.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "catalog/catalog.h"

namespace samcache {

class CatalogWrapper : public Catalog {
 public:
  // `target` must outlive the wrapper.
  explicit CatalogWrapper(Catalog& target) : target_(target) {}

  Catalog& target() const { return target_; }

  // CatalogSchema
  Status Migrate() override { return target_.Migrate(); }
  Result<int> SchemaVersion() override { return target_.SchemaVersion(); }

  // ImageCatalog
  Status CreateDataset(const DatasetRecord& dataset) override { return target_.CreateDataset(dataset); }
  Result<DatasetRecord> GetDataset(const std::string& id) override { return target_.GetDataset(id); }
  Result<std::optional<DatasetRecord>> FindDataset(const std::string& id_or_name) override {
    return target_.FindDataset(id_or_name);
  }
  Result<std::vector<DatasetRecord>> ListDatasets() override { return target_.ListDatasets(); }
  Result<std::vector<std::string>> DeleteDataset(const std::string& id) override {
    return target_.DeleteDataset(id);
  }
  Result<AddImageOutcome> AddImage(const NewImage& image) override { return target_.AddImage(image); }
  Result<ImageRecord> GetImage(const std::string& id) override { return target_.GetImage(id); }
  Result<std::vector<ImageRecord>> ListImages(const std::string& dataset_id) override {
    return target_.ListImages(dataset_id);
  }
  Result<std::vector<ImageKey>> ListImageKeys(const std::string& dataset_id) override {
    return target_.ListImageKeys(dataset_id);
  }
  Result<std::optional<BlobRecord>> FindBlob(const std::string& content_hash) override {
    return target_.FindBlob(content_hash);
  }
  Result<bool> HasBlob(const std::string& content_hash) override { return target_.HasBlob(content_hash); }
  Result<CatalogStats> Stats() override { return target_.Stats(); }
  Status ForEachPicture(
      const std::string& stored_since,
      const std::function<void(const std::string& pixel_hash, const PerceptualHash& hash)>& visit) override {
    return target_.ForEachPicture(stored_since, visit);
  }
  Result<std::vector<ImageRecord>> ListImagesWithPixelHash(const std::string& pixel_hash,
                                                           const std::string& project_id) override {
    return target_.ListImagesWithPixelHash(pixel_hash, project_id);
  }
  Result<std::vector<std::string>> BlobsWithoutPerceptualHash(const std::string& after,
                                                              size_t limit) override {
    return target_.BlobsWithoutPerceptualHash(after, limit);
  }
  Status SetPerceptualHash(const std::string& content_hash, const PerceptualHash& hash) override {
    return target_.SetPerceptualHash(content_hash, hash);
  }
  Result<std::vector<PixelCopy>> ListPixelCopies(const std::string& dataset_id) override {
    return target_.ListPixelCopies(dataset_id);
  }

  // ImagePages
  Result<ImagePage> ListImagePage(const ImagePageQuery& query) override {
    return target_.ListImagePage(query);
  }
  Result<DatasetCounts> CountDatasetImages(const std::string& dataset_id,
                                           const std::string& model_id) override {
    return target_.CountDatasetImages(dataset_id, model_id);
  }
  Status MarkNearDuplicates(const std::vector<std::string>& image_ids) override {
    return target_.MarkNearDuplicates(image_ids);
  }
  Result<std::string> CursorKey() override { return target_.CursorKey(); }

  // PrewarmQueue
  Status CreatePrewarmJob(const PrewarmJobRecord& job) override { return target_.CreatePrewarmJob(job); }
  Result<PrewarmJobRecord> GetPrewarmJob(const std::string& id) override { return target_.GetPrewarmJob(id); }
  Result<std::vector<PrewarmJobRecord>> ListUnfinishedPrewarmJobs() override {
    return target_.ListUnfinishedPrewarmJobs();
  }
  Result<std::optional<PrewarmJobRecord>> FindUnfinishedPrewarmJob(const std::string& dataset_id,
                                                                   const std::string& model_id) override {
    return target_.FindUnfinishedPrewarmJob(dataset_id, model_id);
  }
  Result<bool> ClaimPrewarmJob(const std::string& id, const std::string& expected_runner,
                               const std::string& runner, int64_t now_ms) override {
    return target_.ClaimPrewarmJob(id, expected_runner, runner, now_ms);
  }
  Result<std::optional<PrewarmJobRecord>> ClaimNextPrewarmJob(const std::string& model_id,
                                                              const std::string& runner, int64_t now_ms,
                                                              int64_t stale_before_ms) override {
    return target_.ClaimNextPrewarmJob(model_id, runner, now_ms, stale_before_ms);
  }
  Result<bool> HeartbeatPrewarmJob(const std::string& id, const std::string& runner,
                                   int64_t now_ms) override {
    return target_.HeartbeatPrewarmJob(id, runner, now_ms);
  }
  Result<bool> SavePrewarmProgress(const PrewarmJobRecord& job,
                                   const std::vector<PrewarmFailure>& new_failures) override {
    return target_.SavePrewarmProgress(job, new_failures);
  }
  Result<bool> CancelPrewarmJob(const std::string& id, const std::string& finished_at) override {
    return target_.CancelPrewarmJob(id, finished_at);
  }
  Result<std::vector<PrewarmFailure>> ListPrewarmFailures(const std::string& job_id) override {
    return target_.ListPrewarmFailures(job_id);
  }
  Result<std::vector<std::pair<std::string, int64_t>>> CountPrewarmJobsByStatus() override {
    return target_.CountPrewarmJobsByStatus();
  }

  // AnnotationCatalog
  Status CreateAnnotation(const AnnotationRecord& annotation) override {
    return target_.CreateAnnotation(annotation);
  }
  Result<AnnotationRecord> GetAnnotation(const std::string& id) override { return target_.GetAnnotation(id); }
  Result<std::vector<AnnotationRecord>> ListAnnotations(const std::string& image_id) override {
    return target_.ListAnnotations(image_id);
  }
  Result<std::vector<AnnotationRecord>> ListAnnotationsPage(const std::string& image_id,
                                                            int64_t after_position, size_t limit) override {
    return target_.ListAnnotationsPage(image_id, after_position, limit);
  }
  Result<std::vector<AnnotationRecord>> ListDatasetAnnotations(const std::string& dataset_id) override {
    return target_.ListDatasetAnnotations(dataset_id);
  }
  Status UpdateAnnotation(const AnnotationRecord& annotation) override {
    return target_.UpdateAnnotation(annotation);
  }
  Status DeleteAnnotation(const std::string& id) override { return target_.DeleteAnnotation(id); }
  Result<std::vector<std::pair<std::string, int64_t>>> CountAnnotationsPerImage(
      const std::string& dataset_id) override {
    return target_.CountAnnotationsPerImage(dataset_id);
  }

  // AccessCatalog
  Status CreateProject(const ProjectRecord& project) override { return target_.CreateProject(project); }
  Result<std::optional<ProjectRecord>> FindProject(const std::string& id_or_name) override {
    return target_.FindProject(id_or_name);
  }
  Result<std::vector<ProjectRecord>> ListProjects() override { return target_.ListProjects(); }
  Status DeleteProject(const std::string& id) override { return target_.DeleteProject(id); }
  Status CreateUser(const UserRecord& user) override { return target_.CreateUser(user); }
  Result<std::optional<UserRecord>> FindUser(const std::string& id_or_name) override {
    return target_.FindUser(id_or_name);
  }
  Result<std::vector<UserRecord>> ListUsers() override { return target_.ListUsers(); }
  Result<int64_t> CountUsers() override { return target_.CountUsers(); }
  Status UpdateUser(const UserRecord& user) override { return target_.UpdateUser(user); }
  Status DeleteUser(const std::string& id) override { return target_.DeleteUser(id); }
  Status SetMembership(const MembershipRecord& membership) override {
    return target_.SetMembership(membership);
  }
  Status RemoveMembership(const std::string& project_id, const std::string& user_id) override {
    return target_.RemoveMembership(project_id, user_id);
  }
  Result<std::vector<MembershipRecord>> ListMemberships(const std::string& user_id,
                                                        const std::string& project_id) override {
    return target_.ListMemberships(user_id, project_id);
  }
  Status CreateToken(const TokenRecord& token) override { return target_.CreateToken(token); }
  Result<std::optional<TokenRecord>> FindTokenByHash(const std::string& hash) override {
    return target_.FindTokenByHash(hash);
  }
  Result<std::optional<TokenRecord>> GetToken(const std::string& id) override { return target_.GetToken(id); }
  Result<std::vector<TokenRecord>> ListTokens(const std::string& user_id, TokenKind kind) override {
    return target_.ListTokens(user_id, kind);
  }
  Result<bool> RevokeToken(const std::string& id, const std::string& revoked_at) override {
    return target_.RevokeToken(id, revoked_at);
  }
  Status TouchToken(const std::string& id, const std::string& last_used_at) override {
    return target_.TouchToken(id, last_used_at);
  }
  Result<int64_t> PurgeTokens(TokenKind kind, const std::string& before) override {
    return target_.PurgeTokens(kind, before);
  }
  Status AddClaims(const std::string& project_id, const std::string& model_id,
                   const std::vector<std::string>& pixel_hashes) override {
    return target_.AddClaims(project_id, model_id, pixel_hashes);
  }
  Result<std::vector<std::string>> FilterClaimed(const std::string& project_id, const std::string& model_id,
                                                 const std::vector<std::string>& pixel_hashes) override {
    return target_.FilterClaimed(project_id, model_id, pixel_hashes);
  }
  Result<int64_t> CountClaims(const std::string& project_id, const std::string& model_id) override {
    return target_.CountClaims(project_id, model_id);
  }
  Result<std::vector<std::pair<std::string, std::string>>> ListClaims(const std::string& model_id) override {
    return target_.ListClaims(model_id);
  }

  // --- Whole-dataset work (streamed) ---
  Result<std::vector<ImageRecord>> ListImagesAfterPosition(const std::string& dataset_id,
                                                           int64_t after_position, size_t limit) override {
    return target_.ListImagesAfterPosition(dataset_id, after_position, limit);
  }
  Result<std::vector<std::pair<std::string, PerceptualHash>>> ListPicturesAfter(
      const std::string& stored_since, const std::string& after_pixel_hash, size_t limit) override {
    return target_.ListPicturesAfter(stored_since, after_pixel_hash, limit);
  }
  Result<std::vector<std::string>> ListSharedContent(const std::string& after, size_t limit) override {
    return target_.ListSharedContent(after, limit);
  }
  Result<std::vector<std::string>> ListMultiFilePictures(const std::string& after, size_t limit) override {
    return target_.ListMultiFilePictures(after, limit);
  }
  Result<std::vector<ImageRecord>> ListImagesWithContentHash(const std::string& content_hash) override {
    return target_.ListImagesWithContentHash(content_hash);
  }
  Result<DatasetDeletion> BeginDatasetDeletion(const std::string& id, const std::string& now) override {
    return target_.BeginDatasetDeletion(id, now);
  }
  Result<DeletionBatch> DeleteDatasetBatch(const std::string& id, size_t limit,
                                           const std::string& now) override {
    return target_.DeleteDatasetBatch(id, limit, now);
  }
  Result<std::optional<DatasetDeletion>> GetDatasetDeletion(const std::string& id) override {
    return target_.GetDatasetDeletion(id);
  }
  Result<std::vector<DatasetDeletion>> ListUnfinishedDatasetDeletions() override {
    return target_.ListUnfinishedDatasetDeletions();
  }
  Result<std::vector<std::string>> ListPendingBlobRemovals(const std::string& id) override {
    return target_.ListPendingBlobRemovals(id);
  }
  Status ForgetPendingBlobRemovals(const std::string& id, const std::vector<std::string>& content_hashes,
                                   int64_t files_removed) override {
    return target_.ForgetPendingBlobRemovals(id, content_hashes, files_removed);
  }
  Result<std::vector<PlacedAnnotation>> ListDatasetAnnotationsAfter(const std::string& dataset_id,
                                                                    const AnnotationPlace& after,
                                                                    size_t limit) override {
    return target_.ListDatasetAnnotationsAfter(dataset_id, after, limit);
  }
  Result<std::vector<std::string>> ListDatasetCategories(const std::string& dataset_id) override {
    return target_.ListDatasetCategories(dataset_id);
  }

 private:
  Catalog& target_;
};

}  // namespace samcache
