// `samcache dupes [DATASET]`: the duplicate report (same file, same pixels, near duplicates)
// as text or JSON.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "app_options.h"
#include "catalog/catalog.h"
#include "command.h"
#include "image/perceptual_hash.h"
#include "similar/duplicate_report.h"

namespace samcache {
namespace {

using json = nlohmann::json;

json ImageRef(const ReportedImage& r) {
  return json{{"image_id", r.image.id},
              {"dataset_id", r.image.dataset_id},
              {"dataset_name", r.dataset_name},
              {"filename", r.image.filename},
              {"content_hash", r.image.content_hash},
              {"pixel_hash", r.image.pixel_hash}};
}

json ReportJson(const DuplicateReport& report) {
  json out;
  out["dataset"] =
      report.dataset ? json{{"id", report.dataset->id}, {"name", report.dataset->name}} : json(nullptr);
  out["max_distance"] = report.max_distance;
  out["images_examined"] = report.images_examined;
  auto groups = [](const std::vector<DuplicateGroup>& list, const char* key_name, bool near) {
    json arr = json::array();
    for (const DuplicateGroup& g : list) {
      json images = json::array();
      for (const ReportedImage& r : g.images) {
        json j = ImageRef(r);
        if (near) {
          j["distance"] = r.distance;
          j["mirrored"] = r.mirrored;
          j["perceptual_hash"] = PerceptualHashHex(r.image.perceptual_hash->hash);
        }
        images.push_back(std::move(j));
      }
      json group{{"images", std::move(images)}};
      if (key_name != nullptr) group[key_name] = g.key;
      arr.push_back(std::move(group));
    }
    return arr;
  };
  out["same_file"] = groups(report.same_file, "content_hash", false);
  out["same_pixels"] = groups(report.same_pixels, "pixel_hash", false);
  out["near_duplicates"] = groups(report.near_duplicates, nullptr, true);
  return out;
}

std::string Where(const ReportedImage& r) {
  return r.dataset_name + "/" + r.image.filename + "  [" + r.image.id + "]";
}

void PrintText(const DuplicateReport& report) {
  if (report.dataset) {
    std::printf("Duplicates of the %zu image(s) of dataset '%s' (%s), anywhere in the catalog\n",
                report.images_examined, report.dataset->name.c_str(), report.dataset->id.c_str());
  } else {
    std::printf("Duplicates among all %zu image(s) of the catalog\n", report.images_examined);
  }
  auto section = [](const char* title, const std::vector<DuplicateGroup>& groups, bool near) {
    std::printf("\n%s: %zu group(s)\n", title, groups.size());
    for (size_t i = 0; i < groups.size(); ++i) {
      const DuplicateGroup& g = groups[i];
      std::printf("  group %zu: %zu images%s%s\n", i + 1, g.images.size(), g.key.empty() ? "" : ", ",
                  g.key.empty() ? "" : (g.key.substr(0, 16) + "...").c_str());
      for (size_t k = 0; k < g.images.size(); ++k) {
        const ReportedImage& r = g.images[k];
        std::string note;
        if (near) {
          note = k == 0 ? "first seen"
                        : "distance " + std::to_string(r.distance) + (r.mirrored ? ", mirrored" : "");
        } else if (!g.key.empty() && g.key == r.image.pixel_hash) {
          note = "file " + r.image.content_hash.substr(0, 12) + "...";
        }
        std::printf("    %s%s%s\n", Where(r).c_str(), note.empty() ? "" : "  ", note.c_str());
      }
    }
  };
  section("Same file (identical bytes)", report.same_file, false);
  section("Same pixels (one picture in several files)", report.same_pixels, false);
  const std::string near_title =
      "Near duplicates (perceptual hashes within " + std::to_string(report.max_distance) + " of 64 bits)";
  section(near_title.c_str(), report.near_duplicates, true);
  std::printf("\n%zu group(s) of identical files, %zu of identical pixels, %zu of near duplicates\n",
              report.same_file.size(), report.same_pixels.size(), report.near_duplicates.size());
}

// Prints the report for the dataset named (id or name) or, without one, the whole catalog.
Status PrintDuplicateReport(App& app, const std::optional<std::string>& dataset, int max_distance,
                            bool as_json) {
  std::optional<std::string> dataset_id;
  if (dataset) {
    SAMCACHE_ASSIGN_OR_RETURN(const std::optional<DatasetRecord> found, app.catalog().FindDataset(*dataset));
    if (!found) return Status::NotFound("no dataset with id or name '" + *dataset + "'");
    dataset_id = found->id;
  }
  SAMCACHE_RETURN_IF_ERROR(app.EnableNearDuplicates());
  SAMCACHE_ASSIGN_OR_RETURN(
      const DuplicateReport report,
      BuildDuplicateReport(app.catalog(), *app.near_duplicates(), dataset_id, max_distance));
  if (as_json) {
    std::printf("%s\n", ReportJson(report).dump(2, ' ', false, json::error_handler_t::replace).c_str());
  } else {
    PrintText(report);
  }
  return Status::Ok();
}

struct DupesArgs {
  CommonOptions common;
  std::string dataset;
  bool as_json = false;
};

int Dupes(const DupesArgs& args) {
  auto app = OpenApp(args.common);
  if (!app.ok()) return Fail(app.status());
  return ExitCode(PrintDuplicateReport(**app,
                                       args.dataset.empty() ? std::nullopt : std::optional(args.dataset),
                                       args.common.near_duplicate_distance, args.as_json));
}

}  // namespace

Command AddDupesCommand(CLI::App& cli) {
  auto args = std::make_shared<DupesArgs>();
  CLI::App* dupes =
      cli.add_subcommand("dupes", "Report identical files, identical pictures and near duplicates");
  AddCommonOptions(dupes, args->common);
  AddNearDuplicateOption(dupes, args->common);
  dupes->add_option("dataset", args->dataset, "Only groups with an image of this dataset (id or name)");
  dupes->add_flag("--json", args->as_json, "Print JSON instead of text");
  return {dupes, [args] { return Dupes(*args); }};
}

}  // namespace samcache
