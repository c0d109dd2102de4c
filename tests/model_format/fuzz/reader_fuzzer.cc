// libFuzzer target for the .srn reader.
//
// Beyond "no crash": whatever the reader accepts must be internally
// consistent (shape inference agrees with every stored shape) and must
// survive a rewrite through ModelBuilder with the same graph hash.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "serenity/model_format/model.h"

namespace {

[[noreturn]] void Fail(const char* what, const serenity::Status& status) {
  std::fprintf(stderr, "reader_fuzzer: %s: %s\n", what,
               status.ToString().c_str());
  std::abort();
}

void CheckAccepted(const serenity::Model& model) {
  using namespace serenity;
  for (const Operator& op : model.operators()) {
    std::vector<std::vector<int64_t>> shapes;
    std::vector<const Tensor*> inputs;
    for (int t : op.inputs) {
      inputs.push_back(t < 0 ? nullptr : &model.tensors()[t]);
      shapes.push_back(t < 0 ? std::vector<int64_t>{} : model.tensors()[t].shape);
    }
    Result<std::vector<std::vector<int64_t>>> out =
        InferOutputShapes(op, shapes, inputs);
    if (!out.ok()) Fail("accepted operator fails shape inference", out.status());
    for (size_t k = 0; k < op.outputs.size() && k < out->size(); ++k) {
      if ((*out)[k] != model.tensors()[op.outputs[k]].shape) {
        Fail("accepted operator disagrees with its output shape", Status());
      }
    }
  }
  Result<std::vector<uint8_t>> bytes = ModelBuilder::FromModel(model).Finish();
  if (!bytes.ok()) Fail("cannot rewrite an accepted model", bytes.status());
  Result<Model> again = Model::FromBuffer(bytes->data(), bytes->size());
  if (!again.ok()) Fail("rewritten model rejected", again.status());
  if (again->GraphHash() != model.GraphHash()) {
    Fail("rewritten model has another graph hash", Status());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  serenity::Result<serenity::Model> model =
      serenity::Model::FromBuffer(data, size, "fuzz");
  if (model.ok()) {
    CheckAccepted(*model);
  } else if (model.status().message().empty()) {
    Fail("error without a message", model.status());
  }
  return 0;
}
