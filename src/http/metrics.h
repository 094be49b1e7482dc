// GET /metrics: the cache, encoder and prewarm counters in Prometheus' text format.
#pragma once

#include <cstddef>
#include <string>

namespace samcache {

class App;

// What the transport reports about its connections.
struct TransportStats {
  size_t open_connections = 0;
  size_t event_streams = 0;
  size_t queued_requests = 0;  // waiting for or running on a worker
  size_t closed_by_deadline = 0;
};

// Read from the live counters at each scrape; nothing is kept between scrapes.
std::string PrometheusMetrics(App& app, const TransportStats& transport);

}  // namespace samcache
