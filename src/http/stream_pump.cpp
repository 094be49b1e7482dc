#include "http/stream_pump.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>

namespace samcache {

StreamPump::StreamPump(std::chrono::milliseconds period, size_t max_streams)
    : period_(period), max_streams_(max_streams), thread_([this] { Run(); }) {}

StreamPump::~StreamPump() { Stop(); }

bool StreamPump::Add(ReplyStream step, std::shared_ptr<StreamOutput> output) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || entries_.size() + added_.size() + stepping_ >= max_streams_) return false;
    added_.push_back(Entry{std::move(step), std::move(output)});
  }
  wake_.notify_one();  // the first step at once: the client gets its snapshot without waiting
  return true;
}

void StreamPump::Nudge(const StreamOutput* output) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    nudged_.push_back(output);
  }
  wake_.notify_one();
}

size_t StreamPump::open_streams() const {
  std::lock_guard lock(mutex_);
  return entries_.size() + added_.size() + stepping_;
}

void StreamPump::Stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mutex_);
  for (Entry& entry : entries_) entry.output->Abort();
  for (Entry& entry : added_) entry.output->Abort();
  entries_.clear();
  added_.clear();
}

// One round: every stream if a period has passed, else only the ones added or nudged since
// (so a burst of new followers costs one step each, not a round each).
void StreamPump::Run() {
  auto next_round = std::chrono::steady_clock::now();
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const bool full = std::chrono::steady_clock::now() >= next_round;
    if (full) next_round = std::chrono::steady_clock::now() + period_;
    std::vector<Entry> batch = std::move(added_);
    added_.clear();
    if (full) {
      batch.insert(batch.end(), std::make_move_iterator(entries_.begin()),
                   std::make_move_iterator(entries_.end()));
      entries_.clear();
    } else if (!nudged_.empty()) {
      const auto nudged = [this](const Entry& e) {
        return std::find(nudged_.begin(), nudged_.end(), e.output.get()) != nudged_.end();
      };
      const auto first =
          std::stable_partition(entries_.begin(), entries_.end(), [&](const Entry& e) { return !nudged(e); });
      batch.insert(batch.end(), std::make_move_iterator(first), std::make_move_iterator(entries_.end()));
      entries_.erase(first, entries_.end());
    }
    nudged_.clear();
    // Step outside the lock: a step may take a moment (a catalog read), and Add must not wait
    // (but counts the streams being stepped).
    stepping_ = batch.size();
    lock.unlock();
    std::vector<Entry> keep;
    keep.reserve(batch.size());
    for (Entry& entry : batch) {
      if (Step(entry)) keep.push_back(std::move(entry));
    }
    lock.lock();
    stepping_ = 0;
    entries_.insert(entries_.end(), std::make_move_iterator(keep.begin()),
                    std::make_move_iterator(keep.end()));
    if (stopping_) break;
    if (added_.empty() && nudged_.empty()) wake_.wait_until(lock, next_round);
  }
}

bool StreamPump::Step(Entry& entry) {
  StreamOutput& out = *entry.output;
  if (out.Finished()) return false;
  bool ok = false;
  if (out.Writable()) {
    try {
      ok = entry.step(out);
    } catch (const std::exception& e) {
      spdlog::error("[HTTP] an event stream failed: {}", e.what());
    }
  }
  if (!ok) {
    out.Abort();
    return false;
  }
  return !out.Finished();
}

}  // namespace samcache
