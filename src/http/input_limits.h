// The limits on what one request may ask, where the HTTP layer checks them. docs/API.md
// ("Limits") lists every limit with its error. The others live with their rules:
//   common/bounded_json.h      JSON nesting depth (64), checked while parsing
//   model/segmenter.h          kMaxPromptPoints: points per click
//   annotate/annotation_rules.h  category length, prompt size, RLE runs
//   http/ids.h                 ids: 16 lowercase hex digits, echoed as 16 characters at most
#pragma once

#include <cstddef>

namespace samcache {

// "format" of POST /api/sam/predict: a list of "rle", "polygon" and "png", each at most once.
inline constexpr size_t kMaxPredictFormats = 3;

// An error message longer than this is cut: a reply never carries a client's megabytes back.
inline constexpr size_t kMaxErrorMessageBytes = 1024;

}  // namespace samcache
