// The body of a click's reply (POST /api/sam/predict), written by hand around the RLE strings.
#pragma once

#include <string>

#include "model/sam_model.h"
#include "model/segmenter.h"

namespace samcache {

// The same bytes as a json DOM of the reply would dump (sorted keys, invalid UTF-8 replaced),
// without copying and escaping each mask's RLE string byte by byte: on a 12-megapixel image
// the counts are most of the reply.
std::string PredictBody(const PredictResult& r, const ModelInfo& model, bool want_polygon, bool want_png);

}  // namespace samcache
