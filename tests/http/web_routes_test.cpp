// The web page's files over HTTP: the copy compiled into the binary, and --web-dir. Content
// types, ETag revalidation, JSON 404s for unknown files, and no way out of the page's folder.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/embedded_files.h"
#include "http/web_routes.h"
#include "support/http_reply.h"
#include "support/test_support.h"

namespace samcache::testing {
namespace {

namespace fs = std::filesystem;

void WriteText(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

std::string SourceFile(const std::string& relative) {
  std::ifstream in(fs::path(SAMCACHE_SOURCE_DIR) / relative, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(WebPaths, SafePathsAreNamesInsideTheFolder) {
  for (const char* ok : {"index.html", "style.css", "js/main.js", "a-b_c.d/e.js"}) {
    EXPECT_TRUE(IsSafeWebPath(ok)) << ok;
  }
  for (const char* bad : {"", "/etc/passwd", "../x", "js/../../x", "..", ".", "js/.hidden", "js//main.js",
                          "js/", "a\\b", "a%2e", "a b"}) {
    EXPECT_FALSE(IsSafeWebPath(bad)) << bad;
  }
  EXPECT_FALSE(IsSafeWebPath(std::string(600, 'a')));
}

TEST(WebPaths, ContentTypesFollowTheExtension) {
  EXPECT_EQ(WebContentType("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(WebContentType("js/main.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(WebContentType("style.css"), "text/css; charset=utf-8");
  EXPECT_EQ(WebContentType("favicon.svg"), "image/svg+xml");
  EXPECT_EQ(WebContentType("js.d/README"), "application/octet-stream");
  EXPECT_EQ(WebContentType("x.unknown"), "application/octet-stream");
}

TEST(WebPaths, ThePageIsCompiledIn) {
  for (const char* file :
       {"web/index.html", "web/style.css", "web/js/main.js", "web/js/editor.js", "web/js/rle.js"}) {
    std::optional<std::string_view> bytes = EmbeddedFile(file);
    ASSERT_TRUE(bytes.has_value()) << file;
    EXPECT_EQ(*bytes, SourceFile(file)) << file;
  }
}

class WebRoutesTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> args = {}) {
    server_ = std::make_unique<ServerProcess>(tmp_ / "data", std::move(args));
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }
  Reply Get(const std::string& path, httplib::Headers headers = {}) {
    return ToReply(client_->Get(path.c_str(), headers));
  }

  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(WebRoutesTest, ServesTheEmbeddedPage) {
  Start();
  Reply index = Get("/");
  ASSERT_EQ(index.status, 200);
  EXPECT_EQ(index.header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(index.raw, SourceFile("web/index.html"));
  EXPECT_NE(index.raw.find("/web/js/main.js"), std::string::npos);

  Reply script = Get("/web/js/main.js");
  ASSERT_EQ(script.status, 200);
  EXPECT_EQ(script.header("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(script.raw, SourceFile("web/js/main.js"));
  Reply css = Get("/web/style.css");
  ASSERT_EQ(css.status, 200);
  EXPECT_EQ(css.header("Content-Type"), "text/css; charset=utf-8");
  EXPECT_EQ(css.header("Cache-Control"), "no-cache");
}

TEST_F(WebRoutesTest, RevalidatesWithTheEtag) {
  Start();
  Reply first = Get("/web/style.css");
  ASSERT_EQ(first.status, 200);
  const std::string etag = first.header("ETag");
  ASSERT_FALSE(etag.empty());
  Reply again = Get("/web/style.css", {{"If-None-Match", etag}});
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.raw.empty());
  Reply listed = Get("/web/style.css", {{"If-None-Match", "\"other\", " + etag}});
  EXPECT_EQ(listed.status, 304);
  Reply stale = Get("/web/style.css", {{"If-None-Match", "\"0000\""}});
  EXPECT_EQ(stale.status, 200);
  EXPECT_EQ(stale.header("ETag"), etag);
  EXPECT_NE(Get("/web/js/main.js").header("ETag"), etag);
}

TEST_F(WebRoutesTest, UnknownFilesAndEscapesAreJson404s) {
  Start();
  for (const char* path : {"/web/nope.js", "/web/", "/web/js", "/web/../README.md", "/web/%2e%2e/README.md",
                           "/web/js/%2e%2e/%2e%2e/CMakeLists.txt", "/web/.gitignore", "/web//etc/passwd"}) {
    Reply reply = Get(path);
    EXPECT_EQ(reply.status, 404) << path;
    ASSERT_TRUE(reply.body.is_object()) << path << ": " << reply.raw;
    EXPECT_TRUE(reply.body.contains("error")) << path;
  }
  EXPECT_NE(Get("/web/nope.js").body["error"].get<std::string>().find("/web/nope.js"), std::string::npos);
}

TEST_F(WebRoutesTest, TheEndpointListMovedToApi) {
  Start();
  Reply api = Get("/api");
  ASSERT_EQ(api.status, 200);
  EXPECT_EQ(api.body["service"], "samcache");
  EXPECT_FALSE(api.body["endpoints"].empty());
}

TEST_F(WebRoutesTest, WebDirServesAFolderReadOnEveryRequest) {
  const fs::path web = tmp_ / "web";
  WriteText(web / "index.html", "<!doctype html><title>dev</title>");
  WriteText(web / "js" / "main.js", "export const a = 1;\n");
  WriteText(tmp_ / "secret.txt", "outside");
  fs::create_symlink(tmp_ / "secret.txt", web / "js" / "link.txt");
  Start({"--web-dir", web.string()});

  Reply index = Get("/");
  ASSERT_EQ(index.status, 200);
  EXPECT_EQ(index.raw, "<!doctype html><title>dev</title>");
  Reply script = Get("/web/js/main.js");
  ASSERT_EQ(script.status, 200);
  EXPECT_EQ(script.header("Content-Type"), "text/javascript; charset=utf-8");
  const std::string etag = script.header("ETag");

  // An edit shows on the next request, with a new ETag.
  WriteText(web / "js" / "main.js", "export const a = 2;\n");
  Reply edited = Get("/web/js/main.js", {{"If-None-Match", etag}});
  ASSERT_EQ(edited.status, 200);
  EXPECT_EQ(edited.raw, "export const a = 2;\n");
  EXPECT_NE(edited.header("ETag"), etag);

  // Nothing outside the folder, not even through a link inside it.
  EXPECT_EQ(Get("/web/../secret.txt").status, 404);
  EXPECT_EQ(Get("/web/js/link.txt").status, 404);
  EXPECT_EQ(Get("/web/style.css").status, 404);  // the embedded copy is not mixed in
}

TEST(WebDirOption, AMissingFolderIsRefused) {
  TempDir tmp;
  CommandResult result = RunSamcache(
      {"serve", "--data", (tmp / "data").string(), "--port", "0", "--web-dir", (tmp / "missing").string()});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.output.find("--web-dir"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace samcache::testing
