// `samcache worker`: runs prewarm jobs from the catalog's queue (any process's) until SIGINT
// or SIGTERM; serves only GET /metrics and GET /healthz.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "app_options.h"
#include "command.h"
#include "http/server.h"
#include "jobs/prewarm_jobs.h"

namespace samcache {
namespace {

struct WorkerArgs {
  CommonOptions common;
  ModelCliOptions model;
  ServerOptions server;
};

void LogWorkerEvent(std::string_view event, const PrewarmSnapshot& s) {
  const PrewarmJobRecord& j = s.job;
  if (event == "claimed") {
    spdlog::info("[WORKER] claimed job {} (dataset {}, {}/{} done)", j.id, j.dataset_id, j.done, j.total);
  } else if (event == "finished") {
    std::string outcome = j.status == prewarm_status::kCompleted
                              ? PrewarmReadyText(s)
                              : j.status + " at " + std::to_string(j.done) + "/" + std::to_string(j.total) +
                                    (j.error.empty() ? "" : ": " + j.error);
    spdlog::info("[WORKER] finished job {}: {}", j.id, outcome);
  } else if (event == "released") {
    spdlog::info("[WORKER] released job {} at {}/{}: back in the queue for the next runner", j.id, j.done,
                 j.total);
  } else if (event == "lost") {
    spdlog::warn("[WORKER] lost job {} at {}/{}: {} runs it now", j.id, j.done, j.total,
                 j.runner.empty() ? std::string("another process") : j.runner);
  }
}

int Worker(const CommonOptions& common, const ModelCliOptions& model, ServerOptions server_options) {
  const sigset_t signals = BlockStopSignals();
  if (model.prewarm_jobs == 0)
    return Fail(Status::InvalidArgument("a worker needs --prewarm-jobs 1 or more"));
  Result<AppOptions> made = MakeAppOptions(common, &model);
  if (!made.ok()) return Fail(made.status());
  AppOptions options = std::move(made).value();
  options.prewarm.on_job = LogWorkerEvent;
  auto app = App::Open(options);
  if (!app.ok()) return Fail(app.status());
  server_options.metrics_only = true;
  server_options.threads = 4;
  HttpServer server(**app, server_options);
  Result<int> port = server.Bind();
  if (!port.ok()) return Fail(port.status());
  // Each model's runners claim only that model's jobs: one line per model, as with one.
  for (const std::unique_ptr<ServedModel>& served : (*app)->models().all()) {
    spdlog::info(
        "[WORKER] samcache {} worker {}: up to {} prewarm job(s) at once for model {}, catalog {}, "
        "polling every {} ms, taking over jobs silent for {} s",
        kVersion, served->prewarm->runner_id(), model.prewarm_jobs, served->id(),
        (*app)->options().catalog_path, model.prewarm_poll_ms, model.prewarm_stale_seconds);
  }
  spdlog::info("samcache worker listening on http://{}:{} (GET /metrics, GET /healthz)", server_options.host,
               *port);

  std::thread stopper([&server, &app, signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    spdlog::info("[WORKER] signal {} received: finishing the images in flight, then stopping", sig);
    (*app)->models().ShutdownPrewarm();
    server.Stop();
  });
  Status st = server.Run();
  pthread_kill(stopper.native_handle(), SIGTERM);
  stopper.join();
  app->reset();  // waits for the runners: images in flight are stored, unfinished jobs go back to the queue
  spdlog::info("[WORKER] stopped");
  return ExitCode(st);
}

}  // namespace

Command AddWorkerCommand(CLI::App& cli) {
  auto args = std::make_shared<WorkerArgs>();
  args->server.port = 3001;
  CLI::App* worker = cli.add_subcommand("worker",
                                        "Run queued prewarm jobs (any process's) until stopped; serves "
                                        "GET /metrics and GET /healthz");
  AddCommonOptions(worker, args->common);
  AddModelOptions(worker, args->model, /*with_cache=*/true, /*several=*/true);
  worker->add_option("--port", args->server.port, "TCP port of /metrics and /healthz (0 picks a free one)")
      ->capture_default_str();
  worker->add_option("--host", args->server.host, "Address to listen on")->capture_default_str();
  return {worker, [args] { return Worker(args->common, args->model, args->server); }};
}

}  // namespace samcache
