// The portable half of dense_conv.h: weight packing and CPU detection.
#include "dense_conv.h"

namespace serenity::kernels {

size_t DenseConvPackedFloats(const DenseConvShape& shape) {
  const int64_t blocks = (shape.out_channels + kDenseConvBlock - 1) / kDenseConvBlock;
  const int64_t reduction = shape.kernel_h * shape.kernel_w * shape.in_channels;
  return static_cast<size_t>(blocks * kDenseConvBlock * (1 + reduction));
}

void DenseConvPackWeights(const DenseConvShape& shape, const float* weights, const float* bias,
                          float* packed) {
  const int64_t reduction = shape.kernel_h * shape.kernel_w * shape.in_channels;
  const int64_t blocks = (shape.out_channels + kDenseConvBlock - 1) / kDenseConvBlock;
  for (int64_t block = 0; block < blocks; ++block) {
    float* out = packed + block * kDenseConvBlock * (1 + reduction);
    for (int64_t j = 0; j < kDenseConvBlock; ++j) {
      const int64_t o = block * kDenseConvBlock + j;
      out[j] = (o < shape.out_channels && bias != nullptr) ? bias[o] : 0.0f;
    }
    out += kDenseConvBlock;
    // OHWI: the reduction index (ky, kx, ic) is contiguous per output channel.
    for (int64_t k = 0; k < reduction; ++k) {
      for (int64_t j = 0; j < kDenseConvBlock; ++j) {
        const int64_t o = block * kDenseConvBlock + j;
        out[k * kDenseConvBlock + j] = o < shape.out_channels ? weights[o * reduction + k] : 0.0f;
      }
    }
  }
}

#if defined(__x86_64__)
bool DenseConvAvailable() {
  static const bool available =
      __builtin_cpu_supports("avx2") != 0 && __builtin_cpu_supports("fma") != 0;
  return available;
}
#else
bool DenseConvAvailable() { return false; }

// Never called: DenseConvAvailable() is false off x86-64.
void DenseConvRun(const DenseConvArgs&, WorkPool*) {}
#endif

}  // namespace serenity::kernels
