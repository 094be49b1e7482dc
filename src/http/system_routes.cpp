// The server about itself: GET /healthz, /metrics, /api (the index of endpoints) and
// /api/sam/stats; and the assembly of the whole route table.
#include <nlohmann/json.hpp>

#include "app/app.h"
#include "http/access_gate.h"
#include "http/json_reply.h"
#include "http/metrics.h"
#include "http/route.h"
#include "http/server.h"

namespace samcache {
namespace {

using json = nlohmann::json;

Reply ApiIndex() {
  return JsonReply(200, json{{"service", "samcache"},
                             {"endpoints",
                              {"POST /api/sam/dataset/init",
                               "GET /api/sam/datasets",
                               "GET /api/sam/dataset/{id}",
                               "DELETE /api/sam/dataset/{id}",
                               "GET /api/sam/dataset/{id}/deletion",
                               "POST /api/sam/dataset/{id}/images",
                               "GET /api/sam/image/{id}",
                               "GET /api/sam/image/{id}/thumb",
                               "GET /api/sam/image/{id}/embedding.npy",
                               "GET /api/sam/image/{id}/embedding.safetensors",
                               "GET /api/sam/image/{id}/similar",
                               "GET /api/sam/model",
                               "GET /api/sam/models",
                               "POST /api/sam/predict",
                               "POST /api/sam/dataset/{id}/prewarm",
                               "GET /api/sam/prewarm/{job_id}",
                               "GET /api/sam/prewarm/{job_id}/events",
                               "DELETE /api/sam/prewarm/{job_id}",
                               "POST /api/sam/prewarm/{job_id}/resume",
                               "GET /api/sam/image/{id}/annotations",
                               "POST /api/sam/image/{id}/annotations",
                               "PUT /api/sam/annotation/{id}",
                               "DELETE /api/sam/annotation/{id}",
                               "GET /api/sam/dataset/{id}/export/coco",
                               "POST /api/sam/image/{id}/warm",
                               "GET /api/sam/stats",
                               "GET /api/sam/me",
                               "POST /api/sam/login",
                               "POST /api/sam/logout",
                               "GET /login",
                               "GET /api/sam/projects",
                               "POST /api/sam/projects",
                               "DELETE /api/sam/project/{id}",
                               "GET /api/sam/project/{id}/members",
                               "PUT /api/sam/project/{id}/members/{user}",
                               "DELETE /api/sam/project/{id}/members/{user}",
                               "GET /api/sam/users",
                               "POST /api/sam/users",
                               "PUT /api/sam/user/{id}",
                               "DELETE /api/sam/user/{id}",
                               "GET /api/sam/tokens",
                               "POST /api/sam/tokens",
                               "DELETE /api/sam/token/{id}",
                               "GET /metrics",
                               "GET /healthz"}}});
}

json EncoderJson(const EncoderStats& encoder) {
  return json{{"encoder_runs", encoder.runs},
              {"encoder_failures", encoder.failures},
              {"encoder_seconds", encoder.encoder_seconds},
              {"joined_runs", encoder.joined},
              {"rejected_busy", encoder.rejected},
              {"remote_joined", encoder.remote_joined}};
}

Result<Reply> Stats(App& app) {
  SAMCACHE_ASSIGN_OR_RETURN(const CatalogStats stats, app.catalog().Stats());
  json body{{"datasets", stats.datasets},
            {"images", stats.images},
            {"distinct_blobs", stats.blobs},
            {"blob_bytes", stats.blob_bytes},
            {"schema_version", stats.schema_version}};
  if (app.embeddings()) {
    // The default model's figures where they always were; every model's under "models".
    body["model_id"] = app.model()->info().id;
    body["embeddings"] = EncoderJson(app.embeddings()->Stats());
    body["embeddings"]["model_entries"] = app.embedding_store()->EntriesFor(app.model()->info().id);
    json models = json::object();
    for (const std::unique_ptr<ServedModel>& m : app.models().all()) {
      json entry = EncoderJson(m->embeddings->Stats());
      entry["name"] = m->name();
      entry["model_entries"] = app.embedding_store()->EntriesFor(m->id());
      models[m->id()] = std::move(entry);
    }
    body["models"] = std::move(models);
    for (const TierStats& tier : app.tier_stats()) {
      json& entry = body["embeddings"][tier.name];
      entry = {{"entries", tier.entries},
               {"bytes", tier.bytes},
               {"hits", tier.hits},
               {"misses", tier.misses},
               {"evictions", tier.evictions}};
      // The shared tier shows its health, and the leases that go with it.
      if (!tier.remote) continue;
      entry["url"] = tier.remote->endpoint;
      entry["errors"] = tier.remote->errors;
      entry["corrupt"] = tier.corrupt.value_or(0);
      entry["connected"] = tier.remote->connected;
      if (KeyLease* lease = app.key_lease(); lease != nullptr) {
        const LeaseStats leases = lease->Stats();
        entry["leases"] = {{"acquired", leases.acquired},
                           {"held_elsewhere", leases.held_elsewhere},
                           {"unavailable", leases.unavailable},
                           {"lost", leases.lost},
                           {"held", leases.held}};
      }
    }
  }
  return JsonReply(200, body);
}

}  // namespace

void AddSystemRoutes(RouteTable& routes, const RouteContext& context) {
  App& app = context.app;
  routes.push_back({Method::kGet, "/api", [](const Request&) -> Result<Reply> { return ApiIndex(); }});
  // Counts over every project: an admin's view.
  routes.push_back({Method::kGet, "/api/sam/stats", [&app](const Request&) { return Stats(app); },
                    /*upload=*/false, /*system=*/false, Access::kAdmin});
}

RouteTable BuildRoutes(const RouteContext& context) {
  App& app = context.app;
  RouteTable routes;
  routes.push_back(
      {Method::kGet, "/healthz",
       [&app](const Request&) -> Result<Reply> {
         Result<CatalogStats> stats = app.catalog().Stats();
         if (!stats.ok()) {
           return JsonReply(503, json{{"status", "unavailable"}, {"error", stats.status().message()}});
         }
         return JsonReply(200, json{{"status", "ok"}, {"schema_version", stats->schema_version}});
       },
       /*upload=*/false, /*system=*/true, Access::kPublic});
  routes.push_back({Method::kGet, "/metrics",
                    [&app, stats = context.transport_stats](const Request&) -> Result<Reply> {
                      Reply reply;
                      reply.body = PrometheusMetrics(app, stats ? stats() : TransportStats{});
                      reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
                      return reply;
                    },
                    /*upload=*/false, /*system=*/true, Access::kMetrics});
  if (!context.options.metrics_only) {
    AddSystemRoutes(routes, context);
    AddDatasetRoutes(routes, context);
    AddImageRoutes(routes, context);
    AddPredictRoutes(routes, context);
    AddPrewarmRoutes(routes, context);
    AddAnnotationRoutes(routes, context);
    AddAccountRoutes(routes, context);
    AddWebRoutes(routes, context);
  }
  GuardRoutes(routes, context.gate);
  return routes;
}

}  // namespace samcache
