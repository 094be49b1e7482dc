#include "common/crypto.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <string_view>

#include "common/files.h"
#include "support/test_support.h"

namespace samcache {
namespace {

using testing::ListFiles;
using testing::ReadFileOrDie;
using testing::TempDir;
using testing::WriteFile;

constexpr std::string_view kEmptyDigest = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr std::string_view kAbcDigest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
// FIPS 180-2's two-block (448-bit) message.
constexpr std::string_view kNistMessage = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
constexpr std::string_view kNistDigest = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
constexpr std::string_view kMillionADigest =
    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), kEmptyDigest);
  EXPECT_EQ(Sha256Hex("abc"), kAbcDigest);
  EXPECT_EQ(Sha256Hex(kNistMessage), kNistDigest);
}

TEST(Sha256Test, EmptyHasherGivesEmptyDigest) {
  Sha256 hasher;
  hasher.Update("");
  hasher.Update(nullptr, 0);
  EXPECT_EQ(hasher.FinishHex(), kEmptyDigest);
}

TEST(Sha256Test, OneByteAtATime) {
  Sha256 hasher;
  for (char c : kNistMessage) hasher.Update(&c, 1);
  EXPECT_EQ(hasher.FinishHex(), kNistDigest);
}

TEST(Sha256Test, UnevenChunks) {
  // Chunk sizes that straddle the 64-byte block boundary in different places.
  for (size_t first : {size_t{1}, size_t{7}, size_t{31}, size_t{55}}) {
    Sha256 hasher;
    std::string_view rest = kNistMessage;
    hasher.Update(rest.substr(0, first));
    rest.remove_prefix(first);
    size_t chunk = 3;
    while (!rest.empty()) {
      const size_t n = std::min(chunk, rest.size());
      hasher.Update(rest.data(), n);
      rest.remove_prefix(n);
      chunk = chunk * 2 + 1;
    }
    EXPECT_EQ(hasher.FinishHex(), kNistDigest) << "first chunk " << first;
  }
}

TEST(Sha256Test, ReusableAfterFinish) {
  Sha256 hasher;
  hasher.Update("abc");
  EXPECT_EQ(hasher.FinishHex(), kAbcDigest);
  // FinishHex resets: nothing of "abc" may leak into the next digest.
  EXPECT_EQ(hasher.FinishHex(), kEmptyDigest);
  hasher.Update(kNistMessage);
  EXPECT_EQ(hasher.FinishHex(), kNistDigest);
  hasher.Update("a");
  hasher.Update("bc");
  EXPECT_EQ(hasher.FinishHex(), kAbcDigest);
}

TEST(Sha256Test, MovedHasherKeepsState) {
  Sha256 hasher;
  hasher.Update("ab");
  Sha256 moved(std::move(hasher));
  moved.Update("c");
  EXPECT_EQ(moved.FinishHex(), kAbcDigest);
}

TEST(Sha256Test, MillionAs) {
  const std::string million(1'000'000, 'a');
  EXPECT_EQ(Sha256Hex(million), kMillionADigest);
  // Streamed in 1000-byte pieces, as an upload would arrive.
  Sha256 hasher;
  for (size_t i = 0; i < million.size(); i += 1000) hasher.Update(million.data() + i, 1000);
  EXPECT_EQ(hasher.FinishHex(), kMillionADigest);
}

TEST(HexEncodeTest, LowercaseTwoDigitsPerByte) {
  const unsigned char bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
  EXPECT_EQ(HexEncode(bytes, sizeof bytes), "00017f80abff");
  EXPECT_EQ(HexEncode(bytes, 0), "");
}

TEST(Base64Test, Rfc4648Vectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
}

TEST(Base64Test, BinaryAndLongInput) {
  EXPECT_EQ(Base64Encode(std::string("\x00\xff\xfe", 3)), "AP/+");
  // Longer than OpenSSL's 48-byte line length: the output must have no line breaks.
  const std::string encoded = Base64Encode(std::string(100, 'x'));
  EXPECT_EQ(encoded.size(), 4u * 34);
  EXPECT_EQ(encoded.find('\n'), std::string::npos);
  EXPECT_EQ(encoded.find('\0'), std::string::npos);
}

TEST(RandomIdTest, SixteenLowercaseHexAndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string id = RandomId();
    ASSERT_EQ(id.size(), 16u) << id;
    for (char c : id) {
      EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << id;
    }
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_NE(RandomId(), RandomId());
}

TEST(IsSha256HexTest, AcceptsOnlyLowercaseDigests) {
  EXPECT_TRUE(IsSha256Hex(kEmptyDigest));
  EXPECT_TRUE(IsSha256Hex(Sha256Hex("anything")));
  EXPECT_TRUE(IsSha256Hex(std::string(64, '0')));
  EXPECT_FALSE(IsSha256Hex(""));
  EXPECT_FALSE(IsSha256Hex(kEmptyDigest.substr(0, 63)));
  EXPECT_FALSE(IsSha256Hex(std::string(kEmptyDigest) + "0"));
  std::string upper(kEmptyDigest);
  upper[0] = 'E';
  EXPECT_FALSE(IsSha256Hex(upper));
  std::string non_hex(kEmptyDigest);
  non_hex[10] = 'g';
  EXPECT_FALSE(IsSha256Hex(non_hex));
  // Path tricks must never pass: the blob store builds paths from these.
  EXPECT_FALSE(IsSha256Hex("../" + std::string(61, 'a')));
  std::string with_nul(kEmptyDigest);
  with_nul[63] = '\0';
  EXPECT_FALSE(IsSha256Hex(with_nul));
}

TEST(WriteFileAtomicallyTest, WritesBytesAndLeavesNoTempFile) {
  TempDir dir;
  const auto target = dir / "sub" / "dir" / "file.bin";  // parents are created
  const std::string bytes("binary\0data\xff", 12);
  ASSERT_TRUE(WriteFileAtomically(target, bytes, dir / "tmp").ok());
  EXPECT_EQ(ReadFileOrDie(target), bytes);
  EXPECT_TRUE(ListFiles(dir / "tmp").empty());
  EXPECT_EQ(ListFiles(dir.path()).size(), 1u);
}

TEST(WriteFileAtomicallyTest, OverwritesExistingFileWhole) {
  TempDir dir;
  const auto target = dir / "file.txt";
  WriteFile(target, std::string(1000, 'L'));
  ASSERT_TRUE(WriteFileAtomically(target, "short", dir / "tmp").ok());
  // No tail of the longer old content may survive.
  EXPECT_EQ(ReadFileOrDie(target), "short");
  EXPECT_TRUE(ListFiles(dir / "tmp").empty());
}

TEST(WriteFileAtomicallyTest, EmptyContent) {
  TempDir dir;
  const auto target = dir / "empty";
  WriteFile(target, "old");
  ASSERT_TRUE(WriteFileAtomically(target, "", dir / "tmp").ok());
  EXPECT_EQ(ReadFileOrDie(target), "");
}

TEST(WriteFileAtomicallyTest, FailureLeavesNoTempFile) {
  TempDir dir;
  // The target is an existing non-empty directory: the rename must fail.
  const auto target = dir / "occupied";
  WriteFile(target / "inside", "x");
  const Status st = WriteFileAtomically(target, "data", dir / "tmp");
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kIoError);
  EXPECT_TRUE(ListFiles(dir / "tmp").empty());
  EXPECT_EQ(ReadFileOrDie(target / "inside"), "x");
}

TEST(ReadFileTest, ReadsBytesAndReportsMissing) {
  TempDir dir;
  WriteFile(dir / "f", std::string("a\0b", 3));
  Result<std::string> read = ReadFile(dir / "f");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, std::string("a\0b", 3));
  Result<std::string> missing = ReadFile(dir / "nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace samcache
