// Helpers shared by the runtime tests that drive an Engine.
#ifndef SERENITY_TESTS_RUNTIME_ENGINE_TESTING_H_
#define SERENITY_TESTS_RUNTIME_ENGINE_TESTING_H_

#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "serenity/engine.h"
#include "test_models.h"

namespace serenity::runtime_testing {

// Sets every input through SetInput (boundary layout), invokes once, and
// returns every output through GetOutput; failures are test failures.
inline std::vector<std::vector<float>> RunEngine(
    Engine& engine, const std::vector<std::vector<float>>& inputs) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    Status status = engine.SetInput(static_cast<int>(i), inputs[i].data(), inputs[i].size());
    EXPECT_TRUE(status.ok()) << status.ToString();
  }
  Status status = engine.Invoke();
  EXPECT_TRUE(status.ok()) << status.ToString();
  std::vector<std::vector<float>> outputs;
  for (int i = 0; i < engine.num_outputs(); ++i) {
    std::vector<float> values(engine.output(i)->num_elements);
    status = engine.GetOutput(i, values.data(), values.size());
    EXPECT_TRUE(status.ok()) << status.ToString();
    outputs.push_back(std::move(values));
  }
  return outputs;
}

// BuildModel, with a failure of the calling test when the model does not
// build.
inline Model LoadOrDie(const ModelBuilder& builder) {
  Result<Model> model = BuildModel(builder);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return std::move(model).value();
}

}  // namespace serenity::runtime_testing

#endif  // SERENITY_TESTS_RUNTIME_ENGINE_TESTING_H_
