#include "http/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <sstream>

#include "app/app.h"
#include "jobs/prewarm_jobs.h"
#include "model/model_family.h"

namespace samcache {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;

constexpr std::string_view kJobStatuses[] = {prewarm_status::kQueued, prewarm_status::kRunning,
                                             prewarm_status::kCompleted, prewarm_status::kCancelled,
                                             prewarm_status::kFailed};

}  // namespace

std::string PrometheusMetrics(App& app, const TransportStats& transport) {
  // The counters live in the stores and the service; a registry built per scrape turns
  // their values into the exposition format.
  prometheus::Registry registry;
  auto counter = [&registry](const std::string& name, const std::string& help) -> auto& {
    return BuildCounter().Name(name).Help(help).Register(registry);
  };
  auto gauge = [&registry](const std::string& name, const std::string& help) -> auto& {
    return BuildGauge().Name(name).Help(help).Register(registry);
  };

  if (app.embedding_store() != nullptr) {
    auto& hits = counter("samcache_embedding_cache_hits_total", "Embedding lookups answered by this tier");
    auto& misses =
        counter("samcache_embedding_cache_misses_total", "Embedding lookups this tier could not answer");
    auto& entries = gauge("samcache_embedding_cache_entries", "Embeddings held by this tier");
    auto& bytes = gauge("samcache_embedding_cache_bytes", "Bytes held by this tier");
    auto& evictions = counter("samcache_embedding_cache_evictions_total",
                              "Embeddings this tier dropped to stay within its byte budget");
    for (const TierStats& tier : app.tier_stats()) {
      const prometheus::Labels labels{{"tier", tier.name}};
      hits.Add(labels).Increment(static_cast<double>(tier.hits));
      misses.Add(labels).Increment(static_cast<double>(tier.misses));
      entries.Add(labels).Set(static_cast<double>(tier.entries));
      bytes.Add(labels).Set(static_cast<double>(tier.bytes));
      evictions.Add(labels).Increment(static_cast<double>(tier.evictions));
      // Counters only some tiers keep. Only the Redis tier is remote; the names predate the
      // generic stats and stay as they were.
      if (tier.corrupt) {
        counter("samcache_embedding_cache_corrupt_total",
                "Cache entries that failed verification (truncated, bad checksum) and were removed")
            .Add({{"tier", tier.name}})
            .Increment(static_cast<double>(*tier.corrupt));
      }
      if (tier.remote) {
        counter("samcache_redis_errors_total",
                "Redis operations that got no answer (refused, timed out, cut)")
            .Add({})
            .Increment(static_cast<double>(tier.remote->errors));
        gauge("samcache_redis_connected", "1 when the last Redis operation reached the server")
            .Add({})
            .Set(tier.remote->connected ? 1 : 0);
      }
    }
    if (KeyLease* key_lease = app.key_lease(); key_lease != nullptr) {
      const LeaseStats lease = key_lease->Stats();
      auto& attempts = counter("samcache_encoder_lease_attempts_total",
                               "Attempts to take a key's encoder lease in Redis, by result");
      attempts.Add({{"result", "acquired"}}).Increment(static_cast<double>(lease.acquired));
      attempts.Add({{"result", "held_elsewhere"}}).Increment(static_cast<double>(lease.held_elsewhere));
      attempts.Add({{"result", "unavailable"}}).Increment(static_cast<double>(lease.unavailable));
      counter("samcache_encoder_lease_lost_total",
              "Encoder leases that expired before their computation ended")
          .Add({})
          .Increment(static_cast<double>(lease.lost));
      gauge("samcache_encoder_leases_held", "Encoder leases this process holds")
          .Add({})
          .Set(static_cast<double>(lease.held));
    }
    auto& model_entries =
        gauge("samcache_embedding_cache_model_entries", "Embeddings the cache holds per model");
    for (const std::unique_ptr<ServedModel>& m : app.models().all()) {
      model_entries.Add({{"model_id", m->id()}})
          .Set(static_cast<double>(app.embedding_store()->EntriesFor(m->id())));
    }
  }

  if (!app.models().empty()) {
    // The unlabelled totals over every model (as with one model), then each model's.
    EncoderStats encoder;
    auto& model_runs = counter("samcache_model_encoder_runs_total", "Image encoder runs per model");
    auto& model_failures =
        counter("samcache_model_encoder_failures_total", "Failed image encoder runs per model");
    auto& model_seconds =
        counter("samcache_model_encoder_seconds_total", "Time spent in image encoder runs per model");
    auto& model_joined = counter("samcache_model_encoder_joined_total",
                                 "Requests that waited for a run another request had started, per model");
    auto& model_rejected = counter("samcache_model_encoder_rejected_total",
                                   "Requests refused because the model's encoder queue was full");
    auto& info_gauge = gauge("samcache_model_info", "The loaded models (always 1)");
    for (const std::unique_ptr<ServedModel>& m : app.models().all()) {
      const EncoderStats one = m->embeddings->Stats();
      const prometheus::Labels labels{{"model_id", m->id()}};
      model_runs.Add(labels).Increment(static_cast<double>(one.runs));
      model_failures.Add(labels).Increment(static_cast<double>(one.failures));
      model_seconds.Add(labels).Increment(one.encoder_seconds);
      model_joined.Add(labels).Increment(static_cast<double>(one.joined));
      model_rejected.Add(labels).Increment(static_cast<double>(one.rejected));
      const ModelInfo& info = m->info();
      info_gauge
          .Add({{"model_id", info.id},
                {"name", info.name},
                {"demo", info.demo ? "true" : "false"},
                {"family", std::string(FamilyName(info.family))},
                {"default", m.get() == app.models().default_model() ? "true" : "false"}})
          .Set(1);
      encoder.runs += one.runs;
      encoder.failures += one.failures;
      encoder.encoder_seconds += one.encoder_seconds;
      encoder.joined += one.joined;
      encoder.rejected += one.rejected;
      encoder.remote_joined += one.remote_joined;
    }
    counter("samcache_encoder_runs_total", "Image encoder runs that produced an embedding")
        .Add({})
        .Increment(static_cast<double>(encoder.runs));
    counter("samcache_encoder_failures_total", "Image encoder runs that failed")
        .Add({})
        .Increment(static_cast<double>(encoder.failures));
    counter("samcache_encoder_seconds_total", "Time spent in image encoder runs")
        .Add({})
        .Increment(encoder.encoder_seconds);
    counter("samcache_encoder_joined_total",
            "Requests that waited for a run another request had started (singleflight)")
        .Add({})
        .Increment(static_cast<double>(encoder.joined));
    counter("samcache_encoder_rejected_total", "Requests refused because the encoder queue was full")
        .Add({})
        .Increment(static_cast<double>(encoder.rejected));
    counter("samcache_encoder_remote_joined_total",
            "Misses another instance computed while this one waited on its lease (Redis)")
        .Add({})
        .Increment(static_cast<double>(encoder.remote_joined));
  }

  if (Result<std::vector<std::pair<std::string, int64_t>>> jobs = app.catalog().CountPrewarmJobsByStatus();
      jobs.ok()) {
    auto& family = gauge("samcache_prewarm_jobs", "Prewarm jobs in the catalog by status");
    for (std::string_view status : kJobStatuses) family.Add({{"status", std::string(status)}}).Set(0);
    for (const auto& [status, count] : *jobs)
      family.Add({{"status", status}}).Set(static_cast<double>(count));
  }
  if (Result<CatalogStats> catalog = app.catalog().Stats(); catalog.ok()) {
    gauge("samcache_catalog_images", "Images in all datasets")
        .Add({})
        .Set(static_cast<double>(catalog->images));
    gauge("samcache_catalog_distinct_files", "Distinct stored files")
        .Add({})
        .Set(static_cast<double>(catalog->blobs));
    gauge("samcache_catalog_datasets", "Datasets").Add({}).Set(static_cast<double>(catalog->datasets));
  }

  gauge("samcache_http_open_connections", "Open HTTP connections, idle ones included")
      .Add({})
      .Set(static_cast<double>(transport.open_connections));
  gauge("samcache_http_event_streams", "Open prewarm event streams")
      .Add({})
      .Set(static_cast<double>(transport.event_streams));
  gauge("samcache_http_queued_requests", "Requests waiting for or running on a worker")
      .Add({})
      .Set(static_cast<double>(transport.queued_requests));
  counter("samcache_http_closed_by_deadline_total",
          "Connections closed for a header, body or idle deadline (slow or silent clients)")
      .Add({})
      .Increment(static_cast<double>(transport.closed_by_deadline));

  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry.Collect());
  return out.str();
}

}  // namespace samcache
