#include "jobs/prewarm_types.h"

namespace samcache {

std::optional<PrewarmJobState> ParsePrewarmJobState(std::string_view text) {
  for (PrewarmJobState state :
       {PrewarmJobState::kQueued, PrewarmJobState::kRunning, PrewarmJobState::kCompleted,
        PrewarmJobState::kCancelled, PrewarmJobState::kFailed}) {
    if (text == ToText(state)) return state;
  }
  return std::nullopt;
}

PrewarmJobState StateOf(const PrewarmJobRecord& job) {
  return ParsePrewarmJobState(job.status).value_or(PrewarmJobState::kFailed);
}

bool IsFinishedPrewarmStatus(std::string_view status) {
  const std::optional<PrewarmJobState> state = ParsePrewarmJobState(status);
  return state && IsFinished(*state);
}

}  // namespace samcache
