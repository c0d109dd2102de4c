// Proves the dependency chain: XNNPACK's operator API on a 2-thread
// pthreadpool computes a convolution that a naive loop agrees with.
#include <gtest/gtest.h>
#include <pthreadpool.h>
#include <xnnpack.h>

#include <cmath>
#include <random>
#include <vector>

#include "serenity/kernels/xnnpack_util.h"

namespace serenity::kernels {
namespace {

struct ConvCase {
  int height, width, in_channels, out_channels, kernel, stride, pad, dilation;
};

class XnnpackSmokeTest : public ::testing::TestWithParam<ConvCase> {};

TEST_P(XnnpackSmokeTest, ConvolutionMatchesNaiveLoop) {
  const ConvCase c = GetParam();
  ASSERT_TRUE(InitializeXnnpack().ok());
  const int effective = (c.kernel - 1) * c.dilation + 1;
  const int out_h = (c.height + 2 * c.pad - effective) / c.stride + 1;
  const int out_w = (c.width + 2 * c.pad - effective) / c.stride + 1;
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  const int extra = XNN_EXTRA_BYTES / sizeof(float);
  std::vector<float> input(c.height * c.width * c.in_channels + extra);
  std::vector<float> weights(c.out_channels * c.kernel * c.kernel * c.in_channels + extra);
  std::vector<float> bias(c.out_channels + extra);
  for (float& v : input) v = dist(rng);
  for (float& v : weights) v = dist(rng);
  for (float& v : bias) v = dist(rng);
  std::vector<float> output(out_h * out_w * c.out_channels, NAN);

  pthreadpool_t pool = pthreadpool_create(2);
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(pthreadpool_get_threads_count(pool), 2u);
  xnn_operator_t op = nullptr;
  ASSERT_TRUE(XnnToStatus(xnn_create_convolution2d_nhwc_f32(
                              c.pad, c.pad, c.pad, c.pad, c.kernel, c.kernel, c.stride,
                              c.stride, c.dilation, c.dilation, 1, c.in_channels,
                              c.out_channels, c.in_channels, c.out_channels, weights.data(),
                              bias.data(), -INFINITY, INFINITY, 0, &op),
                          "create")
                  .ok());
  ASSERT_TRUE(XnnToStatus(xnn_setup_convolution2d_nhwc_f32(op, 1, c.height, c.width,
                                                          input.data(), output.data(), pool),
                          "setup")
                  .ok());
  ASSERT_TRUE(XnnToStatus(xnn_run_operator(op, pool), "run").ok());
  xnn_delete_operator(op);
  pthreadpool_destroy(pool);

  for (int y = 0; y < out_h; ++y) {
    for (int x = 0; x < out_w; ++x) {
      for (int o = 0; o < c.out_channels; ++o) {
        double sum = bias[o];
        for (int ky = 0; ky < c.kernel; ++ky) {
          for (int kx = 0; kx < c.kernel; ++kx) {
            int iy = y * c.stride + ky * c.dilation - c.pad;
            int ix = x * c.stride + kx * c.dilation - c.pad;
            if (iy < 0 || iy >= c.height || ix < 0 || ix >= c.width) continue;
            for (int i = 0; i < c.in_channels; ++i) {
              sum += double(input[(iy * c.width + ix) * c.in_channels + i]) *
                     weights[((o * c.kernel + ky) * c.kernel + kx) * c.in_channels + i];
            }
          }
        }
        ASSERT_NEAR(output[(y * out_w + x) * c.out_channels + o], sum, 1e-4)
            << "at y=" << y << " x=" << x << " o=" << o;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, XnnpackSmokeTest,
                         ::testing::Values(ConvCase{8, 8, 3, 4, 3, 1, 1, 1},
                                           ConvCase{13, 11, 5, 7, 3, 2, 1, 1},
                                           ConvCase{9, 9, 4, 4, 3, 1, 2, 2},
                                           ConvCase{6, 6, 16, 8, 1, 1, 0, 1}));

TEST(XnnpackStatusTest, MapsCodes) {
  EXPECT_TRUE(XnnToStatus(xnn_status_success, "x").ok());
  EXPECT_EQ(XnnToStatus(xnn_status_out_of_memory, "x").code(), StatusCode::kResourceExhausted);
  Status status = XnnToStatus(xnn_status_invalid_parameter, "create conv 'c1'");
  EXPECT_EQ(status.code(), StatusCode::kBackendError);
  EXPECT_EQ(status.message(), "create conv 'c1': xnn_status_invalid_parameter");
}

}  // namespace
}  // namespace serenity::kernels
