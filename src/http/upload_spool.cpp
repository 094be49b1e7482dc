#include "http/upload_spool.h"

#include <cerrno>
#include <cstring>
#include <system_error>

namespace samcache {

UploadSpool::UploadSpool(std::filesystem::path folder) : folder_(std::move(folder)) {}

UploadSpool::~UploadSpool() {
  CloseCurrent(/*keep=*/false);
  std::error_code ec;
  for (const UploadPart& part : body_.parts) {
    if (!part.spool_path.empty()) std::filesystem::remove(part.spool_path, ec);
  }
}

int UploadSpool::RemoveStale(const std::filesystem::path& folder, std::chrono::seconds age) {
  std::error_code ec;
  int removed = 0;
  const auto now = std::filesystem::file_time_type::clock::now();
  for (const auto& entry : std::filesystem::directory_iterator(folder, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("upload-", 0) != 0 || entry.path().extension() != ".part") continue;
    const auto written = entry.last_write_time(ec);
    if (!ec && now - written > age && std::filesystem::remove(entry.path(), ec)) ++removed;
  }
  return removed;
}

Status UploadSpool::BeginPart(BodyPart header) {
  if (broken()) return Status::InvalidArgument(body_.problem);
  CloseCurrent(/*keep=*/true);
  current_ = UploadPart{};
  current_.is_file = !header.filename.empty() || header.name == "images";
  current_.header = std::move(header);
  in_part_ = true;
  if (!current_.is_file) return Status::Ok();
  std::error_code ec;
  std::filesystem::create_directories(folder_, ec);
  current_.spool_path = folder_ / ("upload-" + RandomId() + ".part");
  file_ = std::fopen(current_.spool_path.c_str(), "wbx");
  if (file_ == nullptr) {
    const int error = errno;
    current_.spool_path.clear();
    in_part_ = false;
    Break(std::string("the server could not store the upload: ") + std::strerror(error));
    return Status::IoError(body_.problem);
  }
  hasher_ = Sha256();
  return Status::Ok();
}

Status UploadSpool::Append(const char* data, size_t size) {
  if (broken()) return Status::InvalidArgument(body_.problem);
  if (!in_part_ || size == 0) return Status::Ok();
  if (!current_.is_file) {
    if (current_.value.size() + size > kMaxFieldBytes) {
      Break("the form field \"" + current_.header.name.substr(0, 32) + "\" is over " +
            std::to_string(kMaxFieldBytes / 1024) + " KiB");
      return Status::InvalidArgument(body_.problem);
    }
    current_.value.append(data, size);
    return Status::Ok();
  }
  if (std::fwrite(data, 1, size, file_) != size) {
    const int error = errno;
    Break(std::string("the server could not store the upload: ") + std::strerror(error));
    return Status::IoError(body_.problem);
  }
  hasher_.Update(data, size);
  current_.size += size;
  return Status::Ok();
}

void UploadSpool::Finish() {
  if (!broken()) CloseCurrent(/*keep=*/true);
}

void UploadSpool::Break(std::string problem) {
  CloseCurrent(/*keep=*/false);
  if (body_.problem.empty()) body_.problem = std::move(problem);
}

void UploadSpool::CloseCurrent(bool keep) {
  if (!in_part_) return;
  in_part_ = false;
  if (file_ != nullptr) {
    const bool flushed = std::fclose(file_) == 0;
    const int error = errno;
    file_ = nullptr;
    if (keep && !flushed) {
      keep = false;
      if (body_.problem.empty())
        body_.problem = std::string("the server could not store the upload: ") + std::strerror(error);
    }
  }
  if (keep) {
    if (current_.is_file) current_.sha256_hex = hasher_.FinishHex();
    body_.parts.push_back(std::move(current_));
  } else if (!current_.spool_path.empty()) {
    std::error_code ec;
    std::filesystem::remove(current_.spool_path, ec);
  }
  current_ = UploadPart{};
}

}  // namespace samcache
