#!/usr/bin/python3
"""Generate a deliberately slow copy of samcache's demo model, for benchmarks only.

The demo encoder (models/demo/encoder.onnx) is a few pooling ops: about 7 ms per image,
cheaper than decoding and preprocessing a photo. Real SAM encoders take seconds per image
on a CPU, and what a prewarm pipeline can hide (decode and preprocess of the next image
while the encoder runs) depends on that ratio. This script writes a model folder whose
encoder has the demo encoder's exact interface and output channels 0..95 (so the demo
decoder segments exactly as with the demo model), plus a stack of 3x3 convolutions on the
64x64 feature map whose result fills the reserved channels 96..255, which the decoder
ignores. The convolutions are real compute (He-initialised weights from a fixed seed, ReLU)
that ONNX Runtime cannot fold away; their number sets the cost of one encoder run.

Cost: one 3x3 convolution C -> C on 64x64 is 64*64*C*C*9*2 FLOP (4.8 GFLOP for C = 256).
SAM ViT-B's image encoder is about 370 GMAC (740 GFLOP); the default here (10 layers of 256
channels, about 45 GFLOP) is a fraction of that, so a benchmark stays short.

Writes OUT_DIR/{encoder.onnx, decoder.onnx, model.json}; decoder.onnx is copied from
models/demo, model.json is the demo's with another name. The output is deterministic for
given options; with the default options encoder.onnx is about 22 MB, so it is generated
when needed (bench/prewarm_bench does) and never committed.

  /usr/bin/python3 tools/demo_model/make_slow_encoder.py OUT_DIR [--layers 10] [--channels 256]

Needs Debian's python3-onnx (and numpy), like make_demo_model.py.
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_demo_model as demo  # noqa: E402  (the graph builder and the demo's constants)

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DEMO_DIR = os.path.join(REPO, "models", "demo")
SEED = 20240404
DEMO_CHANNELS = 96   # colour (48) + texture (48): what the demo decoder reads


def conv(g, x, rng, c_in, c_out, relu):
    fan_in = c_in * 9
    w = rng.standard_normal((c_out, c_in, 3, 3)).astype(np.float32) * np.float32(np.sqrt(2.0 / fan_in))
    b = np.zeros((c_out,), np.float32)
    y = g.op("Conv", [x, g.const(w, hint="w"), g.const(b, hint="b")], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    return g.op("Relu", [y]) if relu else y


def make_slow_encoder(layers, channels):
    """The demo encoder's body, with `layers` 3x3 convolutions filling channels 96..255."""
    g = demo.G("e_")
    x = "image"
    c = g.op("AveragePool", [x], "colour", kernel_shape=[4, 4], strides=[4, 4])
    x2 = g.op("Mul", [x, x])
    m2 = g.op("AveragePool", [x2], kernel_shape=[4, 4], strides=[4, 4])
    var = g.op("Max", [g.op("Sub", [m2, g.op("Mul", [c, c])]), g.const(0.0)])
    std = g.op("Sqrt", [var])
    tex = g.op("AveragePool", [std], "texture", kernel_shape=[3, 3], strides=[1, 1],
               pads=[1, 1, 1, 1], count_include_pad=0)
    cs = g.op("SpaceToDepth", [c], blocksize=4)      # [1,48,64,64]
    ts = g.op("SpaceToDepth", [tex], blocksize=4)    # [1,48,64,64]
    features = g.op("Concat", [cs, ts], axis=1)      # [1,96,64,64]: the demo's channels

    rng = np.random.default_rng(SEED)
    h = conv(g, features, rng, DEMO_CHANNELS, channels, relu=True)
    for _ in range(layers - 1):
        h = conv(g, h, rng, channels, channels, relu=True)
    # A 1x1 projection to the reserved channels, which the decoder ignores.
    w = rng.standard_normal((demo.EMB_C - DEMO_CHANNELS, channels, 1, 1)).astype(np.float32)
    w *= np.float32(np.sqrt(1.0 / channels))
    h = g.op("Conv", [h, g.const(w, hint="w")], kernel_shape=[1, 1])
    g.op("Concat", [features, h], axis=1)
    g.nodes[-1].output[0] = "image_embeddings"

    inp = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, demo.IMG, demo.IMG])
    out = helper.make_tensor_value_info("image_embeddings", TensorProto.FLOAT, [1, demo.EMB_C, "emb_h", "emb_w"])
    graph = helper.make_graph(g.nodes, "samcache_slow_demo_encoder", [inp], [out], g.inits)
    model = demo.finish(graph, "encoder")
    model.doc_string = (f"samcache slow demo encoder for benchmarks: the demo encoder plus {layers} 3x3 "
                        f"convolutions of {channels} channels on the 64x64 map. NOT SAM.")
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--layers", type=int, default=10, help="3x3 convolutions on the 64x64 map (>= 1)")
    parser.add_argument("--channels", type=int, default=256, help="channels of each convolution")
    args = parser.parse_args()
    if args.layers < 1 or args.channels < 1:
        parser.error("--layers and --channels must be positive")

    os.makedirs(args.out_dir, exist_ok=True)
    model = make_slow_encoder(args.layers, args.channels)
    with open(os.path.join(args.out_dir, "encoder.onnx"), "wb") as f:
        f.write(model.SerializeToString())
    shutil.copyfile(os.path.join(DEMO_DIR, "decoder.onnx"), os.path.join(args.out_dir, "decoder.onnx"))
    with open(os.path.join(DEMO_DIR, "model.json")) as f:
        meta = json.load(f)
    gflop = 2 * 64 * 64 * 9 * (DEMO_CHANNELS * args.channels + (args.layers - 1) * args.channels ** 2) / 1e9
    meta["name"] = f"samcache slow demo ({args.layers}x conv3x3 {args.channels}, benchmark only - not SAM)"
    meta["description"] = (f"The demo model with a deliberately slow encoder ({args.layers} 3x3 convolutions of "
                           f"{args.channels} channels on the 64x64 map, about {gflop:.0f} GFLOP), written by "
                           "tools/demo_model/make_slow_encoder.py for benchmarks. Segments exactly as the demo "
                           "model. NOT Segment Anything.")
    with open(os.path.join(args.out_dir, "model.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    size = os.path.getsize(os.path.join(args.out_dir, "encoder.onnx"))
    print(f"wrote {args.out_dir}/encoder.onnx ({size} bytes, about {gflop:.1f} GFLOP per run), "
          "decoder.onnx, model.json")


if __name__ == "__main__":
    main()
