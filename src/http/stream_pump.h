// Streamed replies (the prewarm event stream) without a worker each: one thread steps every
// open stream a few times a second; a step writes what is new and returns at once. The
// transport supplies each stream's output, which buffers the bytes until the socket takes
// them and says when the client has gone.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "http/reply.h"

namespace samcache {

// Where a pumped stream's bytes go: a ReplySink the pump can also end.
class StreamOutput : public ReplySink {
 public:
  // The body is complete or was cut; the pump forgets the stream.
  virtual bool Finished() const = 0;
  // Cut the stream (the server stops, or the step failed).
  virtual void Abort() = 0;
};

class StreamPump {
 public:
  StreamPump(std::chrono::milliseconds period, size_t max_streams);
  ~StreamPump();  // Stop()
  StreamPump(const StreamPump&) = delete;
  StreamPump& operator=(const StreamPump&) = delete;

  // False when max_streams are open already (or the pump stopped): answer 503.
  bool Add(ReplyStream step, std::shared_ptr<StreamOutput> output);
  // Steps the stream writing into `output` now rather than at the next round: its client has
  // taken most of what was buffered (a large body is then sent at the network's pace, not a
  // piece per round). A stream being stepped right now is stepped at the next round.
  void Nudge(const StreamOutput* output);
  // Aborts every stream and joins the thread.
  void Stop();
  size_t open_streams() const;

 private:
  struct Entry {
    ReplyStream step;
    std::shared_ptr<StreamOutput> output;
  };
  void Run();
  // False when the stream is over (finished, failed or its client gone).
  bool Step(Entry& entry);

  const std::chrono::milliseconds period_;
  const size_t max_streams_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Entry> entries_;
  std::vector<Entry> added_;  // not stepped yet
  std::vector<const StreamOutput*> nudged_;
  size_t stepping_ = 0;  // taken out of both by the round running now
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace samcache
