// GET /api/sam/dataset/{id} and GET /api/sam/datasets a page at a time (issue 18,
// docs/API.md "Paged lists") against the real samcache binary over loopback: cursors forward
// and back, offset, after/before, filters and search, the counts, and a 400 naming the
// parameter for every bound and every malformed or forged cursor.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "support/http_reply.h"
#include "support/test_support.h"

namespace samcache::testing {
namespace {

using json = nlohmann::json;

class DatasetPagingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    server_ = new ServerProcess(*tmp_ / "data");
    client_ = new httplib::Client("127.0.0.1", server_->port());
    client_->set_read_timeout(120, 0);
    std::vector<NamedFile> files;
    for (int i = 0; i < 12; ++i) {
      files.push_back({(i % 2 == 0 ? "Cat_" : "dog") + std::to_string(10 + i) + ".png",
                       MakeImageFile(24 + i, 20, 100 + i, ".png")});
    }
    files.push_back({"copy.png", files[0].bytes});  // a duplicate of the first
    Reply up = ToReply(client_->Post("/api/sam/dataset/init?name=paged", ImageItems(files)));
    ASSERT_EQ(up.status, 200) << up.raw;
    dataset_ = up.body["dataset_id"].get<std::string>();
    Reply other = ToReply(client_->Post("/api/sam/dataset/init?name=other",
                                        ImageItems({{"x.png", MakeImageFile(30, 30, 7, ".png")}})));
    ASSERT_EQ(other.status, 200) << other.raw;
    other_dataset_ = other.body["dataset_id"].get<std::string>();
    other_image_ = other.body["images"][0]["id"].get<std::string>();
  }
  static void TearDownTestSuite() {
    delete client_;
    delete server_;
    delete tmp_;
  }

  static Reply Get(const std::string& path) { return ToReply(client_->Get(path)); }
  static Reply Page(const std::string& query) { return Get("/api/sam/dataset/" + dataset_ + "?" + query); }
  static void ExpectRefused(const std::string& query, const std::string& parameter, int status = 400) {
    Reply r = Page(query);
    EXPECT_EQ(r.status, status) << query << " " << r.raw;
    if (status == 400) {
      EXPECT_EQ(r.body["error"].get<std::string>().rfind(parameter + ":", 0), 0u) << query << " " << r.raw;
    }
  }
  static std::vector<std::string> Ids(const Reply& r) {
    std::vector<std::string> out;
    for (const json& image : r.body["images"]) out.push_back(image["id"].get<std::string>());
    return out;
  }

  static TempDir* tmp_;
  static ServerProcess* server_;
  static httplib::Client* client_;
  static std::string dataset_;
  static std::string other_dataset_;
  static std::string other_image_;
};

TempDir* DatasetPagingTest::tmp_ = nullptr;
ServerProcess* DatasetPagingTest::server_ = nullptr;
httplib::Client* DatasetPagingTest::client_ = nullptr;
std::string DatasetPagingTest::dataset_;
std::string DatasetPagingTest::other_dataset_;
std::string DatasetPagingTest::other_image_;

TEST_F(DatasetPagingTest, ASmallDatasetAnswersWholeWithPageAndCounts) {
  Reply r = Page("");
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_EQ(r.body["images"].size(), 13u);
  EXPECT_EQ(r.body["image_count"], 13);
  EXPECT_EQ(r.body["page"]["limit"], 500);
  EXPECT_EQ(r.body["page"]["offset"], 0);
  EXPECT_EQ(r.body["page"]["matched"], 13);
  EXPECT_TRUE(r.body["page"]["next_cursor"].is_null());
  EXPECT_TRUE(r.body["page"]["prev_cursor"].is_null());
  EXPECT_EQ(r.body["page"]["filter"], "all");
  EXPECT_EQ(r.body["page"]["q"], "");
  EXPECT_EQ(r.body["counts"]["all"], 13);
  EXPECT_EQ(r.body["counts"]["duplicates"], 1);
  EXPECT_EQ(r.body["counts"]["cached"].get<int64_t>() + r.body["counts"]["not_cached"].get<int64_t>(), 13);
  EXPECT_EQ(r.body["counts"]["cached"], r.body["embeddings_cached"]);
  for (size_t i = 0; i < 13; ++i) {
    EXPECT_EQ(r.body["images"][i]["index"], i);
    EXPECT_TRUE(r.body["images"][i]["near_duplicate"].is_boolean());
  }
  EXPECT_EQ(r.body["images"][12]["duplicate_of"], r.body["images"][0]["id"]);
}

TEST_F(DatasetPagingTest, CursorsWalkForwardAndBackWithoutGapsOrRepeats) {
  const std::vector<std::string> all = Ids(Page(""));
  std::vector<std::string> walked;
  std::string query = "limit=5";
  std::vector<std::string> cursors;
  for (int pages = 0; pages < 10; ++pages) {
    Reply r = Page(query);
    ASSERT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.body["page"]["offset"], walked.size());
    for (const std::string& id : Ids(r)) walked.push_back(id);
    if (r.body["page"]["next_cursor"].is_null()) break;
    const std::string next = r.body["page"]["next_cursor"].get<std::string>();
    EXPECT_LE(next.size(), 128u);
    cursors.push_back(next);
    query = "limit=5&cursor=" + next;
  }
  EXPECT_EQ(walked, all);
  // From the last page back: prev_cursor gives the 5 before it, in upload order.
  Reply last = Page("limit=5&cursor=" + cursors.back());
  Reply back = Page("limit=5&cursor=" + last.body["page"]["prev_cursor"].get<std::string>());
  ASSERT_EQ(back.status, 200) << back.raw;
  EXPECT_EQ(Ids(back), std::vector<std::string>(all.begin() + 5, all.begin() + 10));
  EXPECT_EQ(back.body["page"]["offset"], 5);
}

TEST_F(DatasetPagingTest, OffsetAfterAndBefore) {
  const std::vector<std::string> all = Ids(Page(""));
  Reply r = Page("offset=10&limit=2");
  EXPECT_EQ(Ids(r), (std::vector<std::string>{all[10], all[11]}));
  EXPECT_EQ(r.body["images"][0]["index"], 10);
  EXPECT_FALSE(r.body["page"]["prev_cursor"].is_null());
  r = Page("offset=100");
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(r.body["images"].empty());
  EXPECT_EQ(r.body["page"]["matched"], 13);
  r = Page("after=" + all[3] + "&limit=2");
  EXPECT_EQ(Ids(r), (std::vector<std::string>{all[4], all[5]}));
  r = Page("before=" + all[3] + "&limit=2");
  EXPECT_EQ(Ids(r), (std::vector<std::string>{all[1], all[2]}));
  EXPECT_EQ(r.body["images"][0]["index"], 1);
}

TEST_F(DatasetPagingTest, FiltersAndSearch) {
  Reply r = Page("filter=duplicates");
  ASSERT_EQ(r.body["images"].size(), 1u);
  EXPECT_EQ(r.body["images"][0]["filename"], "copy.png");
  EXPECT_EQ(r.body["page"]["matched"], 1);
  EXPECT_EQ(r.body["page"]["filter"], "duplicates");
  r = Page("q=CAT_");
  EXPECT_EQ(r.body["page"]["matched"], 6);
  EXPECT_EQ(r.body["page"]["q"], "CAT_");
  for (const json& image : r.body["images"])
    EXPECT_EQ(image["filename"].get<std::string>().rfind("Cat_", 0), 0u);
  r = Page("q=%25");  // a literal %
  EXPECT_EQ(r.body["page"]["matched"], 0);
  r = Page("filter=annotated");
  EXPECT_EQ(r.body["page"]["matched"], 0);
  r = Page("filter=cached");
  ASSERT_EQ(r.status, 200) << r.raw;
  r = Page("filter=not_cached&q=dog");
  ASSERT_EQ(r.status, 200) << r.raw;
  r = Page("filter=near_duplicates");
  ASSERT_EQ(r.status, 200) << r.raw;
}

TEST_F(DatasetPagingTest, EveryBoundIsRefusedNamingItsParameter) {
  for (const char* limit : {"limit=0", "limit=1001", "limit=abc", "limit=", "limit=-1", "limit=1e3"}) {
    ExpectRefused(limit, "limit");
  }
  for (const char* offset : {"offset=-1", "offset=10000001", "offset=x"}) ExpectRefused(offset, "offset");
  ExpectRefused("filter=bogus", "filter");
  ExpectRefused("q=" + std::string(257, 'a'), "q");
  ExpectRefused("q=%FF%FE", "q");
  EXPECT_EQ(Page("q=" + std::string(256, 'a')).status, 200);
  ExpectRefused("offset=1&cursor=a1.00000000000000000000000000000000", "offset");
  ExpectRefused("cursor=", "cursor");
  ExpectRefused("cursor=" + std::string(129, 'a'), "cursor");
  for (const char* cursor : {"garbage", "a1.zz", "c1.00000000000000000000000000000000",
                             "a-1.00000000000000000000000000000000", "a1.00000000000000000000000000000000"}) {
    ExpectRefused(std::string("cursor=") + cursor, "cursor");
  }
  // A real cursor altered, or used on another dataset, filter or search: refused.
  const std::string cursor = Page("limit=2").body["page"]["next_cursor"].get<std::string>();
  std::string altered = cursor;
  altered[1] = altered[1] == '9' ? '8' : '9';
  ExpectRefused("limit=2&cursor=" + altered, "cursor");
  ExpectRefused("limit=2&filter=duplicates&cursor=" + cursor, "cursor");
  ExpectRefused("limit=2&q=cat&cursor=" + cursor, "cursor");
  Reply foreign = Get("/api/sam/dataset/" + other_dataset_ + "?cursor=" + cursor);
  EXPECT_EQ(foreign.status, 400) << foreign.raw;
  // after / before: an unknown, malformed or other dataset's image is an unknown image.
  ExpectRefused("after=" + other_image_, "after", 404);
  ExpectRefused("before=ffffffffffffffff", "before", 404);
  ExpectRefused("after=nothex", "after", 404);
  ExpectRefused("after=" + other_image_ + "&before=" + other_image_, "after");
}

TEST_F(DatasetPagingTest, TheDatasetListPages) {
  Reply first = Get("/api/sam/datasets?limit=1");
  ASSERT_EQ(first.status, 200) << first.raw;
  ASSERT_EQ(first.body["datasets"].size(), 1u);
  EXPECT_EQ(first.body["page"]["limit"], 1);
  EXPECT_EQ(first.body["page"]["matched"], 2);
  EXPECT_EQ(first.body["datasets"][0]["id"], other_dataset_);  // newest first
  Reply second =
      Get("/api/sam/datasets?limit=1&cursor=" + first.body["page"]["next_cursor"].get<std::string>());
  ASSERT_EQ(second.status, 200) << second.raw;
  ASSERT_EQ(second.body["datasets"].size(), 1u);
  EXPECT_EQ(second.body["datasets"][0]["id"], dataset_);
  EXPECT_TRUE(second.body["page"]["next_cursor"].is_null());
  EXPECT_EQ(Get("/api/sam/datasets").body["datasets"].size(), 2u);
  for (const char* bad : {"limit=0", "limit=1001", "cursor=x", "cursor="}) {
    Reply r = Get(std::string("/api/sam/datasets?") + bad);
    EXPECT_EQ(r.status, 400) << bad << " " << r.raw;
  }
  // A dataset page's cursor is not a dataset list's.
  const std::string cursor = Page("limit=2").body["page"]["next_cursor"].get<std::string>();
  EXPECT_EQ(Get("/api/sam/datasets?cursor=" + cursor).status, 400);
}

}  // namespace
}  // namespace samcache::testing
