// The decoder session pool's warm-up walk (SessionPool::ForEachSession): every session once,
// each held as Take holds it, so clicks that come meanwhile never share a session with it and
// never run beside the wide one.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/files.h"
#include "model/session_pool.h"

namespace samcache {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<SessionPool> LoadPool(const SessionPoolShape& shape) {
  const fs::path file = fs::path(SAMCACHE_SOURCE_DIR) / "tests" / "fixtures" / "models" / "families" /
                        "edgesam" / "decoder.onnx";
  Result<std::string> bytes = ReadFile(file);
  EXPECT_TRUE(bytes.ok()) << bytes.status().message();
  if (!bytes.ok()) return nullptr;
  Result<std::unique_ptr<SessionPool>> pool =
      SessionPool::Load(*bytes, "decoder.onnx", shape, Ort::SessionOptions());
  EXPECT_TRUE(pool.ok()) << pool.status().message();
  return pool.ok() ? std::move(pool).value() : nullptr;
}

TEST(SessionPoolTest, ForEachSessionGivesEverySessionOnce) {
  for (const SessionPoolShape& shape :
       {SessionPoolShape{1, 1, 0}, SessionPoolShape{2, 1, 2}, SessionPoolShape{3, 1, 0}}) {
    SCOPED_TRACE(std::to_string(shape.sessions) + " sessions, wide " + std::to_string(shape.wide_threads));
    std::unique_ptr<SessionPool> pool = LoadPool(shape);
    ASSERT_NE(pool, nullptr);
    std::vector<Ort::Session*> seen;
    pool->ForEachSession([&] { seen.push_back(&*pool->Take()); });
    const size_t expected = static_cast<size_t>(shape.sessions) + (shape.wide_threads > 0 ? 1 : 0);
    EXPECT_EQ(seen.size(), expected);
    EXPECT_EQ(std::set<Ort::Session*>(seen.begin(), seen.end()).size(), expected);
    // Afterwards Take leases as before: two at once get two sessions (with a wide session the
    // first would be the wide one, which the second waits for).
    if (shape.sessions > 1 && shape.wide_threads == 0) {
      SessionPool::Lease a = pool->Take();
      SessionPool::Lease b = pool->Take();
      EXPECT_NE(&*a, &*b);
    }
  }
}

TEST(SessionPoolTest, ClicksDuringTheWalkNeverShareItsSession) {
  std::unique_ptr<SessionPool> pool = LoadPool({2, 1, 2});
  ASSERT_NE(pool, nullptr);
  std::mutex mu;
  std::set<Ort::Session*> in_use;
  std::atomic<int> clashes{0};
  Ort::Session* wide = nullptr;
  auto hold = [&](Ort::Session* session, std::chrono::microseconds for_how_long) {
    {
      std::lock_guard lock(mu);
      if (!in_use.insert(session).second) ++clashes;  // two holders of one session
      if (in_use.size() > 1 && wide != nullptr && in_use.count(wide) > 0) ++clashes;  // beside the wide one
    }
    std::this_thread::sleep_for(for_how_long);
    std::lock_guard lock(mu);
    in_use.erase(session);
  };
  // Find the wide session: the one a lone Take gets.
  {
    SessionPool::Lease lone = pool->Take();
    wide = &*lone;
  }
  std::atomic<bool> done{false};
  std::vector<std::thread> clicks;
  for (int c = 0; c < 3; ++c) {
    clicks.emplace_back([&] {
      while (!done) {
        SessionPool::Lease lease = pool->Take();
        hold(&*lease, std::chrono::microseconds(300));
      }
    });
  }
  int walked = 0;
  for (int round = 0; round < 5; ++round) {
    pool->ForEachSession([&] {
      SessionPool::Lease pinned = pool->Take();
      hold(&*pinned, std::chrono::milliseconds(2));
      ++walked;
    });
  }
  done = true;
  for (std::thread& t : clicks) t.join();
  EXPECT_EQ(walked, 15);
  EXPECT_EQ(clashes.load(), 0);
}

}  // namespace
}  // namespace samcache
