// Runs one 3x3 convolution through XNNPACK's operator API, out of static
// buffers, on a 2-thread pthreadpool, and checks it against a naive loop.
#include <pthreadpool.h>
#include <xnnpack.h>

#include <cmath>
#include <cstdio>

#include "serenity/kernels/xnnpack_util.h"
#include "serenity/platforms/clock.h"

namespace {

constexpr int kHeight = 32, kWidth = 32, kInChannels = 16, kOutChannels = 32;
constexpr int kKernel = 3, kPad = 1;
// XNNPACK may read up to XNN_EXTRA_BYTES past an input: pad the static buffers.
constexpr int kExtraFloats = XNN_EXTRA_BYTES / sizeof(float);

alignas(64) float input[kHeight * kWidth * kInChannels + kExtraFloats];
alignas(64) float weights[kOutChannels * kKernel * kKernel * kInChannels + kExtraFloats];
alignas(64) float bias[kOutChannels + kExtraFloats];
alignas(64) float output[kHeight * kWidth * kOutChannels];

float NaiveOutput(int y, int x, int o) {
  float sum = bias[o];
  for (int ky = 0; ky < kKernel; ++ky) {
    for (int kx = 0; kx < kKernel; ++kx) {
      int iy = y + ky - kPad, ix = x + kx - kPad;
      if (iy < 0 || iy >= kHeight || ix < 0 || ix >= kWidth) continue;
      for (int c = 0; c < kInChannels; ++c) {
        sum += input[(iy * kWidth + ix) * kInChannels + c] *
               weights[((o * kKernel + ky) * kKernel + kx) * kInChannels + c];
      }
    }
  }
  return sum;
}

}  // namespace

int main() {
  for (int i = 0; i < kHeight * kWidth * kInChannels; ++i) input[i] = std::sin(0.1f * i);
  for (int i = 0; i < kOutChannels * kKernel * kKernel * kInChannels; ++i) {
    weights[i] = std::cos(0.37f * i) * 0.1f;
  }
  for (int i = 0; i < kOutChannels; ++i) bias[i] = 0.01f * i;

  serenity::Status status = serenity::kernels::InitializeXnnpack();
  if (!status.ok()) {
    std::fprintf(stderr, "error: %s\n", status.ToString().c_str());
    return 1;
  }
  pthreadpool_t pool = pthreadpool_create(2);
  xnn_operator_t conv = nullptr;
  xnn_status created = xnn_create_convolution2d_nhwc_f32(
      kPad, kPad, kPad, kPad, kKernel, kKernel, 1, 1, 1, 1, /*groups=*/1, kInChannels,
      kOutChannels, kInChannels, kOutChannels, weights, bias, -INFINITY, INFINITY, 0, &conv);
  status = serenity::kernels::XnnToStatus(created, "create convolution");
  if (status.ok()) {
    status = serenity::kernels::XnnToStatus(
        xnn_setup_convolution2d_nhwc_f32(conv, 1, kHeight, kWidth, input, output, pool),
        "setup convolution");
  }
  double start = serenity::platforms::NowSeconds();
  if (status.ok()) {
    status = serenity::kernels::XnnToStatus(xnn_run_operator(conv, pool), "run convolution");
  }
  double elapsed_ms = (serenity::platforms::NowSeconds() - start) * 1e3;
  if (!status.ok()) {
    std::fprintf(stderr, "error: %s\n", status.ToString().c_str());
    return 1;
  }
  float max_diff = 0.0f;
  double checksum = 0.0;
  for (int y = 0; y < kHeight; ++y) {
    for (int x = 0; x < kWidth; ++x) {
      for (int o = 0; o < kOutChannels; ++o) {
        float got = output[(y * kWidth + x) * kOutChannels + o];
        max_diff = std::fmax(max_diff, std::fabs(got - NaiveOutput(y, x, o)));
        checksum += got;
      }
    }
  }
  std::printf("XNNPACK conv %dx%d, %d->%d channels, %dx%d input, 2 threads\n", kKernel, kKernel,
              kInChannels, kOutChannels, kHeight, kWidth);
  std::printf("  run time %.3f ms, checksum %.6f, max |xnnpack - naive| = %.3g\n", elapsed_ms,
              checksum, max_diff);
  xnn_delete_operator(conv);
  pthreadpool_destroy(pool);
  if (max_diff > 1e-4f) {
    std::fprintf(stderr, "error: XNNPACK and the naive loop disagree\n");
    return 1;
  }
  std::printf("  OK: matches the naive loop\n");
  return 0;
}
