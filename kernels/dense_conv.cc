// The portable half of dense_conv.h: weight packing and CPU detection.
#include "dense_conv.h"

#include <atomic>

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

bool DenseConvIsaAvailable(DenseConvIsa isa) {
  static const bool avx512 = DenseConvAvailable() && __builtin_cpu_supports("avx512f") != 0;
  return isa == DenseConvIsa::kAvx512 ? avx512 : DenseConvAvailable();
}

namespace {

// A relaxed atomic: the test switch is set between runs, read by each run.
std::atomic<DenseConvIsa>& IsaSetting() {
  static std::atomic<DenseConvIsa> isa{
      DenseConvIsaAvailable(DenseConvIsa::kAvx512) ? DenseConvIsa::kAvx512 : DenseConvIsa::kAvx2};
  return isa;
}

}  // namespace

DenseConvIsa DenseConvIsaInUse() { return IsaSetting().load(std::memory_order_relaxed); }

bool SetDenseConvIsaForTesting(DenseConvIsa isa) {
  if (!DenseConvIsaAvailable(isa)) return false;
  IsaSetting().store(isa, std::memory_order_relaxed);
  return true;
}

void DenseConvRun(const DenseConvArgs& args, WorkPool* pool) {
  if (DenseConvIsaInUse() == DenseConvIsa::kAvx512) {
    DenseConvRunAvx512(args, pool);
  } else {
    DenseConvRunAvx2(args, pool);
  }
}
#else
bool DenseConvAvailable() { return false; }
bool DenseConvIsaAvailable(DenseConvIsa) { return false; }
DenseConvIsa DenseConvIsaInUse() { return DenseConvIsa::kAvx2; }
bool SetDenseConvIsaForTesting(DenseConvIsa) { return false; }

// Never called: DenseConvAvailable() is false off x86-64.
void DenseConvRun(const DenseConvArgs&, WorkPool*) {}
#endif

}  // namespace serenity::kernels
