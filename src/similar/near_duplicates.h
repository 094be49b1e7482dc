// Near duplicates: images whose pictures differ (another pixel_hash) but look alike (their
// perceptual hashes are within a Hamming distance), such as a resized, re-compressed, lightly
// cropped, brightened or mirrored copy of a photo.
//
// Same-pixel copies (equal pixel_hash) are not near duplicates: they are the same picture and
// share its embedding. Near duplicates never do: their pixels differ, so would their
// embeddings.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/image_catalog.h"
#include "common/status.h"
#include "similar/hamming_index.h"

namespace samcache {

// The default --near-duplicate-distance, in bits of 64. bench/README.md has the measurements
// behind it: every resized, re-compressed, brightened, darkened and mirrored copy of the
// benchmark's photos and 99% of its 3% crops are within it, no unrelated pair is, and at a
// million pictures it means about one false match per seven uploads (12 would mean three per
// upload).
inline constexpr int kDefaultNearDuplicateDistance = 10;
// Beyond this, half of the bits may differ: random pictures start to match.
inline constexpr int kMaxNearDuplicateDistance = 32;

// Distinct pictures (by pixel_hash) indexed by perceptual hash. Thread-safe.
class PictureIndex {
 public:
  struct Match {
    std::string pixel_hash;
    uint64_t hash = 0;  // the matched picture's perceptual hash
    int distance = 0;
    bool mirrored = false;  // the match looks like this picture flipped left to right
  };

  // Adds a picture; nothing happens when it is there already. False (and nothing added) when
  // `pixel_hash` is not a SHA-256 hex digest.
  bool Add(const std::string& pixel_hash, uint64_t hash);
  // Removes a picture if present.
  void Remove(const std::string& pixel_hash, uint64_t hash);
  void Clear();
  size_t size() const;

  // Pictures within `max_distance` of `hash.hash` (mirrored = false) or of `hash.mirrored`
  // (mirrored = true; a picture close both ways is reported once, unmirrored if that is as
  // close), except `exclude_pixel_hash`. Closest first, then unmirrored first.
  std::vector<Match> Find(const PerceptualHash& hash, int max_distance,
                          std::string_view exclude_pixel_hash) const;
  // Find, then Add, as one step: of two similar pictures added at the same time, the second
  // finds the first.
  std::vector<Match> FindAndAdd(const std::string& pixel_hash, const PerceptualHash& hash, int max_distance);

 private:
  using Digest = std::array<uint8_t, 32>;
  std::vector<Match> FindLocked(const PerceptualHash& hash, int max_distance, std::string_view exclude) const;
  bool AddLocked(const std::string& pixel_hash, uint64_t hash);
  // The slot holding this picture, or -1.
  int64_t SlotOfLocked(const Digest& digest, uint64_t hash) const;

  mutable std::shared_mutex mu_;
  HammingIndex index_;         // values are slots
  std::vector<Digest> slots_;  // pixel_hash of each slot, as bytes
  std::vector<uint32_t> free_slots_;
};

// An image that looks like another one.
struct SimilarImage {
  enum class Relation {
    kSameFile,       // the same bytes (content_hash)
    kSamePixels,     // another file with the same pixels (pixel_hash)
    kNearDuplicate,  // other pixels, perceptual hashes within the distance
  };
  ImageRecord image;
  std::string dataset_name;
  int distance = 0;
  bool mirrored = false;
  Relation relation = Relation::kNearDuplicate;
};
std::string_view RelationName(SimilarImage::Relation relation);

// The picture index kept in step with the catalog: rebuilt from it at start-up, told about
// every stored image and every deleted dataset, and answering with catalog images.
//
// The catalog is the truth: a picture in the index that no image shows any more (deleted by
// another process, or by a delete that raced with an upload) is skipped and dropped when a
// search meets it. Pictures stored by other processes sharing the catalog are taken in before
// a search, at most once per catch-up interval (see CatchUp). Thread-safe.
class NearDuplicateFinder {
 public:
  // How far back each catch-up looks before the previous one began: the content's storage
  // time is stamped before its row commits, on the clock of the machine that stored it.
  static constexpr std::chrono::seconds kCatchUpOverlap{60};
  static constexpr std::chrono::milliseconds kDefaultCatchUpInterval{1000};
  // The index holds every project's pictures (one entry per picture) and a search keeps the
  // matches its project shows, one catalog query per matched picture: this bounds the
  // queries of one search (a /similar at distance 32 matches half the index). Closest first,
  // so a search meets fewer only when this many pictures are closer than what it lists.
  static constexpr size_t kMaxPicturesResolved = 2000;

  NearDuplicateFinder(ImageCatalog& catalog, int default_distance,
                      std::chrono::milliseconds catch_up_interval = kDefaultCatchUpInterval);

  // Replaces the index with every picture in the catalog that has a perceptual hash.
  Status Rebuild();
  // Adds the pictures stored since the previous catch-up (or the Rebuild) began, less the
  // overlap, unless the last one is more recent than the catch-up interval. Searches call it;
  // a failure is logged and the search goes on with the index as it is.
  void CatchUp();

  // For an image just stored in a dataset of `project_id`: the near duplicates among that
  // project's images (up to `limit`, closest first), then adds its picture to the index.
  // Nothing when it has no perceptual hash.
  Result<std::vector<SimilarImage>> OnImageStored(const ImageRecord& image, const std::string& project_id,
                                                  size_t limit);
  // After images were deleted: drops their pictures that no remaining image shows.
  Status OnImagesDeleted(const std::vector<ImageRecord>& deleted);

  // The other images of `project_id`'s datasets that look like `image` within
  // `max_distance`: its same-file and same-pixel copies (distance 0) first, then near
  // duplicates, closest first; up to `limit`.
  Result<std::vector<SimilarImage>> FindSimilar(const ImageRecord& image, const std::string& project_id,
                                                int max_distance, size_t limit);

  // Near-duplicate pictures of `hash` (see PictureIndex::Find).
  std::vector<PictureIndex::Match> FindPictures(const PerceptualHash& hash, int max_distance,
                                                std::string_view exclude_pixel_hash) const {
    return pictures_.Find(hash, max_distance, exclude_pixel_hash);
  }

  int default_distance() const { return default_distance_; }
  size_t picture_count() const { return pictures_.size(); }

 private:
  // Appends the images of `matches` in the project's datasets as near duplicates, up to
  // `limit` in all, looking at no more than kMaxPicturesResolved matches.
  Status Resolve(const std::vector<PictureIndex::Match>& matches, const std::string& project_id, size_t limit,
                 std::vector<SimilarImage>& out);
  Result<std::string> DatasetName(const std::string& dataset_id);
  // Marks a stored image and the near duplicates found for it (ImageCatalog::MarkNearDuplicates).
  void MarkNearDuplicates(const ImageRecord& image, const std::vector<SimilarImage>& found);
  // Removes `pixel_hash` from the index if no image shows it. Serialised with
  // OnImageStored's add, so a picture being stored again is never dropped.
  Status DropIfUnused(const std::string& pixel_hash, uint64_t hash);

  ImageCatalog& catalog_;
  const int default_distance_;
  const std::chrono::milliseconds catch_up_interval_;
  PictureIndex pictures_;
  std::mutex membership_mu_;  // held across "is it still used?" and the removal, and by adds

  std::mutex catch_up_mu_;  // one catch-up at a time; the others go on without waiting
  std::chrono::system_clock::time_point last_scan_start_;  // wall clock: compared with created_at
  std::chrono::steady_clock::time_point last_catch_up_;
};

}  // namespace samcache
