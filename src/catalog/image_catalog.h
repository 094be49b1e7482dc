// Datasets, their images and the distinct blobs (contents) the images refer to, with what was
// derived from each blob once (pixel hash, perceptual hash, thumbnail).
//
// Part of the Catalog (catalog.h): thread-safe, and each mutating method is one transaction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "catalog/records.h"
#include "common/status.h"

namespace samcache {

class ImageCatalog {
 public:
  virtual ~ImageCatalog() = default;

  // --- Datasets ---
  // NotFound when its project does not exist.
  virtual Status CreateDataset(const DatasetRecord& dataset) = 0;
  // NotFound when no dataset has this id.
  virtual Result<DatasetRecord> GetDataset(const std::string& id) = 0;
  // Finds a dataset by id, or else by exact name (the newest of that name).
  virtual Result<std::optional<DatasetRecord>> FindDataset(const std::string& id_or_name) = 0;
  // Newest first.
  virtual Result<std::vector<DatasetRecord>> ListDatasets() = 0;
  // Removes the dataset and its images (with their annotations; its unfinished prewarm jobs are
  // cancelled, and its project's claims of pictures no other dataset of the project shows). Returns the
  // content hashes whose blob rows were removed because no image refers to them any more: the caller deletes
  // those files.
  virtual Result<std::vector<std::string>> DeleteDataset(const std::string& id) = 0;

  // --- Images and blobs ---
  // Inserts the blob (if new) and the image in one transaction. NotFound if the dataset
  // does not exist.
  virtual Result<AddImageOutcome> AddImage(const NewImage& image) = 0;
  virtual Result<ImageRecord> GetImage(const std::string& id) = 0;
  // In upload order.
  virtual Result<std::vector<ImageRecord>> ListImages(const std::string& dataset_id) = 0;
  // The same images as ListImages, in the same order, as keys only.
  virtual Result<std::vector<ImageKey>> ListImageKeys(const std::string& dataset_id) = 0;

  virtual Result<std::optional<BlobRecord>> FindBlob(const std::string& content_hash) = 0;
  virtual Result<bool> HasBlob(const std::string& content_hash) = 0;
  virtual Result<CatalogStats> Stats() = 0;

  // --- Perceptual hashes (near duplicates) and pixel copies ---
  // Calls `visit` once per distinct picture (pixel_hash) whose perceptual hash is known and
  // whose content was stored at or after `stored_since` (ISO 8601 UTC, as created_at; empty:
  // all), in no particular order. `visit` must not call back into the catalog.
  virtual Status ForEachPicture(
      const std::string& stored_since,
      const std::function<void(const std::string& pixel_hash, const PerceptualHash& hash)>& visit) = 0;
  // Every image showing exactly these pixels in the project's datasets (empty project_id: in
  // any dataset), oldest first.
  virtual Result<std::vector<ImageRecord>> ListImagesWithPixelHash(const std::string& pixel_hash,
                                                                   const std::string& project_id) = 0;
  // Up to `limit` content hashes of blobs without a perceptual hash, in order, after `after`.
  virtual Result<std::vector<std::string>> BlobsWithoutPerceptualHash(const std::string& after,
                                                                      size_t limit) = 0;
  // NotFound when no blob has this content hash.
  virtual Status SetPerceptualHash(const std::string& content_hash, const PerceptualHash& hash) = 0;
  // Marks these images as having a near duplicate in their project (unknown ids are skipped),
  // for ImagePages' near_duplicates filter. Never unmarked: a near duplicate deleted later
  // leaves the mark (docs/API.md).
  virtual Status MarkNearDuplicates(const std::vector<std::string>& image_ids) = 0;
  // The dataset's images whose pixels an older image of the same project (same order as
  // ListImagesWithPixelHash) already has, each with that oldest image.
  virtual Result<std::vector<PixelCopy>> ListPixelCopies(const std::string& dataset_id) = 0;

  // --- Whole-dataset work (streamed) ---
  // Up to `limit` of the dataset's images with a position above `after_position`, in upload
  // order (ListImages' order). -1 starts at the first.
  virtual Result<std::vector<ImageRecord>> ListImagesAfterPosition(const std::string& dataset_id,
                                                                   int64_t after_position, size_t limit) = 0;
  // Up to `limit` distinct pictures with a perceptual hash (as ForEachPicture, stored at or
  // after `stored_since`), by pixel_hash after `after_pixel_hash`.
  virtual Result<std::vector<std::pair<std::string, PerceptualHash>>> ListPicturesAfter(
      const std::string& stored_since, const std::string& after_pixel_hash, size_t limit) = 0;

  // Up to `limit` content hashes shown by two images or more, in order, after `after`.
  virtual Result<std::vector<std::string>> ListSharedContent(const std::string& after, size_t limit) = 0;
  // Up to `limit` pixel hashes stored in two distinct files or more, in order, after `after`.
  virtual Result<std::vector<std::string>> ListMultiFilePictures(const std::string& after, size_t limit) = 0;
  // Every image of this content, oldest first.
  virtual Result<std::vector<ImageRecord>> ListImagesWithContentHash(const std::string& content_hash) = 0;

  // Background deletion of a dataset. Begin hides the dataset (GetDataset, FindDataset,
  // ListDatasets, ListImagesWithPixelHash no longer see it, AddImage refuses it, its
  // unfinished prewarm jobs are cancelled) and records the deletion, in one transaction; on a
  // dataset being deleted already it returns that deletion. NotFound for an unknown dataset.
  virtual Result<DatasetDeletion> BeginDatasetDeletion(const std::string& id, const std::string& now) = 0;
  // One transaction: removes up to `limit` of the hidden dataset's images (with their
  // annotations and the project's claims no other dataset of the project backs), their blob
  // rows no image refers to any more (recorded as pending blob removals, see below), and,
  // when no image is left, the dataset row (the deletion is then finished at `now`).
  // NotFound when no deletion of this dataset is under way.
  virtual Result<DeletionBatch> DeleteDatasetBatch(const std::string& id, size_t limit,
                                                   const std::string& now) = 0;
  // The deletion of `id` (under way or finished), if any.
  virtual Result<std::optional<DatasetDeletion>> GetDatasetDeletion(const std::string& id) = 0;
  virtual Result<std::vector<DatasetDeletion>> ListUnfinishedDatasetDeletions() = 0;
  // Blob rows a batch removed whose files may still exist: the deleter removes the files, then
  // forgets them (adding `files_removed` to the deletion's blobs_removed), so a crash between
  // the two leaves them listed here for the next start.
  virtual Result<std::vector<std::string>> ListPendingBlobRemovals(const std::string& id) = 0;
  virtual Status ForgetPendingBlobRemovals(const std::string& id,
                                           const std::vector<std::string>& content_hashes,
                                           int64_t files_removed) = 0;
};

}  // namespace samcache
