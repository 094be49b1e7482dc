#include "http/predict_body.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <string_view>

#include "common/crypto.h"
#include "model/model_family.h"

namespace samcache {
namespace {

using json = nlohmann::json;

// Milliseconds to 0.01: finer digits are noise.
double Rounded(double ms) { return std::round(ms * 100.0) / 100.0; }

// A JSON string of RLE counts: its characters are '0'..'o', of which only the backslash needs
// escaping.
void AppendCountsString(std::string& out, const std::string& counts) {
  out.push_back('"');
  size_t from = 0;
  for (size_t at = counts.find('\\'); at != std::string::npos; at = counts.find('\\', from)) {
    out.append(counts, from, at - from).append("\\\\");
    from = at + 1;
  }
  out.append(counts, from, std::string::npos).push_back('"');
}

// One mask's object, keys in the order a json object (sorted) would write them. Written by
// hand around the RLE string, which is most of the reply on a large image: a DOM would copy it
// twice and escape it byte by byte.
void AppendMask(std::string& out, const PredictedMask& m, bool want_polygon, bool want_png) {
  out += "{\"area\":" + std::to_string(m.area) + ",\"bbox\":" + json(m.bbox).dump();
  if (want_png) out += ",\"png_b64\":\"" + Base64Encode(m.png) + "\"";
  if (want_polygon) out += ",\"polygons\":" + json(m.polygons).dump();
  out += ",\"rle\":{\"counts\":";
  AppendCountsString(out, m.rle.counts);
  out += ",\"size\":[" + std::to_string(m.rle.height) + "," + std::to_string(m.rle.width) + "]}";
  out += ",\"score\":" + json(m.score).dump() + "}";
}

}  // namespace

std::string PredictBody(const PredictResult& r, const ModelInfo& model, bool want_polygon, bool want_png) {
  const json head{{"prediction_id", r.prediction_id},
                  {"image_id", r.image_id},
                  {"width", r.width},
                  {"height", r.height},
                  {"embedding", r.embedding_cached ? "cached" : "computed"},
                  {"model",
                   {{"id", model.id},
                    {"name", model.name},
                    {"family", std::string(FamilyName(model.family))},
                    {"demo", model.demo}}},
                  {"masks", json::array()},
                  {"timings_ms",
                   {{"embedding", Rounded(r.embedding_ms)},
                    {"decode", Rounded(r.decode_ms)},
                    {"postprocess", Rounded(r.postprocess_ms)},
                    {"total", Rounded(r.total_ms)}}}};
  const std::string text = head.dump(-1, ' ', false, json::error_handler_t::replace);
  // Strings in the dump have their quotes escaped, so the key is the one unescaped match.
  constexpr std::string_view kEmptyMasks = "\"masks\":[]";
  const size_t at = text.find(kEmptyMasks);
  size_t size = text.size();
  for (const PredictedMask& m : r.masks) size += m.rle.counts.size() + m.png.size() * 4 / 3 + 256;
  std::string body;
  body.reserve(size);
  body.append(text, 0, at + kEmptyMasks.size() - 1);
  for (size_t i = 0; i < r.masks.size(); ++i) {
    if (i) body.push_back(',');
    AppendMask(body, r.masks[i], want_polygon, want_png);
  }
  body.append(text, at + kEmptyMasks.size() - 1, std::string::npos);
  return body;
}

}  // namespace samcache
