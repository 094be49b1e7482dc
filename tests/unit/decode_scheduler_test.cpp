// Fair decoding between clients (issue 14, M2): one client's long queue of slow decodes does
// not delay another client's single file beyond the tasks already running. Order is measured,
// never time: a gate holds the worker while the queues are filled.
#include "ingest/decode_scheduler.h"

#include <gtest/gtest.h>

#include <future>
#include <mutex>
#include <string>
#include <vector>

namespace samcache {
namespace {

// Records the order in which tasks run.
class Journal {
 public:
  void Add(const std::string& name) {
    std::lock_guard lock(mu_);
    order_.push_back(name);
  }
  std::vector<std::string> order() {
    std::lock_guard lock(mu_);
    return order_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> order_;
};

// Occupies one worker until Open(); Started() returns once the worker is inside.
class Gate {
 public:
  std::function<void()> Task() {
    return [this] {
      started_.set_value();
      open_.get_future().wait();
    };
  }
  void Started() { started_.get_future().wait(); }
  void Open() { open_.set_value(); }

 private:
  std::promise<void> started_;
  std::promise<void> open_;
};

size_t Position(const std::vector<std::string>& order, const std::string& name) {
  for (size_t i = 0; i < order.size(); ++i) {
    if (order[i] == name) return i;
  }
  return order.size();
}

TEST(DecodeSchedulerTest, AnotherClientsSmallDecodeDoesNotWaitForALongQueue) {
  DecodeScheduler scheduler(1);
  Journal journal;
  Gate gate;
  std::vector<std::future<void>> done;
  done.push_back(scheduler.Submit("10.0.0.1", gate.Task()));
  gate.Started();
  // Client A (a bomb uploader) queues 20 slow decodes, then client B one small file.
  for (int i = 0; i < 20; ++i) {
    done.push_back(scheduler.Submit("10.0.0.1", [&journal, i] { journal.Add("a" + std::to_string(i)); }));
  }
  done.push_back(scheduler.Submit("10.0.0.2", [&journal] { journal.Add("b"); }));
  EXPECT_EQ(scheduler.queued(), 21u);
  EXPECT_EQ(scheduler.waiting_clients(), 2u);
  gate.Open();
  for (auto& f : done) f.get();
  const std::vector<std::string> order = journal.order();
  ASSERT_EQ(order.size(), 21u);
  // B is served after at most one more of A's tasks, long before A's queue drains.
  EXPECT_LE(Position(order, "b"), 1u);
  // A's own tasks keep their order.
  size_t last = 0;
  for (int i = 0; i < 20; ++i) {
    const size_t pos = Position(order, "a" + std::to_string(i));
    if (i > 0) {
      EXPECT_GT(pos, last);
    }
    last = pos;
  }
  EXPECT_EQ(scheduler.queued(), 0u);
  EXPECT_EQ(scheduler.waiting_clients(), 0u);
}

TEST(DecodeSchedulerTest, ClientsTakeTurns) {
  DecodeScheduler scheduler(1);
  Journal journal;
  Gate gate;
  std::vector<std::future<void>> done;
  done.push_back(scheduler.Submit("gate", gate.Task()));
  gate.Started();
  // In arrival order x's six tasks would all run first.
  for (const std::string client : {"x", "x", "x", "x", "x", "x", "y", "y", "y", "z", "z", "z"}) {
    done.push_back(scheduler.Submit(client, [&journal, client] { journal.Add(client); }));
  }
  gate.Open();
  for (auto& f : done) f.get();
  EXPECT_EQ(journal.order(),
            (std::vector<std::string>{"x", "y", "z", "x", "y", "z", "x", "y", "z", "x", "x", "x"}));
}

TEST(DecodeSchedulerTest, EveryWorkerServesTheRotation) {
  // With two workers, both gated by client A, B's task still runs as soon as one is free.
  DecodeScheduler scheduler(2);
  ASSERT_EQ(scheduler.size(), 2u);
  Journal journal;
  Gate first, second;
  std::vector<std::future<void>> done;
  done.push_back(scheduler.Submit("a", first.Task()));
  done.push_back(scheduler.Submit("a", second.Task()));
  first.Started();
  second.Started();
  for (int i = 0; i < 10; ++i) done.push_back(scheduler.Submit("a", [&journal] { journal.Add("a"); }));
  done.push_back(scheduler.Submit("b", [&journal] { journal.Add("b"); }));
  first.Open();
  second.Open();
  for (auto& f : done) f.get();
  EXPECT_LE(Position(journal.order(), "b"), 2u);
}

TEST(DecodeSchedulerTest, ResultsAndExceptionsArriveThroughTheFuture) {
  DecodeScheduler scheduler(2);
  std::future<int> value = scheduler.Submit("", [] { return 42; });
  std::future<int> thrown = scheduler.Submit("", []() -> int { throw std::runtime_error("boom"); });
  EXPECT_EQ(value.get(), 42);
  EXPECT_THROW(thrown.get(), std::runtime_error);
}

TEST(DecodeSchedulerTest, DestructionRunsWhatWasQueued) {
  Journal journal;
  {
    DecodeScheduler scheduler(1);
    for (int i = 0; i < 5; ++i) scheduler.Submit(std::to_string(i % 2), [&journal] { journal.Add("t"); });
  }
  EXPECT_EQ(journal.order().size(), 5u);
}

}  // namespace
}  // namespace samcache
