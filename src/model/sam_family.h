// The SAM 1 family adapter (segment-anything's official decoder export: MobileSAM, SAM
// ViT-B/L/H, the demo model), shared with SAM-HQ, whose decoder is the same plus named extra
// embedding inputs. PRIVATE to src/model/.
#pragma once

#include <string>
#include <vector>

#include "model/family_adapter.h"

namespace samcache {

class SamAdapter : public FamilyAdapter {
 public:
  ModelFamily family() const override { return ModelFamily::kSam; }
  std::string_view display_name() const override { return "SAM"; }
  std::vector<Difference> Differences(const ModelGraphs& graphs) const override;
  Status Configure(const ModelGraphs& graphs, ModelInfo& info) override;
  PreparedImage Prepare(const DecodedImage& image, const ModelInfo& info) const override;
  Result<Embedding> Encode(const PreparedImage& input, const ModelInfo& info) const override;
  std::vector<std::string> ClickOutputs() const override { return {"iou_predictions", "low_res_masks"}; }
  Result<DecoderResult> Decode(const Embedding& embedding, const DecoderPrompt& prompt, const ModelInfo& info,
                               SessionPool& decoder, bool graph_masks) const override;

 protected:
  // Decoder inputs beyond the image embedding and the official prompt inputs, each cached
  // with the embedding from the encoder output of the same name (or of the same rank).
  struct ExtraInput {
    std::string name;
    std::vector<int64_t> shape;
  };
  virtual std::vector<ExtraInput> ExtraInputs() const { return {}; }

 private:
  struct Plan {
    std::string encoder_input;
    EncoderLayout layout = EncoderLayout::kNchwNormalized;
    int input_side = 0;  // 0: not declared
    std::vector<EmbeddingPart> parts;
  };
  std::vector<Difference> Match(const ModelGraphs& graphs, Plan& plan) const;

  Ort::Session* encoder_ = nullptr;
  Plan plan_;
};

}  // namespace samcache
