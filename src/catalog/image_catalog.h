// Datasets, their images and the distinct blobs (contents) the images refer to, with what was
// derived from each blob once (pixel hash, perceptual hash, thumbnail).
//
// Part of the Catalog (catalog.h): thread-safe, and each mutating method is one transaction.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
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
};

}  // namespace samcache
