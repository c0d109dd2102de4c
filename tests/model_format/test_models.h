// Small models shared by the model_format tests.
#ifndef SERENITY_TESTS_MODEL_FORMAT_TEST_MODELS_H_
#define SERENITY_TESTS_MODEL_FORMAT_TEST_MODELS_H_

#include <cstdint>
#include <string>
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

inline std::vector<uint8_t> FinishOrDie(const ModelBuilder& b) {
  Result<std::vector<uint8_t>> bytes = b.Finish();
  return std::move(bytes).value();
}

}  // namespace serenity::testing

#endif  // SERENITY_TESTS_MODEL_FORMAT_TEST_MODELS_H_
