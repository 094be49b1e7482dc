// SAM-HQ (its scripts/export_onnx_model.py): the official SAM decoder signature plus
// `interm_embeddings` [4,1,64,64,C], the ViT's intermediate features (C = 768/1024/1280 for
// ViT-B/L/H). The encoder's second output is cached with the image embedding, about 50-84 MB
// per image in fp32. Frames, prompts and masks are SAM's.
#include "model/sam_family.h"

namespace samcache {
namespace {

class SamHqAdapter : public SamAdapter {
 public:
  ModelFamily family() const override { return ModelFamily::kSamHq; }
  std::string_view display_name() const override { return "SAM-HQ"; }

 protected:
  std::vector<ExtraInput> ExtraInputs() const override {
    return {{"interm_embeddings", {4, 1, 64, 64, kAny}}};
  }
};

}  // namespace

std::unique_ptr<FamilyAdapter> MakeSamHqAdapter() { return std::make_unique<SamHqAdapter>(); }

}  // namespace samcache
