// The body of a click's reply, written by hand around the RLE strings, against what a json DOM
// of it dumps (the way every other reply is made): the same bytes, and valid JSON, whatever
// the strings hold.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "common/crypto.h"
#include "http/predict_body.h"
#include "model/model_family.h"

namespace samcache {
namespace {

using json = nlohmann::json;

double Rounded(double ms) { return std::round(ms * 100.0) / 100.0; }

// The reply as a DOM, as predict_routes built it before the hand-written body.
std::string DomBody(const PredictResult& r, const ModelInfo& model, bool want_polygon, bool want_png) {
  json masks = json::array();
  for (const PredictedMask& m : r.masks) {
    json mask{{"rle", {{"size", {m.rle.height, m.rle.width}}, {"counts", m.rle.counts}}},
              {"bbox", m.bbox},
              {"area", m.area},
              {"score", m.score}};
    if (want_polygon) mask["polygons"] = m.polygons;
    if (want_png) mask["png_b64"] = Base64Encode(m.png);
    masks.push_back(std::move(mask));
  }
  const json body{{"prediction_id", r.prediction_id},
                  {"image_id", r.image_id},
                  {"width", r.width},
                  {"height", r.height},
                  {"embedding", r.embedding_cached ? "cached" : "computed"},
                  {"model",
                   {{"id", model.id},
                    {"name", model.name},
                    {"family", std::string(FamilyName(model.family))},
                    {"demo", model.demo}}},
                  {"masks", std::move(masks)},
                  {"timings_ms",
                   {{"embedding", Rounded(r.embedding_ms)},
                    {"decode", Rounded(r.decode_ms)},
                    {"postprocess", Rounded(r.postprocess_ms)},
                    {"total", Rounded(r.total_ms)}}}};
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

PredictedMask Mask(std::string counts, float score) {
  PredictedMask m;
  m.rle.height = 3000;
  m.rle.width = 4000;
  m.rle.counts = std::move(counts);
  m.bbox = {12, 0, 3988, 7};
  m.area = 12'000'000'000ULL;
  m.score = score;
  m.polygons = {{0.5f, 1.25f, 3.0f, 4.0f, 1e-7f, 2.5e6f}, {}};
  m.png = std::string("\x89PNG\r\n\x1a\n\0\xff", 10);
  return m;
}

// Every character a counts string can hold ('0'..'o', the backslash among them), twice.
std::string AllCountsCharacters() {
  std::string s;
  for (char c = '0'; c <= 'o'; ++c) s.push_back(c);
  return s + s + "\\";
}

void ExpectSameAsDom(const PredictResult& r, const ModelInfo& model) {
  for (bool polygon : {false, true}) {
    for (bool png : {false, true}) {
      SCOPED_TRACE(std::string("polygon ") + (polygon ? "yes" : "no") + ", png " + (png ? "yes" : "no"));
      const std::string body = PredictBody(r, model, polygon, png);
      EXPECT_EQ(body, DomBody(r, model, polygon, png));
      const json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
      ASSERT_FALSE(parsed.is_discarded()) << body;
      ASSERT_EQ(parsed["masks"].size(), r.masks.size());
      for (size_t i = 0; i < r.masks.size(); ++i) {
        EXPECT_EQ(parsed["masks"][i]["rle"]["counts"], r.masks[i].rle.counts);
      }
    }
  }
}

TEST(PredictBodyTest, SameBytesAsTheDomWithStringsThatNeedEscaping) {
  PredictResult r;
  r.prediction_id = "p\"red\\";
  // Strings that hold the very key the body is spliced at, quotes, backslashes, control
  // characters, a newline, valid and invalid UTF-8.
  r.image_id = "img \"masks\":[] \\\" \x01\x1f\n\t é \xff\xfe end";
  r.width = 4000;
  r.height = 3000;
  r.embedding_cached = true;
  r.masks = {Mask(AllCountsCharacters(), 0.875f), Mask("\\\\\\", -1.5f), Mask("", 1e-30f)};
  r.embedding_ms = 0.004;
  r.decode_ms = 37.125;
  r.postprocess_ms = 1e9 / 3;
  r.total_ms = 12.3456;
  ModelInfo model;
  model.id = "0123456789abcdef";
  model.name = "mobile\"sam\" \\ \"masks\":[],{}\x7f \xc3";
  model.family = ModelFamily::kSam2;
  model.demo = false;
  ExpectSameAsDom(r, model);
}

TEST(PredictBodyTest, NoMasksEmptyStringsAndOddScores) {
  PredictResult r;
  ModelInfo model;
  model.demo = true;
  ExpectSameAsDom(r, model);  // no masks at all
  r.masks = {Mask("0", std::numeric_limits<float>::quiet_NaN()),
             Mask("PP", std::numeric_limits<float>::infinity()), Mask("1", -0.0f)};
  ExpectSameAsDom(r, model);
}

}  // namespace
}  // namespace samcache
