#include "model/embedding_service.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/crypto.h"
#include "image/image_decoder.h"
#include "image/image_format.h"
#include "store/blob_store.h"

namespace samcache {
namespace {

using Clock = std::chrono::steady_clock;

// Encoded embeddings waiting for the storing thread (4 MiB each for SAM).
constexpr size_t kMaxEncoded = 2;

double MillisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// A large JPEG's pixels at 1/2, 1/4 or 1/8 of its size, when the model's input is no larger
// and comes out the same size either way (libjpeg scales inside the inverse DCT: a 12 MP photo
// decodes in a fraction of the time, and the resize after it has less to do). Nullopt: decode
// in full.
std::optional<Result<DecodedImage>> LoadReduced(const SamModel& model, std::string_view bytes,
                                                int& full_height, int& full_width) {
  Result<ImageHeader> header = ReadImageHeader(bytes);
  if (!header.ok() || header->format != ImageFormat::kJpeg) return std::nullopt;
  const int h = static_cast<int>(header->height), w = static_cast<int>(header->width);
  // Both orientations: EXIF may turn the picture a quarter.
  const auto fits = [&](int full_h, int full_w, int small_h, int small_w) {
    const std::pair<int, int> input = model.InputSize(full_h, full_w);
    return small_h >= input.first && small_w >= input.second && model.InputSize(small_h, small_w) == input;
  };
  for (int denominator : {8, 4, 2}) {
    const int small_h = (h + denominator - 1) / denominator, small_w = (w + denominator - 1) / denominator;
    if (!fits(h, w, small_h, small_w) || !fits(w, h, small_w, small_h)) continue;
    Result<DecodedImage> image = DecodeJpegReduced(bytes, denominator);
    if (!image.ok()) return image;
    if (static_cast<int>(image->height) == small_h && static_cast<int>(image->width) == small_w) {
      full_height = h;
      full_width = w;
    } else if (static_cast<int>(image->height) == small_w && static_cast<int>(image->width) == small_h) {
      full_height = w;
      full_width = h;
    } else {
      return std::nullopt;  // not the size libjpeg promises: the full decode decides
    }
    return image;
  }
  return std::nullopt;
}

// The image's pixels from its blob. The bytes are checked against their content hash: they
// are the bytes that decoded to the key's pixels at upload, so an embedding is never computed
// from other pixels than its key says. (Hashing the bytes costs a fraction of hashing the
// decoded pixels, and works for a reduced decode too.) `full_height` and `full_width`: the
// oriented image's size (the decoded one's unless it was reduced).
Result<DecodedImage> LoadPixels(const SamModel& model, BlobStore& blobs, const ImageSource& source,
                                EncodeTimings& timings, int& full_height, int& full_width) {
  Clock::time_point step = Clock::now();
  Result<std::string> bytes = blobs.Read(source.content_hash);
  timings.read_ms = MillisSince(step);
  if (!bytes.ok()) {
    return Status::Corrupt("the image's stored file cannot be read: " + bytes.status().message());
  }
  step = Clock::now();
  if (Sha256Hex(*bytes) != source.content_hash) {
    return Status::Corrupt("stored file " + source.content_hash.substr(0, 12) +
                           " no longer matches its hash");
  }
  if (std::optional<Result<DecodedImage>> reduced = LoadReduced(model, *bytes, full_height, full_width)) {
    timings.decode_ms = MillisSince(step);
    if (reduced->ok()) {
      const int width = static_cast<int>((*reduced)->width);
      timings.decode_scale = (full_width + width - 1) / width;
    }
    return std::move(*reduced);
  }
  Result<DecodedImage> image = DecodeImage(*bytes, SniffFormat(*bytes));
  timings.decode_ms = MillisSince(step);
  if (image.ok()) {
    full_height = static_cast<int>(image->height);
    full_width = static_cast<int>(image->width);
  }
  return image;
}

// Nice is per thread on Linux; lowering it needs no privilege. A failure leaves the thread as
// it was.
void SetThisThreadsNice(int nice) {
  if (nice == 0) return;
  const auto tid = static_cast<id_t>(syscall(SYS_gettid));
  if (setpriority(PRIO_PROCESS, tid, nice) != 0) {
    spdlog::warn("cannot lower a pipeline thread's priority to nice {}", nice);
  }
}

}  // namespace

EmbeddingService::EmbeddingService(const SamModel& model, EmbeddingTier& tier, BlobStore& blobs,
                                   Options options)
    : model_(model), tier_(tier), blobs_(blobs), options_(options) {
  preparer_ = std::thread([this] { PrepareLoop(); });
  encoder_ = std::thread([this] { EncodeLoop(); });
  storer_ = std::thread([this] { StoreLoop(); });
  if (options_.lease != nullptr) leaser_ = std::thread([this] { LeaseLoop(); });
}

EmbeddingService::~EmbeddingService() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  waiting_cv_.notify_all();
  prepared_cv_.notify_all();
  encoded_cv_.notify_all();
  claiming_cv_.notify_all();
  preparer_.join();
  encoder_.join();
  storer_.join();
  if (leaser_.joinable()) leaser_.join();
  std::deque<std::unique_ptr<Job>> left;
  {
    std::lock_guard lock(mutex_);
    left.swap(waiting_);
    for (auto& job : claiming_) left.push_back(std::move(job));
    claiming_.clear();
    for (auto& job : prepared_) left.push_back(std::move(job));
    prepared_.clear();
    for (auto& job : encoded_) left.push_back(std::move(job));
    encoded_.clear();
  }
  for (auto& job : left) Finish(*job, Status::Unavailable("the server is shutting down"));
}

EmbeddingKey EmbeddingService::KeyFor(const std::string& cache_hash) const {
  return EmbeddingKey{model_.info().id, cache_hash};
}

Result<EmbeddingLookup> EmbeddingService::Get(const ImageSource& image) {
  SAMCACHE_ASSIGN_OR_RETURN(PendingEmbedding pending, Request(image));
  return pending.Wait();
}

Result<PendingEmbedding> EmbeddingService::Request(const ImageSource& image) {
  PendingEmbedding pending;
  pending.start_ = Clock::now();
  // Keyed on the cache hash; the stored bytes are still checked against their content hash.
  const EmbeddingKey key = KeyFor(image.cache_hash.empty() ? image.pixel_hash : image.cache_hash);
  if (auto embedding = tier_.Get(key)) {
    pending.ready_ =
        EmbeddingLookup{std::move(embedding), /*cached=*/true, false, MillisSince(pending.start_), {}};
    return pending;
  }
  std::lock_guard lock(mutex_);
  if (stopping_) return Status::Unavailable("the server is shutting down");
  const std::string name = key.ToString();
  if (auto it = in_flight_.find(name); it != in_flight_.end()) {
    pending.future_ = it->second;
    pending.joined_ = true;
    ++stats_.joined;
  } else if (auto embedding = tier_.Get(key)) {
    // Stored by a run that finished after our first look.
    pending.ready_ =
        EmbeddingLookup{std::move(embedding), /*cached=*/true, false, MillisSince(pending.start_), {}};
  } else if (waiting_.size() + leasing_ >= options_.max_waiting) {
    ++stats_.rejected;
    return Status::Unavailable("the encoder queue is full (" + std::to_string(waiting_.size() + leasing_) +
                               " images waiting); try again shortly");
  } else {
    auto job = std::make_unique<Job>();
    job->key = key;
    job->source = image;
    job->queued_at = pending.start_;
    pending.future_ = job->promise.get_future().share();
    in_flight_.emplace(name, pending.future_);
    if (options_.lease != nullptr) {
      ++leasing_;
      claiming_.push_back(std::move(job));
      claiming_cv_.notify_one();
    } else {
      waiting_.push_back(std::move(job));
      waiting_cv_.notify_one();
    }
  }
  return pending;
}

Result<EmbeddingLookup> PendingEmbedding::Wait() {
  if (ready_) return *ready_;
  const Result<ComputedEmbedding>& outcome = future_.get();
  SAMCACHE_RETURN_IF_ERROR(outcome);
  return EmbeddingLookup{
      outcome->embedding,
      outcome->cached,
      joined_,
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count(),
      outcome->timings,
      outcome->remote,
      outcome->store_status};
}

std::vector<bool> EmbeddingService::AreCached(const std::vector<std::string>& cache_hashes) {
  std::vector<EmbeddingKey> keys;
  keys.reserve(cache_hashes.size());
  for (const std::string& hash : cache_hashes) keys.push_back(KeyFor(hash));
  return tier_.ContainsMany(keys);
}

EncoderStats EmbeddingService::Stats() {
  std::lock_guard lock(mutex_);
  return stats_;
}

void EmbeddingService::Finish(Job& job, Outcome outcome) {
  // The embedding is in the tiers by now (or failed): other instances may go ahead.
  if (!job.lease_token.empty()) options_.lease->Release(job.key, job.lease_token);
  job.promise.set_value(std::move(outcome));
  std::lock_guard lock(mutex_);
  in_flight_.erase(job.key.ToString());
}

std::unique_ptr<EmbeddingService::Job> EmbeddingService::Take(std::deque<std::unique_ptr<Job>>& queue,
                                                              std::condition_variable& cv) {
  std::unique_ptr<Job> job;
  {
    std::unique_lock lock(mutex_);
    cv.wait(lock, [&] { return stopping_ || !queue.empty(); });
    if (stopping_) return nullptr;
    job = std::move(queue.front());
    queue.pop_front();
  }
  cv.notify_all();  // room for the stage that fills this queue
  return job;
}

bool EmbeddingService::Hand(std::unique_ptr<Job> job, std::deque<std::unique_ptr<Job>>& queue,
                            std::condition_variable& cv, size_t max_size) {
  std::unique_lock lock(mutex_);
  cv.wait(lock, [&] { return stopping_ || queue.size() < max_size; });
  if (stopping_) {
    lock.unlock();
    Finish(*job, Status::Unavailable("the server is shutting down"));
    return false;
  }
  queue.push_back(std::move(job));
  cv.notify_all();
  return true;
}

void EmbeddingService::PrepareLoop() {
  SetThisThreadsNice(options_.stage_nice);
  for (;;) {
    std::unique_ptr<Job> job = Take(waiting_, waiting_cv_);
    if (!job) return;
    job->timings.queue_ms = MillisSince(job->queued_at);

    {  // the decoded image is released before waiting for the encoder
      int full_height = 0, full_width = 0;
      Result<DecodedImage> image =
          LoadPixels(model_, blobs_, job->source, job->timings, full_height, full_width);
      if (!image.ok()) {
        spdlog::error("embedding {}: {}", job->key.ToString(), image.status().message());
        Finish(*job, image.status());
        continue;
      }
      const Clock::time_point step = Clock::now();
      job->prepared = model_.Prepare(*image);
      job->prepared.original_height = full_height;
      job->prepared.original_width = full_width;
      job->timings.preprocess_ms = MillisSince(step);
    }

    if (!Hand(std::move(job), prepared_, prepared_cv_, options_.max_prepared)) return;
  }
}

void EmbeddingService::EncodeLoop() {
  for (;;) {
    std::unique_ptr<Job> job = Take(prepared_, prepared_cv_);
    if (!job) return;

    std::unique_lock<std::mutex> turn;
    if (options_.encoder_turn != nullptr) turn = std::unique_lock(*options_.encoder_turn);
    const Clock::time_point step = Clock::now();
    Result<Embedding> embedding = model_.Encode(job->prepared);
    job->timings.encoder_ms = MillisSince(step);
    if (turn.owns_lock()) turn.unlock();
    job->prepared = PreparedImage{};
    if (!embedding.ok()) {
      {
        std::lock_guard lock(mutex_);
        ++stats_.failures;
      }
      spdlog::error("encoder failed for {}: {}", job->key.ToString(), embedding.status().message());
      Finish(*job, embedding.status());
      continue;
    }
    job->embedding = std::make_shared<const Embedding>(std::move(*embedding));
    if (!Hand(std::move(job), encoded_, encoded_cv_, kMaxEncoded)) return;
  }
}

void EmbeddingService::StoreLoop() {
  SetThisThreadsNice(options_.stage_nice);
  for (;;) {
    std::unique_ptr<Job> job = Take(encoded_, encoded_cv_);
    if (!job) return;

    // Counted before the store makes the embedding visible: whoever sees it cached sees the run.
    {
      std::lock_guard lock(mutex_);
      ++stats_.runs;
      stats_.encoder_seconds += job->timings.encoder_ms / 1000.0;
    }
    const Clock::time_point step = Clock::now();
    Status put = tier_.Put(job->key, job->embedding);
    if (!put.ok()) {
      // The caller still gets its embedding (and is told it was not stored); only later
      // calls will compute it again.
      spdlog::error("could not store embedding {}: {}", job->key.ToString(), put.message());
    }
    job->timings.store_ms = MillisSince(step);
    spdlog::info(
        "[ENCODE] {} in {:.0f} ms (read {:.0f}, decode {:.0f}, preprocess {:.0f}, encoder {:.0f}, store "
        "{:.0f})",
        job->key.pixel_hash.substr(0, 12),
        job->timings.read_ms + job->timings.decode_ms + job->timings.preprocess_ms + job->timings.encoder_ms +
            job->timings.store_ms,
        job->timings.read_ms, job->timings.decode_ms, job->timings.preprocess_ms, job->timings.encoder_ms,
        job->timings.store_ms);
    Finish(*job, Computed{std::move(job->embedding), job->timings, false, false, std::move(put)});
  }
}

void EmbeddingService::Enqueue(std::unique_ptr<Job> job) {
  {
    std::lock_guard lock(mutex_);
    --leasing_;
    if (!stopping_) {
      waiting_.push_back(std::move(job));
      waiting_cv_.notify_one();
      return;
    }
  }
  Finish(*job, Status::Unavailable("the server is shutting down"));
}

void EmbeddingService::Claim(std::vector<std::unique_ptr<Job>> jobs,
                             std::vector<std::unique_ptr<Job>>& watching) {
  std::vector<EmbeddingKey> keys;
  keys.reserve(jobs.size());
  for (const auto& job : jobs) keys.push_back(job->key);
  const std::vector<LeaseAttempt> attempts = options_.lease->TryAcquire(keys);
  for (size_t i = 0; i < jobs.size(); ++i) {
    std::unique_ptr<Job>& job = jobs[i];
    switch (attempts[i].state) {
      case LeaseAttempt::State::kHeldElsewhere:
        job->waited_remote = true;
        watching.push_back(std::move(job));
        continue;
      case LeaseAttempt::State::kUnavailable:  // logged by the lease service: compute here
        Enqueue(std::move(job));
        continue;
      case LeaseAttempt::State::kAcquired:
        break;
    }
    job->lease_token = attempts[i].token;
    // The previous holder stores before it releases: if it finished just before we took
    // the lease, its value is there now (after a wait on its lease, a remote join too).
    if (tier_.Contains(job->key)) {
      if (auto embedding = tier_.Get(job->key)) {
        {
          std::lock_guard lock(mutex_);
          --leasing_;
          if (job->waited_remote) ++stats_.remote_joined;
        }
        Finish(*job, Computed{std::move(embedding), {}, /*cached=*/true, job->waited_remote});
        continue;
      }
    }
    Enqueue(std::move(job));
  }
}

void EmbeddingService::Poll(std::vector<std::unique_ptr<Job>>& watching) {
  std::vector<EmbeddingKey> keys;
  keys.reserve(watching.size());
  for (const auto& job : watching) keys.push_back(job->key);
  const std::vector<bool> present = tier_.ContainsMany(keys);  // one round trip to the shared tier
  std::vector<std::unique_ptr<Job>> still_held;
  std::vector<std::unique_ptr<Job>> to_claim;
  for (size_t i = 0; i < watching.size(); ++i) {
    std::unique_ptr<Job>& job = watching[i];
    if (present[i]) {
      if (auto embedding = tier_.Get(job->key)) {  // promoted into the local tiers
        {
          std::lock_guard lock(mutex_);
          --leasing_;
          ++stats_.remote_joined;
        }
        spdlog::info("[REDIS] {} computed by another instance; waited {:.0f} ms",
                     job->key.pixel_hash.substr(0, 12), MillisSince(job->queued_at));
        Finish(*job, Computed{std::move(embedding), {}, /*cached=*/true, /*remote=*/true});
        continue;
      }
    }
    to_claim.push_back(std::move(job));
  }
  watching.clear();
  // Keys still missing: their lease is taken if it is gone (holder finished without storing,
  // or died and its lease expired); still held otherwise.
  if (!to_claim.empty()) Claim(std::move(to_claim), still_held);
  watching = std::move(still_held);
}

void EmbeddingService::LeaseLoop() {
  std::vector<std::unique_ptr<Job>> watching;  // keys whose lease another instance holds
  Clock::time_point next_poll = Clock::now();
  for (;;) {
    std::vector<std::unique_ptr<Job>> fresh;
    {
      std::unique_lock lock(mutex_);
      auto ready = [this] { return stopping_ || !claiming_.empty(); };
      if (watching.empty()) {
        claiming_cv_.wait(lock, ready);
      } else {
        claiming_cv_.wait_until(lock, next_poll, ready);
      }
      if (stopping_) break;
      for (auto& job : claiming_) fresh.push_back(std::move(job));
      claiming_.clear();
    }
    if (!fresh.empty()) Claim(std::move(fresh), watching);
    if (!watching.empty() && Clock::now() >= next_poll) {
      Poll(watching);
      next_poll = Clock::now() + options_.lease_poll;
    }
  }
  for (auto& job : watching) Finish(*job, Status::Unavailable("the server is shutting down"));
}

}  // namespace samcache
