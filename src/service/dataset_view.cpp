#include "service/dataset_view.h"

#include <map>

#include "model/project_cache.h"

namespace samcache {

Result<DatasetView> LoadDatasetView(Catalog& catalog, ProjectCache* projects, const std::string& dataset_id) {
  DatasetView view;
  SAMCACHE_ASSIGN_OR_RETURN(view.dataset, catalog.GetDataset(dataset_id));
  SAMCACHE_ASSIGN_OR_RETURN(std::vector<ImageRecord> images, catalog.ListImages(view.dataset.id));
  // One batched claim query and one store query for the whole dataset.
  const std::vector<bool> cached = projects != nullptr ? projects->CachedFor(view.dataset.project_id, images)
                                                       : std::vector<bool>(images.size(), false);
  SAMCACHE_ASSIGN_OR_RETURN(const auto annotation_counts, catalog.CountAnnotationsPerImage(view.dataset.id));
  const std::map<std::string, int64_t> annotations(annotation_counts.begin(), annotation_counts.end());
  SAMCACHE_ASSIGN_OR_RETURN(std::vector<PixelCopy> copies, catalog.ListPixelCopies(view.dataset.id));
  std::map<std::string, std::string> originals;
  for (PixelCopy& copy : copies)
    originals.emplace(std::move(copy.image_id), std::move(copy.original_image_id));

  view.images.reserve(images.size());
  for (size_t i = 0; i < images.size(); ++i) {
    DatasetViewImage entry{std::move(images[i]), cached[i], 0, std::nullopt};
    if (auto count = annotations.find(entry.image.id); count != annotations.end()) {
      entry.annotation_count = count->second;
    }
    if (auto original = originals.find(entry.image.id); original != originals.end()) {
      entry.duplicate_of = original->second;
    }
    view.embeddings_cached += entry.embedding_cached ? 1 : 0;
    view.images.push_back(std::move(entry));
  }
  if (projects != nullptr) {
    Result<std::optional<PrewarmJobRecord>> job =
        catalog.FindUnfinishedPrewarmJob(view.dataset.id, projects->model_id());
    if (job.ok()) view.prewarm_job = std::move(*job);
  }
  return view;
}

}  // namespace samcache
