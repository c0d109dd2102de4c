// The AVX-512F body of depthwise_conv.h: 16-float vectors and 32 registers
// for the driver in depthwise_conv_driver.h, which explains the kernel.
// Compiled with -mavx512f -mavx2 -mfma on x86-64 only; see dense_conv.h for
// why nothing here may be shared with other translation units.
#include <immintrin.h>

#include "depthwise_conv.h"
#include "depthwise_conv_driver.h"

namespace serenity::kernels {
namespace {

struct Avx512Vec {
  using Reg = __m512;
  using Mask = __mmask16;
  static constexpr int kLanes = 16;
  static constexpr int kRegisters = 32;
  // The masked forms with every lane set compile to the plain vmaxps/vminps:
  // GCC 12's _mm512_max_ps/_mm512_min_ps pass an "undefined" vector that its
  // -Wuninitialized reports (GCC bug 105593), an error in CI.
  static constexpr __mmask16 kAll = 0xFFFF;

  static Mask LaneMask(int64_t lanes) {
    return lanes >= kLanes ? kAll : static_cast<__mmask16>((1u << lanes) - 1);
  }
  static Reg Load(const float* x) { return _mm512_loadu_ps(x); }
  static Reg MaskLoad(const float* x, Mask mask) { return _mm512_maskz_loadu_ps(mask, x); }
  static void Store(float* out, Reg v) { _mm512_storeu_ps(out, v); }
  static void StorePartial(float* out, Reg v, int64_t, Mask mask) {
    _mm512_mask_storeu_ps(out, mask, v);
  }
  static Reg Fma(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  static Reg Max(Reg a, Reg b) { return _mm512_mask_max_ps(a, kAll, a, b); }
  static Reg Min(Reg a, Reg b) { return _mm512_mask_min_ps(a, kAll, a, b); }
  static Reg Mul(Reg a, Reg b) { return _mm512_mul_ps(a, b); }
  static Reg Set1(float x) { return _mm512_set1_ps(x); }
  static Reg Zero() { return _mm512_setzero_ps(); }
};

}  // namespace

void DepthwiseConvRunAvx512(const DenseConvArgs& args, WorkPool* pool) {
  DepthwiseConvRunOn<Avx512Vec>(args, pool);
}

}  // namespace serenity::kernels
