// Small models for the runtime tests, built with ModelBuilder.
#ifndef SERENITY_TESTS_RUNTIME_TEST_MODELS_H_
#define SERENITY_TESTS_RUNTIME_TEST_MODELS_H_

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "serenity/model_format/model.h"

namespace serenity::runtime_testing {

// Deterministic values in about [-scale, scale].
inline std::vector<float> Pattern(size_t count, float seed, float scale = 0.5f) {
  std::vector<float> values(count);
  for (size_t i = 0; i < count; ++i) {
    values[i] = scale * std::sin(seed + 0.7311f * static_cast<float>(i) +
                                 0.013f * static_cast<float>(i * i % 97));
  }
  return values;
}

inline int Conv(ModelBuilder& b, const std::string& name, int x, int in_channels,
                int out_channels, int kernel, int h, int w, Activation activation, float seed) {
  const int fan_in = in_channels * kernel * kernel;
  int weights = b.AddConstant(
      name + "/w", {out_channels, kernel, kernel, in_channels},
      Pattern(static_cast<size_t>(out_channels) * fan_in, seed, 1.5f / std::sqrt(fan_in)));
  int bias = b.AddConstant(name + "/b", {out_channels}, Pattern(out_channels, seed + 1, 0.1f));
  int y = b.AddActivation(name + "/y", {1, h, w, out_channels});
  Conv2DAttrs attrs;
  attrs.pad_top = attrs.pad_bottom = attrs.pad_left = attrs.pad_right = kernel / 2;
  attrs.activation = activation;
  b.AddOperator(OpType::kConv2D, name, {x, weights, bias}, {y}, attrs);
  return y;
}

// An irregular net whose stored order is memory-hungry: three wide branches
// are all computed before any of them is narrowed, so the optimal order
// (narrow each branch right away) has a clearly smaller peak.
//
//   image [1,8,8,4] -> 3x { wide_i 1x1 -> 32ch, relu; narrow_i 3x3 -> 2ch }
//   concat(narrow_*) [1,8,8,6] -> mix 1x1 -> 8ch
//   skip 1x1 (image) -> 8ch;  sum = mix + skip (relu)
//   pooled = maxpool 2x2 (sum) [1,4,4,8]          (output 1)
//   gap -> reshape [1,8] -> fc -> logits [1,10]   (output 0)
inline ModelBuilder BranchyNet(const std::string& io_layout = "") {
  ModelBuilder b("branchy");
  if (!io_layout.empty()) b.AddMetadata("serenity.io_layout", io_layout);
  const int image = b.AddInput("image", {1, 8, 8, 4});
  std::vector<int> wide, narrow;
  for (int i = 0; i < 3; ++i) {
    wide.push_back(Conv(b, "wide" + std::to_string(i), image, 4, 32, 1, 8, 8, Activation::kRelu,
                        1.0f + i));
  }
  for (int i = 0; i < 3; ++i) {
    narrow.push_back(Conv(b, "narrow" + std::to_string(i), wide[i], 32, 2, 3, 8, 8,
                          Activation::kNone, 5.0f + i));
  }
  const int cat = b.AddActivation("concat/y", {1, 8, 8, 6});
  ConcatAttrs concat;
  concat.axis = 3;
  b.AddOperator(OpType::kConcat, "concat", narrow, {cat}, concat);
  const int mix = Conv(b, "mix", cat, 6, 8, 1, 8, 8, Activation::kNone, 9.0f);
  const int skip = Conv(b, "skip", image, 4, 8, 1, 8, 8, Activation::kNone, 11.0f);
  const int sum = b.AddActivation("sum/y", {1, 8, 8, 8});
  ElementwiseAttrs add;
  add.activation = Activation::kRelu;
  b.AddOperator(OpType::kAdd, "sum", {mix, skip}, {sum}, add);
  const int pooled = b.AddActivation("pooled", {1, 4, 4, 8});
  Pool2DAttrs pool;
  pool.filter_h = pool.filter_w = 2;
  pool.stride_h = pool.stride_w = 2;
  b.AddOperator(OpType::kMaxPool2D, "pool", {sum}, {pooled}, pool);
  const int gap = b.AddActivation("gap/y", {1, 1, 1, 8});
  b.AddOperator(OpType::kGlobalAveragePool, "gap", {pooled}, {gap});
  const int flat = b.AddActivation("flat/y", {1, 8});
  ReshapeAttrs reshape;
  reshape.new_shape = {1, 8};
  b.AddOperator(OpType::kReshape, "flat", {gap}, {flat}, reshape);
  const int fc_w = b.AddConstant("fc/w", {10, 8}, Pattern(80, 13.0f, 0.5f));
  const int fc_b = b.AddConstant("fc/b", {10}, Pattern(10, 14.0f, 0.1f));
  const int logits = b.AddActivation("logits", {1, 10});
  b.AddOperator(OpType::kFullyConnected, "fc", {flat, fc_w, fc_b}, {logits},
                FullyConnectedAttrs{});
  b.MarkOutput(logits);
  b.MarkOutput(pooled);
  return b;
}

// Two inputs: a, b [1,4,4,3] -> sum -> conv 3x3 -> out [1,4,4,5].
inline ModelBuilder TwoInputNet() {
  ModelBuilder b("two_inputs");
  const int a = b.AddInput("a", {1, 4, 4, 3});
  const int c = b.AddInput("b", {1, 4, 4, 3});
  const int sum = b.AddActivation("sum", {1, 4, 4, 3});
  b.AddOperator(OpType::kAdd, "add", {a, c}, {sum}, ElementwiseAttrs{});
  const int out = Conv(b, "conv", sum, 3, 5, 3, 4, 4, Activation::kNone, 3.0f);
  b.MarkOutput(out);
  return b;
}

inline Result<Model> BuildModel(const ModelBuilder& builder) {
  SERENITY_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, builder.Finish());
  return Model::FromBuffer(bytes.data(), bytes.size(), "test model");
}

}  // namespace serenity::runtime_testing

#endif  // SERENITY_TESTS_RUNTIME_TEST_MODELS_H_
