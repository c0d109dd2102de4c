#include "serenity/serenity_c.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "serenity/engine.h"
#include "serenity/version.h"
#include "test_models.h"

namespace {

using serenity::runtime_testing::BranchyNet;
using serenity::runtime_testing::Pattern;

class CApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    serenity::Result<std::vector<uint8_t>> bytes = BranchyNet().Finish();
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    bytes_ = std::move(bytes).value();
    ASSERT_EQ(serenity_model_from_buffer(bytes_.data(), bytes_.size(), &model_), SERENITY_OK)
        << serenity_last_error();
  }
  void TearDown() override { serenity_model_destroy(model_); }

  std::vector<uint8_t> bytes_;
  serenity_model* model_ = nullptr;
};

TEST_F(CApiTest, RoundTripMatchesTheCppEngine) {
  serenity_engine_options options;
  serenity_engine_options_init(&options);
  EXPECT_EQ(options.threads, 1);
  EXPECT_EQ(options.scheduler, SERENITY_SCHEDULER_OPTIMAL);
  options.threads = 2;
  serenity_engine* engine = nullptr;
  ASSERT_EQ(serenity_engine_create(model_, &options, &engine), SERENITY_OK)
      << serenity_last_error();

  int inputs = 0, outputs = 0, ops = 0;
  ASSERT_EQ(serenity_engine_input_count(engine, &inputs), SERENITY_OK);
  ASSERT_EQ(serenity_engine_output_count(engine, &outputs), SERENITY_OK);
  ASSERT_EQ(serenity_engine_operator_count(engine, &ops), SERENITY_OK);
  EXPECT_EQ(inputs, 1);
  EXPECT_EQ(outputs, 2);
  EXPECT_EQ(ops, 14);

  const char* name = nullptr;
  ASSERT_EQ(serenity_engine_input_name(engine, 0, &name), SERENITY_OK);
  EXPECT_STREQ(name, "image");
  ASSERT_EQ(serenity_engine_output_name(engine, 1, &name), SERENITY_OK);
  EXPECT_STREQ(name, "pooled");
  int index = -1;
  ASSERT_EQ(serenity_engine_output_index(engine, "logits", &index), SERENITY_OK);
  EXPECT_EQ(index, 0);
  ASSERT_EQ(serenity_engine_input_index(engine, "image", &index), SERENITY_OK);
  EXPECT_EQ(index, 0);

  const int64_t* dims = nullptr;
  size_t rank = 0, count = 0;
  ASSERT_EQ(serenity_engine_input_shape(engine, 0, &dims, &rank), SERENITY_OK);
  ASSERT_EQ(rank, 4u);
  EXPECT_EQ(std::vector<int64_t>(dims, dims + rank), (std::vector<int64_t>{1, 8, 8, 4}));
  ASSERT_EQ(serenity_engine_input_element_count(engine, 0, &count), SERENITY_OK);
  EXPECT_EQ(count, 256u);

  const std::vector<float> input = Pattern(256, 0.3f, 1.0f);
  ASSERT_EQ(serenity_engine_set_input(engine, 0, input.data(), input.size()), SERENITY_OK);
  float* raw_input = nullptr;
  ASSERT_EQ(serenity_engine_input_data(engine, 0, &raw_input), SERENITY_OK);
  EXPECT_EQ(std::memcmp(raw_input, input.data(), 256 * sizeof(float)), 0);
  ASSERT_EQ(serenity_engine_invoke(engine), SERENITY_OK) << serenity_last_error();

  std::vector<float> logits(10), pooled(128);
  ASSERT_EQ(serenity_engine_get_output(engine, 0, logits.data(), logits.size()), SERENITY_OK);
  ASSERT_EQ(serenity_engine_get_output(engine, 1, pooled.data(), pooled.size()), SERENITY_OK);
  const float* raw_logits = nullptr;
  ASSERT_EQ(serenity_engine_output_data(engine, 0, &raw_logits), SERENITY_OK);
  EXPECT_EQ(std::memcmp(raw_logits, logits.data(), 10 * sizeof(float)), 0);

  serenity_memory_info memory;
  ASSERT_EQ(serenity_engine_memory(engine, &memory), SERENITY_OK);
  EXPECT_GE(memory.arena_bytes, memory.peak_bytes);
  EXPECT_GT(memory.weights_bytes, 0u);

  // The same through the C++ API (one thread, another schedule).
  serenity::Result<serenity::Model> model =
      serenity::Model::FromBuffer(bytes_.data(), bytes_.size());
  ASSERT_TRUE(model.ok());
  serenity::EngineOptions cpp_options;
  cpp_options.scheduler = serenity::ScheduleAlgorithm::kStored;
  serenity::Result<serenity::Engine> cpp = serenity::Engine::Create(*model, cpp_options);
  ASSERT_TRUE(cpp.ok());
  ASSERT_TRUE(cpp->SetInput(0, input.data(), input.size()).ok());
  ASSERT_TRUE(cpp->Invoke().ok());
  std::vector<float> cpp_logits(10);
  ASSERT_TRUE(cpp->GetOutput(0, cpp_logits.data(), 10).ok());
  for (int i = 0; i < 10; ++i) EXPECT_NEAR(logits[i], cpp_logits[i], 1e-4f + 1e-4f * std::fabs(cpp_logits[i]));
  EXPECT_EQ(memory.arena_bytes, [&] {
    serenity::EngineOptions o;
    return serenity::Engine::RequiredArenaBytes(*model, o).value();
  }());

  serenity_engine_destroy(engine);
}

TEST_F(CApiTest, ErrorsCarryCodesAndMessages) {
  serenity_engine* engine = nullptr;
  ASSERT_EQ(serenity_engine_create(model_, nullptr, &engine), SERENITY_OK);

  const char* name = nullptr;
  EXPECT_EQ(serenity_engine_input_name(engine, 3, &name), SERENITY_OUT_OF_RANGE);
  EXPECT_NE(std::string(serenity_last_error()).find("input index 3"), std::string::npos)
      << serenity_last_error();
  EXPECT_STREQ(serenity_engine_last_error(engine), serenity_last_error());
  EXPECT_EQ(name, nullptr);  // untouched on failure

  int index = 7;
  EXPECT_EQ(serenity_engine_input_index(engine, "nope", &index), SERENITY_NOT_FOUND);
  EXPECT_EQ(index, 7);
  std::vector<float> data(255);
  EXPECT_EQ(serenity_engine_set_input(engine, 0, data.data(), data.size()),
            SERENITY_INVALID_ARGUMENT);
  EXPECT_NE(std::string(serenity_last_error()).find("255"), std::string::npos);
  EXPECT_EQ(serenity_engine_set_input(engine, 0, nullptr, 256), SERENITY_INVALID_ARGUMENT);
  EXPECT_EQ(serenity_engine_invoke(nullptr), SERENITY_INVALID_ARGUMENT);
  EXPECT_EQ(serenity_engine_input_count(engine, nullptr), SERENITY_INVALID_ARGUMENT);
  EXPECT_STREQ(serenity_status_name(SERENITY_NOT_FOUND), "not found");
  EXPECT_STREQ(serenity_status_name(999), "unknown");
  serenity_engine_destroy(engine);

  serenity_engine_options options;
  serenity_engine_options_init(&options);
  options.scheduler = 17;
  EXPECT_EQ(serenity_engine_create(model_, &options, &engine), SERENITY_INVALID_ARGUMENT);
  options.scheduler = SERENITY_SCHEDULER_STORED;
  options.threads = -1;
  EXPECT_EQ(serenity_engine_create(model_, &options, &engine), SERENITY_INVALID_ARGUMENT);

  serenity_model* missing = nullptr;
  EXPECT_EQ(serenity_model_load("/nonexistent/model.srn", &missing), SERENITY_NOT_FOUND);
  EXPECT_EQ(missing, nullptr);
  EXPECT_NE(std::string(serenity_last_error()).find("/nonexistent/model.srn"), std::string::npos)
      << serenity_last_error();
  const uint8_t garbage[64] = {1, 2, 3};
  EXPECT_EQ(serenity_model_from_buffer(garbage, sizeof(garbage), &missing), SERENITY_INVALID_MODEL)
      << serenity_last_error();
  EXPECT_EQ(serenity_model_load(nullptr, &missing), SERENITY_INVALID_ARGUMENT);

  serenity_engine_destroy(nullptr);
  serenity_model_destroy(nullptr);
}

TEST_F(CApiTest, CallerArena) {
  serenity_engine_options options;
  serenity_engine_options_init(&options);
  size_t needed = 0;
  ASSERT_EQ(serenity_engine_required_arena_bytes(model_, &options, &needed), SERENITY_OK);
  ASSERT_GT(needed, 0u);
  void* arena = ::operator new(needed, std::align_val_t{64});
  options.arena = arena;
  options.arena_bytes = needed - 64;
  serenity_engine* engine = nullptr;
  EXPECT_EQ(serenity_engine_create(model_, &options, &engine), SERENITY_INVALID_ARGUMENT);
  EXPECT_EQ(engine, nullptr);
  EXPECT_NE(std::string(serenity_last_error()).find(std::to_string(needed)), std::string::npos)
      << serenity_last_error();
  options.arena_bytes = needed;
  ASSERT_EQ(serenity_engine_create(model_, &options, &engine), SERENITY_OK)
      << serenity_last_error();
  float* input = nullptr;
  ASSERT_EQ(serenity_engine_input_data(engine, 0, &input), SERENITY_OK);
  EXPECT_GE(reinterpret_cast<uint8_t*>(input), static_cast<uint8_t*>(arena));
  EXPECT_LT(reinterpret_cast<uint8_t*>(input), static_cast<uint8_t*>(arena) + needed);
  EXPECT_EQ(serenity_engine_invoke(engine), SERENITY_OK);
  serenity_engine_destroy(engine);
  ::operator delete(arena, std::align_val_t{64});
}

// The plan cache through the C options: a private directory gives a miss,
// then a hit with the same plan as the C++ engine's; off touches nothing; a
// value outside the enum is refused.
TEST_F(CApiTest, PlanCacheOptionsAndPlanInfo) {
  const std::string dir =
      ::testing::TempDir() + "/c_api_plan_cache_" + std::to_string(::getpid());
  serenity_engine_options options;
  serenity_engine_options_init(&options);
  EXPECT_EQ(options.plan_cache, SERENITY_PLAN_CACHE_ON);
  EXPECT_EQ(options.plan_cache_dir, nullptr);
  EXPECT_EQ(options.use_stored_plan, 1);
  EXPECT_EQ(options.rewrite_work_limit, serenity::EngineOptions{}.rewrite_work_limit);
  EXPECT_EQ(options.arena_node_limit, serenity::EngineOptions{}.arena_node_limit);
  options.plan_cache = SERENITY_PLAN_CACHE_REFRESH;
  options.plan_cache_dir = dir.c_str();

  serenity_plan_info info;
  std::string statuses;
  for (int run = 0; run < 2; ++run) {
    serenity_engine* engine = nullptr;
    ASSERT_EQ(serenity_engine_create(model_, &options, &engine), SERENITY_OK)
        << serenity_last_error();
    ASSERT_EQ(serenity_engine_plan_info(engine, &info), SERENITY_OK);
    statuses += std::string(info.cache_status) + " ";
    EXPECT_STREQ(info.cache_warning, "");
    EXPECT_GE(info.planning_ms, 0.0);
    serenity_engine_destroy(engine);
    options.plan_cache = SERENITY_PLAN_CACHE_ON;
  }
  EXPECT_EQ(statuses, "refreshed hit ");

  // The C++ engine with the same options is the oracle for the plan's facts.
  serenity::Result<serenity::Model> model = serenity::Model::FromBuffer(bytes_.data(), bytes_.size());
  ASSERT_TRUE(model.ok());
  serenity::EngineOptions cpp;
  cpp.plan_cache = serenity::PlanCacheMode::kOff;
  serenity::Result<serenity::ExecutionPlan> plan = serenity::Engine::Prepare(*model, cpp);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(info.memory_strategy, static_cast<int>(plan->strategy));
  EXPECT_EQ(info.order_proven_optimal != 0, plan->schedule.optimal);
  EXPECT_EQ(info.time_limited != 0, plan->time_limited());
  EXPECT_EQ(info.cache_provisional, 0);
  EXPECT_EQ(info.rewrite_work, plan->rewrite_work);

  options.plan_cache = SERENITY_PLAN_CACHE_OFF;
  serenity_engine* engine = nullptr;
  ASSERT_EQ(serenity_engine_create(model_, &options, &engine), SERENITY_OK);
  ASSERT_EQ(serenity_engine_plan_info(engine, &info), SERENITY_OK);
  EXPECT_STREQ(info.cache_status, "off");
  EXPECT_EQ(serenity_engine_plan_info(engine, nullptr), SERENITY_INVALID_ARGUMENT);
  serenity_engine_destroy(engine);

  options.plan_cache = 7;
  engine = nullptr;
  EXPECT_EQ(serenity_engine_create(model_, &options, &engine), SERENITY_INVALID_ARGUMENT);
  EXPECT_EQ(engine, nullptr);
  EXPECT_NE(std::string(serenity_last_error()).find("plan_cache is 7"), std::string::npos)
      << serenity_last_error();
}

TEST(CApiVersionTest, Version) { EXPECT_STREQ(serenity_version(), serenity::VersionString()); }

// The header's macros describe the library the test links: an installed
// header from another release would show up here.
TEST(CApiVersionTest, MacrosMatchTheLibrary) {
  EXPECT_STREQ(serenity_version(), SERENITY_VERSION_STRING);
  EXPECT_EQ(std::string(SERENITY_VERSION_STRING),
            std::to_string(SERENITY_VERSION_MAJOR) + "." + std::to_string(SERENITY_VERSION_MINOR) +
                "." + std::to_string(SERENITY_VERSION_PATCH));
}

TEST(CApiVersionTest, FormatVersion) { EXPECT_EQ(serenity_format_version(), serenity::kFormatVersion); }

}  // namespace
