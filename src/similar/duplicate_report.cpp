#include "similar/duplicate_report.h"

#include <algorithm>
#include <map>
#include <numeric>
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

// Groups of images sharing `key`, of at least two images, that include one of `in_scope`.
template <typename Key>
std::vector<DuplicateGroup> GroupBy(const std::vector<ReportedImage>& images, Key key,
                                    const std::set<std::string>& in_scope, bool whole_catalog) {
  std::map<std::string, std::vector<const ReportedImage*>> by_key;
  for (const ReportedImage& r : images) by_key[key(r.image)].push_back(&r);
  std::vector<DuplicateGroup> groups;
  for (auto& [k, members] : by_key) {
    if (members.size() < 2) continue;
    const bool wanted =
        whole_catalog || std::any_of(members.begin(), members.end(),
                                     [&](const ReportedImage* r) { return in_scope.count(r->image.id) > 0; });
    if (!wanted) continue;
    DuplicateGroup g;
    g.key = k;
    for (const ReportedImage* r : members) g.images.push_back(*r);
    groups.push_back(std::move(g));
  }
  SortGroups(groups);
  return groups;
}

}  // namespace

Result<DuplicateReport> BuildDuplicateReport(ImageCatalog& catalog, const NearDuplicateFinder& finder,
                                             const std::optional<std::string>& dataset_id, int max_distance) {
  DuplicateReport report;
  report.max_distance = max_distance;
  if (dataset_id) {
    SAMCACHE_ASSIGN_OR_RETURN(report.dataset, catalog.GetDataset(*dataset_id));
  }

  // Every image, since a dataset's duplicates may be anywhere.
  SAMCACHE_ASSIGN_OR_RETURN(const std::vector<DatasetRecord> datasets, catalog.ListDatasets());
  std::vector<ReportedImage> images;
  std::set<std::string> in_scope;
  for (const DatasetRecord& d : datasets) {
    SAMCACHE_ASSIGN_OR_RETURN(std::vector<ImageRecord> listed, catalog.ListImages(d.id));
    for (ImageRecord& image : listed) {
      if (report.dataset && d.id == report.dataset->id) in_scope.insert(image.id);
      images.push_back(ReportedImage{std::move(image), d.name, 0, false});
    }
  }
  const bool whole_catalog = !report.dataset;
  report.images_examined = whole_catalog ? images.size() : in_scope.size();

  report.same_file = GroupBy(
      images, [](const ImageRecord& i) { return i.content_hash; }, in_scope, whole_catalog);
  // Same pixels: only pictures stored in two or more distinct files.
  {
    std::map<std::string, std::set<std::string>> files_per_picture;
    for (const ReportedImage& r : images) files_per_picture[r.image.pixel_hash].insert(r.image.content_hash);
    std::vector<ReportedImage> multi_file;
    for (const ReportedImage& r : images) {
      if (files_per_picture[r.image.pixel_hash].size() > 1) multi_file.push_back(r);
    }
    report.same_pixels = GroupBy(
        multi_file, [](const ImageRecord& i) { return i.pixel_hash; }, in_scope, whole_catalog);
  }

  // Near duplicates: pictures are the nodes, index matches the links.
  std::map<std::string, size_t> picture_of;  // pixel_hash -> node
  std::vector<PerceptualHash> hashes;
  for (const ReportedImage& r : images) {
    if (!r.image.perceptual_hash) continue;
    if (picture_of.emplace(r.image.pixel_hash, hashes.size()).second)
      hashes.push_back(*r.image.perceptual_hash);
  }
  Components components(hashes.size());
  for (const auto& [pixel_hash, node] : picture_of) {
    for (const PictureIndex::Match& m : finder.FindPictures(hashes[node], max_distance, pixel_hash)) {
      auto other = picture_of.find(m.pixel_hash);
      if (other != picture_of.end()) components.Join(node, other->second);
    }
  }
  std::map<size_t, std::vector<const ReportedImage*>> members;     // root -> images
  std::map<size_t, std::set<std::string>> pictures_per_component;  // root -> pixel hashes
  for (const ReportedImage& r : images) {
    auto node = picture_of.find(r.image.pixel_hash);
    if (node == picture_of.end()) continue;
    const size_t root = components.Find(node->second);
    members[root].push_back(&r);
    pictures_per_component[root].insert(r.image.pixel_hash);
  }
  for (auto& [root, list] : members) {
    if (pictures_per_component[root].size() < 2) continue;
    const bool wanted = whole_catalog || std::any_of(list.begin(), list.end(), [&](const ReportedImage* r) {
                          return in_scope.count(r->image.id) > 0;
                        });
    if (!wanted) continue;
    DuplicateGroup g;
    for (const ReportedImage* r : list) g.images.push_back(*r);
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
