#include "similar/duplicate_report.h"

#include <algorithm>
#include <functional>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <tuple>

#include "image/perceptual_hash.h"

namespace samcache {
namespace {

// Union-find over picture indices.
class Components {
 public:
  explicit Components(size_t n) : parent_(n) { std::iota(parent_.begin(), parent_.end(), size_t{0}); }
  size_t Find(size_t i) {
    while (parent_[i] != i) i = parent_[i] = parent_[parent_[i]];
    return i;
  }
  void Join(size_t a, size_t b) {
    a = Find(a);
    b = Find(b);
    if (a != b) parent_[std::max(a, b)] = std::min(a, b);
  }

 private:
  std::vector<size_t> parent_;
};

bool Older(const ReportedImage& a, const ReportedImage& b) {
  return std::tie(a.image.created_at, a.image.dataset_id, a.image.position) <
         std::tie(b.image.created_at, b.image.dataset_id, b.image.position);
}

// Groups in a stable order: biggest first, then by their first image.
void SortGroups(std::vector<DuplicateGroup>& groups) {
  for (DuplicateGroup& g : groups) std::stable_sort(g.images.begin(), g.images.end(), Older);
  std::stable_sort(groups.begin(), groups.end(), [](const DuplicateGroup& a, const DuplicateGroup& b) {
    if (a.images.size() != b.images.size()) return a.images.size() > b.images.size();
    return Older(a.images.front(), b.images.front());
  });
}

// The group of `images` if it has two or more and, for a dataset's report, one of them is in
// the dataset.
std::optional<DuplicateGroup> GroupOf(std::string key, std::vector<ImageRecord> images,
                                      const std::map<std::string, std::string>& dataset_names,
                                      const std::optional<DatasetRecord>& scope) {
  if (images.size() < 2) return std::nullopt;
  if (scope && std::none_of(images.begin(), images.end(),
                            [&](const ImageRecord& i) { return i.dataset_id == scope->id; })) {
    return std::nullopt;
  }
  DuplicateGroup g;
  g.key = std::move(key);
  for (ImageRecord& image : images) {
    const auto name = dataset_names.find(image.dataset_id);
    g.images.push_back(
        ReportedImage{std::move(image), name == dataset_names.end() ? "" : name->second, 0, false});
  }
  return g;
}

// Pages of keys (content or pixel hashes) from `list`, each turned into a group by `images`.
template <typename List, typename Images>
Status CollectGroups(List list, Images images, const std::map<std::string, std::string>& dataset_names,
                     const std::optional<DatasetRecord>& scope, std::vector<DuplicateGroup>& out) {
  constexpr size_t kPage = 1000;
  std::string after;
  for (;;) {
    SAMCACHE_ASSIGN_OR_RETURN(const std::vector<std::string> keys, list(after, kPage));
    for (const std::string& key : keys) {
      SAMCACHE_ASSIGN_OR_RETURN(std::vector<ImageRecord> members, images(key));
      if (std::optional<DuplicateGroup> g = GroupOf(key, std::move(members), dataset_names, scope))
        out.push_back(std::move(*g));
    }
    if (keys.size() < kPage) return Status::Ok();
    after = keys.back();
  }
}

}  // namespace

// Bounded memory at any catalog size: the groups come from the catalog a page of keys at a
// time, and the near-duplicate components are found over the finder's picture slots (8 bytes
// per picture for the union-find, 4 for the component sizes, a bit for "shown by an image"),
// so memory grows with the report, not with the catalog.
Result<DuplicateReport> BuildDuplicateReport(ImageCatalog& catalog, const NearDuplicateFinder& finder,
                                             const std::optional<std::string>& dataset_id, int max_distance) {
  DuplicateReport report;
  report.max_distance = max_distance;
  if (dataset_id) {
    SAMCACHE_ASSIGN_OR_RETURN(report.dataset, catalog.GetDataset(*dataset_id));
  }
  const std::optional<DatasetRecord>& scope = report.dataset;
  std::map<std::string, std::string> dataset_names;
  SAMCACHE_ASSIGN_OR_RETURN(const std::vector<DatasetRecord> datasets, catalog.ListDatasets());
  int64_t images = 0;
  for (const DatasetRecord& d : datasets) {
    dataset_names.emplace(d.id, d.name);
    images += d.image_count;
  }
  report.images_examined = static_cast<size_t>(scope ? scope->image_count : images);

  SAMCACHE_RETURN_IF_ERROR(
      CollectGroups([&](const std::string& after, size_t n) { return catalog.ListSharedContent(after, n); },
                    [&](const std::string& key) { return catalog.ListImagesWithContentHash(key); },
                    dataset_names, scope, report.same_file));
  SortGroups(report.same_file);
  // Same pixels: pictures stored in two or more distinct files (that images still show).
  SAMCACHE_RETURN_IF_ERROR(CollectGroups(
      [&](const std::string& after, size_t n) { return catalog.ListMultiFilePictures(after, n); },
      [&](const std::string& key) -> Result<std::vector<ImageRecord>> {
        SAMCACHE_ASSIGN_OR_RETURN(std::vector<ImageRecord> shown, catalog.ListImagesWithPixelHash(key, ""));
        std::set<std::string> files;
        for (const ImageRecord& i : shown) files.insert(i.content_hash);
        if (files.size() < 2) shown.clear();
        return shown;
      },
      dataset_names, scope, report.same_pixels));
  SortGroups(report.same_pixels);

  // Near duplicates: pictures are the nodes (by slot), index matches the links. Only pictures
  // the catalog lists (an image shows them) take part.
  const PictureIndex& index = finder.pictures();
  const size_t slots = index.slot_bound();
  Components components(slots);
  std::vector<bool> shown(slots, false);
  constexpr size_t kPage = 10'000;
  const auto each_picture =
      [&](const std::function<Status(const std::string&, const PerceptualHash&, uint32_t)>& visit) -> Status {
    std::string after;
    for (;;) {
      SAMCACHE_ASSIGN_OR_RETURN(const auto page, catalog.ListPicturesAfter("", after, kPage));
      for (const auto& [pixel_hash, hash] : page) {
        const int64_t slot = index.SlotOf(pixel_hash, hash.hash);
        if (slot >= 0 && static_cast<size_t>(slot) < slots)
          SAMCACHE_RETURN_IF_ERROR(visit(pixel_hash, hash, static_cast<uint32_t>(slot)));
      }
      if (page.size() < kPage) return Status::Ok();
      after = page.back().first;
    }
  };
  SAMCACHE_RETURN_IF_ERROR(each_picture([&](const std::string&, const PerceptualHash&, uint32_t slot) {
    shown[slot] = true;
    return Status::Ok();
  }));
  SAMCACHE_RETURN_IF_ERROR(each_picture([&](const std::string&, const PerceptualHash& hash, uint32_t slot) {
    for (const uint32_t other : index.FindSlots(hash, max_distance)) {
      if (other < slots && other != slot && shown[other]) components.Join(slot, other);
    }
    return Status::Ok();
  }));
  std::vector<uint32_t> size(slots, 0);
  for (size_t slot = 0; slot < slots; ++slot) {
    if (shown[slot]) ++size[components.Find(slot)];
  }
  // The members of components of two pictures or more: only these need their images.
  std::map<size_t, std::vector<std::string>> members;  // root -> pixel hashes
  SAMCACHE_RETURN_IF_ERROR(
      each_picture([&](const std::string& pixel_hash, const PerceptualHash&, uint32_t slot) {
        const size_t root = components.Find(slot);
        if (size[root] >= 2) members[root].push_back(pixel_hash);
        return Status::Ok();
      }));
  for (auto& [root, pictures] : members) {
    std::vector<ImageRecord> list;
    for (const std::string& pixel_hash : pictures) {
      SAMCACHE_ASSIGN_OR_RETURN(std::vector<ImageRecord> of, catalog.ListImagesWithPixelHash(pixel_hash, ""));
      for (ImageRecord& image : of) {
        if (image.perceptual_hash) list.push_back(std::move(image));
      }
    }
    std::set<std::string> distinct;
    for (const ImageRecord& image : list) distinct.insert(image.pixel_hash);
    if (distinct.size() < 2) continue;
    std::optional<DuplicateGroup> group = GroupOf("", std::move(list), dataset_names, scope);
    if (!group) continue;
    DuplicateGroup& g = *group;
    std::stable_sort(g.images.begin(), g.images.end(), Older);
    const PerceptualHash& first = *g.images.front().image.perceptual_hash;
    for (ReportedImage& r : g.images) {
      const PerceptualHash& h = *r.image.perceptual_hash;
      // Mirroring either picture; the two differ by a bit or two, take the closer.
      const int straight = HammingDistance(first.hash, h.hash);
      const int flipped =
          std::min(HammingDistance(first.mirrored, h.hash), HammingDistance(first.hash, h.mirrored));
      r.mirrored = flipped < straight;
      r.distance = std::min(straight, flipped);
    }
    report.near_duplicates.push_back(std::move(g));
  }
  SortGroups(report.near_duplicates);
  return report;
}

}  // namespace samcache
