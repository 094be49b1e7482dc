// Embeddings on demand: a cache lookup, and on a miss one encoder run however many callers
// ask for the same key at once (singleflight).
//
// Misses go through a bounded three-stage pipeline: a preparing thread reads the blob,
// decodes it and lays out the encoder input, while the encoder thread runs the previous
// image and a storing thread writes the one before into the tiers (a disk write with fsync
// costs tens of milliseconds; callers are answered once it is stored). At most `max_waiting` images wait to start and `max_prepared` prepared inputs
// (12 MiB each for SAM) wait for the encoder, so a burst of requests cannot exhaust memory:
// beyond that, Get answers Unavailable at once.
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "model/sam_model.h"
#include "store/embedding_tier.h"

namespace samcache {

class BlobStore;

// Where an image's pixels come from: its blob, and the pixel hash they must decode to.
struct ImageSource {
  std::string content_hash;
  std::string pixel_hash;
};

// Time spent on one computed embedding, in milliseconds.
struct EncodeTimings {
  double read_ms = 0;
  double decode_ms = 0;
  double preprocess_ms = 0;
  double encoder_ms = 0;
  double store_ms = 0;  // writing it into the tiers
  double queue_ms = 0;  // waiting for the pipeline
};

struct EmbeddingLookup {
  std::shared_ptr<const Embedding> embedding;
  bool cached = false;  // found in the store, no encoder run for this call
  bool joined = false;  // computed by a run another caller had started
  double elapsed_ms = 0;
  EncodeTimings timings;  // when computed (by this call or one it joined)
};

struct EncoderStats {
  uint64_t runs = 0;  // encoder runs that succeeded
  uint64_t failures = 0;
  double encoder_seconds = 0;
  uint64_t joined = 0;  // requests that waited for another's run instead of starting one
  uint64_t rejected = 0;  // refused because the pipeline was full
};

struct ComputedEmbedding {
  std::shared_ptr<const Embedding> embedding;
  EncodeTimings timings;
};

class EmbeddingService;

// An embedding asked for and not yet waited for: lets a caller keep several images in the
// pipeline (prewarm) and collect them in order.
class PendingEmbedding {
 public:
  // Blocks until the embedding is there (or failed). Call once.
  Result<EmbeddingLookup> Wait();
  // True when it was found in the store: Wait() returns at once. A pending one that is
  // dropped unwaited still completes (and is stored).
  bool cached() const { return ready_.has_value(); }

 private:
  friend class EmbeddingService;
  std::chrono::steady_clock::time_point start_;
  std::optional<EmbeddingLookup> ready_;  // found in the store: nothing to wait for
  std::shared_future<Result<ComputedEmbedding>> future_;
  bool joined_ = false;
};

class EmbeddingService {
 public:
  struct Options {
    size_t max_waiting = 64;
    size_t max_prepared = 1;
  };
  // `model`, `tier` and `blobs` must outlive the service.
  EmbeddingService(const SamModel& model, EmbeddingTier& tier, BlobStore& blobs, Options options);
  // Fails whatever still waits (Unavailable) and joins the threads.
  ~EmbeddingService();
  EmbeddingService(const EmbeddingService&) = delete;
  EmbeddingService& operator=(const EmbeddingService&) = delete;

  EmbeddingKey KeyFor(const std::string& pixel_hash) const;

  // The embedding of `image` under the model, from the store or computed now.
  // Corrupt when the blob is missing or does not decode to image.pixel_hash; Unavailable
  // when the pipeline is full.
  Result<EmbeddingLookup> Get(const ImageSource& image);
  // Get() without the wait: queues the image (or joins its run) and returns at once.
  // Unavailable when the pipeline is full.
  Result<PendingEmbedding> Request(const ImageSource& image);

  // Whether each pixel hash has an embedding in the store for this model.
  std::vector<bool> AreCached(const std::vector<std::string>& pixel_hashes);

  EncoderStats Stats();

 private:
  using Computed = ComputedEmbedding;
  using Outcome = Result<Computed>;
  struct Job {
    EmbeddingKey key;
    ImageSource source;
    std::promise<Outcome> promise;
    std::chrono::steady_clock::time_point queued_at;
    EncodeTimings timings;
    PreparedImage prepared;
    std::shared_ptr<const Embedding> embedding;  // once encoded
  };

  // The next job of a stage's input queue; null when stopping.
  std::unique_ptr<Job> Take(std::deque<std::unique_ptr<Job>>& queue, std::condition_variable& cv);
  // Passes a job to the next stage's queue, waiting for room; false (the job failed) when stopping.
  bool Hand(std::unique_ptr<Job> job, std::deque<std::unique_ptr<Job>>& queue, std::condition_variable& cv,
            size_t max_size);
  void PrepareLoop();
  void EncodeLoop();
  void StoreLoop();
  void Finish(Job& job, Outcome outcome);

  const SamModel& model_;
  EmbeddingTier& tier_;
  BlobStore& blobs_;
  const Options options_;

  std::mutex mutex_;
  std::condition_variable waiting_cv_;   // a job to prepare, or stopping
  std::condition_variable prepared_cv_;  // a prepared job, room for one, or stopping
  std::condition_variable encoded_cv_;   // an encoded job, room for one, or stopping
  std::deque<std::unique_ptr<Job>> waiting_;
  std::deque<std::unique_ptr<Job>> prepared_;
  std::deque<std::unique_ptr<Job>> encoded_;  // waiting to be stored
  std::map<std::string, std::shared_future<Outcome>> in_flight_;
  bool stopping_ = false;
  EncoderStats stats_;

  std::thread preparer_;
  std::thread encoder_;
  std::thread storer_;
};

}  // namespace samcache
