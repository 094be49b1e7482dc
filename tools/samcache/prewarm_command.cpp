// `samcache prewarm DATASET`: computes the embeddings a dataset lacks, in this process, with a
// progress line (skipped and computed counts, ETA) on a terminal.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "app_options.h"
#include "command.h"
#include "jobs/prewarm_jobs.h"
#include "progress_line.h"

namespace samcache {
namespace {

std::string ProgressBar(const PrewarmSnapshot& s) {
  constexpr int64_t kWidth = 30;
  const int64_t filled = s.job.total == 0 ? kWidth : kWidth * s.job.done / s.job.total;
  std::string line("[");
  line.append(static_cast<size_t>(filled), '#');
  line.append(static_cast<size_t>(kWidth - filled), '-');
  line += "] " + PrewarmProgressText(s) + " | skipped " + std::to_string(s.job.skipped) + ", computed " +
          std::to_string(s.job.computed);
  if (s.job.failed > 0) line += ", failed " + std::to_string(s.job.failed);
  if (const std::string detail = PrewarmDetailText(s); !detail.empty()) line += " | " + detail;
  if (const std::string avg = PrewarmAverageText(s); !avg.empty()) line += " " + avg;
  return line;
}

sigset_t StopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR2);  // sent by RunPrewarmCommand to end the waiting thread
  return signals;
}

// Blocks the signals RunPrewarmCommand waits for in the calling thread and every thread it
// starts later: call it first, before the App (and its threads) exist.
void BlockPrewarmStopSignals() {
  const sigset_t signals = StopSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

// Runs (or resumes) the dataset's prewarm job until it ends. SIGINT/SIGTERM stop it after
// the images in flight; it is resumed by the next run. Exit code: 0 completed, 2 completed
// with failed images, 1 otherwise (error, cancelled, interrupted).
int RunPrewarmCommand(App& app, const std::string& dataset_name) {
  PrewarmJobs* jobs = app.prewarm();
  Result<std::optional<DatasetRecord>> dataset = app.catalog().FindDataset(dataset_name);
  if (!dataset.ok()) {
    spdlog::error("{}", dataset.status().message());
    return 1;
  }
  if (!*dataset) {
    spdlog::error("no dataset with id or name '{}'", dataset_name);
    return 1;
  }

  // Signals stop the job cleanly: what is in flight finishes and is stored. Every thread
  // blocks them (BlockPrewarmStopSignals), so this one alone receives them.
  const sigset_t signals = StopSignals();
  std::thread stopper([jobs, signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig == SIGINT || sig == SIGTERM) jobs->Shutdown();
  });
  auto stop_stopper = [&] {
    pthread_kill(stopper.native_handle(), SIGUSR2);
    stopper.join();
  };

  Result<PrewarmJobs::Started> started = jobs->Start((*dataset)->id);
  if (!started.ok()) {
    stop_stopper();
    spdlog::error("{}", started.status().message());
    return 1;
  }
  const std::string job_id = started->snapshot.job.id;
  if (started->existing && !started->resumed && !started->snapshot.runs_here) {
    std::fprintf(stderr, "dataset '%s' is being pre-warmed by process %s (job %s); following it\n",
                 (*dataset)->name.c_str(), started->snapshot.job.runner.c_str(), job_id.c_str());
  } else if (started->resumed) {
    std::fprintf(stderr, "resuming job %s at %lld/%lld\n", job_id.c_str(),
                 static_cast<long long>(started->snapshot.job.done),
                 static_cast<long long>(started->snapshot.job.total));
  }

  std::shared_ptr<ProgressLine> progress;
  std::vector<spdlog::sink_ptr> plain_sinks = spdlog::default_logger()->sinks();
  if (isatty(STDERR_FILENO) != 0) {
    progress = std::make_shared<ProgressLine>();
    progress->set_pattern(kLogPattern);
    spdlog::default_logger()->sinks() = {progress};
  }
  int64_t seq = 0;
  PrewarmSnapshot last;
  for (;;) {
    Result<PrewarmUpdate> update = jobs->WaitForUpdate(job_id, seq, std::chrono::milliseconds(500));
    if (!update.ok()) {
      if (progress) progress->Finish();
      spdlog::default_logger()->sinks() = plain_sinks;
      stop_stopper();
      spdlog::error("{}", update.status().message());
      return 1;
    }
    last = std::move(update->snapshot);
    seq = std::max(seq, last.seq);
    if (progress) progress->Update(ProgressBar(last));
    if (IsFinishedPrewarmStatus(last.job.status)) break;
    // Stopped by a signal: the runner has saved where it is once it no longer runs the job
    // (a job another process runs goes on there).
    if (!last.runs_here && jobs->shutting_down()) break;
  }
  if (progress) progress->Finish();
  spdlog::default_logger()->sinks() = plain_sinks;
  stop_stopper();

  for (const PrewarmFailure& f : last.failures) {
    std::fprintf(stderr, "failed %s (%s): %s\n", f.filename.c_str(), f.image_id.c_str(), f.reason.c_str());
  }
  if (last.job.status == prewarm_status::kCompleted) {
    std::printf("%s\n", PrewarmReadyText(last).c_str());
    return last.job.failed > 0 ? 2 : 0;
  }
  if (!IsFinishedPrewarmStatus(last.job.status) && !last.job.runner.empty() &&
      last.job.runner != jobs->runner_id()) {
    std::printf("stopped following at %lld/%lld; job %s goes on in process %s\n",
                static_cast<long long>(last.job.done), static_cast<long long>(last.job.total), job_id.c_str(),
                last.job.runner.c_str());
  } else if (!IsFinishedPrewarmStatus(last.job.status)) {
    std::printf("interrupted at %lld/%lld (job %s); run the same command again to resume\n",
                static_cast<long long>(last.job.done), static_cast<long long>(last.job.total),
                job_id.c_str());
  } else {
    std::printf("prewarm %s at %lld/%lld%s%s\n", last.job.status.c_str(),
                static_cast<long long>(last.job.done), static_cast<long long>(last.job.total),
                last.job.error.empty() ? "" : ": ", last.job.error.c_str());
  }
  return 1;
}

struct PrewarmArgs {
  CommonOptions common;
  ModelCliOptions model;
  std::string dataset;
};

int Prewarm(const PrewarmArgs& args) {
  BlockPrewarmStopSignals();
  Result<AppOptions> made = MakeAppOptions(args.common, &args.model);
  if (!made.ok()) return Fail(made.status());
  AppOptions options = std::move(made).value();
  options.prewarm.take_from_queue = false;  // this dataset's job only
  auto app = App::Open(options);
  if (!app.ok()) return Fail(app.status());
  return RunPrewarmCommand(**app, args.dataset);
}

}  // namespace

Command AddPrewarmCommand(CLI::App& cli) {
  auto args = std::make_shared<PrewarmArgs>();
  CLI::App* prewarm =
      cli.add_subcommand("prewarm", "Compute the embeddings a dataset lacks, skipping cached images");
  AddCommonOptions(prewarm, args->common);
  AddModelOptions(prewarm, args->model, /*with_cache=*/true);
  prewarm->add_option("dataset", args->dataset, "Dataset id or name")->required();
  return {prewarm, [args] { return Prewarm(*args); }};
}

}  // namespace samcache
