// `samcache prewarm DATASET`: computes the embeddings a dataset lacks, in this process, with a
// progress line (skipped and computed counts, ETA) on a terminal.
#pragma once

#include <string>

#include "app/app.h"

namespace samcache {

// Blocks the signals RunPrewarmCommand waits for in the calling thread and every thread it
// starts later: call it first, before the App (and its threads) exist.
void BlockPrewarmStopSignals();

// Runs (or resumes) the dataset's prewarm job until it ends. SIGINT/SIGTERM stop it after
// the images in flight; it is resumed by the next run. Exit code: 0 completed, 2 completed
// with failed images, 1 otherwise (error, cancelled, interrupted).
int RunPrewarmCommand(App& app, const std::string& dataset);

}  // namespace samcache
