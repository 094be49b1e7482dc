// The transport's parts that do not need a socket: route matching, the stream pump and the
// connection deadlines (with a real socket pair, closed by the watch).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "http/connection_watch.h"
#include "http/route_match.h"
#include "http/stream_pump.h"

namespace samcache::testing {
namespace {

Handler Named(std::string name) {
  return [name](const Request&) -> Result<Reply> {
    Reply reply;
    reply.body = name;
    return reply;
  };
}

std::string Which(const RouteMatch& match) {
  return match.route == nullptr ? "none" : match.route->handler(Request{})->body;
}

TEST(RouteMatcherTest, LiteralsParametersAndRest) {
  const RouteTable routes{{Method::kGet, "/api/sam/dataset/{id}", Named("show")},
                          {Method::kDelete, "/api/sam/dataset/{id}", Named("delete")},
                          {Method::kGet, "/api/sam/datasets", Named("list")},
                          {Method::kGet, "/api/sam/image/{id}/embedding.npy", Named("npy")},
                          {Method::kGet, "/static/{path*}", Named("static")}};
  const RouteMatcher matcher(routes);

  RouteMatch m = matcher.Match(Method::kGet, "/api/sam/dataset/abc");
  EXPECT_EQ(Which(m), "show");
  EXPECT_EQ(m.params["id"], "abc");
  EXPECT_EQ(Which(matcher.Match(Method::kDelete, "/api/sam/dataset/abc")), "delete");
  EXPECT_EQ(Which(matcher.Match(Method::kGet, "/api/sam/datasets")), "list");
  m = matcher.Match(Method::kGet, "/api/sam/image/x1/embedding.npy");
  EXPECT_EQ(Which(m), "npy");
  EXPECT_EQ(m.params["id"], "x1");
  m = matcher.Match(Method::kGet, "/static/js/editor/keys.js");
  EXPECT_EQ(Which(m), "static");
  EXPECT_EQ(m.params["path"], "js/editor/keys.js");

  // No empty parameters, no extra or missing segments, no partial literals.
  EXPECT_EQ(Which(matcher.Match(Method::kGet, "/api/sam/dataset/")), "none");
  EXPECT_EQ(Which(matcher.Match(Method::kGet, "/api/sam/dataset/abc/more")), "none");
  EXPECT_EQ(Which(matcher.Match(Method::kGet, "/api/sam/image/x1/embedding.npyx")), "none");
  EXPECT_EQ(Which(matcher.Match(Method::kGet, "/static")), "none");

  // The wrong method: no route, and the methods the path has.
  m = matcher.Match(Method::kPost, "/api/sam/dataset/abc");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_EQ(m.allowed, (std::vector<Method>{Method::kGet, Method::kDelete}));
  EXPECT_TRUE(matcher.Match(Method::kPost, "/nothing/here").allowed.empty());
}

TEST(RouteMatcherTest, AHugePathIsJustNotFound) {
  const RouteTable routes{{Method::kGet, "/api/sam/dataset/{id}", Named("show")}};
  const RouteMatcher matcher(routes);
  EXPECT_EQ(Which(matcher.Match(Method::kGet, std::string(1 << 20, '/'))), "none");
  EXPECT_EQ(Which(matcher.Match(Method::kGet, "/api/sam/dataset/" + std::string(1 << 20, 'a'))), "show");
}

TEST(MethodTest, KnownMethodsOnly) {
  Method m;
  EXPECT_TRUE(ParseMethod("HEAD", m));
  EXPECT_EQ(m, Method::kGet);
  EXPECT_TRUE(ParseMethod("DELETE", m));
  EXPECT_FALSE(ParseMethod("TRACE", m));
  EXPECT_FALSE(ParseMethod("get", m));
  EXPECT_STREQ(MethodName(Method::kPut), "PUT");
}

// An output that records what a stream wrote.
class RecordingOutput final : public StreamOutput {
 public:
  bool Writable() const override { return !gone; }
  bool Write(std::string_view bytes) override {
    std::lock_guard lock(mutex);
    written += bytes;
    return true;
  }
  void Done() override { done = true; }
  bool Finished() const override { return done || aborted; }
  void Abort() override { aborted = true; }
  std::string Written() {
    std::lock_guard lock(mutex);
    return written;
  }

  std::mutex mutex;
  std::string written;
  std::atomic<bool> done{false};
  std::atomic<bool> aborted{false};
  std::atomic<bool> gone{false};
};

template <typename Predicate>
bool Eventually(Predicate predicate) {
  for (int i = 0; i < 1000 && !predicate(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return predicate();
}

TEST(StreamPumpTest, StepsEachStreamUntilItIsDoneOrItsClientIsGone) {
  StreamPump pump(std::chrono::milliseconds(10), 10);
  auto finishing = std::make_shared<RecordingOutput>();
  auto steps = std::make_shared<std::atomic<int>>(0);
  ASSERT_TRUE(pump.Add(
      [steps](ReplySink& sink) {
        sink.Write("step\n");
        if (++*steps == 3) sink.Done();
        return true;
      },
      finishing));
  auto abandoned = std::make_shared<RecordingOutput>();
  ASSERT_TRUE(pump.Add([](ReplySink& sink) { return sink.Write("x"); }, abandoned));

  ASSERT_TRUE(Eventually([&] { return finishing->done.load(); }));
  EXPECT_EQ(finishing->Written(), "step\nstep\nstep\n");
  ASSERT_TRUE(Eventually([&] { return !abandoned->Written().empty(); }));
  abandoned->gone = true;
  ASSERT_TRUE(Eventually([&] { return pump.open_streams() == 0; }));
  EXPECT_TRUE(abandoned->aborted);
  EXPECT_EQ(*steps, 3);
}

TEST(StreamPumpTest, RefusesStreamsOverItsLimitAndAbortsTheRestOnStop) {
  StreamPump pump(std::chrono::milliseconds(10), 2);
  std::vector<std::shared_ptr<RecordingOutput>> outputs;
  for (int i = 0; i < 3; ++i) outputs.push_back(std::make_shared<RecordingOutput>());
  EXPECT_TRUE(pump.Add([](ReplySink&) { return true; }, outputs[0]));
  EXPECT_TRUE(pump.Add([](ReplySink&) { return true; }, outputs[1]));
  EXPECT_FALSE(pump.Add([](ReplySink&) { return true; }, outputs[2]));
  pump.Stop();
  EXPECT_TRUE(outputs[0]->aborted);
  EXPECT_TRUE(outputs[1]->aborted);
  EXPECT_FALSE(outputs[2]->aborted);
  EXPECT_FALSE(pump.Add([](ReplySink&) { return true; }, outputs[2]));
}

TEST(StreamPumpTest, AFailingStepEndsOnlyItsStream) {
  StreamPump pump(std::chrono::milliseconds(10), 10);
  auto failing = std::make_shared<RecordingOutput>();
  auto throwing = std::make_shared<RecordingOutput>();
  auto healthy = std::make_shared<RecordingOutput>();
  pump.Add([](ReplySink&) { return false; }, failing);
  pump.Add([](ReplySink&) -> bool { throw std::runtime_error("boom"); }, throwing);
  pump.Add([](ReplySink& sink) { return sink.Write("ok"); }, healthy);
  ASSERT_TRUE(Eventually([&] { return failing->aborted && throwing->aborted; }));
  EXPECT_FALSE(healthy->aborted);
  EXPECT_EQ(pump.open_streams(), 1u);
}

// True once the peer of `fd` has been shut down (reads return end of file).
bool ShutDown(int fd) {
  char byte;
  return ::recv(fd, &byte, 1, MSG_DONTWAIT) == 0;
}

TEST(ConnectionWatchTest, ClosesEachPhaseAtItsDeadlineAndNeverABusyOne) {
  ConnectionDeadlines deadlines{std::chrono::seconds(1), std::chrono::seconds(1), std::chrono::seconds(1)};
  ConnectionWatch watch(deadlines);
  int headers[2], idle[2], busy[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, headers), 0);
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, idle), 0);
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, busy), 0);
  watch.Opened(&headers, headers[0]);
  watch.Opened(&idle, idle[0]);
  watch.Idle(&idle);
  watch.Opened(&busy, busy[0]);
  watch.Busy(&busy);

  ASSERT_TRUE(Eventually([&] { return ShutDown(headers[1]) && ShutDown(idle[1]); }));
  EXPECT_EQ(watch.closed_by_deadline(), 2u);
  EXPECT_FALSE(ShutDown(busy[1]));
  EXPECT_EQ(watch.open_connections(), 3u);
  watch.Closed(&headers);
  watch.Closed(&idle);
  watch.Closed(&busy);
  EXPECT_EQ(watch.open_connections(), 0u);
  for (int fd : {headers[0], headers[1], idle[0], idle[1], busy[0], busy[1]}) ::close(fd);
}

}  // namespace
}  // namespace samcache::testing
