// Writes small valid .srn models into a directory: the reader fuzzer's seed
// corpus. Usage: make_seed_corpus DIR
#include <cstdio>
#include <string>
#include <vector>

#include "../test_models.h"
#include "serenity/model_format/model.h"

namespace serenity {
namespace {

ModelBuilder Relu() {
  ModelBuilder b("relu");
  int x = b.AddInput("x", {1, 4});
  int y = b.AddActivation("y", {1, 4});
  b.AddOperator(OpType::kRelu, "act", {x}, {y});
  b.MarkOutput(y);
  return b;
}

// Two branches joined by a concat and a 3-input add: the shape of a NAS cell.
ModelBuilder Cell() {
  ModelBuilder b("cell");
  int x = b.AddInput("x", {1, 6, 6, 4});
  int w = b.AddConstant("dw/w", {4, 3, 3, 1}, testing::Iota(36));
  Conv2DAttrs dw;
  dw.groups = 4;
  dw.pad_top = dw.pad_bottom = dw.pad_left = dw.pad_right = 1;
  int a = b.AddActivation("dw", {1, 6, 6, 4});
  b.AddOperator(OpType::kConv2D, "dw", {x, w, -1}, {a}, dw);
  Pool2DAttrs pool;
  pool.filter_h = pool.filter_w = 3;
  pool.pad_top = pool.pad_bottom = pool.pad_left = pool.pad_right = 1;
  int p = b.AddActivation("pool", {1, 6, 6, 4});
  b.AddOperator(OpType::kAveragePool2D, "pool", {x}, {p}, pool);
  int s = b.AddActivation("sum", {1, 6, 6, 4});
  b.AddOperator(OpType::kAdd, "sum", {a, p, x}, {s}, ElementwiseAttrs{});
  int c = b.AddActivation("cat", {1, 6, 6, 8});
  b.AddOperator(OpType::kConcat, "cat", {s, a}, {c}, ConcatAttrs{3});
  b.MarkOutput(c);
  StoredPlan plan;
  plan.order = {0, 1, 2, 3};
  plan.rewrites = {{"in_place", {2}}};
  plan.tensor_offsets = {0, 0, 576, 1152, 0, 1728};
  plan.arena_bytes = 2304;
  b.SetPlan(plan);
  b.AddMetadata("source", "make_seed_corpus");
  return b;
}

}  // namespace
}  // namespace serenity

int main(int argc, char** argv) {
  using namespace serenity;
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seed_corpus DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  testing::EveryOp every;
  const std::vector<std::pair<std::string, const ModelBuilder*>> models = {
      {"relu.srn", nullptr}, {"tiny_conv.srn", nullptr},
      {"cell.srn", nullptr}, {"every_op.srn", &every.b}};
  ModelBuilder relu = Relu(), tiny = testing::TinyConvNet(), cell = Cell();
  const ModelBuilder* builders[] = {&relu, &tiny, &cell, &every.b};
  for (size_t i = 0; i < models.size(); ++i) {
    Result<std::vector<uint8_t>> bytes = builders[i]->Finish();
    if (!bytes.ok()) {
      std::fprintf(stderr, "%s\n", bytes.status().ToString().c_str());
      return 1;
    }
    // Each seed must be valid, or the fuzzer starts from rejected inputs.
    Result<Model> check = Model::FromBuffer(bytes->data(), bytes->size());
    if (!check.ok()) {
      std::fprintf(stderr, "%s: %s\n", models[i].first.c_str(),
                   check.status().ToString().c_str());
      return 1;
    }
    Status written = WriteFileAtomically(dir + "/" + models[i].first, *bytes);
    if (!written.ok()) {
      std::fprintf(stderr, "%s\n", written.ToString().c_str());
      return 1;
    }
  }
  return 0;
}
