// Embeddings on demand: a cache lookup, and on a miss one encoder run however many callers
// ask for the same key at once (singleflight).
//
// Misses go through a bounded three-stage pipeline: a preparing thread reads the blob,
// decodes it and lays out the encoder input, while the encoder thread runs the previous
// image and a storing thread writes the one before into the tiers (a disk write with fsync
// costs tens of milliseconds; callers are answered once it is stored). At most `max_waiting` images wait to
// start and `max_prepared` prepared inputs (12 MiB each for SAM) wait for the encoder, so a burst of requests
// cannot exhaust memory: beyond that, Get answers Unavailable at once.
//
// With a KeyLease (several instances sharing a Redis tier), a miss first takes the key's
// lease on a separate lease thread before it enters the pipeline: the holder computes and
// stores it (the lease is released once the embedding is in the tiers, or on failure);
// a key whose lease another instance holds waits on that thread (polling the store every
// `lease_poll`, all waiting keys in one round trip) until the value appears, served as
// cached (`remote_joined`), or the lease disappears, and then takes it. Waiting for other
// instances never holds up the pipeline for other keys. If the lease service cannot be
// reached, the key is computed here without a lease. Without a lease (the default) none of
// this runs.
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
#include "store/key_lease.h"

namespace samcache {

class BlobStore;

// Where an image's pixels come from: its blob, and the pixel hash they must decode to.
struct ImageSource {
  std::string content_hash;
  std::string pixel_hash;
  // The picture hash the embedding is cached under (access/claims.h, ClaimBook::CacheHash):
  // with a project cache scope it includes the project. Empty: pixel_hash (so that sources
  // written without it keep their meaning).
  std::string cache_hash = {};
};

// Time spent on one computed embedding, in milliseconds.
struct EncodeTimings {
  double read_ms = 0;
  double decode_ms = 0;
  int decode_scale = 1;  // the blob was decoded at 1/decode_scale of its size (large JPEGs)
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
  bool remote = false;    // cached: computed by another instance while this one waited on its lease
  // Computed but not written into the store (e.g. a full disk): why. The embedding is still
  // good for this call; callers that promise it is cached (prewarm) count it as failed.
  Status store_status = Status::Ok();
};

struct EncoderStats {
  uint64_t runs = 0;  // encoder runs that succeeded
  uint64_t failures = 0;
  double encoder_seconds = 0;
  uint64_t joined = 0;         // requests that waited for another's run instead of starting one
  uint64_t rejected = 0;       // refused because the pipeline was full
  uint64_t remote_joined = 0;  // misses another instance computed while this one waited on its lease
};

struct ComputedEmbedding {
  std::shared_ptr<const Embedding> embedding;
  EncodeTimings timings;
  bool cached = false;                 // found in the store after all (stored by another instance meanwhile)
  bool remote = false;                 // ... after waiting on that instance's lease
  Status store_status = Status::Ok();  // not ok: computed, but the tiers could not keep it
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
    // Shared with other instances; null: no lease (one instance). Must outlive the service.
    KeyLease* lease = nullptr;
    // How often keys leased by other instances are checked.
    std::chrono::milliseconds lease_poll{40};
    // Shared by the services of every model a process serves, so that their encoders take
    // turns instead of splitting the cores (each run already uses them all). Null: no turns.
    std::mutex* encoder_turn = nullptr;
    // The nice value of the prepare and store threads (0: the process's). They run while the
    // encoder runs and would take cores from its threads, whose parallel sections then wait
    // for the slowest; a lower priority leaves them the gaps the encoder's threads leave.
    int stage_nice = 10;
  };
  // `model`, `tier` and `blobs` must outlive the service.
  EmbeddingService(const SamModel& model, EmbeddingTier& tier, BlobStore& blobs, Options options);
  // Fails whatever still waits (Unavailable) and joins the threads.
  ~EmbeddingService();
  EmbeddingService(const EmbeddingService&) = delete;
  EmbeddingService& operator=(const EmbeddingService&) = delete;

  // The key of a cache hash (ImageSource::cache_hash; the pixel hash in the global scope).
  EmbeddingKey KeyFor(const std::string& cache_hash) const;

  // The embedding of `image` under the model, from the store or computed now.
  // Corrupt when the blob is missing or does not decode to image.pixel_hash; Unavailable
  // when the pipeline is full.
  Result<EmbeddingLookup> Get(const ImageSource& image);
  // Get() without the wait: queues the image (or joins its run) and returns at once.
  // Unavailable when the pipeline is full.
  Result<PendingEmbedding> Request(const ImageSource& image);

  // Whether each cache hash (ImageSource::cache_hash, the pixel hash in the global scope)
  // has an embedding in the store for this model. Says nothing about who may be told: see
  // ProjectCache (model/project_cache.h).
  std::vector<bool> AreCached(const std::vector<std::string>& cache_hashes);

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
    std::string lease_token;                     // while this process holds the key's lease
    bool waited_remote = false;                  // found the lease held by another instance at least once
  };

  // The next job of a stage's input queue; null when stopping.
  std::unique_ptr<Job> Take(std::deque<std::unique_ptr<Job>>& queue, std::condition_variable& cv);
  // Passes a job to the next stage's queue, waiting for room; false (the job failed) when stopping.
  bool Hand(std::unique_ptr<Job> job, std::deque<std::unique_ptr<Job>>& queue, std::condition_variable& cv,
            size_t max_size);
  void PrepareLoop();
  void EncodeLoop();
  void StoreLoop();
  // Releases the job's lease if it holds one, answers its callers, ends its flight.
  void Finish(Job& job, Outcome outcome);

  // The lease thread: takes the leases of new misses and watches keys other instances hold.
  void LeaseLoop();
  // Tries to take the leases of `jobs`: a job that gets its lease (or cannot reach the lease
  // service) goes to the pipeline, unless the store has its key by now; one whose lease is
  // held elsewhere is added to `watching`.
  void Claim(std::vector<std::unique_ptr<Job>> jobs, std::vector<std::unique_ptr<Job>>& watching);
  // One look at the keys in `watching`: values that appeared answer their jobs; keys whose
  // lease is gone are claimed.
  void Poll(std::vector<std::unique_ptr<Job>>& watching);
  // Hands an admitted job to the preparing thread (fails it when stopping).
  void Enqueue(std::unique_ptr<Job> job);

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
  std::deque<std::unique_ptr<Job>> encoded_;   // waiting to be stored
  std::condition_variable claiming_cv_;        // a job to claim, or stopping
  std::deque<std::unique_ptr<Job>> claiming_;  // misses whose lease is not asked for yet
  size_t leasing_ = 0;                         // jobs in claiming_ or watched by the lease thread
  std::map<std::string, std::shared_future<Outcome>> in_flight_;
  bool stopping_ = false;
  EncoderStats stats_;

  std::thread preparer_;
  std::thread encoder_;
  std::thread storer_;
  std::thread leaser_;  // only with a lease
};

}  // namespace samcache
