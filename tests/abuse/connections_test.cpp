// Abuse of the transport (issue 14, H3 and H3b): connections that drip their headers, promise
// a body that never comes, hold event streams, stay idle, come in too many from one address,
// or carry bogus lengths. The real binary on loopback, with deadlines of a few seconds; every
// test ends by checking the server still answers.
#include <algorithm>
#include <thread>

#include "abuse/abuse_support.h"

namespace samcache::testing {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

std::chrono::milliseconds Seconds(int s) { return std::chrono::seconds(s); }

// A dataset with one image and a prewarm job that stays queued (the server runs none), so its
// event stream stays open. Returns the job id.
class ConnectionsTest : public AbuseTest {
 protected:
  std::string QueuedPrewarmJob();
};

std::string ConnectionsTest::QueuedPrewarmJob() {
  int status = 0;
  const json upload = Upload({{"a.jpg", MakeImageFile(200, 150, 3, ".jpg")}}, &status);
  EXPECT_EQ(status, 200) << upload.dump();
  const std::string dataset = upload.value("dataset_id", "");
  const RawReply started =
      RawExchange(port(),
                  "POST /api/sam/dataset/" + dataset +
                      "/prewarm HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
                  kAnswerTimeout);
  EXPECT_EQ(started.status, 202) << started.body;
  const json job = json::parse(started.body, nullptr, false);
  return job.is_object() ? job.value("job_id", "") : "";
}

// H3: threads + 4 connections of each kind (dripped headers, a Content-Length with no body,
// an open event stream) leave /healthz and the API answering; the drips and the missing
// bodies are closed by the server at their deadlines, while the streams stay open.
TEST_F(ConnectionsTest, SlowConnectionsAndEventStreamsHoldNoWorker) {
  Start({}, {"--prewarm-jobs", "0"});
  const std::string job = QueuedPrewarmJob();
  ASSERT_FALSE(job.empty());
  const int n = limits_.threads + 4;

  std::vector<RawConnection> streams;
  for (int i = 0; i < n; ++i) {
    streams.emplace_back(port());
    ASSERT_TRUE(streams.back().Send(GetRequest("/api/sam/prewarm/" + job + "/events")));
    const RawReply head = streams.back().ReadHead(kAnswerTimeout);
    ASSERT_EQ(head.status, 200) << "event stream " << i;
    EXPECT_NE(head.header("Content-Type").find("text/event-stream"), std::string::npos) << head.head;
  }
  std::vector<RawConnection> no_body;
  for (int i = 0; i < n; ++i) {
    no_body.emplace_back(port());
    // Half promise a length, half send one chunk of a chunked body; then both pause for good.
    const std::string framing = i % 2 ? "Transfer-Encoding: chunked\r\n\r\n" + Chunk("{\"image_id\":")
                                      : std::string("Content-Length: 100\r\n\r\n{\"image_id\":");
    ASSERT_TRUE(no_body.back().Send(
        "POST /api/sam/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + framing));
  }
  const std::string drip_request = GetRequest("/healthz");
  std::vector<RawConnection> drips;
  for (int i = 0; i < n; ++i) {
    drips.emplace_back(port());
    ASSERT_TRUE(drips.back().Send(drip_request.substr(0, 1)));
  }

  // Every worker would be taken by a thread-per-connection server by now.
  ExpectAlive();
  const RawReply datasets = Get("/api/sam/datasets");
  EXPECT_EQ(datasets.status, 200) << "the API needs a worker: one must be free";

  // Drip one more byte every 300 ms; each drip must be closed by the header deadline.
  std::vector<bool> closed(drips.size(), false);
  size_t next_byte = 1;
  const auto deadline = Clock::now() + Seconds(limits_.header_timeout_s) + kCloseMargin;
  while (Clock::now() < deadline && std::find(closed.begin(), closed.end(), false) != closed.end()) {
    for (size_t i = 0; i < drips.size(); ++i) {
      if (closed[i]) continue;
      if (drips[i].Readable()) {
        closed[i] = drips[i].WaitForClose(kCloseMargin);
        continue;
      }
      // A refused write means the server already closed; WaitForClose confirms it.
      if (next_byte < drip_request.size() - 2 && !drips[i].Send(drip_request.substr(next_byte, 1)))
        closed[i] = drips[i].WaitForClose(kCloseMargin);
    }
    ++next_byte;
    std::this_thread::sleep_for(300ms);
  }
  for (size_t i = 0; i < drips.size(); ++i) EXPECT_TRUE(closed[i]) << "drip " << i << " still open";
  ASSERT_LT(next_byte, drip_request.size() - 2) << "the drip must still be unfinished when closed";

  for (size_t i = 0; i < no_body.size(); ++i)
    EXPECT_TRUE(no_body[i].WaitForClose(Seconds(limits_.body_timeout_s) + kCloseMargin)) << "no-body " << i;

  // Legitimate streams are not cut by the header, body or idle deadlines.
  for (size_t i = 0; i < streams.size(); ++i) {
    EXPECT_FALSE(streams[i].WaitForClose(100ms)) << "event stream " << i << " was closed";
  }
  ExpectAlive();
  EXPECT_EQ(Get("/api/sam/datasets").status, 200);
}

// More event streams than --max-event-streams are refused with a JSON error; the open ones
// stay, and a closed one frees its slot.
TEST_F(ConnectionsTest, EventStreamsAreCapped) {
  Start({}, {"--prewarm-jobs", "0", "--max-event-streams", "2"});
  const std::string job = QueuedPrewarmJob();
  ASSERT_FALSE(job.empty());
  std::vector<RawConnection> streams;
  for (int i = 0; i < 2; ++i) {
    streams.emplace_back(port());
    ASSERT_TRUE(streams.back().Send(GetRequest("/api/sam/prewarm/" + job + "/events")));
    ASSERT_EQ(streams.back().ReadHead(kAnswerTimeout).status, 200) << "stream " << i;
  }
  const RawReply refused = Get("/api/sam/prewarm/" + job + "/events");
  EXPECT_GE(refused.status, 400) << refused.head;
  ExpectJsonError(refused);
  streams.pop_back();
  // A stream with nothing to send notices its client left only when it writes its keep-alive
  // comment (every 15 s, docs/API.md): the first write after the client's FIN still succeeds,
  // the second fails. The slot must be free by then (not leaked).
  int status = 0;
  for (auto until = Clock::now() + 2 * 15s + kCloseMargin; status != 200 && Clock::now() < until;) {
    RawConnection again(port());
    again.Send(GetRequest("/api/sam/prewarm/" + job + "/events"));
    status = again.ReadHead(kAnswerTimeout).status;
    if (status != 200) std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(status, 200) << "a closed stream does not free its slot";
  ExpectAlive();
}

// A new connection must send its first request within --header-timeout; a keep-alive
// connection is closed after --idle-timeout, and serves requests until then.
TEST_F(ConnectionsTest, SilentAndIdleConnectionsAreClosed) {
  Start();
  RawConnection silent(port());
  RawConnection idle(port());
  ASSERT_TRUE(idle.Send(GetRequest("/healthz")));
  EXPECT_EQ(idle.ReadReply(kAnswerTimeout).status, 200);
  ASSERT_TRUE(idle.Send(GetRequest("/healthz")));
  const RawReply second = idle.ReadReply(kAnswerTimeout);
  EXPECT_EQ(second.status, 200) << "keep-alive: a second request on the same connection";
  EXPECT_FALSE(second.closed);

  EXPECT_TRUE(silent.WaitForClose(Seconds(limits_.header_timeout_s) + kCloseMargin));
  EXPECT_TRUE(idle.WaitForClose(Seconds(limits_.idle_timeout_s) + kCloseMargin));
  ExpectAlive();
}

// More connections from one address than --max-connections-per-client are closed at once,
// without an answer; once one closes, the address may connect again.
TEST_F(ConnectionsTest, ConnectionsPerClientAreCapped) {
  AbuseLimits limits;
  limits.max_connections_per_client = 4;
  limits.header_timeout_s = 60;  // the held connections must not be closed by a deadline
  limits.idle_timeout_s = 60;
  Start(limits);
  std::vector<RawConnection> held;
  for (int i = 0; i < limits.max_connections_per_client; ++i) {
    held.emplace_back(port());
    ASSERT_TRUE(held.back().Send(GetRequest("/healthz")));
    ASSERT_EQ(held.back().ReadReply(kAnswerTimeout).status, 200) << "connection " << i;
  }
  RawConnection extra(port());
  extra.Send(GetRequest("/healthz"));
  const RawReply refused = extra.ReadReply(kAnswerTimeout);
  EXPECT_NE(refused.status, 200) << "one connection over the cap was served";
  EXPECT_TRUE(refused.closed || extra.WaitForClose(kCloseMargin));

  // The held ones still work, and a freed slot is usable again.
  ASSERT_TRUE(held.front().Send(GetRequest("/healthz")));
  EXPECT_EQ(held.front().ReadReply(kAnswerTimeout).status, 200);
  held.pop_back();
  int status = 0;
  for (auto until = Clock::now() + kAnswerTimeout; status != 200 && Clock::now() < until;) {
    status = Get("/healthz").status;
    if (status != 200) std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(status, 200) << "a slot freed by a close is not given back";
}

// H3b: a body over the cap is refused from its Content-Length alone, before any of it is sent,
// with or without Expect: 100-continue (and then no 100 is sent); the connection closes.
TEST_F(ConnectionsTest, OversizedContentLengthIsRefusedBeforeTheBody) {
  Start();
  const long long length = 200LL << 20;
  for (const char* expect : {"", "Expect: 100-continue\r\n"}) {
    RawConnection connection(port());
    ASSERT_TRUE(connection.Send(MultipartHead("/api/sam/dataset/init", length, expect)));
    const RawReply reply = connection.ReadReply(kAnswerTimeout);
    EXPECT_EQ(reply.status, 413) << (*expect == 0 ? "plain" : "100-continue") << ": " << reply.head;
    ExpectJsonError(reply);
    EXPECT_TRUE(reply.closed || connection.WaitForClose(kCloseMargin)) << "connection left open";
  }
  ExpectAlive();
}

// H3b: malformed Content-Lengths are 400 at once, 2^63 is 413 at once, duplicates are 400.
TEST_F(ConnectionsTest, BogusContentLengthsAreRefusedAtOnce) {
  Start();
  // `json`: the reply is samcache's JSON error. A Content-Length that is not a number, or
  // overflows 64 bits, is refused by libmicrohttpd before samcache sees the request: its
  // short HTML page, 400 or 413 (docs/OPERATIONS.md, "The network edge").
  struct Case {
    std::string header;
    std::vector<int> statuses;
    bool json;
  };
  const std::vector<Case> cases = {
      {"Content-Length: -5\r\n", {400}, false},
      {"Content-Length: 18446744073709551617\r\n", {400, 413}, false},  // 2^64 + 1
      {"Content-Length: abc\r\n", {400}, false},
      {"Content-Length: 9223372036854775808\r\n", {413}, true},  // 2^63
      {"Content-Length: 10\r\nContent-Length: 20\r\n", {400}, true},
      {"Content-Length: 10\r\nContent-Length: 10\r\n", {400}, true},
  };
  for (const Case& c : cases) {
    for (const char* path : {"/api/sam/dataset/init", "/api/sam/predict"}) {
      RawConnection connection(port());
      ASSERT_TRUE(connection.Send(std::string("POST ") + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                                  "Content-Type: application/json\r\n" + c.header + "\r\n"));
      const RawReply reply = connection.ReadReply(kAnswerTimeout);
      EXPECT_NE(std::find(c.statuses.begin(), c.statuses.end(), reply.status), c.statuses.end())
          << path << " with " << c.header << ": " << reply.status;
      if (c.json) ExpectJsonError(reply);
      EXPECT_TRUE(reply.closed || connection.WaitForClose(kCloseMargin)) << path << " with " << c.header;
    }
  }
  ExpectAlive();
}

// Garbage instead of a request line, and a header section over any sane size, are refused
// (4xx, connection closed) and cost nothing.
TEST_F(ConnectionsTest, GarbageAndHugeHeadersAreRefused) {
  Start();
  const RawReply garbage =
      Exchange(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + "\r\n\r\n");
  EXPECT_TRUE(garbage.status == 0 || (garbage.status >= 400 && garbage.status < 500)) << garbage.head;
  std::string huge = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (int i = 0; i < 2000; ++i)
    huge += "X-Filler-" + std::to_string(i) + ": " + std::string(100, 'x') + "\r\n";
  const RawReply too_big = Exchange(huge + "\r\n");
  EXPECT_TRUE(too_big.status == 0 || (too_big.status >= 400 && too_big.status < 500)) << too_big.head;
  ExpectAlive();
}

}  // namespace
}  // namespace samcache::testing
