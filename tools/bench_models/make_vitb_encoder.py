#!/usr/bin/python3
"""Generate a ViT-B-shaped SAM image encoder with random weights, for benchmarks only.

SAM's ViT-B image encoder, layer for layer in shape and cost, seeded random weights:
  patch embed   Conv 16x16 stride 16, 3 -> 768, on image [1,3,1024,1024] -> 64x64 tokens
  pos embed     + [1,64,64,768]
  12 blocks     x += Attn(LN(x)); x += MLP(LN(x)); 12 heads of 64, MLP 768 -> 3072 -> 768 (GELU)
                attention in 14x14 windows (64x64 padded to 70x70: 25 windows of 196 tokens),
                global (4096 tokens) in blocks 2, 5, 8 and 11
  neck          Conv 1x1 768 -> 256, LayerNorm2d, Conv 3x3 256 -> 256, LayerNorm2d
                -> image_embeddings [1,256,64,64]
Simplified: no decomposed relative position bias inside attention (SAM adds two small
einsums per block, a few percent of the cost); everything else is as SAM's export computes it.
Weights ~ N(0, 0.02) from a fixed seed, so the output is deterministic and meaningless.

  /usr/bin/python3 tools/bench_models/make_vitb_encoder.py OUT.onnx [--blocks 12] [--seed 1]

About 360 MB: generated at bench time (bench/encoder_floor_bench does), never committed.
Needs Debian's python3-onnx (and numpy).
"""
import argparse

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

WIDTH, HEADS, MLP, OUT_CHANS = 768, 12, 3072, 256
GRID, WINDOW, GLOBAL_BLOCKS = 64, 14, (2, 5, 8, 11)


class Graph:
    """Collects nodes and initializers; every helper returns its output's name."""

    def __init__(self, seed):
        self.nodes, self.inits, self.rng, self.count = [], [], np.random.default_rng(seed), 0

    def name(self, hint):
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, hint, array):
        n = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(array), n))
        return n

    def weight(self, hint, shape, std=0.02):
        return self.const(hint, (self.rng.standard_normal(shape) * std).astype(np.float32))

    def op(self, op_type, inputs, **attrs):
        out = self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def ints(self, values):
        return self.const("shape", np.array(values, dtype=np.int64))

    def layer_norm(self, x, width, axis=-1):
        return self.op("LayerNormalization",
                       [x, self.const("ln_g", np.ones(width, np.float32)),
                        self.const("ln_b", np.zeros(width, np.float32))],
                       axis=axis, epsilon=1e-6)

    def linear(self, x, fan_in, fan_out):
        y = self.op("MatMul", [x, self.weight("w", (fan_in, fan_out))])
        return self.op("Add", [y, self.weight("b", (fan_out,))])

    def gelu(self, x):  # exact GELU as opset 17 spells it; ORT fuses it back into Gelu
        e = self.op("Erf", [self.op("Div", [x, self.const("s2", np.float32(np.sqrt(2.0)))])])
        e = self.op("Add", [e, self.const("one", np.float32(1.0))])
        return self.op("Mul", [self.op("Mul", [x, e]), self.const("half", np.float32(0.5))])


def attention(g, x, groups, tokens):
    """x [groups, tokens, 768] -> multi-head self-attention, same shape."""
    qkv = g.linear(x, WIDTH, 3 * WIDTH)
    qkv = g.op("Reshape", [qkv, g.ints([groups, tokens, 3, HEADS, WIDTH // HEADS])])
    qkv = g.op("Transpose", [qkv], perm=[2, 0, 3, 1, 4])  # [3, groups, heads, tokens, 64]
    q, k, v = (g.op("Gather", [qkv, g.const("i", np.array(i, np.int64))], axis=0) for i in range(3))
    scores = g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])])
    scores = g.op("Mul", [scores, g.const("scale", np.float32((WIDTH // HEADS) ** -0.5))])
    out = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v])
    out = g.op("Transpose", [out], perm=[0, 2, 1, 3])
    out = g.op("Reshape", [out, g.ints([groups, tokens, WIDTH])])
    return g.linear(out, WIDTH, WIDTH)


def block(g, x, global_attention):
    """x [1, 64, 64, 768] (channels last, as SAM's blocks)."""
    h = g.layer_norm(x, WIDTH)
    if global_attention:
        h = attention(g, g.op("Reshape", [h, g.ints([1, GRID * GRID, WIDTH])]), 1, GRID * GRID)
        h = g.op("Reshape", [h, g.ints([1, GRID, GRID, WIDTH])])
    else:
        padded = -(-GRID // WINDOW) * WINDOW  # 70
        n = padded // WINDOW
        h = g.op("Pad", [h, g.ints([0, 0, 0, 0, 0, padded - GRID, padded - GRID, 0])])
        h = g.op("Reshape", [h, g.ints([1, n, WINDOW, n, WINDOW, WIDTH])])
        h = g.op("Transpose", [h], perm=[0, 1, 3, 2, 4, 5])
        h = attention(g, g.op("Reshape", [h, g.ints([n * n, WINDOW * WINDOW, WIDTH])]), n * n,
                      WINDOW * WINDOW)
        h = g.op("Reshape", [h, g.ints([1, n, n, WINDOW, WINDOW, WIDTH])])
        h = g.op("Transpose", [h], perm=[0, 1, 3, 2, 4, 5])
        h = g.op("Reshape", [h, g.ints([1, padded, padded, WIDTH])])
        h = g.op("Slice", [h, g.ints([0, 0]), g.ints([GRID, GRID]), g.ints([1, 2])])
    x = g.op("Add", [x, h])
    h = g.linear(g.layer_norm(x, WIDTH), WIDTH, MLP)
    h = g.linear(g.gelu(h), MLP, WIDTH)
    return g.op("Add", [x, h])


def layer_norm_2d(g, x, channels):
    """SAM's LayerNorm2d: over the channels of [1, C, H, W]."""
    x = g.op("Transpose", [x], perm=[0, 2, 3, 1])
    return g.op("Transpose", [g.layer_norm(x, channels)], perm=[0, 3, 1, 2])


def build(blocks, seed):
    g = Graph(seed)
    x = g.op("Conv", ["image", g.weight("patch_w", (WIDTH, 3, 16, 16)), g.weight("patch_b", (WIDTH,))],
             kernel_shape=[16, 16], strides=[16, 16])
    x = g.op("Transpose", [x], perm=[0, 2, 3, 1])  # [1, 64, 64, 768]
    x = g.op("Add", [x, g.weight("pos_embed", (1, GRID, GRID, WIDTH))])
    for i in range(blocks):
        x = block(g, x, i in GLOBAL_BLOCKS)
    x = g.op("Transpose", [x], perm=[0, 3, 1, 2])
    x = g.op("Conv", [x, g.weight("neck1", (OUT_CHANS, WIDTH, 1, 1))], kernel_shape=[1, 1])
    x = layer_norm_2d(g, x, OUT_CHANS)
    x = g.op("Conv", [x, g.weight("neck2", (OUT_CHANS, OUT_CHANS, 3, 3))], kernel_shape=[3, 3],
             pads=[1, 1, 1, 1])
    x = layer_norm_2d(g, x, OUT_CHANS)
    g.nodes.append(helper.make_node("Identity", [x], ["image_embeddings"]))
    graph = helper.make_graph(
        g.nodes, "vit_b_image_encoder",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 1024, 1024])],
        [helper.make_tensor_value_info("image_embeddings", TensorProto.FLOAT, [1, OUT_CHANS, GRID, GRID])],
        g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="samcache make_vitb_encoder.py")
    model.ir_version = 8
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", help="the encoder .onnx file to write")
    parser.add_argument("--blocks", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    model = build(args.blocks, args.seed)
    onnx.checker.check_model(model)
    onnx.save(model, args.out)
    print(f"wrote {args.out}: {args.blocks} blocks")


if __name__ == "__main__":
    main()
