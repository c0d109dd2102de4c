// Small models shared by the model_format tests.
#ifndef SERENITY_TESTS_MODEL_FORMAT_TEST_MODELS_H_
#define SERENITY_TESTS_MODEL_FORMAT_TEST_MODELS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "serenity/model_format/model.h"

namespace serenity::testing {

inline std::vector<float> Iota(size_t count, float start = 0.0f) {
  std::vector<float> values(count);
  for (size_t i = 0; i < count; ++i) values[i] = start + 0.25f * i;
  return values;
}

// x [1,8,8,3] -> conv 3x3 (4 out, pad 1, relu) -> y [1,8,8,4]
//             -> maxpool 2x2 s2 -> p [1,4,4,4] -> out
inline ModelBuilder TinyConvNet() {
  ModelBuilder b("tiny");
  int x = b.AddInput("x", {1, 8, 8, 3});
  int w = b.AddConstant("conv/w", {4, 3, 3, 3}, Iota(4 * 3 * 3 * 3));
  int bias = b.AddConstant("conv/b", {4}, Iota(4));
  int y = b.AddActivation("conv/y", {1, 8, 8, 4});
  Conv2DAttrs conv;
  conv.pad_top = conv.pad_bottom = conv.pad_left = conv.pad_right = 1;
  conv.activation = Activation::kRelu;
  b.AddOperator(OpType::kConv2D, "conv", {x, w, bias}, {y}, conv);
  int p = b.AddActivation("pool/y", {1, 4, 4, 4});
  Pool2DAttrs pool;
  pool.filter_h = pool.filter_w = 2;
  pool.stride_h = pool.stride_w = 2;
  b.AddOperator(OpType::kMaxPool2D, "pool", {y}, {p}, pool);
  b.MarkOutput(p);
  return b;
}

// One model that uses every operator type and every option field with a
// non-default value. Shapes are worked out by hand in the comments.
struct EveryOp {
  ModelBuilder b{"every_op"};
  Conv2DAttrs conv, depthwise;
  Pool2DAttrs max_pool, avg_pool;
  ResizeBilinearAttrs resize;
  ClampAttrs clamp;
  PadAttrs pad;
  SliceAttrs slice;
  ReshapeAttrs reshape;

  EveryOp() {
    b.SetDescription("all ops");
    b.AddMetadata("author", "tests");
    b.AddMetadata("seed", "7");
    int x = b.AddInput("x", {1, 8, 8, 4});
    // Grouped conv 3x3, stride 2, pad 1: (8 + 2 - 3) / 2 + 1 = 4.
    conv.stride_h = conv.stride_w = 2;
    conv.pad_top = conv.pad_bottom = conv.pad_left = conv.pad_right = 1;
    conv.groups = 2;
    conv.activation = Activation::kRelu6;
    int w1 = b.AddConstant("c1/w", {8, 3, 3, 2}, Iota(8 * 9 * 2));
    int b1 = b.AddConstant("c1/b", {8}, Iota(8));
    int c1 = b.AddActivation("c1", {1, 4, 4, 8});
    b.AddOperator(OpType::kConv2D, "c1", {x, w1, b1}, {c1}, conv);
    // Depthwise 3x3, dilation 2 (extent 5), pad 2: (4 + 4 - 5) / 1 + 1 = 4.
    depthwise.dilation_h = depthwise.dilation_w = 2;
    depthwise.pad_top = depthwise.pad_bottom = 2;
    depthwise.pad_left = depthwise.pad_right = 2;
    depthwise.groups = 8;
    depthwise.activation = Activation::kRelu;
    int w2 = b.AddConstant("c2/w", {8, 3, 3, 1}, Iota(8 * 9));
    int c2 = b.AddActivation("c2", {1, 4, 4, 8});
    b.AddOperator(OpType::kConv2D, "c2", {c1, w2, -1}, {c2}, depthwise);
    // Max pool 3x3 s1 pad 1: 4.
    max_pool.filter_h = max_pool.filter_w = 3;
    max_pool.pad_top = max_pool.pad_bottom = max_pool.pad_left =
        max_pool.pad_right = 1;
    int mp = b.AddActivation("mp", {1, 4, 4, 8});
    b.AddOperator(OpType::kMaxPool2D, "mp", {c2}, {mp}, max_pool);
    // Average pool 2x2 s2 pad (1,0,0,1) counting padding: (4+1-2)/2+1 = 2.
    avg_pool.filter_h = avg_pool.filter_w = 2;
    avg_pool.stride_h = avg_pool.stride_w = 2;
    avg_pool.pad_top = 1;
    avg_pool.pad_right = 1;
    avg_pool.count_include_pad = true;
    int ap = b.AddActivation("ap", {1, 2, 2, 8});
    b.AddOperator(OpType::kAveragePool2D, "ap", {mp}, {ap}, avg_pool);
    resize.align_corners = true;
    resize.half_pixel_centers = false;
    int rs = b.AddActivation("rs", {1, 4, 4, 8});
    b.AddOperator(OpType::kResizeBilinear, "rs", {ap}, {rs}, resize);
    int a2 = b.AddActivation("add2", {1, 4, 4, 8});
    b.AddOperator(OpType::kAdd, "add2", {mp, rs}, {a2},
                  ElementwiseAttrs{Activation::kRelu});
    int a3 = b.AddActivation("add3", {1, 4, 4, 8});
    b.AddOperator(OpType::kAdd, "add3", {a2, c2, mp}, {a3}, ElementwiseAttrs{});
    int scale = b.AddConstant("scale", {8}, Iota(8, 1.0f));
    int mu = b.AddActivation("mul", {1, 4, 4, 8});
    b.AddOperator(OpType::kMul, "mul", {a3, scale}, {mu},
                  ElementwiseAttrs{Activation::kRelu6});
    int cat = b.AddActivation("cat", {1, 4, 4, 16});
    b.AddOperator(OpType::kConcat, "cat", {mu, c1}, {cat}, ConcatAttrs{-1});
    int r = b.AddActivation("relu", {1, 4, 4, 16});
    b.AddOperator(OpType::kRelu, "relu", {cat}, {r});
    clamp.min = -1.5f;
    clamp.max = 2.5f;
    int cl = b.AddActivation("clamp", {1, 4, 4, 16});
    b.AddOperator(OpType::kClamp, "clamp", {r}, {cl}, clamp);
    int sg = b.AddActivation("sigmoid", {1, 4, 4, 16});
    b.AddOperator(OpType::kSigmoid, "sigmoid", {cl}, {sg});
    int hs = b.AddActivation("hswish", {1, 4, 4, 16});
    b.AddOperator(OpType::kHardSwish, "hswish", {sg}, {hs});
    pad.paddings = {0, 0, 1, 2, 2, 1, 0, 0};
    pad.value = -3.0f;
    int pd = b.AddActivation("pad", {1, 7, 7, 16});
    b.AddOperator(OpType::kPad, "pad", {hs}, {pd}, pad);
    slice.begin = {0, 1, 2, 0};
    slice.size = {-1, 4, 5, -1};
    int sl = b.AddActivation("slice", {1, 4, 5, 16});
    b.AddOperator(OpType::kSlice, "slice", {pd}, {sl}, slice);
    int gp = b.AddActivation("gap", {1, 1, 1, 16});
    b.AddOperator(OpType::kGlobalAveragePool, "gap", {sl}, {gp});
    reshape.new_shape = {1, 16};
    int fl = b.AddActivation("flat", {1, 16});
    b.AddOperator(OpType::kReshape, "flat", {gp}, {fl}, reshape);
    int fw = b.AddConstant("fc/w", {10, 16}, Iota(160));
    int fb = b.AddConstant("fc/b", {10}, Iota(10));
    int fc = b.AddActivation("fc", {1, 10});
    b.AddOperator(OpType::kFullyConnected, "fc", {fl, fw, fb}, {fc},
                  FullyConnectedAttrs{Activation::kRelu});
    int sm = b.AddActivation("softmax", {1, 10});
    b.AddOperator(OpType::kSoftmax, "softmax", {fc}, {sm}, SoftmaxAttrs{-1});
    b.MarkOutput(sm);
    b.MarkOutput(fc);
  }
};

inline std::vector<uint8_t> FinishOrDie(const ModelBuilder& b) {
  Result<std::vector<uint8_t>> bytes = b.Finish();
  return std::move(bytes).value();
}

}  // namespace serenity::testing

#endif  // SERENITY_TESTS_MODEL_FORMAT_TEST_MODELS_H_
