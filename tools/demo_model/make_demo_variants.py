#!/usr/bin/python3
"""Generate the demo model's family variants: the same colour/texture segmentation as
models/demo (make_demo_model.py), behind each model family's exact export interface (tensor
names, dtypes, symbolic dims, coordinate frames, mask counts and the SAM 2 export's N > 1
quirk), so samcache's family adapters can be tested end to end with meaningful masks.
None of them is the model it imitates: no learned weights, deterministic output.

Writes (paths relative to the repo root):
  models/demo-sam2/              SAM 2.1, samexporter's format (stretched frame, 3 tensors)
  models/demo-sam2-full-size/    SAM 2, ONNX-SAM2-Segment-Anything's format (+ orig_im_size)
  models/demo-efficientsam/      EfficientSAM's own export (original pixels, masks at size)
  models/demo-edgesam/           EdgeSAM's export (3 decoder inputs, 4 low-res masks)
  models/demo-samhq/             SAM-HQ's export (SAM 1 + interm_embeddings [4,1,64,64,768])
Run from the repo root with Debian's python3-onnx:
  /usr/bin/python3 tools/demo_model/make_demo_variants.py
"""
import sys

import numpy as np
from onnx import TensorProto, helper

from make_demo_model import (EMB, EMB_C, GRID, IMG, PIXEL_MEAN, PIXEL_STD, G, colour_texture,
                             decoder_core, decoder_taus, demo_embedding, finish, sam_postprocess,
                             single_first, write)

F32, I32, I64 = TensorProto.FLOAT, TensorProto.INT32, TensorProto.INT64
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
HQ_C = 768                      # SAM-HQ ViT-B intermediate channels


def vi(name, dtype, shape):
    return helper.make_tensor_value_info(name, dtype, shape)


def named(g, value, name):
    """Expose `value` under a graph output name."""
    g.op("Identity", [value])
    g.nodes[-1].output[0] = name


def zeros(g, shape):
    return g.op("ConstantOfShape", [g.i64(shape)],
                value=helper.make_tensor("v", F32, [1], [0.0]))


def channels(g, x, start, end):
    return g.op("Slice", [x, g.i64([start]), g.i64([end]), g.i64([1])])


def model(g, name, inputs, outputs, what):
    return finish(helper.make_graph(g.nodes, name, inputs, outputs, g.inits), what)


# ---------------------------------------------------------------- SAM 2 (samexporter)

def make_sam2_encoder():
    """`image` [1,3,1024,1024] (stretched, ImageNet-normalised: the demo's tau scale, since
    1/(255*0.229) is close to SAM's 1/58.4 per grey level) -> high_res_feats_0 (colour in
    channels 0..2), high_res_feats_1 (colour at 128, unused), image_embed (demo layout)."""
    g = G("e_")
    c, tex = colour_texture(g, "image")
    named(g, g.op("Concat", [c, zeros(g, [1, 29, GRID, GRID])], axis=1), "high_res_feats_0")
    c2 = g.op("AveragePool", [c], kernel_shape=[2, 2], strides=[2, 2])
    named(g, g.op("Concat", [c2, zeros(g, [1, 61, GRID // 2, GRID // 2])], axis=1), "high_res_feats_1")
    named(g, demo_embedding(g, c, tex), "image_embed")
    # every output dim symbolic, as in the real export
    outs = [vi(n, F32, [f"{n}_dim_{i}" for i in range(4)])
            for n in ("high_res_feats_0", "high_res_feats_1", "image_embed")]
    return model(g, "samcache_demo_sam2_encoder", [vi("image", F32, [1, 3, IMG, IMG])], outs, "encoder")


def sam2_embedding(g):
    """The demo layout the core reads: colour from high_res_feats_0, texture from image_embed."""
    cs = g.op("SpaceToDepth", [channels(g, "high_res_feats_0", 0, 3)], blocksize=4)   # [1,48,64,64]
    return g.op("Concat", [cs, channels(g, "image_embed", 48, 96)], axis=1)


def sam2_prompt_sets(g, emb, coords, labels, taus):
    """Runs the core once per prompt set (axis 0 of coords/labels/mask_input) in a Loop.
    The mask gate reproduces the export's broadcast of has_mask_input ["num_labels"]
    against the mask embedding's last axis (64): with N > 1 sets it only works when
    has_mask_input has shape [1]. Returns (S [N,3,256,256], iou [N,3])."""
    n = g.op("Gather", [g.op("Shape", [coords]), g.i64(0)], axis=0)
    mask_small = g.op("AveragePool", ["mask_input"], kernel_shape=[4, 4], strides=[4, 4])  # [N,1,64,64]
    gate = g.op("Mul", ["has_mask_input", g.op("ConstantOfShape", [g.op("Shape", [mask_small])],
                value=helper.make_tensor("v", F32, [1], [1.0]))])                          # [N,1,64,64]

    b = G("b_")
    i = "b_i"
    i1 = b.op("Unsqueeze", [i, b.i64([0])])
    set_coords = b.op("Gather", [coords, i], axis=0)                       # [P,2]
    set_labels = b.op("Gather", [labels, i], axis=0)                       # [P]
    set_mask = b.op("Gather", ["mask_input", i1], axis=0)                  # [1,1,256,256]
    set_has = b.op("Reshape", [b.op("Slice", [b.op("Gather", [gate, i1], axis=0), b.i64([0, 0, 0, 0]),
                                              b.i64([1, 1, 1, 1])]), b.i64([1])])
    S, iou, _ = decoder_core(b, emb, set_coords, set_labels, set_mask, set_has, None, taus, tag="b_")
    named(b, "b_cond", "b_cond_out")
    named(b, S, "b_S")
    named(b, iou, "b_iou")
    body = helper.make_graph(b.nodes, "prompt_set", [vi(i, I64, []), vi("b_cond", TensorProto.BOOL, [])],
                             [vi("b_cond_out", TensorProto.BOOL, []), vi("b_S", F32, None),
                              vi("b_iou", F32, None)], b.inits)
    S_all, iou_all = g.op("Loop", [n, g.const(True, np.bool_)], "per_set", n_out=2, body=body)
    k = len(taus)
    S_all = g.op("Reshape", [S_all, g.i64([-1, k, GRID, GRID])])
    iou_all = g.op("Reshape", [iou_all, g.i64([-1, k])])
    return g.op("Clip", [S_all, g.const(-32.0), g.const(32.0)]), iou_all


def sam2_decoder_inputs():
    return [
        vi("image_embed", F32, [1, EMB_C, EMB, EMB]),
        vi("high_res_feats_0", F32, [1, 32, GRID, GRID]),
        vi("high_res_feats_1", F32, [1, 64, GRID // 2, GRID // 2]),
        vi("point_coords", F32, ["num_labels", "num_points", 2]),
        vi("point_labels", F32, ["num_labels", "num_points"]),
        vi("mask_input", F32, ["num_labels", 1, GRID, GRID]),
        vi("has_mask_input", F32, ["num_labels"]),
    ]


def make_sam2_decoder():
    """samexporter: +0.5 on the points and its own padding point (label -1); 3 low-res masks
    clamped to +-32; scores through a sigmoid (the demo's stability is already in 0..1)."""
    g = G("d_")
    emb = sam2_embedding(g)
    coords = g.op("Add", ["point_coords", g.const(0.5)])
    n1 = g.op("Concat", [g.op("Slice", [g.op("Shape", ["point_coords"]), g.i64([0]), g.i64([1])]),
                         g.i64([1])], axis=0)                               # (N, 1)
    pad_xy = g.op("ConstantOfShape", [g.op("Concat", [n1, g.i64([2])], axis=0)],
                  value=helper.make_tensor("v", F32, [1], [0.0]))
    pad_label = g.op("ConstantOfShape", [n1], value=helper.make_tensor("v", F32, [1], [-1.0]))
    coords = g.op("Concat", [coords, pad_xy], axis=1)
    labels = g.op("Concat", ["point_labels", pad_label], axis=1)
    S, iou = sam2_prompt_sets(g, emb, coords, labels, decoder_taus(3))
    named(g, S, "masks")
    named(g, iou, "iou_predictions")
    outs = [vi("masks", F32, [f"Clipmasks_dim_{i}" for i in range(4)]),
            vi("iou_predictions", F32, ["Sliceiou_predictions_dim_0", 3])]
    return model(g, "samcache_demo_sam2_decoder", sam2_decoder_inputs(), outs, "decoder")


def make_sam2_full_size_decoder():
    """ONNX-SAM2-Segment-Anything's export: as samexporter's but no padding point, an extra
    `orig_im_size` int32 [2] (h, w), masks bilinearly resized to it (align_corners=False),
    and the clamped low-res masks as a third output."""
    g = G("d_")
    emb = sam2_embedding(g)
    coords = g.op("Add", ["point_coords", g.const(0.5)])
    S, iou = sam2_prompt_sets(g, emb, coords, "point_labels", decoder_taus(3))
    named(g, S, "low_res_masks")
    hw = g.op("Cast", ["orig_im_size"], to=I64)
    sizes = g.op("Concat", [g.op("Slice", [g.op("Shape", [S]), g.i64([0]), g.i64([2])]), hw], axis=0)
    named(g, g.op("Resize", [S, "", "", sizes], mode="linear",
                  coordinate_transformation_mode="pytorch_half_pixel"), "masks")
    named(g, iou, "iou_predictions")
    inputs = sam2_decoder_inputs() + [vi("orig_im_size", I32, [2])]
    outs = [vi("masks", F32, [f"Resizemasks_dim_{i}" for i in range(4)]),
            vi("iou_predictions", F32, ["Sliceiou_predictions_dim_0", 3]),
            vi("low_res_masks", F32, [f"Cliplow_res_masks_dim_{i}" for i in range(4)])]
    return model(g, "samcache_demo_sam2_full_size_decoder", inputs, outs, "decoder")


# ---------------------------------------------------------------- EfficientSAM

def make_efficientsam_encoder():
    """`batched_images` RGB 0..1 at the image's own size; the graph stretches it to 1024x1024
    (bilinear, align_corners=False) and applies ImageNet mean/std, as EfficientSAM does."""
    g = G("e_")
    sizes = g.op("Concat", [g.op("Slice", [g.op("Shape", ["batched_images"]), g.i64([0]), g.i64([2])]),
                            g.i64([IMG, IMG])], axis=0)
    x = g.op("Resize", ["batched_images", "", "", sizes], mode="linear",
             coordinate_transformation_mode="pytorch_half_pixel")
    x = g.op("Sub", [x, g.const(np.reshape(IMAGENET_MEAN, (1, 3, 1, 1)))])
    x = g.op("Div", [x, g.const(np.reshape(IMAGENET_STD, (1, 3, 1, 1)))])
    named(g, demo_embedding(g, *colour_texture(g, x)), "image_embeddings")
    inp = vi("batched_images", F32, ["batch", 3, "height", "width"])
    out = vi("image_embeddings", F32, ["Addimage_embeddings_dim_0", 256, "Addimage_embeddings_dim_2",
                                       "Addimage_embeddings_dim_3"])
    return model(g, "samcache_demo_efficientsam_encoder", [inp], [out], "encoder")


def make_efficientsam_decoder():
    """Points in original pixels (the graph scales x by 1024/w and y by 1024/h), labels
    1/0/2/3/-1, no mask input; 3 masks resized to orig_im_size (int64 h, w)."""
    g = G("d_")
    hw = g.op("Cast", ["orig_im_size"], to=F32)
    wh = g.op("Gather", [hw, g.i64([1, 0])], axis=0)
    coords = g.op("Mul", ["batched_point_coords", g.op("Div", [g.const(float(IMG)), wh])])
    S, iou, _ = decoder_core(g, "image_embeddings", coords, "batched_point_labels", None, None, None,
                             decoder_taus(3))
    named(g, S, "onnx::Shape_1785")
    sizes = g.op("Concat", [g.i64([1, 3]), "orig_im_size"], axis=0)
    up = g.op("Resize", [S, "", "", sizes], mode="linear", coordinate_transformation_mode="pytorch_half_pixel")
    out_shape = g.op("Concat", [g.i64([1, 1, 3]), "orig_im_size"], axis=0)
    named(g, g.op("Reshape", [up, out_shape]), "output_masks")
    named(g, g.op("Reshape", [iou, g.i64([1, 1, 3])]), "iou_predictions")
    inputs = [vi("image_embeddings", F32, ["batch", 256, EMB, EMB]),
              vi("batched_point_coords", F32, [1, 1, "num_points", 2]),
              vi("batched_point_labels", F32, [1, 1, "num_points"]),
              vi("orig_im_size", I64, [2])]
    outs = [vi("output_masks", F32, [f"Reshapeoutput_masks_dim_{i}" for i in range(5)]),
            vi("iou_predictions", F32, [1, 1, "Reshapeiou_predictions_dim_2"]),
            vi("onnx::Shape_1785", F32, ["Sliceonnx::Shape_1785_dim_0", "Reshapeiou_predictions_dim_2",
                                         "Sliceonnx::Shape_1785_dim_2", "Sliceonnx::Shape_1785_dim_3"])]
    return model(g, "samcache_demo_efficientsam_decoder", inputs, outs, "decoder")


# ---------------------------------------------------------------- EdgeSAM

def make_sam1_encoder(extra_interm):
    """SAM 1 encoder: `image` [1,3,1024,1024] (longest side 1024, SAM mean/std, padded by the
    caller) -> image_embeddings [1,256,64,64]; SAM-HQ adds interm_embeddings [4,1,64,64,768]
    (channel-last ViT block outputs): layer 0 holds the colour, in the demo's SpaceToDepth
    order, in its first 48 channels; the rest is zero."""
    g = G("e_")
    c, tex = colour_texture(g, "image")
    named(g, demo_embedding(g, c, tex), "image_embeddings")
    outs = [vi("image_embeddings", F32, [1, EMB_C, EMB, EMB])]
    if extra_interm:
        cs = g.op("Transpose", [g.op("SpaceToDepth", [c], blocksize=4)], perm=[0, 2, 3, 1])  # [1,64,64,48]
        layer0 = g.op("Concat", [cs, zeros(g, [1, EMB, EMB, HQ_C - 48])], axis=3)
        layer0 = g.op("Unsqueeze", [layer0, g.i64([0])])
        named(g, g.op("Concat", [layer0, zeros(g, [3, 1, EMB, EMB, HQ_C])], axis=0), "interm_embeddings")
        outs.append(vi("interm_embeddings", F32, [4, 1, EMB, EMB, HQ_C]))
    name = "samcache_demo_samhq_encoder" if extra_interm else "samcache_demo_edgesam_encoder"
    return model(g, name, [vi("image", F32, [1, 3, IMG, IMG])], outs, "encoder")


def make_edgesam_decoder():
    """EdgeSAM's SamCoreMLModel export: only image_embeddings, point_coords, point_labels
    (padded 1024 frame, the caller adds SAM's padding point) -> scores [1,4], masks
    [1,4,256,256] low-res (index 0 = the single-mask token)."""
    g = G("d_")
    S, iou, _ = decoder_core(g, "image_embeddings", "point_coords", "point_labels", None, None, None,
                             decoder_taus(4))
    S, iou = single_first(g, S, iou)
    named(g, iou, "scores")
    named(g, S, "masks")
    inputs = [vi("image_embeddings", F32, [1, EMB_C, EMB, EMB]),
              vi("point_coords", F32, [1, "num_points", 2]),
              vi("point_labels", F32, [1, "num_points"])]
    outs = [vi("scores", F32, [1, 4]), vi("masks", F32, [1, 4, GRID, GRID])]
    return model(g, "samcache_demo_edgesam_decoder", inputs, outs, "decoder")


# ---------------------------------------------------------------- SAM-HQ

def make_samhq_decoder():
    """The official SAM 1 decoder signature plus interm_embeddings [4,1,64,64,768]; one mask
    (SAM-HQ's export returns the HQ-corrected single mask). The colour comes from
    interm_embeddings, the texture from image_embeddings: both must be fed."""
    g = G("d_")
    layer0 = g.op("Gather", ["interm_embeddings", g.i64(0)], axis=0)             # [1,64,64,768]
    cs = g.op("Transpose", [g.op("Slice", [layer0, g.i64([0]), g.i64([48]), g.i64([3])])],
              perm=[0, 3, 1, 2])                                                  # [1,48,64,64]
    emb = g.op("Concat", [cs, channels(g, "image_embeddings", 48, 96)], axis=1)
    S, iou, new_hw = decoder_core(g, emb, "point_coords", "point_labels", "mask_input", "has_mask_input",
                                  "orig_im_size", decoder_taus(1))
    named(g, S, "low_res_masks")
    named(g, iou, "iou_predictions")
    sam_postprocess(g, new_hw, "orig_im_size", g.one)
    inputs = [vi("image_embeddings", F32, [1, EMB_C, EMB, EMB]),
              vi("interm_embeddings", F32, [4, 1, EMB, EMB, HQ_C]),
              vi("point_coords", F32, [1, "num_points", 2]),
              vi("point_labels", F32, [1, "num_points"]),
              vi("mask_input", F32, [1, 1, GRID, GRID]),
              vi("has_mask_input", F32, [1]),
              vi("orig_im_size", F32, [2])]
    outs = [vi("masks", F32, [1, "num_masks", "orig_h", "orig_w"]),
            vi("iou_predictions", F32, [1, "num_masks"]),
            vi("low_res_masks", F32, [1, "num_masks", "low_res_h", "low_res_w"])]
    return model(g, "samcache_demo_samhq_decoder", inputs, outs, "decoder")


# ---------------------------------------------------------------- folders

NOT_SAM = ("NOT {model}: it has no learned weights and selects the region whose colour/texture "
           "is similar to the clicked points and connected to them (like samcache's built-in demo). "
           "Generated by tools/demo_model/make_demo_variants.py.")


def meta(name, family, imitates, model_name, **extra):
    m = {"name": name, "demo": True, "family": family,
         "description": f"Demo model with the interface of {imitates}. " + NOT_SAM.format(model=model_name)}
    m.update(extra)
    return m


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    sam2_enc = make_sam2_encoder()
    write(root, "models/demo-sam2/encoder.onnx", sam2_enc)
    write(root, "models/demo-sam2/decoder.onnx", make_sam2_decoder())
    write(root, "models/demo-sam2/model.json", meta(
        "samcache demo, SAM 2.1 interface (not SAM)", "sam2",
        "SAM 2.1 as exported by samexporter (image stretched to 1024x1024, ImageNet mean/std; "
        "high_res_feats_0/1 + image_embed; 3 low-res masks)", "SAM 2", num_masks=3))
    write(root, "models/demo-sam2-full-size/encoder.onnx", sam2_enc)
    write(root, "models/demo-sam2-full-size/decoder.onnx", make_sam2_full_size_decoder())
    write(root, "models/demo-sam2-full-size/model.json", meta(
        "samcache demo, SAM 2 full-size interface (not SAM)", "sam2-full-size",
        "SAM 2 as exported for ONNX-SAM2-Segment-Anything (samexporter's encoder; the decoder takes "
        "orig_im_size int32 and returns masks at the original size)", "SAM 2", num_masks=3))
    write(root, "models/demo-efficientsam/encoder.onnx", make_efficientsam_encoder())
    write(root, "models/demo-efficientsam/decoder.onnx", make_efficientsam_decoder())
    write(root, "models/demo-efficientsam/model.json", meta(
        "samcache demo, EfficientSAM interface (not EfficientSAM)", "efficientsam",
        "EfficientSAM's own ONNX export (RGB 0..1 at the image's size, points in original pixels, "
        "3 masks at the original size)", "EfficientSAM", num_masks=3))
    write(root, "models/demo-edgesam/encoder.onnx", make_sam1_encoder(extra_interm=False))
    write(root, "models/demo-edgesam/decoder.onnx", make_edgesam_decoder())
    write(root, "models/demo-edgesam/model.json", meta(
        "samcache demo, EdgeSAM interface (not EdgeSAM)", "edgesam",
        "EdgeSAM's scripts/export_onnx_model.py (SAM 1 preprocessing; the decoder takes only "
        "image_embeddings, point_coords, point_labels and returns scores and 4 low-res masks)", "EdgeSAM",
        encoder_input="nchw", pixel_mean=PIXEL_MEAN, pixel_std=PIXEL_STD, num_masks=4))
    write(root, "models/demo-samhq/encoder.onnx", make_sam1_encoder(extra_interm=True))
    write(root, "models/demo-samhq/decoder.onnx", make_samhq_decoder())
    write(root, "models/demo-samhq/model.json", meta(
        "samcache demo, SAM-HQ interface (not SAM-HQ)", "sam-hq",
        "SAM-HQ ViT-B's scripts/export_onnx_model.py (the official SAM decoder signature plus "
        "interm_embeddings [4,1,64,64,768]; one mask)", "SAM-HQ",
        encoder_input="nchw", pixel_mean=PIXEL_MEAN, pixel_std=PIXEL_STD, num_masks=1))


if __name__ == "__main__":
    main()
