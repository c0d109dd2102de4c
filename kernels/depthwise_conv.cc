// The portable half of depthwise_conv.h: weight packing and the choice of
// instruction set.
#include "depthwise_conv.h"

namespace serenity::kernels {

bool DepthwiseConvPreferred(int64_t kernel_h, int64_t kernel_w, int64_t stride_h, int64_t stride_w,
                            size_t threads) {
  return threads > 1 || !(kernel_h == 3 && kernel_w == 3 && (stride_h > 1 || stride_w > 1));
}

size_t DepthwiseConvPackedFloats(const DenseConvShape& shape) {
  const int64_t padded = DepthwiseConvPaddedChannels(shape.in_channels);
  return static_cast<size_t>(padded * (1 + shape.kernel_h * shape.kernel_w));
}

void DepthwiseConvPackWeights(const DenseConvShape& shape, const float* weights, const float* bias,
                              float* packed) {
  const int64_t channels = shape.in_channels;
  const int64_t padded = DepthwiseConvPaddedChannels(channels);
  const int64_t positions = shape.kernel_h * shape.kernel_w;
  for (int64_t c = 0; c < padded; ++c) {
    packed[c] = (c < channels && bias != nullptr) ? bias[c] : 0.0f;
  }
  for (int64_t p = 0; p < positions; ++p) {
    float* row = packed + (1 + p) * padded;
    for (int64_t c = 0; c < padded; ++c) row[c] = c < channels ? weights[c * positions + p] : 0.0f;
  }
}

#if defined(__x86_64__)
void DepthwiseConvRun(const DenseConvArgs& args, WorkPool* pool) {
  if (DenseConvIsaInUse() == DenseConvIsa::kAvx512) {
    DepthwiseConvRunAvx512(args, pool);
  } else {
    DepthwiseConvRunAvx2(args, pool);
  }
}
#else
// Never called: DenseConvAvailable() is false off x86-64.
void DepthwiseConvRun(const DenseConvArgs&, WorkPool*) {}
#endif

}  // namespace serenity::kernels
