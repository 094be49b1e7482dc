// `samcache ingest --dataset NAME PATH...`: adds image files and folders (recursively) to a
// dataset, as an upload would, with a progress line on a terminal.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app_options.h"
#include "command.h"
#include "common/crypto.h"
#include "ingest/ingestor.h"
#include "progress_line.h"

namespace samcache {
namespace {

namespace fs = std::filesystem;

struct IngestArgs {
  CommonOptions common;
  std::string dataset;
  std::vector<std::string> paths;
};

// Files under the given paths (folders recursively), in a stable order.
std::vector<fs::path> CollectFiles(const std::vector<std::string>& paths, std::vector<std::string>& missing) {
  std::vector<fs::path> files;
  for (const std::string& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<fs::path> found;
      for (auto it = fs::recursive_directory_iterator(p, fs::directory_options::skip_permission_denied, ec);
           it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) break;
        if (it->is_regular_file(ec)) found.push_back(it->path());
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(p, ec)) {
      files.emplace_back(p);
    } else {
      missing.push_back(p);
    }
  }
  return files;
}

// Reads a file in chunks, hashing as it goes, like an upload streaming in.
Result<IncomingFile> ReadIncoming(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError("cannot open " + path.string());
  IncomingFile file;
  file.filename = path.filename().string();
  Sha256 hasher;
  std::string chunk(1 << 20, '\0');
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    const auto n = static_cast<size_t>(in.gcount());
    hasher.Update(chunk.data(), n);
    file.bytes.append(chunk.data(), n);
  }
  if (in.bad()) return Status::IoError("cannot read " + path.string());
  file.content_hash = hasher.FinishHex();
  return file;
}

std::string ProgressText(size_t done, size_t total, const UploadBatch& batch) {
  constexpr size_t kWidth = 30;
  const size_t filled = total == 0 ? kWidth : kWidth * done / total;
  char counts[160];
  std::snprintf(counts, sizeof counts, " %zu/%zu files, %zu stored, %lld duplicate(s), %zu rejected", done,
                total, batch.stored().size(), static_cast<long long>(batch.duplicates_found()),
                batch.rejected().size());
  return "[" + std::string(filled, '#') + std::string(kWidth - filled, '-') + "]" + counts;
}

int Ingest(const CommonOptions& common, const std::string& dataset, const std::vector<std::string>& paths) {
  auto app = OpenApp(common);
  if (!app.ok()) return Fail(app.status());
  Status near_duplicates = (*app)->EnableNearDuplicates();
  if (!near_duplicates.ok()) return Fail(near_duplicates);
  std::vector<std::string> missing;
  const std::vector<fs::path> files = CollectFiles(paths, missing);
  for (const std::string& m : missing) spdlog::error("no such file or folder: {}", m);
  if (files.empty()) {
    spdlog::error("nothing to ingest");
    return 1;
  }

  Result<std::optional<DatasetRecord>> existing = (*app)->catalog().FindDataset(dataset);
  if (!existing.ok()) return Fail(existing.status());
  std::optional<std::string> existing_id;
  std::string project_id = kDefaultProjectId;
  if (existing->has_value()) {
    existing_id = (*existing)->id;
    project_id = (*existing)->project_id;
  }
  UploadBatch batch((*app)->ingestor(), (*app)->catalog(), dataset, existing_id, {}, project_id);

  // On a terminal, a progress line with the log scrolling above it.
  std::shared_ptr<ProgressLine> progress;
  std::vector<spdlog::sink_ptr> plain_sinks = spdlog::default_logger()->sinks();
  if (isatty(STDERR_FILENO) != 0) {
    progress = std::make_shared<ProgressLine>();
    progress->set_pattern(kLogPattern);
    spdlog::default_logger()->sinks() = {progress};
  }
  const auto start = std::chrono::steady_clock::now();
  for (const fs::path& path : files) {
    Result<IncomingFile> file = ReadIncoming(path);
    if (file.ok()) {
      batch.Add(std::move(file).value());
    } else {
      batch.AddUnreadable(path.filename().string(), file.status());
    }
    if (progress) progress->Update(ProgressText(batch.completed(), files.size(), batch));
  }
  batch.Finish();
  if (progress) {
    progress->Update(ProgressText(batch.completed(), files.size(), batch));
    progress->Finish();
    spdlog::default_logger()->sinks() = plain_sinks;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  for (const RejectedFile& r : batch.rejected())
    std::fprintf(stderr, "rejected %s: %s\n", r.filename.c_str(), r.error.c_str());
  std::printf(
      "ingested %zu of %zu file(s) into dataset '%s' (%s): %lld duplicate(s), %zu rejected, %.1f MB in %.2f "
      "s\n",
      batch.stored().size(), files.size(), batch.dataset_name().c_str(),
      batch.dataset_exists() ? batch.dataset_id().c_str() : "not created",
      static_cast<long long>(batch.duplicates_found()), batch.rejected().size(),
      static_cast<double>(batch.bytes_received()) / 1e6, seconds);
  if (batch.duplicates_found() > 0) {
    std::printf("%lld file(s) were stored before; `samcache prewarm` skips every image already embedded\n",
                static_cast<long long>(batch.duplicates_found()));
  }
  if (batch.near_duplicates_found() > 0) {
    std::printf("%lld image(s) with near duplicates (samcache dupes lists them)\n",
                static_cast<long long>(batch.near_duplicates_found()));
  }
  return batch.stored().empty() || !missing.empty() ? 1 : 0;
}

}  // namespace

Command AddIngestCommand(CLI::App& cli) {
  auto args = std::make_shared<IngestArgs>();
  CLI::App* ingest = cli.add_subcommand("ingest", "Add image files and folders (recursively) to a dataset");
  AddCommonOptions(ingest, args->common);
  ingest->add_option("--dataset", args->dataset, "Dataset name or id; created when it does not exist")
      ->required();
  ingest->add_option("paths", args->paths, "Files and folders")->required();
  AddNearDuplicateOption(ingest, args->common);
  return {ingest, [args] { return Ingest(args->common, args->dataset, args->paths); }};
}

}  // namespace samcache
