// A job's estimates (average time per computed image, time remaining) and the seed's texts
// made from a snapshot.
#pragma once

#include <string>

#include "jobs/prewarm_types.h"

namespace samcache {

// Sets avg_seconds_per_image (over computed images only) and eta_seconds (to_compute x
// average; 0 when nothing is left to compute; none before the first computed image).
void SetEstimates(PrewarmSnapshot& s);

std::string FormatDuration(double seconds);                 // "3m 45s"
std::string PrewarmProgressText(const PrewarmSnapshot& s);  // "Pre-warming cache... 25/50"
std::string PrewarmDetailText(const PrewarmSnapshot& s);    // "skipped (cached) • Est. remaining: 3m 45s"
std::string PrewarmAverageText(const PrewarmSnapshot& s);   // "(avg 18.5s per image)", empty before any
std::string PrewarmReadyText(const PrewarmSnapshot& s);     // "Dataset ready (cache: 150 embeddings, ...)"

}  // namespace samcache
