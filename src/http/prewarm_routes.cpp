// Prewarm endpoints: start, follow (snapshot and Server-Sent Events), cancel and resume.
// One job per dataset and model: a start takes `model` (http/model_param.h); a job's other
// routes go to the PrewarmJobs of the model its row names.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

#include "app/app.h"
#include "http/ids.h"
#include "http/json_reply.h"
#include "http/model_param.h"
#include "http/route.h"
#include "http/scope.h"
#include "jobs/prewarm_jobs.h"

namespace samcache {
namespace {

using json = nlohmann::json;

constexpr auto kKeepAlive = std::chrono::seconds(15);
// Followers of one job share what a look at it found for this long: 500 browsers on a
// queued job cost two catalog reads a second, not a thousand.
constexpr auto kShareUpdate = std::chrono::milliseconds(400);

json OptionalSeconds(const std::optional<double>& seconds) {
  if (!seconds) return nullptr;
  return std::round(*seconds * 1000.0) / 1000.0;
}

json EventJson(const PrewarmImageEvent& e) {
  return json{{"seq", e.seq},
              {"image_id", e.image_id},
              {"filename", e.filename},
              {"state", ToText(e.state)},
              {"detail", e.detail}};
}

std::string MessageFor(const PrewarmSnapshot& s) {
  const std::string& status = s.job.status;
  if (status == prewarm_status::kCompleted) return PrewarmReadyText(s);
  if (status == prewarm_status::kCancelled) {
    return "Pre-warming cancelled at " + std::to_string(s.job.done) + "/" + std::to_string(s.job.total) +
           (s.job.error.empty() ? "" : " (" + s.job.error + ")");
  }
  if (status == prewarm_status::kFailed) return "Pre-warming failed: " + s.job.error;
  if (status == prewarm_status::kQueued)
    return "Waiting to pre-warm " + std::to_string(s.job.total) + " image(s)";
  return PrewarmProgressText(s);
}

Reply NoJobs() { return ErrorReply(503, "prewarm needs a model, and this server runs without one"); }

// The prewarm jobs of the job's model; the default model's for a model this process does not
// serve (they follow its row from the catalog and refuse to run it).
PrewarmJobs& JobsOf(App& app, const std::string& model_id) {
  ServedModel* model = app.models().ById(model_id);
  if (model == nullptr) model = app.models().default_model();
  return *model->prewarm;  // callers checked that the set is not empty
}

// Failed images listed in a job's JSON: a job over 100,000 broken files is followed by
// polling, and each poll must stay small. `failed` counts them all.
constexpr size_t kListedFailures = 100;

// A job as the API shows it, texts included. `model_name`: null for a model this process
// does not serve.
json PrewarmJson(const PrewarmSnapshot& s, const ModelSet& models) {
  const PrewarmJobRecord& j = s.job;
  const ServedModel* model = models.ById(j.model_id);
  json current = nullptr;
  if (s.current) current = EventJson(*s.current);
  json failures = json::array();
  const size_t listed = std::min(s.failures.size(), kListedFailures);
  for (size_t i = 0; i < listed; ++i) {
    const PrewarmFailure& f = s.failures[i];
    failures.push_back(json{{"image_id", f.image_id}, {"filename", f.filename}, {"reason", f.reason}});
  }
  return json{{"job_id", j.id},
              {"dataset_id", j.dataset_id},
              {"model_id", j.model_id},
              {"model_name", model != nullptr ? json(model->name()) : json(nullptr)},
              {"status", j.status},
              {"total", j.total},
              {"done", j.done},
              {"computed", j.computed},
              {"skipped", j.skipped},
              {"failed", j.failed},
              {"to_compute", j.to_compute},
              {"current", std::move(current)},
              {"avg_seconds_per_image", OptionalSeconds(s.avg_seconds_per_image)},
              {"eta_seconds", OptionalSeconds(s.eta_seconds)},
              {"progress_text", PrewarmProgressText(s)},
              {"detail_text", PrewarmDetailText(s)},
              {"avg_text", PrewarmAverageText(s)},
              {"message", MessageFor(s)},
              {"cache_embeddings", s.cache_embeddings},
              {"failures", std::move(failures)},
              {"failures_not_listed", std::max<int64_t>(0, j.failed - static_cast<int64_t>(listed))},
              {"error", j.error},
              {"runner", j.runner},
              {"created_at", j.created_at},
              {"started_at", j.started_at},
              {"finished_at", j.finished_at},
              {"events_url", "/api/sam/prewarm/" + j.id + "/events"}};
}

std::string SseEvent(std::string_view name, int64_t id, const json& data) {
  std::string text;
  if (id > 0) text += "id: " + std::to_string(id) + "\n";
  text += "event: ";
  text += name;
  text += "\ndata: " + data.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
  return text;
}

// The latest look at each followed job, shared by its followers (the stream pump steps
// every stream a few times a second).
class UpdateCache {
 public:
  UpdateCache() = default;

  // `jobs`: the PrewarmJobs of the job's model (job ids are unique across models).
  Result<PrewarmUpdate> Get(PrewarmJobs& jobs, const std::string& job_id, int64_t after_seq) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex_);
    std::erase_if(entries_, [&](const auto& e) { return now - e.second.at > kShareUpdate; });
    const std::string key = job_id + "@" + std::to_string(after_seq);
    if (auto it = entries_.find(key); it != entries_.end()) return it->second.update;
    Entry entry{now, jobs.WaitForUpdate(job_id, after_seq, std::chrono::milliseconds(0))};
    Result<PrewarmUpdate> update = entry.update;
    entries_.emplace(key, std::move(entry));
    return update;
  }

 private:
  struct Entry {
    std::chrono::steady_clock::time_point at;
    Result<PrewarmUpdate> update;
  };
  std::mutex mutex_;
  std::map<std::string, Entry> entries_;
};

// Streams a job's changes until it finishes, the client leaves or the server stops.
class EventStream {
 public:
  EventStream(UpdateCache& updates, PrewarmJobs& jobs, const ModelSet& models, std::string job_id,
              int64_t after_seq, const std::atomic<bool>& stopping)
      : updates_(updates),
        jobs_(jobs),
        models_(models),
        job_id_(std::move(job_id)),
        seq_(after_seq),
        stopping_(stopping) {}

  // One step: writes what changed since the last, and returns at once.
  bool Next(ReplySink& sink) {
    if (stopping_ || !sink.Writable()) return false;
    Result<PrewarmUpdate> update = updates_.Get(jobs_, job_id_, seq_);
    if (!update.ok()) {
      Write(sink, SseEvent("error", 0, json{{"error", update.status().message()}}));
      sink.Done();
      return true;
    }
    std::string out;
    for (const PrewarmImageEvent& e : update->events) out += SseEvent("image", e.seq, EventJson(e));
    const PrewarmSnapshot& s = update->snapshot;
    json snapshot = PrewarmJson(s, models_);
    std::string dumped = snapshot.dump(-1, ' ', false, json::error_handler_t::replace);
    const bool finished = IsFinishedPrewarmStatus(s.job.status);
    if (dumped != last_snapshot_) {
      out += SseEvent(finished ? "done" : "progress", s.seq, snapshot);
      last_snapshot_ = std::move(dumped);
    }
    seq_ = std::max(seq_, s.seq);
    const auto now = std::chrono::steady_clock::now();
    if (out.empty() && now - last_write_ >= kKeepAlive) out = ": keep-alive\n\n";
    if (!out.empty() && !Write(sink, out)) return false;
    if (finished) sink.Done();
    return true;
  }

 private:
  bool Write(ReplySink& sink, const std::string& text) {
    last_write_ = std::chrono::steady_clock::now();
    return sink.Write(text);
  }

  UpdateCache& updates_;
  PrewarmJobs& jobs_;
  const ModelSet& models_;
  const std::string job_id_;
  int64_t seq_;
  const std::atomic<bool>& stopping_;
  std::string last_snapshot_;
  std::chrono::steady_clock::time_point last_write_ = std::chrono::steady_clock::now();
};

Result<Reply> StartJob(App& app, const Request& req, const std::string& dataset_id) {
  if (app.models().empty()) return NoJobs();
  // The body is optional: none (as the seed's curl sends), or {"model": "..."}.
  json options = json::object();
  if (req.body.find_first_not_of(" \t\r\n") != std::string::npos) {
    SAMCACHE_ASSIGN_OR_RETURN(options, ParseJsonObject(req.body, R"({"model": "<id or name>"})"));
  }
  SAMCACHE_ASSIGN_OR_RETURN(ServedModel* const model, ModelFor(app, req, &options));
  SAMCACHE_RETURN_IF_ERROR(DatasetFor(app, req, dataset_id, Role::kAnnotator));
  SAMCACHE_ASSIGN_OR_RETURN(const PrewarmJobs::Started started, model->prewarm->Start(dataset_id));
  json body = PrewarmJson(started.snapshot, app.models());
  body["existing"] = started.existing;
  body["resumed"] = started.resumed;
  Reply reply = JsonReply(202, body);
  reply.Header("Location", "/api/sam/prewarm/" + started.snapshot.job.id);
  return reply;
}

Result<Reply> FollowJob(App& app, UpdateCache& updates, const Request& req,
                        const std::atomic<bool>& stopping) {
  if (app.models().empty()) return NoJobs();
  const std::string job_id = req.param("job_id");
  SAMCACHE_ASSIGN_OR_RETURN(const PrewarmJobRecord job, PrewarmJobFor(app, req, job_id, Role::kViewer));
  PrewarmJobs& jobs = JobsOf(app, job.model_id);
  SAMCACHE_RETURN_IF_ERROR(jobs.Snapshot(job_id));
  // A reconnecting EventSource sends the last id it saw: go on from there.
  int64_t after = 0;
  if (const std::string last = req.header("Last-Event-ID"); !last.empty()) {
    after = std::strtoll(last.c_str(), nullptr, 10);
  }
  auto stream = std::make_shared<EventStream>(updates, jobs, app.models(), job_id, after, stopping);
  Reply reply;
  reply.Header("Cache-Control", "no-cache").Header("X-Accel-Buffering", "no");
  reply.content_type = "text/event-stream";
  reply.stream = [stream](ReplySink& sink) { return stream->Next(sink); };
  return reply;
}

}  // namespace

void AddPrewarmRoutes(RouteTable& routes, const RouteContext& context) {
  App& app = context.app;
  const std::atomic<bool>& stopping = context.stopping;
  routes.push_back({Method::kPost, "/api/sam/dataset/{id}/prewarm",
                    [&app](const Request& req) { return StartJob(app, req, req.param("id")); }});

  // The routes that act on one job and answer with its snapshot.
  using JobAction = Result<PrewarmSnapshot> (PrewarmJobs::*)(const std::string&);
  auto job_route = [&app](JobAction action, int status, Role needed) {
    return [&app, action, status, needed](const Request& req) -> Result<Reply> {
      if (app.models().empty()) return NoJobs();
      SAMCACHE_ASSIGN_OR_RETURN(const PrewarmJobRecord job,
                                PrewarmJobFor(app, req, req.param("job_id"), needed));
      SAMCACHE_ASSIGN_OR_RETURN(const PrewarmSnapshot snapshot,
                                (JobsOf(app, job.model_id).*action)(req.param("job_id")));
      return JsonReply(status, PrewarmJson(snapshot, app.models()));
    };
  };
  routes.push_back(
      {Method::kGet, "/api/sam/prewarm/{job_id}", job_route(&PrewarmJobs::Snapshot, 200, Role::kViewer)});
  routes.push_back(
      {Method::kDelete, "/api/sam/prewarm/{job_id}", job_route(&PrewarmJobs::Cancel, 202, Role::kAnnotator)});
  routes.push_back({Method::kPost, "/api/sam/prewarm/{job_id}/resume",
                    job_route(&PrewarmJobs::Resume, 202, Role::kAnnotator)});
  auto updates = std::make_shared<UpdateCache>();
  routes.push_back(
      {Method::kGet, "/api/sam/prewarm/{job_id}/events",
       [&app, updates, &stopping](const Request& req) { return FollowJob(app, *updates, req, stopping); }});
}

}  // namespace samcache
