// What a prewarm job is made of, as callers see it: its states, what happened to one image,
// and a snapshot of the whole job. States are enums everywhere in jobs/; they become text
// (ToText) only at the edges: the catalog row, JSON and the event stream.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/catalog.h"

namespace samcache {

enum class PrewarmJobState { kQueued, kRunning, kCompleted, kCancelled, kFailed };
enum class PrewarmImageState { kComputing, kComputed, kSkipped, kFailed };

// "queued", "running", "completed", "cancelled", "failed": the catalog's and the API's words.
constexpr std::string_view ToText(PrewarmJobState state) {
  switch (state) {
    case PrewarmJobState::kQueued:
      return "queued";
    case PrewarmJobState::kRunning:
      return "running";
    case PrewarmJobState::kCompleted:
      return "completed";
    case PrewarmJobState::kCancelled:
      return "cancelled";
    case PrewarmJobState::kFailed:
      return "failed";
  }
  return "failed";
}
// "computing", "computed", "skipped", "failed".
constexpr std::string_view ToText(PrewarmImageState state) {
  switch (state) {
    case PrewarmImageState::kComputing:
      return "computing";
    case PrewarmImageState::kComputed:
      return "computed";
    case PrewarmImageState::kSkipped:
      return "skipped";
    case PrewarmImageState::kFailed:
      return "failed";
  }
  return "failed";
}
// Empty for a text that names no state.
std::optional<PrewarmJobState> ParsePrewarmJobState(std::string_view text);
// A catalog row's state; a row with an unknown status counts as failed (never run again).
PrewarmJobState StateOf(const PrewarmJobRecord& job);

constexpr bool IsFinished(PrewarmJobState state) {
  return state == PrewarmJobState::kCompleted || state == PrewarmJobState::kCancelled ||
         state == PrewarmJobState::kFailed;
}
// For callers that hold the catalog's text.
bool IsFinishedPrewarmStatus(std::string_view status);

// The states' texts under their old names, for callers that compare a row's text.
namespace prewarm_status {
inline constexpr std::string_view kQueued = ToText(PrewarmJobState::kQueued);
inline constexpr std::string_view kRunning = ToText(PrewarmJobState::kRunning);
inline constexpr std::string_view kCompleted = ToText(PrewarmJobState::kCompleted);
inline constexpr std::string_view kCancelled = ToText(PrewarmJobState::kCancelled);
inline constexpr std::string_view kFailed = ToText(PrewarmJobState::kFailed);
}  // namespace prewarm_status

// What happened to one image of a job.
struct PrewarmImageEvent {
  int64_t seq = 0;  // the job's change counter when this happened
  std::string image_id;
  std::string filename;
  PrewarmImageState state = PrewarmImageState::kComputing;
  std::string detail;  // why skipped ("cached", ...) or why it failed
};

// A JSON value is given the state's text (ToText), never the enum's number, which is what
// nlohmann's json would write without this (deleted, so such code does not compile).
template <typename Json>
void to_json(Json&, PrewarmImageState) = delete;
template <typename Json>
void to_json(Json&, PrewarmJobState) = delete;

// A job as a client sees it at one moment.
struct PrewarmSnapshot {
  PrewarmJobRecord job;                         // job.status: the state's text
  std::optional<PrewarmImageEvent> current;     // the image being handled, or the last one handled
  std::optional<double> avg_seconds_per_image;  // over computed images only
  std::optional<double> eta_seconds;            // to_compute x average
  // Embeddings of the job's model its dataset's project has claimed (never the store's own
  // count, which tells of other projects): counted when the job is first seen and when it
  // finishes; in between, that count plus the images computed since.
  int64_t cache_embeddings = 0;
  std::vector<PrewarmFailure> failures;
  bool runs_here = false;  // this process runs it (events are live; else polled from the catalog)
  int64_t seq = 0;
};

// A snapshot and the image events after the sequence number a follower had seen.
struct PrewarmUpdate {
  PrewarmSnapshot snapshot;
  std::vector<PrewarmImageEvent> events;
};

struct PrewarmOptions {
  // Runner threads: jobs this process runs at once. 0: it runs none, only queues and
  // follows them (e.g. `serve --prewarm-jobs 0` next to `samcache worker`s).
  size_t max_running_jobs = 2;
  size_t pipeline_depth = 3;  // images of one job in the embedding service at once
  // A runner whose heartbeat is older than this is presumed dead and its job is taken
  // over. On this machine, a runner is also dead as soon as its process is gone.
  std::chrono::milliseconds stale_after{std::chrono::seconds(60)};
  // How often idle runners look for jobs queued by other processes (a Start() in this
  // process wakes them at once).
  std::chrono::milliseconds poll_interval{500};
  // How often the row of each job held here is renewed; 0: stale_after / 4, between
  // 100 ms and 5 s.
  std::chrono::milliseconds heartbeat_interval{0};
  // False: the runners run only the jobs this process starts or resumes, never others
  // from the queue (`samcache prewarm DATASET` runs its dataset's job, nothing else).
  bool take_from_queue = true;
  std::string runner_id;  // default "host:pid"
  // Called from a runner thread when a job is "claimed" (starts running here), "finished"
  // (completed, cancelled or failed), "released" (this process stops, the job goes back
  // to the queue) or "lost" (another process took it over). Must not call back into this object.
  std::function<void(std::string_view event, const PrewarmSnapshot& snapshot)> on_job;
};

}  // namespace samcache
