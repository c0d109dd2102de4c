// Helpers shared by the runtime tests that drive an Engine.
#ifndef SERENITY_TESTS_RUNTIME_ENGINE_TESTING_H_
#define SERENITY_TESTS_RUNTIME_ENGINE_TESTING_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "../../bench/operator_floor.h"
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

// Engine::ArenaBuffers(model, plan) against what the plan says on its own:
// live steps worked out here from the model and the order, extents from the
// placements (bench::PlacedSpanBytes, the operator floor's), the peak from the buffers; nothing
// from the engine's memory model. Failures are test failures.
inline void ExpectArenaBuffersAgree(const Model& model, const ExecutionPlan& plan) {
  Result<std::vector<ArenaBuffer>> buffers = Engine::ArenaBuffers(model, plan);
  ASSERT_TRUE(buffers.ok()) << buffers.status().ToString();
  const Model& run = plan.rewritten_model != nullptr ? *plan.rewritten_model : model;
  const std::vector<Tensor>& tensors = run.tensors();
  const int steps = static_cast<int>(plan.order.size());

  std::vector<int> step_of(run.operators().size());
  for (int s = 0; s < steps; ++s) step_of[plan.order[s]] = s;
  std::vector<int> first(tensors.size(), -1), last(tensors.size(), -1);
  for (int t : run.inputs()) first[t] = last[t] = 0;
  for (size_t o = 0; o < run.operators().size(); ++o) {
    for (int t : run.operators()[o].outputs) first[t] = last[t] = step_of[o];
  }
  for (size_t o = 0; o < run.operators().size(); ++o) {
    for (int t : run.operators()[o].inputs) {
      if (t >= 0 && !tensors[t].is_constant()) last[t] = std::max(last[t], step_of[o]);
    }
  }
  for (int t : run.outputs()) last[t] = steps - 1;

  std::vector<int> buffer_of(tensors.size(), -1);
  for (size_t b = 0; b < buffers->size(); ++b) {
    const ArenaBuffer& buffer = (*buffers)[b];
    ASSERT_FALSE(buffer.tensors.empty()) << "buffer " << b;
    int lo = steps, hi = -1;
    for (int t : buffer.tensors) {
      ASSERT_EQ(buffer_of[t], -1) << run.DescribeTensor(t) << " is in two buffers";
      buffer_of[t] = static_cast<int>(b);
      ASSERT_FALSE(tensors[t].is_constant()) << run.DescribeTensor(t);
      lo = std::min(lo, first[t]);
      hi = std::max(hi, last[t]);
      // The tensor's bytes, from its placement, lie inside the buffer.
      const TensorPlacement& where = plan.placements[t];
      const uint64_t extent = bench::PlacedSpanBytes(tensors[t], where);
      EXPECT_GE(static_cast<uint64_t>(where.offset), buffer.offset) << run.DescribeTensor(t);
      EXPECT_LE(where.offset + extent, buffer.offset + buffer.bytes) << run.DescribeTensor(t);
    }
    EXPECT_EQ(buffer.first_step, lo) << "buffer " << b;
    EXPECT_EQ(buffer.last_step, hi) << "buffer " << b;
    EXPECT_LE(buffer.offset + buffer.bytes, plan.memory.arena_bytes) << "buffer " << b;
  }
  for (size_t t = 0; t < tensors.size(); ++t) {
    if (!tensors[t].is_constant() && first[t] >= 0) {
      EXPECT_GE(buffer_of[t], 0) << run.DescribeTensor(static_cast<int>(t)) << " has no buffer";
    }
  }
  // Buffers live at a common step never share a byte.
  for (size_t a = 0; a < buffers->size(); ++a) {
    for (size_t b = a + 1; b < buffers->size(); ++b) {
      const ArenaBuffer& x = (*buffers)[a];
      const ArenaBuffer& y = (*buffers)[b];
      if (x.first_step > y.last_step || y.first_step > x.last_step) continue;
      if (x.bytes == 0 || y.bytes == 0) continue;
      EXPECT_TRUE(x.offset + x.bytes <= y.offset || y.offset + y.bytes <= x.offset)
          << "buffers " << a << " and " << b;
    }
  }
  // The peak is the largest total of the buffers live at one step.
  uint64_t peak = 0;
  for (int s = 0; s < steps; ++s) {
    uint64_t live = 0;
    for (const ArenaBuffer& buffer : *buffers) {
      if (buffer.first_step <= s && s <= buffer.last_step) live += buffer.bytes;
    }
    peak = std::max(peak, live);
  }
  EXPECT_EQ(peak, plan.memory.peak_bytes);
}

// BuildModel, with a failure of the calling test when the model does not
// build.
inline Model LoadOrDie(const ModelBuilder& builder) {
  Result<Model> model = BuildModel(builder);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return std::move(model).value();
}

// Options that plan every time: no plan cache, no stored plan.
inline EngineOptions NoCacheOptions() {
  EngineOptions options;
  options.plan_cache = PlanCacheMode::kOff;
  options.use_stored_plan = false;
  return options;
}

// Element by element within 1e-4 + 1e-4 * |expected| (reference kernels and
// the engine's accumulate in different orders); reports at most 5 elements.
inline void ExpectCloseTo(const std::vector<float>& actual, const std::vector<float>& expected,
                          const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < actual.size() && bad < 5; ++i) {
    if (!(std::fabs(actual[i] - expected[i]) <= 1e-4 + 1e-4 * std::fabs(expected[i]))) {
      ADD_FAILURE() << what << ": element " << i << " is " << actual[i] << ", expected "
                    << expected[i];
      ++bad;
    }
  }
}

// `model` with `plan` as its stored (ahead-of-time) plan.
inline Model WithStoredPlan(const Model& model, const StoredPlan& plan) {
  ModelBuilder builder = ModelBuilder::FromModel(model);
  builder.SetPlan(plan);
  return LoadOrDie(builder);
}

// A model's plan searched (no cache), stored as its ahead-of-time plan with
// `options` (which use the stored plan), and loaded again: `loaded` came from
// the stored plan and has the fresh plan's peak. Failures are test failures
// (`loaded` is then the fresh plan).
struct StoredRoundTrip {
  EngineOptions options;
  ExecutionPlan fresh;
  StoredPlan stored;
  ExecutionPlan loaded;
};
inline StoredRoundTrip RoundTripStoredPlan(const Model& model) {
  StoredRoundTrip trip;
  trip.options = NoCacheOptions();
  Result<ExecutionPlan> fresh = Engine::Prepare(model, trip.options);
  EXPECT_TRUE(fresh.ok()) << fresh.status().ToString();
  if (!fresh.ok()) return trip;
  trip.fresh = *std::move(fresh);
  trip.options.use_stored_plan = true;
  trip.stored = ToStoredPlan(trip.fresh, trip.options);
  Result<ExecutionPlan> loaded = Engine::Prepare(WithStoredPlan(model, trip.stored), trip.options);
  EXPECT_TRUE(loaded.ok()) << loaded.status().ToString();
  trip.loaded = loaded.ok() ? *std::move(loaded) : trip.fresh;
  EXPECT_EQ(trip.loaded.cache.status, PlanCacheStatus::kStoredPlan);
  EXPECT_EQ(trip.loaded.memory.peak_bytes, trip.fresh.memory.peak_bytes);
  return trip;
}

// Prepare refuses `model` carrying `plan` with kInvalidModel, and, when
// `says` is not empty, a message containing it.
inline void ExpectStoredPlanRefused(const Model& model, const StoredPlan& plan,
                                    const EngineOptions& options, const std::string& what,
                                    const std::string& says = "") {
  Result<ExecutionPlan> result = Engine::Prepare(WithStoredPlan(model, plan), options);
  ASSERT_FALSE(result.ok()) << what;
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidModel) << what;
  EXPECT_NE(result.status().message().find(says), std::string::npos)
      << what << ": " << result.status().ToString();
}

// `stored` without its rewrite-list entries named `kind`.
inline StoredPlan WithoutEntry(StoredPlan stored, const std::string& kind) {
  stored.rewrites.erase(std::remove_if(stored.rewrites.begin(), stored.rewrites.end(),
                                       [&](const auto& entry) { return entry.first == kind; }),
                        stored.rewrites.end());
  return stored;
}

}  // namespace serenity::runtime_testing

#endif  // SERENITY_TESTS_RUNTIME_ENGINE_TESTING_H_
