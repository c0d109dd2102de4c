// The AVX2 + FMA body of depthwise_conv.h: 8-float vectors for the driver in
// depthwise_conv_driver.h, which explains the kernel. Compiled with -mavx2
// -mfma on x86-64 only; see dense_conv.h for why nothing here may be shared
// with other translation units.
#include <immintrin.h>

#include "avx2_store.h"
#include "depthwise_conv.h"
#include "depthwise_conv_driver.h"

namespace serenity::kernels {
namespace {

struct Avx2Vec {
  using Reg = __m256;
  using Mask = __m256i;
  static constexpr int kLanes = 8;
  static constexpr int kRegisters = 16;

  static Mask LaneMask(int64_t lanes) {
    const __m256i index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(lanes)), index);
  }
  static Reg Load(const float* x) { return _mm256_loadu_ps(x); }
  static Reg MaskLoad(const float* x, Mask mask) { return _mm256_maskload_ps(x, mask); }
  static void Store(float* out, Reg v) { _mm256_storeu_ps(out, v); }
  // Not vmaskmovps: its store form is microcoded and slow on AMD Zen.
  static void StorePartial(float* out, Reg v, int64_t lanes, Mask) {
    avx2::StorePartial(out, v, lanes);
  }
  static Reg Fma(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  static Reg Max(Reg a, Reg b) { return _mm256_max_ps(a, b); }
  static Reg Min(Reg a, Reg b) { return _mm256_min_ps(a, b); }
  static Reg Mul(Reg a, Reg b) { return _mm256_mul_ps(a, b); }
  static Reg Set1(float x) { return _mm256_set1_ps(x); }
  static Reg Zero() { return _mm256_setzero_ps(); }
};

}  // namespace

void DepthwiseConvRunAvx2(const DenseConvArgs& args, WorkPool* pool) {
  DepthwiseConvRunOn<Avx2Vec>(args, pool);
}

}  // namespace serenity::kernels
