#include <gtest/gtest.h>

#include "serenity/model_format/model.h"
#include "test_models.h"

namespace serenity {
namespace {

TEST(ReaderSmokeTest, TinyConvNetRoundTrips) {
  std::vector<uint8_t> bytes = testing::FinishOrDie(testing::TinyConvNet());
  Result<Model> model = Model::FromBuffer(bytes.data(), bytes.size());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ(model->name(), "tiny");
  ASSERT_EQ(model->tensors().size(), 5u);
  ASSERT_EQ(model->operators().size(), 2u);
  EXPECT_EQ(model->inputs(), std::vector<int>{0});
  EXPECT_EQ(model->outputs(), std::vector<int>{4});
  const Tensor& w = model->tensors()[1];
  ASSERT_TRUE(w.is_constant());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(w.data) % 64, 0u);
  EXPECT_EQ(w.data_bytes, 4u * 3 * 3 * 3 * 4);
  EXPECT_EQ(model->weight_bytes(), (4u * 27 + 4) * 4);
}

}  // namespace
}  // namespace serenity
