// conv_bench: GFLOP/s of Serenity's own dense, Winograd and depthwise convolutions
// (kernels/dense_conv.h, winograd_conv.h, depthwise_conv.h) against XNNPACK's on
// convolution shapes of the zoo (ResNet-18, DARTS, NASNet, AmoebaNet, RandWire,
// MobileNetV2), at 1 and 2 threads, both measured in the same run.
//
// usage: conv_bench [--runs N] [--threads 1,2] [--only TEXT]
//                   [--versus xnnpack|direct|avx2] [--json]
//
// --only TEXT: just the shapes whose name contains TEXT.
//
// --versus direct: compare with KernelChoice::kDirect (Serenity's direct
// kernel where kAuto picks Winograd) instead of XNNPACK; the second columns
// and JSON keys are then "dir" and "direct_*" instead of "xnn" and
// "xnnpack_*". GFLOP/s count a direct convolution's multiply-adds, also for
// Winograd (which does fewer).
//
// --versus avx2 (on CPUs with AVX-512F): three kernels per row, the own
// kernels with the dense kernel's AVX-512 tile ("own", what the engine
// runs), the same with its AVX2 tile ("a2", SetDenseConvIsaForTesting), and
// XNNPACK; JSON keys "own_*", "avx2_*", "xnnpack_*", and two ratios
// (own/a2, own/xnn: the other's time over own's). The dense kernel's direct
// path and Winograd's GEMM have two tiles; the depthwise kernel follows the
// same switch (16-float vectors in "own", 8-float ones in "a2").
//
// "own" is what KernelChoice::kAuto binds: for 3x3 depthwise convolutions
// with stride 2 on one thread that is XNNPACK too (DepthwiseConvPreferred), so
// those rows compare XNNPACK with itself.
//
// The kernels run in alternating blocks of runs, so all see the same load; GFLOP/s come
// from the fastest run of each (the least disturbed on a shared machine).
// Compare the columns of one row, not rows of different runs.
#include <pthreadpool.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dense_conv.h"
#include "serenity/kernels/op_kernel.h"

namespace {

using serenity::kernels::DenseConvIsa;
using serenity::kernels::KernelChoice;
using serenity::kernels::OperandView;

struct ConvShape {
  const char* name;
  int size;  // input height = width
  int in_channels, out_channels, kernel, stride, pad;
  bool depthwise = false;
  int dilation = 1;
};

constexpr ConvShape kShapes[] = {
    {"resnet18 conv1 7x7/2", 224, 3, 64, 7, 2, 3},
    {"resnet18 layer1 3x3", 56, 64, 64, 3, 1, 1},
    {"resnet18 layer2 3x3/2", 56, 64, 128, 3, 2, 1},
    {"resnet18 layer2 3x3", 28, 128, 128, 3, 1, 1},
    {"resnet18 layer2 1x1/2", 56, 64, 128, 1, 2, 0},
    {"resnet18 layer3 3x3", 14, 256, 256, 3, 1, 1},
    {"resnet18 layer4 3x3", 7, 512, 512, 3, 1, 1},
    {"randwire_32 3x3 39>78", 32, 39, 78, 3, 1, 1},
    {"darts_cifar 1x1 144>36", 32, 144, 36, 1, 1, 0},
    {"darts_cifar 1x1 36>36", 32, 36, 36, 1, 1, 0},
    {"darts_cifar 1x1 72>72", 16, 72, 72, 1, 1, 0},
    {"darts_cifar 1x1 144>144", 8, 144, 144, 1, 1, 0},
    {"darts_cifar stem 3x3", 32, 3, 108, 3, 1, 1},
    {"darts_imagenet stem 3x3/2", 224, 3, 24, 3, 2, 1},
    {"darts_imagenet 1x1 48>48", 28, 48, 48, 1, 1, 0},
    {"darts_imagenet 1x1 192>192", 7, 192, 192, 1, 1, 0},
    {"darts_imagenet 1x1 768>192", 7, 768, 192, 1, 1, 0},
    {"mobilenet_v2 1x1 24>144", 56, 24, 144, 1, 1, 0},
    {"mobilenet_v2 1x1 144>24", 56, 144, 24, 1, 1, 0},
    {"mobilenet_v2 1x1 320>1280", 7, 320, 1280, 1, 1, 0},
    {"mobilenet_v2 classifier 1280>1000", 1, 1280, 1000, 1, 1, 0},
    {"darts_cifar dw 3x3 36", 32, 36, 36, 3, 1, 1, true},
    {"darts_cifar dw 3x3 72", 16, 72, 72, 3, 1, 1, true},
    {"darts_cifar dw 3x3 144", 8, 144, 144, 3, 1, 1, true},
    {"darts_cifar dw 5x5 36", 32, 36, 36, 5, 1, 2, true},
    {"darts_cifar dw 3x3 d2 36", 32, 36, 36, 3, 1, 2, true, 2},
    {"darts_cifar dw 3x3 d2 144", 8, 144, 144, 3, 1, 2, true, 2},
    {"darts_cifar dw 3x3/2 72", 16, 72, 72, 3, 2, 1, true},
    {"darts_imagenet dw 3x3 48", 28, 48, 48, 3, 1, 1, true},
    {"darts_imagenet dw 3x3 192", 7, 192, 192, 3, 1, 1, true},
    {"nasnet_cifar dw 5x5 64", 16, 64, 64, 5, 1, 2, true},
    {"nasnet_cifar dw 5x5 128", 8, 128, 128, 5, 1, 2, true},
    {"nasnet_cifar dw 7x7 44", 32, 44, 44, 7, 1, 3, true},
    {"nasnet_imagenet dw 5x5 176", 7, 176, 176, 5, 1, 2, true},
    {"amoebanet_cifar dw 3x3 144", 8, 144, 144, 3, 1, 1, true},
    {"randwire_224 dw 3x3 156", 14, 156, 156, 3, 1, 1, true},
    {"randwire_32 dw 3x3 78", 16, 78, 78, 3, 1, 1, true},
    {"randwire_32 dw 3x3 312", 4, 312, 312, 3, 1, 1, true},
    {"randwire_224 dw 3x3/2 78", 56, 78, 78, 3, 2, 1, true},
    {"randwire_224 dw 3x3/2 78 28", 28, 78, 78, 3, 2, 1, true},
    {"randwire_224 dw 3x3/2 156", 14, 156, 156, 3, 2, 1, true},
    {"nasnet_cifar dw 5x5/2 64", 32, 64, 64, 5, 2, 2, true},
    {"nasnet_imagenet dw 5x5/2 22", 56, 22, 22, 5, 2, 2, true},
    {"nasnet_cifar dw 7x7/2 64", 32, 64, 64, 7, 2, 3, true},
    {"mobilenet_v2 dw 3x3 144", 56, 144, 144, 3, 1, 1, true},
    {"mobilenet_v2 dw 3x3/2 96", 112, 96, 96, 3, 2, 1, true},
};

float* AlignTo64(float* p) {
  const uintptr_t address = reinterpret_cast<uintptr_t>(p);
  return reinterpret_cast<float*>((address + 63) / 64 * 64);
}

// One column: a bound op and the dense kernel tile it runs on.
struct Contender {
  serenity::kernels::BoundOp* op;
  DenseConvIsa isa;
};

// Runs the bound ops in alternating blocks of kBlockRuns runs (so all see
// the same machine load) and returns each one's fastest and median time in
// ms. Blocks, not single runs: after a pthreadpool call its worker spins
// for a while, and at 2 threads on 2 cores it then takes a core from the own
// kernels' work pool (whose threads back off when preempted); the first run
// of each block is not timed.
constexpr int kBlockRuns = 10;

void TimeAll(const std::vector<Contender>& ops, pthreadpool_t pool, int runs, double best[],
             double median[]) {
  const size_t n = ops.size();
  std::vector<std::vector<double>> times(n);
  for (int done = 0; done < runs; done += kBlockRuns) {
    for (size_t k = 0; k < n; ++k) {
      if (serenity::kernels::DenseConvAvailable() &&
          !serenity::kernels::SetDenseConvIsaForTesting(ops[k].isa)) {
        std::abort();
      }
      for (int i = 0; i <= kBlockRuns && done + i <= runs; ++i) {
        const auto start = std::chrono::steady_clock::now();
        if (!ops[k].op->Run(pool).ok()) std::abort();
        const auto end = std::chrono::steady_clock::now();
        if (i > 0)
          times[k].push_back(std::chrono::duration<double, std::milli>(end - start).count());
      }
    }
  }
  for (size_t k = 0; k < n; ++k) {
    std::sort(times[k].begin(), times[k].end());
    best[k] = times[k].front();
    median[k] = times[k][times[k].size() / 2];
  }
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 20;
  std::vector<int> thread_counts = {1, 2};
  bool json = false;
  bool versus_direct = false;
  bool versus_avx2 = false;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      thread_counts.clear();
      for (const char* p = argv[++i]; *p != '\0';) {
        thread_counts.push_back(std::max(1, std::atoi(p)));
        p = std::strchr(p, ',');
        if (p == nullptr) break;
        ++p;
      }
    } else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else if (std::strcmp(argv[i], "--versus") == 0 && i + 1 < argc &&
               (std::strcmp(argv[i + 1], "xnnpack") == 0 ||
                std::strcmp(argv[i + 1], "direct") == 0 || std::strcmp(argv[i + 1], "avx2") == 0)) {
      versus_direct = std::strcmp(argv[i + 1], "direct") == 0;
      versus_avx2 = std::strcmp(argv[++i], "avx2") == 0;
    } else if (std::strcmp(argv[i], "--json") == 0) {
      json = true;
    } else {
      std::fprintf(stderr,
                   "usage: conv_bench [--runs N] [--threads 1,2] [--only TEXT] "
                   "[--versus xnnpack|direct|avx2] [--json]\n");
      return 2;
    }
  }
  const DenseConvIsa isa = serenity::kernels::DenseConvIsaInUse();
  if (versus_avx2 && !serenity::kernels::DenseConvIsaAvailable(DenseConvIsa::kAvx512)) {
    std::fprintf(stderr, "conv_bench: --versus avx2 needs a CPU with AVX-512F\n");
    return 2;
  }
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  // Column names: the own kernels, then what they are compared with.
  std::vector<const char*> names = {"own"}, json_names = {"own"};
  if (versus_avx2) {
    names.push_back("a2");
    json_names.push_back("avx2");
  }
  names.push_back(versus_direct ? "dir" : "xnn");
  json_names.push_back(versus_direct ? "direct" : "xnnpack");
  if (!json) {
    std::printf("%-26s %3s", "shape", "thr");
    for (const char* name : names) std::printf(" %5s min", name);
    for (const char* name : names) std::printf(" %5s med", name);
    for (const char* name : names) std::printf(" %3s GF/s", name);
    if (names.size() == 2) {
      std::printf(" %7s\n", "speedup");
    } else {
      for (size_t k = 1; k < names.size(); ++k) std::printf(" own/%-3s", names[k]);
      std::printf("\n");
    }
  }
  std::string records;
  for (const ConvShape& s : kShapes) {
    if (std::string(s.name).find(only) == std::string::npos) continue;
    const int out = (s.size + 2 * s.pad - (s.kernel - 1) * s.dilation - 1) / s.stride + 1;
    const int group_in = s.depthwise ? 1 : s.in_channels;
    // +16 floats to start the activations on a 64-byte boundary, as the
    // engine's arena does (alignment changes how many loads split a cache
    // line, which moves these figures by a third).
    std::vector<float> input(static_cast<size_t>(s.size) * s.size * s.in_channels + 64 + 16);
    std::vector<float> weights(static_cast<size_t>(s.out_channels) * s.kernel * s.kernel *
                               group_in);
    std::vector<float> bias(s.out_channels);
    std::vector<float> output(static_cast<size_t>(out) * out * s.out_channels + 64 + 16);
    float* const input_data = AlignTo64(input.data());
    float* const output_data = AlignTo64(output.data());
    for (float& v : input) v = uniform(rng);
    for (float& v : weights) v = uniform(rng);
    for (float& v : bias) v = uniform(rng);

    serenity::Operator op;
    op.name = s.name;
    op.type = serenity::OpType::kConv2D;
    op.inputs = {0, 1, 2};
    op.outputs = {3};
    serenity::Conv2DAttrs attrs;
    attrs.stride_h = attrs.stride_w = s.stride;
    attrs.pad_top = attrs.pad_bottom = attrs.pad_left = attrs.pad_right = s.pad;
    attrs.dilation_h = attrs.dilation_w = s.dilation;
    attrs.groups = s.depthwise ? s.in_channels : 1;
    attrs.activation = serenity::Activation::kRelu;
    op.attrs = attrs;
    const std::vector<OperandView> inputs = {
        {input_data, {1, s.size, s.size, s.in_channels}, s.in_channels},
        {weights.data(), {s.out_channels, s.kernel, s.kernel, group_in}, group_in},
        {bias.data(), {s.out_channels}, s.out_channels}};
    const std::vector<OperandView> outputs = {
        {output_data, {1, out, out, s.out_channels}, s.out_channels}};
    const double flops = 2.0 * out * out * s.out_channels * s.kernel * s.kernel * group_in;
    for (int threads : thread_counts) {
      pthreadpool_t pool = threads > 1 ? pthreadpool_create(threads) : nullptr;
      // Columns: own, then (--versus avx2) own on the AVX2 tile, then the
      // other kernel.
      std::vector<KernelChoice> choices = {KernelChoice::kAuto};
      std::vector<DenseConvIsa> isas = {isa};
      if (versus_avx2) {
        choices.push_back(KernelChoice::kAuto);
        isas.push_back(DenseConvIsa::kAvx2);
      }
      choices.push_back(versus_direct ? KernelChoice::kDirect : KernelChoice::kXnnpack);
      isas.push_back(isa);
      const size_t n = choices.size();
      std::vector<std::unique_ptr<serenity::kernels::BoundOp>> bound(n);
      std::vector<Contender> ops;
      for (size_t k = 0; k < n; ++k) {
        auto result = serenity::kernels::BindOp(op, {}, inputs, outputs, pool, s.name, choices[k]);
        if (!result.ok()) {
          std::fprintf(stderr, "conv_bench: %s\n", result.status().message().c_str());
          return 1;
        }
        bound[k] = std::move(*result);
        ops.push_back({bound[k].get(), isas[k]});
      }
      double ms[3], median[3];
      TimeAll(ops, pool, runs, ms, median);
      if (pool != nullptr) pthreadpool_destroy(pool);
      double gflops[3];
      for (size_t k = 0; k < n; ++k) gflops[k] = flops / ms[k] / 1e6;
      if (json) {
        // Keys: each figure for every column ("own", then the others).
        std::string record = std::string(records.empty() ? "" : ", ") + "{\"shape\": \"" + s.name +
                             "\", \"threads\": " + std::to_string(threads);
        const char* figures[3] = {"min_ms", "median_ms", "gflops"};
        const double* values[3] = {ms, median, gflops};
        for (int f = 0; f < 3; ++f) {
          for (size_t k = 0; k < n; ++k) {
            char field[96];
            std::snprintf(field, sizeof(field), f == 2 ? ", \"%s_%s\": %.2f" : ", \"%s_%s\": %.4f",
                          json_names[k], figures[f], values[f][k]);
            record += field;
          }
        }
        records += record + "}";
      } else {
        std::printf("%-26s %3d", s.name, threads);
        for (size_t k = 0; k < n; ++k) std::printf(" %9.3f", ms[k]);
        for (size_t k = 0; k < n; ++k) std::printf(" %9.3f", median[k]);
        for (size_t k = 0; k < n; ++k) std::printf(" %8.1f", gflops[k]);
        for (size_t k = 1; k < n; ++k) std::printf(" %6.2fx", ms[k] / ms[0]);
        std::printf("\n");
      }
    }
  }
  if (json) std::printf("[%s]\n", records.c_str());
  return 0;
}
