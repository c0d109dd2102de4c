// memory_report: the activation memory of every model three ways, in one run
// (DESIGN.md §3, issue 8):
//
//   baseline   stored order, TensorFlow Lite's greedy planner, no aliasing
//   order      the optimal order alone (no rewrite, no aliasing), best planner
//   all        rewrites + in-place + zero-copy concat + optimal order + best
//              planner
//
//   memory_report [--json] [--no-rewrite] [--zoo DIR] [--time-limit S]
//                 [--rewrite-time-limit S] [--write DIR] [--dump-plans DIR]
//                 [model.srn ...]
//
// --write DIR saves each rewritten model as DIR/<name>.rewritten.srn.
// --dump-plans DIR saves every planning instance the best planner gets as
// DIR/<name>.<order|aliasing|all>.csv (`id,lower,upper,size`, half-open, the
// format serenity_plan and plan_bench read; sizes are multiples of the
// 64-byte arena alignment, so alignment 1 gives the same plans).
// "plan ms" is the best planner's time on the order-alone instance and the
// longest of its times on the "all" instances.
//
// Geometric means of baseline/serenity arena over the irregular models
// (randwire*, darts*, nasnet*, amoebanet*) and over all models given.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "serenity/model_format/model.h"
#include "serenity/scheduler/alias.h"
#include "serenity/scheduler/arena_planner.h"
#include "serenity/scheduler/graph.h"
#include "serenity/scheduler/memory_model.h"
#include "serenity/scheduler/ordering.h"
#include "serenity/scheduler/rewrite.h"
#include "serenity/status.h"

#ifdef SERENITY_MEMORY_REPORT_WITH_KERNELS
#include "serenity/kernels/op_kernel.h"
#endif

namespace serenity {
namespace {

using scheduler::AliasCapabilities;
using scheduler::OpAliasCapability;

struct Arena {
  uint64_t peak = 0;
  uint64_t arena = 0;
  bool optimal_order = false;
  double plan_ms = 0;  // the planner's own time_ms
};

struct Row {
  std::string name;
  bool irregular = false;
  Arena baseline, order, all;
  uint64_t alias_only_peak = 0;  // aliasing, optimal order, no rewrite
  int ops_before = 0, ops_after = 0;
  std::vector<scheduler::RewriteDecision> applied;
  int trials = 0;
  // Which plan "all" is: the rewritten model's, or (when its arena is not
  // smaller) aliasing alone, or the order alone.
  std::string chosen = "rewrites";
  bool out_of_time = false;
  double seconds = 0;
  double all_plan_ms = 0;  // longest planner time among the "all" candidates
};

AliasCapabilities Capabilities() {
#ifdef SERENITY_MEMORY_REPORT_WITH_KERNELS
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

Status DumpPlan(const std::string& path, const std::vector<scheduler::PlanBuffer>& buffers) {
  std::string text = "id,lower,upper,size\n";
  for (size_t i = 0; i < buffers.size(); ++i) {
    text += StrCat(i, ",", buffers[i].first, ",", int64_t{buffers[i].last} + 1, ",",
                   buffers[i].size, "\n");
  }
  return WriteFileAtomically(path, std::vector<uint8_t>(text.begin(), text.end()));
}

// `dump_path` empty: no dump.
Result<Arena> PlanFor(const scheduler::Graph& graph, const scheduler::MemoryModel& memory,
                      const scheduler::Schedule& schedule, scheduler::PlannerKind kind,
                      const std::string& dump_path = "") {
  const std::vector<scheduler::LiveRange> ranges =
      scheduler::ComputeLiveRanges(graph, memory, schedule.order);
  std::vector<scheduler::PlanBuffer> buffers;
  for (size_t b = 0; b < memory.buffers.size(); ++b) {
    if (ranges[b].first > ranges[b].last) continue;
    buffers.push_back(
        {memory.buffers[b].bytes, ranges[b].first, ranges[b].last, scheduler::kArenaAlignment});
  }
  if (!dump_path.empty()) SERENITY_RETURN_IF_ERROR(DumpPlan(dump_path, buffers));
  scheduler::PlanOptions options;
  options.kind = kind;
  SERENITY_ASSIGN_OR_RETURN(scheduler::ArenaPlan plan, scheduler::PlanArena(buffers, options));
  SERENITY_RETURN_IF_ERROR(scheduler::ValidateArenaPlan(buffers, plan, 0));
  return Arena{schedule.peak_bytes, plan.arena_bytes, schedule.optimal, plan.time_ms};
}

bool IsIrregular(const std::string& name) {
  for (const char* prefix : {"randwire", "darts", "nasnet", "amoebanet"}) {
    if (name.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

Result<Row> Measure(const std::string& path, bool rewrite, double time_limit,
                    double rewrite_time_limit, const std::string& write_dir,
                    const std::string& dump_dir) {
  const auto start = std::chrono::steady_clock::now();
  SERENITY_ASSIGN_OR_RETURN(Model model, Model::Load(path));
  Row row;
  row.name = std::filesystem::path(path).stem().string();
  row.irregular = IsIrregular(row.name);
  auto dump = [&](const char* what) {
    return dump_dir.empty() ? std::string() : StrCat(dump_dir, "/", row.name, ".", what, ".csv");
  };
  const scheduler::Graph graph = scheduler::GraphFromModel(model);
  const scheduler::MemoryModel plain = scheduler::MemoryModel::WithoutAliasing(graph);
  row.ops_before = static_cast<int>(graph.ops.size());

  scheduler::ScheduleOptions stored_options;
  stored_options.algorithm = scheduler::Algorithm::kStored;
  SERENITY_ASSIGN_OR_RETURN(scheduler::Schedule stored,
                            scheduler::ComputeSchedule(graph, plain, stored_options));
  SERENITY_ASSIGN_OR_RETURN(row.baseline,
                            PlanFor(graph, plain, stored, scheduler::PlannerKind::kGreedy));

  scheduler::ScheduleOptions optimal_options;
  optimal_options.algorithm = scheduler::Algorithm::kOptimal;
  optimal_options.time_limit_seconds = time_limit;
  SERENITY_ASSIGN_OR_RETURN(scheduler::Schedule optimal,
                            scheduler::ComputeSchedule(graph, plain, optimal_options));
  SERENITY_ASSIGN_OR_RETURN(
      row.order, PlanFor(graph, plain, optimal, scheduler::PlannerKind::kBest, dump("order")));

  scheduler::RewriteOptions options;
  options.capabilities = Capabilities();
  options.schedule = optimal_options;
  options.time_limit_seconds = rewrite_time_limit;
  if (!rewrite) {
    options.channel_wise = options.kernel_wise = options.partial_sum = false;
    options.choose_copy_concats = false;
  }
  SERENITY_ASSIGN_OR_RETURN(scheduler::RewriteResult result,
                            scheduler::RewriteForMemory(model, options));
  row.alias_only_peak = result.initial_peak_bytes;
  if (!write_dir.empty()) {
    const uint8_t* bytes = result.model.bytes();
    SERENITY_RETURN_IF_ERROR(
        WriteFileAtomically(write_dir + "/" + row.name + ".rewritten.srn",
                            std::vector<uint8_t>(bytes, bytes + result.model.size_bytes())));
  }
  row.ops_after = static_cast<int>(result.graph.ops.size());
  SERENITY_ASSIGN_OR_RETURN(row.all, PlanFor(result.graph, result.alias.memory, result.schedule,
                                             scheduler::PlannerKind::kBest, dump("all")));
  row.all_plan_ms = row.all.plan_ms;
  // Rewrites are kept by their peak; the arena has the last word: when the
  // planner does not turn a lower peak into a smaller arena, the pipeline
  // falls back to aliasing alone, then to the order alone.
  scheduler::RewriteOptions alias_only = options;
  alias_only.merge_duplicates = alias_only.channel_wise = alias_only.kernel_wise = false;
  alias_only.partial_sum = alias_only.choose_copy_concats = false;
  SERENITY_ASSIGN_OR_RETURN(scheduler::RewriteResult aliased,
                            scheduler::RewriteForMemory(model, alias_only));
  SERENITY_ASSIGN_OR_RETURN(Arena aliased_arena,
                            PlanFor(aliased.graph, aliased.alias.memory, aliased.schedule,
                                    scheduler::PlannerKind::kBest, dump("aliasing")));
  row.all_plan_ms = std::max(row.all_plan_ms, aliased_arena.plan_ms);
  if (aliased_arena.arena < row.all.arena) {
    row.all = aliased_arena;
    row.chosen = "aliasing";
    result.decisions.clear();
    row.ops_after = row.ops_before;
  }
  if (row.order.arena < row.all.arena) {
    row.all = row.order;
    row.chosen = "order";
    result.decisions.clear();
    row.ops_after = row.ops_before;
  }
  for (const scheduler::RewriteDecision& decision : result.decisions) {
    if (decision.applied) row.applied.push_back(decision);
  }
  row.trials = static_cast<int>(result.decisions.size());
  row.out_of_time = result.out_of_time;
  row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return row;
}

double Mib(uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }
double Ratio(uint64_t a, uint64_t b) { return b == 0 ? 0.0 : static_cast<double>(a) / b; }

double GeoMean(const std::vector<double>& values) {
  if (values.empty()) return 0.0;
  double log_sum = 0;
  for (double v : values) log_sum += std::log(v);
  return std::exp(log_sum / values.size());
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string Summary(const Row& row) {
  std::map<std::string, int> count;
  for (const auto& d : row.applied) {
    count[scheduler::RewriteKindName(d.kind)] += static_cast<int>(d.operators.size());
  }
  std::string out;
  for (const auto& [kind, n] : count) {
    out += StrCat(out.empty() ? "" : ", ", kind, " x", n);
  }
  if (row.chosen != "rewrites") return StrCat("- (", row.chosen, " alone: smaller arena)");
  return out.empty() ? "-" : out;
}

int Main(int argc, char** argv) {
  bool json = false;
  bool rewrite = true;
  double time_limit = 30.0;
  double rewrite_time_limit = 120.0;
  std::string write_dir;
  std::string dump_dir;
  std::vector<std::string> paths;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--json") {
      json = true;
    } else if (arg == "--no-rewrite") {
      rewrite = false;
    } else if ((arg == "--zoo" || arg == "--time-limit" || arg == "--rewrite-time-limit" ||
                arg == "--write" || arg == "--dump-plans") &&
               i + 1 < argc) {
      const std::string value = argv[++i];
      if (arg == "--zoo") {
        std::vector<std::string> found;
        for (const auto& entry : std::filesystem::directory_iterator(value)) {
          if (entry.path().extension() == ".srn") found.push_back(entry.path().string());
        }
        std::sort(found.begin(), found.end());
        paths.insert(paths.end(), found.begin(), found.end());
      } else if (arg == "--write") {
        write_dir = value;
      } else if (arg == "--dump-plans") {
        dump_dir = value;
      } else if (arg == "--time-limit") {
        time_limit = std::atof(value.c_str());
      } else {
        rewrite_time_limit = std::atof(value.c_str());
      }
    } else if (!arg.empty() && arg[0] != '-') {
      paths.push_back(arg);
    } else {
      std::fprintf(stderr,
                   "usage: memory_report [--json] [--no-rewrite] [--zoo DIR] "
                   "[--time-limit S] [--rewrite-time-limit S] [--write DIR] [--dump-plans DIR] "
                   "[model.srn ...]\n");
      return 2;
    }
  }
  if (paths.empty()) {
    std::fprintf(stderr, "memory_report: no models (give paths or --zoo DIR)\n");
    return 2;
  }

  std::vector<Row> rows;
  for (const std::string& path : paths) {
    Result<Row> row = Measure(path, rewrite, time_limit, rewrite_time_limit, write_dir, dump_dir);
    if (!row.ok()) {
      std::fprintf(stderr, "memory_report: %s: %s\n", path.c_str(),
                   row.status().ToString().c_str());
      return 1;
    }
    rows.push_back(std::move(row).value());
    if (!json)
      std::fprintf(stderr, "  %s done in %.1f s\n", rows.back().name.c_str(), rows.back().seconds);
  }

  std::vector<double> order_irregular, all_irregular, order_every, all_every;
  bool never_above_baseline = true;
  bool regular_never_worse = true;
  for (const Row& row : rows) {
    const double order_ratio = Ratio(row.baseline.arena, row.order.arena);
    const double all_ratio = Ratio(row.baseline.arena, row.all.arena);
    order_every.push_back(order_ratio);
    all_every.push_back(all_ratio);
    if (row.irregular) {
      order_irregular.push_back(order_ratio);
      all_irregular.push_back(all_ratio);
    }
    if (row.order.arena > row.baseline.arena || row.all.arena > row.baseline.arena) {
      never_above_baseline = false;
      if (!row.irregular) regular_never_worse = false;
    }
  }

  if (json) {
    std::printf("{\n  \"models\": [\n");
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      std::printf(
          "    {\"name\": \"%s\", \"irregular\": %s, \"ops\": %d, \"ops_rewritten\": %d,\n"
          "     \"baseline\": {\"peak\": %llu, \"arena\": %llu},\n"
          "     \"order\": {\"peak\": %llu, \"arena\": %llu, \"optimal\": %s, "
          "\"plan_ms\": %.2f},\n"
          "     \"all\": {\"peak\": %llu, \"arena\": %llu, \"optimal\": %s, "
          "\"aliasing_only_peak\": %llu, \"plan_ms\": %.2f},\n"
          "     \"ratio_order\": %.4f, \"ratio_all\": %.4f, \"trials\": %d, "
          "\"out_of_time\": %s, \"seconds\": %.2f, \"chosen\": \"%s\",\n     \"applied\": [",
          JsonEscape(r.name).c_str(), r.irregular ? "true" : "false", r.ops_before, r.ops_after,
          (unsigned long long)r.baseline.peak, (unsigned long long)r.baseline.arena,
          (unsigned long long)r.order.peak, (unsigned long long)r.order.arena,
          r.order.optimal_order ? "true" : "false", r.order.plan_ms, (unsigned long long)r.all.peak,
          (unsigned long long)r.all.arena, r.all.optimal_order ? "true" : "false",
          (unsigned long long)r.alias_only_peak, r.all_plan_ms,
          Ratio(r.baseline.arena, r.order.arena), Ratio(r.baseline.arena, r.all.arena), r.trials,
          r.out_of_time ? "true" : "false", r.seconds, r.chosen.c_str());
      for (size_t d = 0; d < r.applied.size(); ++d) {
        const auto& decision = r.applied[d];
        std::printf(
            "%s\n       {\"kind\": \"%s\", \"batch\": %s, \"peak_before\": %llu, "
            "\"peak_after\": %llu, \"sites\": [",
            d == 0 ? "" : ",", scheduler::RewriteKindName(decision.kind),
            decision.batch ? "true" : "false", (unsigned long long)decision.peak_before,
            (unsigned long long)decision.peak_after);
        for (size_t s = 0; s < decision.operators.size(); ++s) {
          std::printf("%s\"%s\"", s == 0 ? "" : ", ", JsonEscape(decision.operators[s]).c_str());
        }
        std::printf("]}");
      }
      std::printf("]}%s\n", i + 1 == rows.size() ? "" : ",");
    }
    std::printf(
        "  ],\n  \"geomean_irregular\": {\"order\": %.4f, \"all\": %.4f},\n"
        "  \"geomean_all\": {\"order\": %.4f, \"all\": %.4f},\n"
        "  \"never_above_baseline\": %s, \"regular_never_worse\": %s\n}\n",
        GeoMean(order_irregular), GeoMean(all_irregular), GeoMean(order_every), GeoMean(all_every),
        never_above_baseline ? "true" : "false", regular_never_worse ? "true" : "false");
    return 0;
  }

  std::printf("%-22s %5s %5s | %9s | %9s %9s %6s %8s | %9s %9s %9s %6s %8s | %s\n", "model", "ops",
              "ops'", "base MiB", "order MiB", "peak", "x", "plan ms", "all MiB", "peak",
              "alias pk", "x", "plan ms", "rewrites applied");
  for (const Row& r : rows) {
    std::printf(
        "%-22s %5d %5d | %9.3f | %9.3f %9.3f %5.2fx%s%8.1f | %9.3f %9.3f %9.3f %5.2fx%s%8.1f | "
        "%s\n",
        r.name.c_str(), r.ops_before, r.ops_after, Mib(r.baseline.arena), Mib(r.order.arena),
        Mib(r.order.peak), Ratio(r.baseline.arena, r.order.arena),
        r.order.optimal_order ? " " : "*", r.order.plan_ms, Mib(r.all.arena), Mib(r.all.peak),
        Mib(r.alias_only_peak), Ratio(r.baseline.arena, r.all.arena),
        r.all.optimal_order ? " " : "*", r.all_plan_ms, Summary(r).c_str());
  }
  std::printf("\ngeomean irregular (%zu): order %.3fx, all %.3fx\n", order_irregular.size(),
              GeoMean(order_irregular), GeoMean(all_irregular));
  std::printf("geomean all (%zu):       order %.3fx, all %.3fx\n", order_every.size(),
              GeoMean(order_every), GeoMean(all_every));
  std::printf("never above baseline: %s; regular controls never worse: %s\n",
              never_above_baseline ? "yes" : "NO", regular_never_worse ? "yes" : "NO");
  std::printf(
      "(* = order not proven optimal within the time limit; arenas: baseline greedy, "
      "others best planner)\n");
  return 0;
}

}  // namespace
}  // namespace serenity

int main(int argc, char** argv) { return serenity::Main(argc, argv); }
