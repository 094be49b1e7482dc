// One run of one prewarm job by a runner of this process: list the dataset's images from the
// job's position, ask once which are cached for the dataset's project (in the store under
// the project's key and claimed by it: ProjectCache), skip those, and keep the others
// `pipeline_depth` deep in the embedding service, so the next image's decoding and
// preprocessing overlap the current encoder run. Images are settled in upload order and the
// row keeps the position of the next one, so a job taken over goes on where it stopped.
//
// An image the project has not claimed counts as computed even when the service finds it in
// the store (another project computed it: no encoder run) or joins a run in flight: "skipped"
// would tell the project that someone else has the picture. Each image handled is claimed for
// the project, in batches written before the progress row that moves past them.
//
// A run ends when the job completes or fails, is cancelled (here or through the catalog), is
// taken over by another process ("lost"), or when this process shuts down: then the images
// in flight finish and are stored, and the job goes back to the queue at its position.
#pragma once

#include <chrono>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/catalog.h"
#include "jobs/prewarm_events.h"
#include "jobs/prewarm_types.h"
#include "model/embedding_service.h"
#include "model/project_cache.h"

namespace samcache {

class PrewarmRun {
 public:
  // Everything must outlive the run; `job` is held by this runner.
  PrewarmRun(Catalog& catalog, EmbeddingService& embeddings, ProjectCache& projects, PrewarmBoard& board,
             const PrewarmOptions& options, PrewarmLiveJob& job);
  void Execute();

 private:
  // One image of the job on its way through, in upload order.
  struct Entry {
    const ImageKey* image = nullptr;
    std::optional<PendingEmbedding> pending;  // empty: skipped without asking the service
    std::string skip_reason;
  };

  // Lists the images left, asks the store which are cached, and marks the job running.
  // False when the run is over already (failed, cancelled or lost).
  bool Prepare();
  // Feeds the images through the service and settles them in order.
  void Pipeline();
  // Queues image `i` (a request to the service, or a skip); false when the service could
  // not take it before a stop.
  bool Admit(size_t i);
  // Settles the oldest image: its outcome is counted and the resume position moves past it.
  void SettleFront();
  // What became of an image; empty when the service is shutting down (it stays to do).
  std::optional<PrewarmImageEvent> Await(Entry& entry);
  void Count(const Entry& entry, PrewarmImageEvent outcome);
  // After the pipeline: cancelled, handed back, or completed.
  void End();
  void Complete();
  void HandBack();
  void Finish(PrewarmJobState state, std::string error);
  void MarkFinished(PrewarmJobState state, std::string error);
  void Conclude();
  // Cancelled through the catalog (the row still names this runner), or taken over by
  // another process, which may even have finished it: the row says which. True when lost.
  bool StoppedElsewhere();
  // Writes the row (at most every 200 ms unless forced or failures wait); false when the
  // row no longer names this runner (cancelled elsewhere or taken over).
  bool Save(bool force);
  // Writes the claims of the images handled since the last call (a failure is logged).
  void FlushClaims();
  void Notify(std::string_view event);

  Catalog& catalog_;
  EmbeddingService& embeddings_;
  ProjectCache& projects_;
  PrewarmBoard& board_;
  const PrewarmOptions& options_;
  PrewarmLiveJob& job_;
  const std::string id_;

  std::string project_id_;              // the dataset's
  std::vector<std::string> unclaimed_;  // pixel hashes handled since the last FlushClaims
  std::vector<ImageKey> images_;
  std::vector<const ImageKey*> remaining_;  // from the job's position, in upload order
  std::vector<bool> cached_;                // per remaining image, from one batched query
  std::set<std::string> asked_;             // pixel hashes requested from the service
  std::deque<Entry> in_order_;
  size_t computing_ = 0;
  std::chrono::steady_clock::time_point mark_;  // the last image settled; time since then is the next one's
  bool interrupted_ = false;                    // the service is shutting down: leave the job to be resumed
};

}  // namespace samcache
