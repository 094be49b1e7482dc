#include "similar/near_duplicates.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <tuple>

#include "common/crypto.h"
#include "common/files.h"

namespace samcache {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// A SHA-256 hex digest as its 32 bytes; false unless it is one.
bool ParseDigest(std::string_view hex, std::array<uint8_t, 32>& out) {
  if (!IsSha256Hex(hex)) return false;
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<uint8_t>(HexDigit(hex[2 * i]) << 4 | HexDigit(hex[2 * i + 1]));
  }
  return true;
}

}  // namespace

// --- PictureIndex ------------------------------------------------------------------------

int64_t PictureIndex::SlotOfLocked(const Digest& digest, uint64_t hash) const {
  std::vector<HammingIndex::Match> exact;
  index_.Search(hash, 0, exact);
  for (const auto& m : exact) {
    if (slots_[m.value] == digest) return m.value;
  }
  return -1;
}

bool PictureIndex::AddLocked(const std::string& pixel_hash, uint64_t hash) {
  Digest digest;
  if (!ParseDigest(pixel_hash, digest)) return false;
  if (SlotOfLocked(digest, hash) >= 0) return true;
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
    slots_[slot] = digest;
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.push_back(digest);
  }
  index_.Insert(hash, slot);
  return true;
}

bool PictureIndex::Add(const std::string& pixel_hash, uint64_t hash) {
  std::unique_lock lock(mu_);
  return AddLocked(pixel_hash, hash);
}

void PictureIndex::Remove(const std::string& pixel_hash, uint64_t hash) {
  Digest digest;
  if (!ParseDigest(pixel_hash, digest)) return;
  std::unique_lock lock(mu_);
  const int64_t slot = SlotOfLocked(digest, hash);
  if (slot < 0) return;
  index_.Erase(hash, static_cast<uint32_t>(slot));
  free_slots_.push_back(static_cast<uint32_t>(slot));
}

void PictureIndex::Clear() {
  std::unique_lock lock(mu_);
  index_.Clear();
  slots_.clear();
  free_slots_.clear();
}

size_t PictureIndex::size() const {
  std::shared_lock lock(mu_);
  return index_.size();
}

std::vector<PictureIndex::Match> PictureIndex::FindLocked(const PerceptualHash& hash, int max_distance,
                                                          std::string_view exclude) const {
  Digest excluded{};
  const bool exclude_one = ParseDigest(exclude, excluded);
  // Best (distance, mirrored) per slot: a picture may be close both ways.
  struct Best {
    int distance;
    bool mirrored;
    uint64_t code;
  };
  std::map<uint32_t, Best> best;
  std::vector<HammingIndex::Match> found;
  for (const bool mirrored : {false, true}) {
    found.clear();
    index_.Search(mirrored ? hash.mirrored : hash.hash, max_distance, found);
    for (const auto& m : found) {
      if (exclude_one && slots_[m.value] == excluded) continue;
      auto [it, inserted] = best.try_emplace(m.value, Best{m.distance, mirrored, m.code});
      if (!inserted && m.distance < it->second.distance) it->second = {m.distance, mirrored, m.code};
    }
  }
  std::vector<Match> out;
  out.reserve(best.size());
  for (const auto& [slot, how] : best) {
    out.push_back(
        {HexEncode(slots_[slot].data(), slots_[slot].size()), how.code, how.distance, how.mirrored});
  }
  std::sort(out.begin(), out.end(), [](const Match& a, const Match& b) {
    return std::tie(a.distance, a.mirrored, a.pixel_hash) < std::tie(b.distance, b.mirrored, b.pixel_hash);
  });
  return out;
}

std::vector<PictureIndex::Match> PictureIndex::Find(const PerceptualHash& hash, int max_distance,
                                                    std::string_view exclude_pixel_hash) const {
  std::shared_lock lock(mu_);
  return FindLocked(hash, max_distance, exclude_pixel_hash);
}

std::vector<PictureIndex::Match> PictureIndex::FindAndAdd(const std::string& pixel_hash,
                                                          const PerceptualHash& hash, int max_distance) {
  std::unique_lock lock(mu_);
  std::vector<Match> matches = FindLocked(hash, max_distance, pixel_hash);
  AddLocked(pixel_hash, hash.hash);
  return matches;
}

// --- NearDuplicateFinder -----------------------------------------------------------------

std::string_view RelationName(SimilarImage::Relation relation) {
  switch (relation) {
    case SimilarImage::Relation::kSameFile:
      return "same_file";
    case SimilarImage::Relation::kSamePixels:
      return "same_pixels";
    case SimilarImage::Relation::kNearDuplicate:
      return "near_duplicate";
  }
  return "near_duplicate";
}

NearDuplicateFinder::NearDuplicateFinder(ImageCatalog& catalog, int default_distance,
                                         std::chrono::milliseconds catch_up_interval)
    : catalog_(catalog), default_distance_(default_distance), catch_up_interval_(catch_up_interval) {}

Status NearDuplicateFinder::Rebuild() {
  std::lock_guard catching_up(catch_up_mu_);
  const auto scan_start = std::chrono::system_clock::now();
  std::lock_guard membership(membership_mu_);
  pictures_.Clear();
  size_t skipped = 0;
  SAMCACHE_RETURN_IF_ERROR(
      catalog_.ForEachPicture("", [&](const std::string& pixel_hash, const PerceptualHash& hash) {
        if (!pictures_.Add(pixel_hash, hash.hash)) ++skipped;
      }));
  if (skipped > 0)
    spdlog::warn("[NEAR-DUP] {} picture(s) with a malformed pixel_hash left out of the index", skipped);
  last_scan_start_ = scan_start;
  last_catch_up_ = std::chrono::steady_clock::now();
  return Status::Ok();
}

void NearDuplicateFinder::CatchUp() {
  std::unique_lock catching_up(catch_up_mu_, std::try_to_lock);
  if (!catching_up.owns_lock()) return;  // another search is catching up right now
  if (std::chrono::steady_clock::now() - last_catch_up_ < catch_up_interval_) return;
  const auto scan_start = std::chrono::system_clock::now();
  // Read first, then add under the membership lock, as a stored image's picture is added.
  std::vector<std::pair<std::string, uint64_t>> stored;
  const Status listed =
      catalog_.ForEachPicture(Iso8601(last_scan_start_ - kCatchUpOverlap),
                              [&](const std::string& pixel_hash, const PerceptualHash& hash) {
                                stored.emplace_back(pixel_hash, hash.hash);
                              });
  last_catch_up_ = std::chrono::steady_clock::now();
  if (!listed.ok()) {
    spdlog::warn("[NEAR-DUP] could not read the pictures stored by other instances: {}", listed.message());
    return;
  }
  last_scan_start_ = scan_start;
  std::lock_guard membership(membership_mu_);
  const size_t before = pictures_.size();
  for (const auto& [pixel_hash, hash] : stored) pictures_.Add(pixel_hash, hash);
  if (pictures_.size() > before)
    spdlog::debug("[NEAR-DUP] took in {} picture(s) stored by other instances", pictures_.size() - before);
}

Result<std::string> NearDuplicateFinder::DatasetName(const std::string& dataset_id) {
  SAMCACHE_ASSIGN_OR_RETURN(const DatasetRecord dataset, catalog_.GetDataset(dataset_id));
  return dataset.name;
}

Status NearDuplicateFinder::DropIfUnused(const std::string& pixel_hash, uint64_t hash) {
  std::lock_guard membership(membership_mu_);
  SAMCACHE_ASSIGN_OR_RETURN(const std::vector<ImageRecord> users,
                            catalog_.ListImagesWithPixelHash(pixel_hash, /*project_id=*/""));
  if (users.empty()) pictures_.Remove(pixel_hash, hash);
  return Status::Ok();
}

Status NearDuplicateFinder::Resolve(const std::vector<PictureIndex::Match>& matches,
                                    const std::string& project_id, size_t limit,
                                    std::vector<SimilarImage>& out) {
  std::map<std::string, std::string> dataset_names;
  size_t resolved = 0;
  for (const PictureIndex::Match& match : matches) {
    if (out.size() >= limit || resolved++ >= kMaxPicturesResolved) break;
    // Only the project's images: another project's are not this caller's to know of.
    SAMCACHE_ASSIGN_OR_RETURN(std::vector<ImageRecord> images,
                              catalog_.ListImagesWithPixelHash(match.pixel_hash, project_id));
    if (images.empty()) {
      // Another project's picture, or one no image shows any more (deleted by another
      // process, or a delete raced an upload): dropped in that case.
      SAMCACHE_RETURN_IF_ERROR(DropIfUnused(match.pixel_hash, match.hash));
      continue;
    }
    for (ImageRecord& image : images) {
      if (out.size() >= limit) break;
      auto name = dataset_names.find(image.dataset_id);
      if (name == dataset_names.end()) {
        Result<std::string> found = DatasetName(image.dataset_id);
        if (!found.ok() && found.status().code() != StatusCode::kNotFound) return found.status();
        name = dataset_names.emplace(image.dataset_id, found.ok() ? *found : std::string()).first;
      }
      SimilarImage similar;
      similar.dataset_name = name->second;
      similar.distance = match.distance;
      similar.mirrored = match.mirrored;
      similar.relation = SimilarImage::Relation::kNearDuplicate;
      similar.image = std::move(image);
      out.push_back(std::move(similar));
    }
  }
  return Status::Ok();
}

Result<std::vector<SimilarImage>> NearDuplicateFinder::OnImageStored(const ImageRecord& image,
                                                                     const std::string& project_id,
                                                                     size_t limit) {
  std::vector<SimilarImage> out;
  if (!image.perceptual_hash) return out;
  CatchUp();
  std::vector<PictureIndex::Match> matches;
  {
    std::lock_guard membership(membership_mu_);
    matches = pictures_.FindAndAdd(image.pixel_hash, *image.perceptual_hash, default_distance_);
  }
  SAMCACHE_RETURN_IF_ERROR(Resolve(matches, project_id, limit, out));
  MarkNearDuplicates(image, out);
  return out;
}

void NearDuplicateFinder::MarkNearDuplicates(const ImageRecord& image,
                                             const std::vector<SimilarImage>& found) {
  if (found.empty()) return;
  std::vector<std::string> ids{image.id};
  for (const SimilarImage& similar : found) ids.push_back(similar.image.id);
  // A mark for the dataset page's filter: a failure costs the mark, not the upload.
  if (const Status marked = catalog_.MarkNearDuplicates(ids); !marked.ok()) {
    spdlog::warn("[NEAR-DUP] could not mark image {} and its near duplicates: {}", image.id,
                 marked.message());
  }
}

Status NearDuplicateFinder::OnImagesDeleted(const std::vector<ImageRecord>& deleted) {
  std::map<std::string, uint64_t> pictures;
  for (const ImageRecord& image : deleted) {
    if (image.perceptual_hash) pictures.emplace(image.pixel_hash, image.perceptual_hash->hash);
  }
  for (const auto& [pixel_hash, hash] : pictures) SAMCACHE_RETURN_IF_ERROR(DropIfUnused(pixel_hash, hash));
  return Status::Ok();
}

Result<std::vector<SimilarImage>> NearDuplicateFinder::FindSimilar(const ImageRecord& image,
                                                                   const std::string& project_id,
                                                                   int max_distance, size_t limit) {
  std::vector<SimilarImage> out;
  SAMCACHE_ASSIGN_OR_RETURN(std::vector<ImageRecord> same,
                            catalog_.ListImagesWithPixelHash(image.pixel_hash, project_id));
  for (ImageRecord& other : same) {
    if (other.id == image.id) continue;
    if (out.size() >= limit) return out;
    SimilarImage similar;
    Result<std::string> name = DatasetName(other.dataset_id);
    similar.dataset_name = name.ok() ? *name : std::string();
    similar.relation = other.content_hash == image.content_hash ? SimilarImage::Relation::kSameFile
                                                                : SimilarImage::Relation::kSamePixels;
    similar.image = std::move(other);
    out.push_back(std::move(similar));
  }
  // Same-file copies before same-pixel ones; each group oldest first, as listed.
  std::stable_sort(out.begin(), out.end(),
                   [](const SimilarImage& a, const SimilarImage& b) { return a.relation < b.relation; });
  if (!image.perceptual_hash) return out;
  CatchUp();
  SAMCACHE_RETURN_IF_ERROR(Resolve(pictures_.Find(*image.perceptual_hash, max_distance, image.pixel_hash),
                                   project_id, limit, out));
  return out;
}

}  // namespace samcache
