// schedule_bench MODEL.srn [MODEL.srn ...] [--time-limit S] [--memo-limit-mb N]
//                [--aliasing]
//
// For every model, in one run: the stored order's peak, the heuristic's peak,
// the exact search's peak, their ratios, whether the search proved
// optimality, the signatures it explored, its table memory and its time.
// By default pure ordering (no aliasing): the paper's setting. --aliasing
// schedules the memory model the engine uses (scheduler::PlanAliasing with
// the kernels' capabilities: in place, no-op reshapes, zero-copy concat).
// Prints a table, then one JSON object per model per line.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "serenity/model_format/model.h"
#include "serenity/scheduler/alias.h"
#include "serenity/scheduler/graph.h"
#include "serenity/scheduler/memory_model.h"
#include "serenity/scheduler/ordering.h"

#ifdef SERENITY_SCHEDULE_BENCH_WITH_KERNELS
#include "serenity/kernels/op_kernel.h"
#endif

namespace serenity::scheduler {
namespace {

struct Row {
  std::string model;
  size_t ops = 0;
  Schedule stored;
  Schedule heuristic;
  Schedule optimal;
};

std::string BaseName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  const size_t dot = name.rfind(".srn");
  return dot == std::string::npos ? name : name.substr(0, dot);
}

double Ratio(uint64_t a, uint64_t b) { return b == 0 ? 1.0 : static_cast<double>(a) / b; }

// What the engine passes to PlanAliasing (runtime/engine.cc).
AliasCapabilities Capabilities() {
#ifdef SERENITY_SCHEDULE_BENCH_WITH_KERNELS
  return AliasCapabilities::FromFunction([](OpType type) {
    const kernels::OpCapabilities c = kernels::CapabilitiesOf(type);
    return OpAliasCapability{c.strided_input, c.strided_output, c.in_place};
  });
#else
  // Without the kernels library: in place for element-wise ops only.
  AliasCapabilities capabilities;
  for (OpType type : {OpType::kRelu, OpType::kClamp, OpType::kSigmoid, OpType::kHardSwish,
                      OpType::kAdd, OpType::kMul}) {
    capabilities[type].in_place = true;
  }
  return capabilities;
#endif
}

int Main(int argc, char** argv) {
  std::vector<std::string> paths;
  double time_limit = 60.0;
  uint64_t memo_limit_mb = ScheduleOptions{}.memo_limit_bytes >> 20;
  bool aliasing = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--time-limit" && i + 1 < argc) {
      time_limit = std::atof(argv[++i]);
    } else if (arg == "--memo-limit-mb" && i + 1 < argc) {
      memo_limit_mb = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--aliasing") {
      aliasing = true;
    } else if (arg.rfind("--", 0) == 0) {
      std::fprintf(stderr, "schedule_bench: unknown flag '%s'\n", arg.c_str());
      return 1;
    } else {
      paths.push_back(arg);
    }
  }
  if (paths.empty()) {
    std::fprintf(stderr,
                 "usage: schedule_bench MODEL.srn [MODEL.srn ...] [--time-limit S] "
                 "[--memo-limit-mb N] [--aliasing]\n");
    return 1;
  }
  std::vector<Row> rows;
  for (const std::string& path : paths) {
    Result<Model> model = Model::Load(path);
    if (!model.ok()) {
      std::fprintf(stderr, "schedule_bench: %s: %s\n", path.c_str(),
                   model.status().ToString().c_str());
      return 1;
    }
    const Graph graph = GraphFromModel(*model);
    MemoryModel memory = MemoryModel::WithoutAliasing(graph);
    if (aliasing) {
      Result<AliasPlan> plan = PlanAliasing(*model, graph, Capabilities());
      if (!plan.ok()) {
        std::fprintf(stderr, "schedule_bench: %s: %s\n", path.c_str(),
                     plan.status().ToString().c_str());
        return 1;
      }
      memory = std::move(plan->memory);
    }
    Row row;
    row.model = BaseName(path);
    row.ops = graph.ops.size();
    ScheduleOptions options;
    options.time_limit_seconds = time_limit;
    options.memo_limit_bytes = memo_limit_mb << 20;
    for (Algorithm algorithm : {Algorithm::kStored, Algorithm::kHeuristic, Algorithm::kOptimal}) {
      options.algorithm = algorithm;
      Result<Schedule> schedule = ComputeSchedule(graph, memory, options);
      if (!schedule.ok()) {
        std::fprintf(stderr, "schedule_bench: %s: %s\n", path.c_str(),
                     schedule.status().ToString().c_str());
        return 1;
      }
      if (algorithm == Algorithm::kStored) row.stored = *schedule;
      if (algorithm == Algorithm::kHeuristic) row.heuristic = *schedule;
      if (algorithm == Algorithm::kOptimal) row.optimal = *schedule;
    }
    rows.push_back(std::move(row));
  }

  std::printf("%s\n", aliasing ? "aliasing: in place, reshapes, zero-copy concat"
                                : "no aliasing");
  std::printf("%-32s %5s %12s %12s %12s %7s %7s %8s %10s %9s %9s\n", "model", "ops",
              "stored_KiB", "heur_KiB", "optimal_KiB", "st/opt", "he/opt", "proven",
              "states", "memo_MiB", "time_ms");
  double log_sum = 0;
  for (const Row& row : rows) {
    std::printf("%-32s %5zu %12.1f %12.1f %12.1f %7.3f %7.3f %8s %10llu %9.1f %9.1f\n",
                row.model.c_str(), row.ops, row.stored.peak_bytes / 1024.0,
                row.heuristic.peak_bytes / 1024.0, row.optimal.peak_bytes / 1024.0,
                Ratio(row.stored.peak_bytes, row.optimal.peak_bytes),
                Ratio(row.heuristic.peak_bytes, row.optimal.peak_bytes),
                row.optimal.optimal ? "yes" : "NO",
                static_cast<unsigned long long>(row.optimal.stats.states),
                row.optimal.stats.memo_bytes / (1024.0 * 1024.0), row.optimal.stats.time_ms);
    log_sum += std::log(Ratio(row.stored.peak_bytes, row.optimal.peak_bytes));
  }
  if (!rows.empty()) {
    std::printf("geometric mean stored/optimal: %.3f\n", std::exp(log_sum / rows.size()));
  }
  for (const Row& row : rows) {
    std::printf(
        "{\"model\": \"%s\", \"aliasing\": %s, \"ops\": %zu, \"stored_order_peak_bytes\": %llu, "
        "\"heuristic_peak_bytes\": %llu, \"optimal_peak_bytes\": %llu, \"optimal\": %s, "
        "\"lower_bound_bytes\": %llu, \"stored_over_optimal\": %.4f, "
        "\"heuristic_over_optimal\": %.4f, \"states\": %llu, \"memo_bytes\": %llu, "
        "\"time_ms\": %.2f, \"heuristic_time_ms\": %.2f}\n",
        row.model.c_str(), aliasing ? "true" : "false", row.ops,
        static_cast<unsigned long long>(row.stored.peak_bytes),
        static_cast<unsigned long long>(row.heuristic.peak_bytes),
        static_cast<unsigned long long>(row.optimal.peak_bytes),
        row.optimal.optimal ? "true" : "false",
        static_cast<unsigned long long>(row.optimal.lower_bound_bytes),
        Ratio(row.stored.peak_bytes, row.optimal.peak_bytes),
        Ratio(row.heuristic.peak_bytes, row.optimal.peak_bytes),
        static_cast<unsigned long long>(row.optimal.stats.states),
        static_cast<unsigned long long>(row.optimal.stats.memo_bytes), row.optimal.stats.time_ms,
        row.heuristic.stats.time_ms);
  }
  return 0;
}

}  // namespace
}  // namespace serenity::scheduler

int main(int argc, char** argv) { return serenity::scheduler::Main(argc, argv); }
