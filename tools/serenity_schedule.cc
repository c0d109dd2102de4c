// serenity_schedule MODEL.srn [MODEL.srn ...] [--algorithm optimal|heuristic|stored]
//                   [--no-rewrite] [--time-limit S] [--json]
//
// Computes an operator order for each model and prints its peak of live
// activation memory next to the stored order's and the heuristic's. A bad
// flag or a file the reader rejects: one line on stderr, exit code 1.
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "json_text.h"
#include "serenity/model_format/model.h"
#include "serenity/scheduler/graph.h"
#include "serenity/scheduler/memory_model.h"
#include "serenity/scheduler/ordering.h"
#ifdef SERENITY_SCHEDULE_WITH_RUNTIME
#include "serenity/engine.h"
#endif

namespace serenity::scheduler {
namespace {

constexpr char kUsage[] =
    "usage: serenity_schedule MODEL.srn [MODEL.srn ...] [--algorithm optimal|heuristic|stored]\n"
    "                         [--no-rewrite] [--time-limit S] [--json]\n"
    "\n"
    "Finds an operator order with a small peak of live activation memory (DESIGN.md 2).\n"
    "  --algorithm A   optimal (default): exact search, proven optimal unless a limit stops it;\n"
    "                  heuristic: best of several greedy and depth-first orders;\n"
    "                  stored: the order in the file.\n"
    "  --no-rewrite    pure ordering: no rewrites, no in-place, no zero-copy concat.\n"
    "                  Without it the figures are the engine's (Engine::Prepare): the\n"
    "                  order of the smallest arena among the order alone, with aliasing,\n"
    "                  and with aliasing and graph rewrites (column 'strategy').\n"
    "  --time-limit S  wall-clock budget of the exact search per model, in seconds\n"
    "                  (default 10; 0 means none). When it runs out the best order found\n"
    "                  is printed with optimal=false and a proven lower bound.\n"
    "  --json          one JSON object per model per line instead of a table.\n";

struct Flags {
  std::vector<std::string> models;
  Algorithm algorithm = Algorithm::kOptimal;
  bool rewrite = true;
  double time_limit_seconds = 10.0;
  bool json = false;
};

using serenity::tools::JsonString;

Status ParseFlags(int argc, char** argv, Flags& flags) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_value = false;
    const size_t equals = arg.find('=');
    if (arg.rfind("--", 0) == 0 && equals != std::string::npos) {
      value = arg.substr(equals + 1);
      arg = arg.substr(0, equals);
      has_value = true;
    }
    auto take_value = [&]() -> Status {
      if (has_value) return Status::Ok();
      if (i + 1 >= argc) return InvalidArgumentError("flag ", arg, " needs a value");
      value = argv[++i];
      return Status::Ok();
    };
    if (arg == "--algorithm") {
      SERENITY_RETURN_IF_ERROR(take_value());
      SERENITY_ASSIGN_OR_RETURN(flags.algorithm, ParseAlgorithm(value));
    } else if (arg == "--time-limit") {
      SERENITY_RETURN_IF_ERROR(take_value());
      char* end = nullptr;
      errno = 0;
      const double seconds = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || errno != 0 || !std::isfinite(seconds) ||
          seconds < 0) {
        return InvalidArgumentError("--time-limit expects a number of seconds >= 0, got '",
                                    value, "'");
      }
      flags.time_limit_seconds = seconds;
    } else if (arg == "--no-rewrite" && !has_value) {
      flags.rewrite = false;
    } else if (arg == "--json" && !has_value) {
      flags.json = true;
    } else if (arg.size() > 1 && arg[0] == '-') {
      return InvalidArgumentError("unknown flag '", argv[i], "' (see --help)");
    } else {
      flags.models.push_back(arg);
    }
  }
  if (flags.models.empty()) return InvalidArgumentError("no model given (see --help)");
  return Status::Ok();
}

struct Report {
  std::string model;
  size_t ops = 0;
  Schedule schedule;
  uint64_t stored_peak = 0;
  uint64_t heuristic_peak = 0;
  std::string strategy = "order";  // what the engine would run (rewrite mode)
};

Result<Report> ScheduleModel(const std::string& path, const Flags& flags) {
  SERENITY_ASSIGN_OR_RETURN(Model model, Model::Load(path));
  const Graph graph = GraphFromModel(model);
  const MemoryModel memory = MemoryModel::WithoutAliasing(graph);
  ScheduleOptions options;
  options.time_limit_seconds = flags.time_limit_seconds;
  Report report;
  report.model = path;
  report.ops = graph.ops.size();
  options.algorithm = Algorithm::kStored;
  SERENITY_ASSIGN_OR_RETURN(Schedule stored, ComputeSchedule(graph, memory, options));
  options.algorithm = Algorithm::kHeuristic;
  SERENITY_ASSIGN_OR_RETURN(Schedule heuristic, ComputeSchedule(graph, memory, options));
  report.stored_peak = stored.peak_bytes;
  report.heuristic_peak = heuristic.peak_bytes;
  if (flags.algorithm == Algorithm::kStored) {
    report.schedule = std::move(stored);
  } else if (flags.algorithm == Algorithm::kHeuristic) {
    report.schedule = std::move(heuristic);
  } else {
    options.algorithm = Algorithm::kOptimal;
    SERENITY_ASSIGN_OR_RETURN(report.schedule, ComputeSchedule(graph, memory, options));
  }
  if (flags.rewrite) {
#ifdef SERENITY_SCHEDULE_WITH_RUNTIME
    // The engine's own decision, so these figures are what serenity_run runs.
    EngineOptions engine_options;
    engine_options.scheduler = flags.algorithm;
    engine_options.schedule_time_limit_seconds = flags.time_limit_seconds;
    SERENITY_ASSIGN_OR_RETURN(ExecutionPlan plan, Engine::Prepare(model, engine_options));
    report.ops = plan.order.size();
    report.strategy = MemoryStrategyName(plan.strategy);
    report.schedule.order = plan.order;
    report.schedule.peak_bytes = plan.memory.peak_bytes;
    report.schedule.optimal = plan.schedule.optimal;
    report.schedule.lower_bound_bytes = plan.schedule.lower_bound_bytes;
    report.schedule.stats.states = plan.schedule.states;
    report.schedule.stats.memo_bytes = 0;
    report.schedule.stats.time_ms = plan.schedule.time_ms;
#else
    return UnsupportedError("this build has no runtime (XNNPACK), so no aliasing or "
                            "rewrites: use --no-rewrite");
#endif
  }
  return report;
}

void PrintJson(const Report& report, const Flags& flags) {
  const Schedule& s = report.schedule;
  std::printf(
      "{\"model\": %s, \"ops\": %zu, \"algorithm\": \"%s\", \"rewrite\": %s, "
      "\"strategy\": \"%s\", \"optimal\": %s, "
      "\"peak_bytes\": %llu, \"lower_bound_bytes\": %llu, \"stored_order_peak_bytes\": %llu, "
      "\"heuristic_peak_bytes\": %llu, \"states\": %llu, \"memo_bytes\": %llu, "
      "\"time_ms\": %.3f}\n",
      JsonString(report.model).c_str(), report.ops, AlgorithmName(s.algorithm),
      flags.rewrite ? "true" : "false", report.strategy.c_str(), s.optimal ? "true" : "false",
      static_cast<unsigned long long>(s.peak_bytes),
      static_cast<unsigned long long>(s.lower_bound_bytes),
      static_cast<unsigned long long>(report.stored_peak),
      static_cast<unsigned long long>(report.heuristic_peak),
      static_cast<unsigned long long>(s.stats.states),
      static_cast<unsigned long long>(s.stats.memo_bytes), s.stats.time_ms);
}

void PrintTableHeader() {
  std::printf("%-40s %6s %-9s %-8s %8s %14s %14s %14s %14s %10s %10s\n", "model", "ops",
              "algorithm", "strategy", "optimal", "peak_bytes", "lower_bound", "stored_peak", "heuristic_peak",
              "states", "time_ms");
}

void PrintTableRow(const Report& report) {
  const Schedule& s = report.schedule;
  std::printf("%-40s %6zu %-9s %-8s %8s %14llu %14llu %14llu %14llu %10llu %10.1f\n",
              report.model.c_str(), report.ops, AlgorithmName(s.algorithm),
              report.strategy.c_str(), s.optimal ? "yes" : "no", static_cast<unsigned long long>(s.peak_bytes),
              static_cast<unsigned long long>(s.lower_bound_bytes),
              static_cast<unsigned long long>(report.stored_peak),
              static_cast<unsigned long long>(report.heuristic_peak),
              static_cast<unsigned long long>(s.stats.states), s.stats.time_ms);
}

int Main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
  }
  Flags flags;
  const Status parsed = ParseFlags(argc, argv, flags);
  if (!parsed.ok()) {
    std::fprintf(stderr, "serenity_schedule: %s\n", parsed.message().c_str());
    return 1;
  }
  if (!flags.json) PrintTableHeader();
  for (const std::string& path : flags.models) {
    Result<Report> report = ScheduleModel(path, flags);
    if (!report.ok()) {
      std::fflush(stdout);
      // The reader's messages already name the file.
      const std::string message = report.status().ToString();
      if (message.find(path) != std::string::npos) {
        std::fprintf(stderr, "serenity_schedule: %s\n", message.c_str());
      } else {
        std::fprintf(stderr, "serenity_schedule: %s: %s\n", path.c_str(), message.c_str());
      }
      return 1;
    }
    if (flags.json) {
      PrintJson(*report, flags);
    } else {
      PrintTableRow(*report);
    }
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace
}  // namespace serenity::scheduler

int main(int argc, char** argv) { return serenity::scheduler::Main(argc, argv); }
