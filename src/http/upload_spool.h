// A multipart upload as it streams in: each file part goes to its own file in the spool
// folder, hashed as it passes, so memory holds none of it; plain fields stay in memory,
// capped. The transport feeds it from the multipart parser and hands the result to the
// route as an UploadBody; the spool files go when the spool does.
#pragma once

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "common/crypto.h"
#include "common/status.h"
#include "http/request.h"

namespace samcache {

class UploadSpool {
 public:
  static constexpr size_t kMaxFieldBytes = 4096;

  // Spool files go in `folder`, created if missing.
  explicit UploadSpool(std::filesystem::path folder);
  ~UploadSpool();  // removes every spool file
  UploadSpool(const UploadSpool&) = delete;
  UploadSpool& operator=(const UploadSpool&) = delete;

  // A part starts; the one before, if any, is whole (the parser saw its closing boundary).
  Status BeginPart(BodyPart header);
  // More of the current part. An error drops the part and ends the body (Break).
  Status Append(const char* data, size_t size);
  // The body ended well: the current part is whole too.
  void Finish();
  // The body broke off: the current part is dropped, the whole ones before it stay.
  void Break(std::string problem);

  // Removes spool files older than `age` in `folder`: left by a crash (a live upload's file
  // is written to all the time). Returns how many.
  static int RemoveStale(const std::filesystem::path& folder, std::chrono::seconds age);

  bool broken() const { return !body_.problem.empty(); }
  const UploadBody& body() const { return body_; }

 private:
  void CloseCurrent(bool keep);

  std::filesystem::path folder_;
  UploadBody body_;
  bool in_part_ = false;
  UploadPart current_;
  std::FILE* file_ = nullptr;
  Sha256 hasher_;
};

}  // namespace samcache
