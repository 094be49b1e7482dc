#include "jobs/prewarm_text.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace samcache {
namespace {

std::string Fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

}  // namespace

void SetEstimates(PrewarmSnapshot& s) {
  s.avg_seconds_per_image.reset();
  s.eta_seconds.reset();
  if (s.job.computed > 0) {
    s.avg_seconds_per_image = s.job.compute_seconds / static_cast<double>(s.job.computed);
    s.eta_seconds = *s.avg_seconds_per_image * static_cast<double>(s.job.to_compute);
  } else if (s.job.to_compute == 0) {
    s.eta_seconds = 0;
  }
}

std::string FormatDuration(double seconds) {
  const auto total = static_cast<int64_t>(std::llround(std::max(0.0, seconds)));
  const int64_t hours = total / 3600, minutes = total % 3600 / 60, secs = total % 60;
  if (hours > 0) return std::to_string(hours) + "h " + std::to_string(minutes) + "m";
  if (minutes > 0) return std::to_string(minutes) + "m " + std::to_string(secs) + "s";
  return std::to_string(secs) + "s";
}

std::string PrewarmProgressText(const PrewarmSnapshot& s) {
  return "Pre-warming cache... " + std::to_string(s.job.done) + "/" + std::to_string(s.job.total);
}

std::string PrewarmDetailText(const PrewarmSnapshot& s) {
  std::string text;
  if (s.current) {
    const std::string state(ToText(s.current->state));
    if (s.current->state == PrewarmImageState::kSkipped || s.current->state == PrewarmImageState::kFailed) {
      text = state + " (" + s.current->detail + ")";
    } else {
      text = state;
    }
  }
  std::string eta;
  if (s.eta_seconds) {
    eta = "Est. remaining: " + FormatDuration(*s.eta_seconds);
  } else if (s.job.to_compute > 0) {
    eta = "Est. remaining: estimating...";
  }
  if (!text.empty() && !eta.empty()) return text + " \u2022 " + eta;
  return text + eta;
}

std::string PrewarmAverageText(const PrewarmSnapshot& s) {
  if (!s.avg_seconds_per_image) return "";
  const double avg = *s.avg_seconds_per_image;
  return "(avg " + Fixed(avg, avg >= 1 ? 1 : avg >= 0.01 ? 2 : 3) + "s per image)";
}

std::string PrewarmReadyText(const PrewarmSnapshot& s) {
  std::string text = "Dataset ready (cache: " + std::to_string(s.cache_embeddings) +
                     " embeddings, computed: " + std::to_string(s.job.computed) +
                     ", skipped: " + std::to_string(s.job.skipped);
  if (s.job.failed > 0) text += ", failed: " + std::to_string(s.job.failed);
  return text + ")";
}

}  // namespace samcache
