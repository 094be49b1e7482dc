// GET /metrics: the cache, encoder and prewarm counters in Prometheus' text format.
#pragma once

#include <string>

namespace samcache {

class App;

// Read from the live counters at each scrape; nothing is kept between scrapes.
std::string PrometheusMetrics(App& app);

}  // namespace samcache
