// The persistent embedding tier: survives restarts (entries and their recency), never serves
// a damaged file, evicts least-recently-used files within its budget, shares its folder with
// other processes, and stays consistent under concurrent use.
#include "store/disk_tier.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cmath>
#include <random>
#include <sstream>
#include <thread>

#include "common/crypto.h"
#include "store/half.h"
#include "support/embeddings.h"
#include "support/test_support.h"

namespace samcache {
namespace {

namespace fs = std::filesystem;
using testing::ListFiles;
using testing::TempDir;

const std::string& kModel = testing::kTestModel;

EmbeddingKey Key(int n, const std::string& model = kModel) { return testing::TestKey(n, model); }

std::shared_ptr<const Embedding> MakeEmbedding(int seed, size_t floats = 1024,
                                               const std::string& model = kModel) {
  return testing::MakeTestEmbedding(seed, floats, model);
}

bool Holds(const std::shared_ptr<const Embedding>& embedding, int seed) {
  return embedding && embedding->tensors.size() == 1 &&
         embedding->tensors[0].values == MakeEmbedding(seed)->tensors[0].values;
}

// Routes spdlog's default logger into a string while alive.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(stream_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::string Text() const { return stream_.str(); }

 private:
  std::ostringstream stream_;
  std::shared_ptr<spdlog::logger> previous_;
};

class DiskTierTest : public ::testing::Test {
 protected:
  fs::path Root() const { return dir_ / "embeddings"; }

  std::unique_ptr<DiskTier> Open(uint64_t max_bytes = 0, StorageDtype dtype = StorageDtype::kF32) {
    auto tier = std::make_unique<DiskTier>(Root(), max_bytes, dtype);
    Status status = tier->Init();
    EXPECT_TRUE(status.ok()) << status.message();
    return tier;
  }

  // Size on disk of one MakeEmbedding entry (they all have the same size).
  uint64_t EntryBytes() {
    TempDir scratch;
    DiskTier tier(scratch / "e", 0);
    EXPECT_TRUE(tier.Init().ok());
    EXPECT_TRUE(tier.Put(Key(999), MakeEmbedding(999)).ok());
    return tier.Stats().bytes;
  }

  size_t EntryFiles() {
    size_t count = 0;
    for (const fs::path& file : ListFiles(Root())) count += file.extension() == ".safetensors";
    return count;
  }

  TempDir dir_;
};

TEST_F(DiskTierTest, PutThenGetRoundTrips) {
  auto tier = Open();
  ASSERT_TRUE(tier->Put(Key(1), MakeEmbedding(1)).ok());
  const fs::path path = tier->PathFor(Key(1));
  EXPECT_EQ(path, Root() / kModel / Key(1).pixel_hash.substr(0, 2) / (Key(1).pixel_hash + ".safetensors"));
  EXPECT_TRUE(fs::is_regular_file(path));
  EXPECT_TRUE(tier->Contains(Key(1)));

  std::shared_ptr<const Embedding> got = tier->Get(Key(1));
  ASSERT_TRUE(Holds(got, 1));
  EXPECT_EQ(got->model_id, kModel);
  EXPECT_EQ(got->tensors[0].name, "image_embeddings");
  EXPECT_EQ(got->tensors[0].shape, (std::vector<int64_t>{1, 1024}));
  EXPECT_EQ(tier->Get(Key(2)), nullptr);

  TierStats stats = tier->Stats();
  EXPECT_EQ(stats.name, "disk");
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.entries, 1u);
  EXPECT_EQ(stats.bytes, fs::file_size(path));
  EXPECT_TRUE(fs::is_empty(Root() / "tmp"));
}

TEST_F(DiskTierTest, KeysThatCannotBeFileNamesAreRefused) {
  auto tier = Open();
  for (const EmbeddingKey& key : {EmbeddingKey{"../evil", Key(1).pixel_hash},
                                  EmbeddingKey{"tmp", Key(1).pixel_hash}, EmbeddingKey{"", Key(1).pixel_hash},
                                  EmbeddingKey{kModel, "../../x"}, EmbeddingKey{kModel, "ABCDEF"}}) {
    Status status = tier->Put(key, MakeEmbedding(1));
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << key.ToString();
    EXPECT_EQ(tier->Get(key), nullptr);
    EXPECT_FALSE(tier->Contains(key));
  }
  EXPECT_EQ(EntryFiles(), 0u);
}

// An embedding with values that halves cannot hold exactly.
std::shared_ptr<const Embedding> Irrational(size_t floats = 64 * 64 * 16) {
  auto embedding = std::make_shared<Embedding>();
  embedding->model_id = kModel;
  NamedTensor tensor{"image_embeddings", {1, 16, 64, 64}, std::vector<float>(floats)};
  for (size_t i = 0; i < floats; ++i) tensor.values[i] = std::sin(static_cast<float>(i) * 0.7f) * 3.1f;
  embedding->tensors.push_back(std::move(tensor));
  return embedding;
}

std::vector<float> Halved(const std::vector<float>& values) {
  std::vector<float> out;
  for (float value : values) out.push_back(HalfToFloat(FloatToHalf(value)));
  return out;
}

TEST_F(DiskTierTest, Fp16StoresFilesOfAboutHalfTheSizeAndReadsThemBack) {
  const std::shared_ptr<const Embedding> embedding = Irrational();
  TempDir other;
  DiskTier fp32(other / "fp32", 0);
  ASSERT_TRUE(fp32.Init().ok());
  ASSERT_TRUE(fp32.Put(Key(1), embedding).ok());
  auto fp16 = Open(0, StorageDtype::kF16);
  ASSERT_TRUE(fp16->Put(Key(1), embedding).ok());

  const uint64_t full = fs::file_size(fp32.PathFor(Key(1)));
  const uint64_t half = fs::file_size(fp16->PathFor(Key(1)));
  const uint64_t data = embedding->tensors[0].values.size() * 2;
  EXPECT_GE(full, 2 * data);
  EXPECT_GE(half, data);
  EXPECT_LT(half, data + 1024);          // the header is small
  EXPECT_EQ(fp16->Stats().bytes, half);  // the budget counts file sizes

  std::shared_ptr<const Embedding> got = fp16->Get(Key(1));
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->tensors[0].shape, embedding->tensors[0].shape);
  EXPECT_NE(got->tensors[0].values, embedding->tensors[0].values);
  EXPECT_EQ(got->tensors[0].values, Halved(embedding->tensors[0].values));
  auto reopened = Open(0, StorageDtype::kF16);
  EXPECT_EQ(reopened->Stats().bytes, half);
}

TEST_F(DiskTierTest, EitherDtypeReadsFilesOfTheOther) {
  const std::shared_ptr<const Embedding> embedding = Irrational();
  {
    auto fp16 = Open(0, StorageDtype::kF16);
    ASSERT_TRUE(fp16->Put(Key(1), embedding).ok());
    auto fp32 = Open(0, StorageDtype::kF32);
    ASSERT_TRUE(fp32->Put(Key(2), embedding).ok());
  }
  for (StorageDtype dtype : {StorageDtype::kF32, StorageDtype::kF16}) {
    auto tier = Open(0, dtype);
    std::shared_ptr<const Embedding> from_fp16 = tier->Get(Key(1));
    std::shared_ptr<const Embedding> from_fp32 = tier->Get(Key(2));
    ASSERT_NE(from_fp16, nullptr) << StorageDtypeName(dtype);
    ASSERT_NE(from_fp32, nullptr) << StorageDtypeName(dtype);
    EXPECT_EQ(from_fp16->tensors[0].values, Halved(embedding->tensors[0].values));
    EXPECT_EQ(from_fp32->tensors[0].values, embedding->tensors[0].values);
    EXPECT_EQ(tier->corrupt_entries(), 0u);
    Result<DiskVerifyOutcome> verified = tier->Verify(/*read_all=*/true);
    ASSERT_TRUE(verified.ok());
    EXPECT_EQ(verified->checked, 2u);
    EXPECT_EQ(verified->corrupt_removed, 0u);
  }
}

TEST_F(DiskTierTest, EntriesSurviveANewInstance) {
  {
    auto tier = Open();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(tier->Put(Key(i), MakeEmbedding(i)).ok());
  }
  auto reopened = Open();
  TierStats stats = reopened->Stats();
  EXPECT_EQ(stats.entries, 3u);
  EXPECT_EQ(stats.bytes, 3 * EntryBytes());
  EXPECT_EQ(reopened->EntriesFor(kModel), 3u);
  EXPECT_EQ(reopened->ContainsMany({Key(0), Key(1), Key(2), Key(3)}),
            (std::vector<bool>{true, true, true, false}));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(Holds(reopened->Get(Key(i)), i)) << i;
}

TEST_F(DiskTierTest, TruncatedFileIsAMissLoggedAndRemoved) {
  auto tier = Open();
  ASSERT_TRUE(tier->Put(Key(1), MakeEmbedding(1)).ok());
  const fs::path path = tier->PathFor(Key(1));
  fs::resize_file(path, fs::file_size(path) - 100);

  LogCapture log;
  EXPECT_EQ(tier->Get(Key(1)), nullptr);
  EXPECT_NE(log.Text().find(path.string()), std::string::npos) << log.Text();
  EXPECT_NE(log.Text().find("truncated"), std::string::npos) << log.Text();
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(tier->Contains(Key(1)));
  EXPECT_EQ(tier->corrupt_entries(), 1u);
  TierStats stats = tier->Stats();
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.hits, 0u);
  EXPECT_EQ(stats.entries, 0u);
  EXPECT_EQ(stats.bytes, 0u);
  EXPECT_EQ(tier->EntriesFor(kModel), 0u);
}

TEST_F(DiskTierTest, BitFlippedFileIsAMissLoggedAndRemoved) {
  auto tier = Open();
  ASSERT_TRUE(tier->Put(Key(1), MakeEmbedding(1)).ok());
  ASSERT_TRUE(tier->Put(Key(2), MakeEmbedding(2)).ok());
  const fs::path path = tier->PathFor(Key(1));
  std::string bytes = testing::ReadFileOrDie(path);
  bytes[bytes.size() - 10] ^= 0x04;
  testing::WriteFile(path, bytes);

  LogCapture log;
  EXPECT_EQ(tier->Get(Key(1)), nullptr);
  EXPECT_NE(log.Text().find(path.string()), std::string::npos) << log.Text();
  EXPECT_NE(log.Text().find("checksum"), std::string::npos) << log.Text();
  EXPECT_FALSE(fs::exists(path));
  EXPECT_EQ(tier->ContainsMany({Key(1), Key(2)}), (std::vector<bool>{false, true}));
  EXPECT_EQ(tier->corrupt_entries(), 1u);
  EXPECT_EQ(tier->Stats().entries, 1u);
  EXPECT_TRUE(Holds(tier->Get(Key(2)), 2));
}

TEST_F(DiskTierTest, FileUnderAnotherKeysNameIsNeverServed) {
  auto tier = Open();
  ASSERT_TRUE(tier->Put(Key(1), MakeEmbedding(1)).ok());
  ASSERT_TRUE(tier->Put(Key(2), MakeEmbedding(2)).ok());
  fs::copy_file(tier->PathFor(Key(1)), tier->PathFor(Key(2)), fs::copy_options::overwrite_existing);
  LogCapture log;
  EXPECT_EQ(tier->Get(Key(2)), nullptr);
  EXPECT_NE(log.Text().find("expected"), std::string::npos) << log.Text();
  EXPECT_FALSE(fs::exists(tier->PathFor(Key(2))));
  EXPECT_TRUE(Holds(tier->Get(Key(1)), 1));
}

TEST_F(DiskTierTest, EvictsLeastRecentlyUsedFilesWithinTheBudget) {
  const uint64_t entry = EntryBytes();
  auto tier = Open(3 * entry + entry / 2);
  ASSERT_TRUE(tier->Put(Key(1), MakeEmbedding(1)).ok());  // A
  ASSERT_TRUE(tier->Put(Key(2), MakeEmbedding(2)).ok());  // B
  ASSERT_TRUE(tier->Put(Key(3), MakeEmbedding(3)).ok());  // C
  ASSERT_NE(tier->Get(Key(1)), nullptr);                  // A is now the most recent; B the least
  ASSERT_TRUE(tier->Put(Key(4), MakeEmbedding(4)).ok());  // D
  EXPECT_FALSE(fs::exists(tier->PathFor(Key(2))));
  EXPECT_EQ(tier->ContainsMany({Key(1), Key(2), Key(3), Key(4)}),
            (std::vector<bool>{true, false, true, true}));
  TierStats stats = tier->Stats();
  EXPECT_EQ(stats.evictions, 1u);
  EXPECT_EQ(stats.entries, 3u);
  EXPECT_EQ(stats.bytes, 3 * entry);
  EXPECT_EQ(EntryFiles(), 3u);

  // Larger than the whole budget: not kept, not an error, nothing else evicted.
  ASSERT_TRUE(tier->Put(Key(5), MakeEmbedding(5, 4096)).ok());
  EXPECT_FALSE(tier->Contains(Key(5)));
  EXPECT_EQ(tier->Stats().entries, 3u);
}

TEST_F(DiskTierTest, RecencySurvivesReopening) {
  const uint64_t entry = EntryBytes();
  {
    auto tier = Open();
    ASSERT_TRUE(tier->Put(Key(1), MakeEmbedding(1)).ok());  // A
    ASSERT_TRUE(tier->Put(Key(2), MakeEmbedding(2)).ok());  // B
    ASSERT_TRUE(tier->Put(Key(3), MakeEmbedding(3)).ok());  // C
    ASSERT_NE(tier->Get(Key(1)), nullptr);                  // order now B, C, A
  }
  {
    auto tier = Open(3 * entry + entry / 2);
    ASSERT_TRUE(tier->Put(Key(4), MakeEmbedding(4)).ok());
    EXPECT_EQ(tier->ContainsMany({Key(1), Key(2), Key(3), Key(4)}),
              (std::vector<bool>{true, false, true, true}));
  }
  // A smaller budget at start-up evicts the oldest at once: C goes, A and D stay.
  auto tier = Open(2 * entry + entry / 2);
  EXPECT_EQ(tier->Stats().evictions, 1u);
  EXPECT_FALSE(fs::exists(tier->PathFor(Key(3))));
  EXPECT_EQ(tier->ContainsMany({Key(1), Key(3), Key(4)}), (std::vector<bool>{true, false, true}));
}

TEST_F(DiskTierTest, InitRemovesStaleTempFilesOnly) {
  fs::create_directories(Root() / "tmp");
  const fs::path stale = Root() / "tmp" / "0011223344556677.tmp";
  const fs::path fresh = Root() / "tmp" / "8899aabbccddeeff.tmp";
  testing::WriteFile(stale, "half an embedding");
  testing::WriteFile(fresh, "another process is writing this");
  fs::last_write_time(stale,
                      fs::file_time_type::clock::now() - DiskTier::kTempFileGrace - std::chrono::minutes(5));
  auto tier = Open();
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(fresh));  // may belong to a live writer in another process
  EXPECT_EQ(tier->Stats().entries, 0u);
}

TEST_F(DiskTierTest, FilesWrittenByAnotherInstanceAreAdopted) {
  auto serve = Open();
  auto prewarm = Open();
  ASSERT_TRUE(prewarm->Put(Key(1), MakeEmbedding(1)).ok());
  ASSERT_TRUE(prewarm->Put(Key(2), MakeEmbedding(2)).ok());
  EXPECT_EQ(serve->Stats().entries, 0u);
  EXPECT_EQ(serve->ContainsMany({Key(1), Key(3)}), (std::vector<bool>{true, false}));
  EXPECT_EQ(serve->Stats().entries, 1u);
  EXPECT_EQ(serve->EntriesFor(kModel), 1u);
  EXPECT_EQ(serve->Stats().bytes, EntryBytes());
  // Get adopts too.
  EXPECT_TRUE(Holds(serve->Get(Key(2)), 2));
  EXPECT_EQ(serve->Stats().entries, 2u);
  EXPECT_EQ(serve->Stats().hits, 1u);
  // Removed by the other instance: a miss, and forgotten.
  ASSERT_TRUE(prewarm->Remove(Key(1)).ok());
  EXPECT_EQ(serve->Get(Key(1)), nullptr);
  EXPECT_EQ(serve->Stats().entries, 1u);
  EXPECT_EQ(serve->corrupt_entries(), 0u);
}

TEST_F(DiskTierTest, ModelsNeverSeeEachOthersEntries) {
  auto tier = Open();
  const EmbeddingKey first = Key(1, "model-a");
  const EmbeddingKey second = Key(1, "model-b");  // same pixels, another encoder
  ASSERT_TRUE(tier->Put(first, MakeEmbedding(1, 1024, "model-a")).ok());
  EXPECT_FALSE(tier->Contains(second));
  EXPECT_EQ(tier->Get(second), nullptr);
  ASSERT_TRUE(tier->Put(second, MakeEmbedding(2, 1024, "model-b")).ok());
  EXPECT_TRUE(Holds(tier->Get(first), 1));
  EXPECT_TRUE(Holds(tier->Get(second), 2));
  EXPECT_EQ(tier->Get(first)->model_id, "model-a");
  EXPECT_EQ(tier->Get(second)->model_id, "model-b");
  // A file copied into the other model's folder is refused by its key check.
  fs::copy_file(tier->PathFor(first), tier->PathFor(second), fs::copy_options::overwrite_existing);
  EXPECT_EQ(tier->Get(second), nullptr);
  EXPECT_TRUE(Holds(tier->Get(first), 1));
}

TEST_F(DiskTierTest, EntriesForCountsPerModel) {
  const uint64_t entry = EntryBytes();
  auto tier = Open(4 * entry + entry / 2);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(tier->Put(Key(i, "m1"), MakeEmbedding(i, 1024, "m1")).ok());
  ASSERT_TRUE(tier->Put(Key(0, "m2"), MakeEmbedding(0, 1024, "m2")).ok());
  ASSERT_TRUE(tier->Put(Key(0, "m1"), MakeEmbedding(0, 1024, "m1")).ok());  // the same key again
  EXPECT_EQ(tier->EntriesFor("m1"), 3u);
  EXPECT_EQ(tier->EntriesFor("m2"), 1u);
  EXPECT_EQ(tier->EntriesFor("m3"), 0u);
  ASSERT_TRUE(tier->Remove(Key(1, "m1")).ok());
  ASSERT_TRUE(tier->Remove(Key(1, "m1")).ok());  // already gone: still fine
  EXPECT_EQ(tier->EntriesFor("m1"), 2u);
  EXPECT_FALSE(fs::exists(tier->PathFor(Key(1, "m1"))));
  // Eviction counts too: three more m2 entries push out the two oldest, Key(2,m1) and Key(0,m2).
  for (int i = 1; i < 4; ++i) ASSERT_TRUE(tier->Put(Key(i, "m2"), MakeEmbedding(i, 1024, "m2")).ok());
  EXPECT_EQ(tier->EntriesFor("m1"), 1u);
  EXPECT_EQ(tier->EntriesFor("m2"), 3u);
}

TEST_F(DiskTierTest, RemoveModelDeletesItsFilesOnly) {
  auto tier = Open();
  auto other_process = Open();
  ASSERT_TRUE(tier->Put(Key(1, "m1"), MakeEmbedding(1, 1024, "m1")).ok());
  ASSERT_TRUE(tier->Put(Key(2, "m1"), MakeEmbedding(2, 1024, "m1")).ok());
  ASSERT_TRUE(other_process->Put(Key(3, "m1"), MakeEmbedding(3, 1024, "m1")).ok());  // not in tier's index
  ASSERT_TRUE(tier->Put(Key(1, "m2"), MakeEmbedding(1, 1024, "m2")).ok());
  Result<uint64_t> removed = tier->RemoveModel("m1");
  ASSERT_TRUE(removed.ok()) << removed.status().message();
  EXPECT_EQ(*removed, 3u);
  EXPECT_FALSE(fs::exists(Root() / "m1"));
  EXPECT_EQ(tier->EntriesFor("m1"), 0u);
  EXPECT_EQ(tier->Stats().entries, 1u);
  EXPECT_EQ(tier->Stats().bytes, fs::file_size(tier->PathFor(Key(1, "m2"))));
  EXPECT_TRUE(Holds(tier->Get(Key(1, "m2")), 1));
  EXPECT_EQ(*tier->RemoveModel("never-stored"), 0u);
  EXPECT_FALSE(tier->RemoveModel("..").ok());
}

TEST_F(DiskTierTest, VerifyRemovesCorruptEntriesStaleTempFilesAndEnforcesTheBudget) {
  const uint64_t entry = EntryBytes();
  auto tier = Open();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(tier->Put(Key(i), MakeEmbedding(i)).ok());
  const fs::path damaged = tier->PathFor(Key(2));
  std::string bytes = testing::ReadFileOrDie(damaged);
  bytes[bytes.size() / 2] ^= 0x10;
  testing::WriteFile(damaged, bytes);
  const fs::path stale = Root() / "tmp" / "0011223344556677.tmp";
  testing::WriteFile(stale, "x");
  fs::last_write_time(stale,
                      fs::file_time_type::clock::now() - DiskTier::kTempFileGrace - std::chrono::minutes(5));

  Result<DiskVerifyOutcome> quick = tier->Verify(false);
  ASSERT_TRUE(quick.ok()) << quick.status().message();
  EXPECT_EQ(quick->checked, 4u);
  EXPECT_EQ(quick->corrupt_removed, 0u);  // not read
  EXPECT_EQ(quick->temp_removed, 1u);
  EXPECT_FALSE(fs::exists(stale));

  LogCapture log;
  Result<DiskVerifyOutcome> full = tier->Verify(true);
  ASSERT_TRUE(full.ok()) << full.status().message();
  EXPECT_EQ(full->checked, 4u);
  EXPECT_EQ(full->corrupt_removed, 1u);
  EXPECT_EQ(full->evicted, 0u);
  EXPECT_EQ(full->bytes_after, 3 * entry);
  EXPECT_FALSE(fs::exists(damaged));
  EXPECT_NE(log.Text().find(damaged.string()), std::string::npos);
  EXPECT_EQ(tier->corrupt_entries(), 1u);
  EXPECT_EQ(tier->Stats().entries, 3u);

  // A gc run with a smaller budget trims the folder.
  DiskTier smaller(Root(), 2 * entry);
  Result<DiskVerifyOutcome> trimmed = smaller.Verify(false);
  ASSERT_TRUE(trimmed.ok());
  EXPECT_EQ(trimmed->checked, 3u);
  EXPECT_EQ(trimmed->evicted, 1u);
  EXPECT_EQ(trimmed->bytes_after, 2 * entry);
  EXPECT_EQ(EntryFiles(), 2u);
}

// 8 threads put and get 12 overlapping keys. Every hit must hold what was written for its
// key, and afterwards the index must match the files exactly. Run once without a budget and
// once with room for 5 entries, so evictions race with puts and gets of the same keys.
void RunConcurrently(DiskTier& tier, int keys, int operations_per_thread) {
  std::atomic<int> wrong{0};
  std::atomic<int> failed_puts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 random(static_cast<unsigned>(t));
      for (int i = 0; i < operations_per_thread; ++i) {
        const int k = static_cast<int>(random() % static_cast<unsigned>(keys));
        switch (random() % 4) {
          case 0:
            if (!tier.Put(Key(k), MakeEmbedding(k)).ok()) ++failed_puts;
            break;
          case 1:
            tier.ContainsMany({Key(k), Key((k + 1) % keys)});
            break;
          default:
            if (auto got = tier.Get(Key(k)); got && !Holds(got, k)) ++wrong;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(failed_puts.load(), 0);
  EXPECT_EQ(tier.corrupt_entries(), 0u);
}

TEST_F(DiskTierTest, ConcurrentPutsAndGetsStayConsistent) {
  const uint64_t entry = EntryBytes();
  for (uint64_t budget : {uint64_t{0}, 5 * entry}) {
    SCOPED_TRACE("budget " + std::to_string(budget));
    fs::remove_all(Root());
    auto tier = Open(budget);
    RunConcurrently(*tier, 12, 60);
    TierStats stats = tier->Stats();
    uint64_t file_bytes = 0;
    for (const fs::path& file : ListFiles(Root() / kModel)) file_bytes += fs::file_size(file);
    EXPECT_EQ(stats.entries, EntryFiles());
    EXPECT_EQ(stats.bytes, file_bytes);
    EXPECT_EQ(tier->EntriesFor(kModel), stats.entries);
    if (budget != 0) {
      EXPECT_LE(stats.bytes, budget);
      EXPECT_GT(stats.evictions, 0u);
    }
    EXPECT_TRUE(fs::is_empty(Root() / "tmp"));
    // What the index says is there, a new instance finds and reads back.
    auto reopened = Open(budget);
    EXPECT_EQ(reopened->Stats().entries, stats.entries);
    for (int k = 0; k < 12; ++k) {
      if (reopened->Contains(Key(k))) {
        EXPECT_TRUE(Holds(reopened->Get(Key(k)), k)) << k;
      }
    }
  }
}

}  // namespace
}  // namespace samcache
