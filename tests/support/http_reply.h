// What the black-box tests need to speak HTTP to the server: files to upload and parsed
// replies. Header-only, because only the HTTP tests include cpp-httplib.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace samcache::testing {

struct NamedFile {
  std::string filename;
  std::string bytes;
};

struct Reply {
  int status = 0;       // 0 when no answer came
  nlohmann::json body;  // discarded (is_discarded()) when the body is not JSON
  std::string raw;
  httplib::Headers headers;

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

inline Reply ToReply(const httplib::Result& result) {
  Reply reply;
  if (!result) return reply;
  reply.status = result->status;
  reply.raw = result->body;
  reply.body = nlohmann::json::parse(result->body, nullptr, /*allow_exceptions=*/false);
  reply.headers = result->headers;
  return reply;
}

// Multipart form items with each file in a field named "images", as the seed's curl sends.
inline httplib::MultipartFormDataItems ImageItems(const std::vector<NamedFile>& files) {
  httplib::MultipartFormDataItems items;
  for (const NamedFile& f : files)
    items.push_back({"images", f.bytes, f.filename, "application/octet-stream"});
  return items;
}

// The value of one sample in Prometheus text, e.g. Metric(text, "samcache_encoder_runs_total");
// a test failure and -1 when it is missing.
inline double Metric(const std::string& text, const std::string& sample) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(sample + " ", 0) == 0) return std::stod(line.substr(sample.size() + 1));
  }
  ADD_FAILURE() << "no sample " << sample << " in:\n" << text;
  return -1;
}

// POST /api/sam/dataset/{id}/prewarm.
inline Reply StartPrewarm(httplib::Client& client, const std::string& dataset_id) {
  return ToReply(client.Post("/api/sam/dataset/" + dataset_id + "/prewarm", "", "application/json"));
}

// Polls the job's snapshot until it is finished (completed, cancelled or failed) or the
// time is up; returns the last snapshot read.
inline Reply WaitForPrewarm(httplib::Client& client, const std::string& job_id,
                            std::chrono::seconds limit = std::chrono::seconds(120)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  Reply reply;
  for (;;) {
    reply = ToReply(client.Get("/api/sam/prewarm/" + job_id));
    const std::string status = reply.body.is_object() ? reply.body.value("status", "") : "";
    if (status == "completed" || status == "cancelled" || status == "failed") return reply;
    if (reply.status != 200 || std::chrono::steady_clock::now() > deadline) return reply;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Prewarms the dataset and returns the finished job's snapshot.
inline Reply Prewarm(httplib::Client& client, const std::string& dataset_id) {
  Reply started = StartPrewarm(client, dataset_id);
  if (started.status != 202) return started;
  return WaitForPrewarm(client, started.body["job_id"]);
}

}  // namespace samcache::testing
