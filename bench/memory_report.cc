// memory_report: the activation memory of every model three ways, in one run
// (DESIGN.md §3, issue 8), each exactly what the runtime does, since every
// figure comes from Engine::Prepare:
//
//   baseline   stored order, TensorFlow Lite's greedy planner, no aliasing
//              (ExecutionPlan::memory.baseline_arena_bytes)
//   order      the optimal order alone: Prepare with rewrites off
//   all        Prepare with rewrites on (the engine's default): the smallest
//              arena of the order alone, with aliasing (in place, zero-copy
//              concat, no-op reshapes), and with aliasing and graph rewrites
//
//   memory_report [--json] [--no-rewrite] [--zoo DIR] [--time-limit S]
//                 [--rewrite-time-limit S] [--rewrite-work N] [--write DIR]
//                 [--peaks] [model.srn ...]
//
// --peaks adds, per model, where the chosen plan peaks: how many steps of its
// order reach the peak, those steps' operator types, and the first of them by
// name (to see which memory saving could lower it); and the chosen plan's
// operator floor (below), with the operator that sets it.
//
// The operator floor (operator_floor.h) is a lower bound of the peak worked
// out from the placements alone (not from the search): the most arena bytes
// one operator's own inputs and outputs cover. A peak equal to it sits at one
// operator whose inputs and outputs are all there is: only a change of that
// operator (a rewrite that splits it, or one that lets its output overwrite
// its input) can lower it. JSON: "all_floor" (bytes) and "all_floor_op".
// A floor above the peak would mean the plan's peak is wrong: the report
// then fails.
//
// --time-limit is the exact search's wall-clock limit per order,
// --rewrite-time-limit the rewrite search's, --rewrite-work its work budget
// (EngineOptions; the defaults are the engine's). The rewrites kept depend
// on the work budget only, unless a wall-clock limit cuts a search short:
// the report lists those models (their figures depend on the machine). --write DIR saves each
// rewritten model as DIR/<name>.rewritten.srn. Arenas include the engine's 16-byte read margin on
// every side of the comparison.
//
// Geometric means of baseline/serenity arena over the irregular models
// (randwire*, darts*, nasnet*, amoebanet*) and over all models given.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "../tools/json_text.h"
#include "operator_floor.h"
#include "serenity/engine.h"
#include "serenity/model_format/model.h"
#include "serenity/status.h"

namespace serenity {
namespace {

using tools::JsonString;

struct Arena {
  uint64_t peak = 0;
  uint64_t arena = 0;
  bool optimal_order = false;
  double plan_ms = 0;  // arena placement time (ArenaInfo::time_ms)
};

struct Row {
  std::string name;
  bool irregular = false;
  Arena baseline, order, all;
  uint64_t aliasing_peak = 0;  // aliasing, optimal order, no rewrite (0: n/a)
  uint64_t rewrites_peak = 0;  // with rewrites (0: none kept)
  int ops_before = 0, ops_after = 0;
  std::string strategy;        // what "all" runs: order, aliasing, rewrites
  std::vector<std::string> applied;
  double rewrite_ms = 0;
  uint64_t rewrite_work = 0;
  std::vector<std::string> time_limited;  // searches a wall-clock limit cut
  double seconds = 0;
  std::string peaks;  // --peaks: the steps at the chosen plan's peak
  bench::OperatorFloor floor;  // of the chosen plan ("all")
};

// "12 steps at the peak: Conv2D x9, Relu x3; first: cell1/dw (Conv2D), ..."
std::string PeakSteps(const ExecutionPlan& plan, const Model& run_model) {
  const std::vector<uint64_t>& bytes = plan.step_footprint_bytes;
  if (bytes.size() != plan.order.size() || bytes.empty()) return "(no footprint)";
  const uint64_t peak = *std::max_element(bytes.begin(), bytes.end());
  std::map<std::string, int> types;
  std::string first;
  int steps = 0, named = 0;
  for (size_t step = 0; step < bytes.size(); ++step) {
    if (bytes[step] != peak) continue;
    ++steps;
    const Operator& op = run_model.operators()[plan.order[step]];
    ++types[OpTypeName(op.type)];
    if (named++ < 4) first += StrCat(first.empty() ? "" : ", ", "step ", step, " ", op.name);
  }
  std::string out = StrCat(steps, " steps at the peak:");
  bool comma = false;
  for (const auto& [type, n] : types) {
    out += StrCat(comma ? ", " : " ", type, " x", n);
    comma = true;
  }
  return StrCat(out, "; first: ", first);
}

// The model `plan` runs: its rewritten model, if it has one, else `source`.
const Model& RunModelOf(const ExecutionPlan& plan, const Model& source) {
  return plan.rewritten_model != nullptr ? *plan.rewritten_model : source;
}

// The plan's operator floor; an error if it is above the plan's peak (the
// peak would then be wrong). `which` names the plan in the message.
Result<bench::OperatorFloor> CheckedFloor(const ExecutionPlan& plan, const Model& source,
                                          const char* which) {
  bench::OperatorFloor floor = bench::FloorOf(plan, RunModelOf(plan, source));
  if (floor.bytes > plan.memory.peak_bytes) {
    return InternalError("operator ", floor.op, "'s tensors cover ", floor.bytes,
                         " bytes, above the ", which, " plan's peak of ", plan.memory.peak_bytes);
  }
  return floor;
}

bool IsIrregular(const std::string& name) {
  for (const char* prefix : {"randwire", "darts", "nasnet", "amoebanet"}) {
    if (name.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

void NoteTimeLimited(const ExecutionPlan& plan, const char* what, Row* row) {
  if (plan.schedule.time_limited) row->time_limited.push_back(StrCat(what, " order"));
  if (plan.arena.time_limited) row->time_limited.push_back(StrCat(what, " arena"));
  if (plan.rewrite_time_limited) row->time_limited.push_back(StrCat(what, " rewrites"));
}

Result<Row> Measure(const std::string& path, bool rewrite, double time_limit,
                    double rewrite_time_limit, uint64_t rewrite_work,
                    const std::string& write_dir, bool peaks) {
  const auto start = std::chrono::steady_clock::now();
  SERENITY_ASSIGN_OR_RETURN(Model model, Model::Load(path));
  Row row;
  row.name = std::filesystem::path(path).stem().string();
  row.irregular = IsIrregular(row.name);
  row.ops_before = row.ops_after = static_cast<int>(model.operators().size());

  EngineOptions options;
  // Every figure from a fresh search: a cache entry of an earlier build (same
  // library version, other code) would report that build's plan.
  options.plan_cache = PlanCacheMode::kOff;
  options.use_stored_plan = false;
  options.schedule_time_limit_seconds = time_limit;
  options.rewrite_time_limit_seconds = rewrite_time_limit;
  options.rewrite_work_limit = rewrite_work;
  options.rewrites = false;
  SERENITY_ASSIGN_OR_RETURN(ExecutionPlan order, Engine::Prepare(model, options));
  row.baseline = {order.memory.stored_order_peak_bytes, order.memory.baseline_arena_bytes, false};
  row.order = {order.memory.peak_bytes, order.memory.arena_bytes, order.schedule.optimal,
               order.arena.time_ms};
  row.all = row.order;
  row.strategy = MemoryStrategyName(order.strategy);
  NoteTimeLimited(order, "order-alone", &row);
  if (peaks) row.peaks = PeakSteps(order, model);
  SERENITY_ASSIGN_OR_RETURN(row.floor, CheckedFloor(order, model, "order-alone"));
  if (rewrite) {
    options.rewrites = true;
    SERENITY_ASSIGN_OR_RETURN(ExecutionPlan all, Engine::Prepare(model, options));
    row.all = {all.memory.peak_bytes, all.memory.arena_bytes, all.schedule.optimal,
               all.arena.time_ms};
    row.aliasing_peak = all.aliasing_peak_bytes;
    row.rewrites_peak = all.rewrites_peak_bytes;
    row.strategy = MemoryStrategyName(all.strategy);
    row.applied = all.rewrites_applied;
    row.rewrite_ms = all.rewrite_time_ms;
    row.rewrite_work = all.rewrite_work;
    NoteTimeLimited(all, "all", &row);
    SERENITY_ASSIGN_OR_RETURN(row.floor, CheckedFloor(all, model, "chosen"));
    if (peaks) {
      row.peaks = PeakSteps(all, RunModelOf(all, model));
      if (!all.windowed_convs.empty()) {
        row.peaks += StrCat("; windowed convs ", all.windowed_convs.size());
      }
      if (!all.last_reader_in_place.empty()) {
        row.peaks += StrCat("; last-reader in place ", all.last_reader_in_place.size());
      }
    }
    if (all.rewritten_model != nullptr) {
      row.ops_after = static_cast<int>(all.rewritten_model->operators().size());
      if (!write_dir.empty()) {
        // Built in memory (no file bytes of its own): serialise it.
        SERENITY_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes,
                                  ModelBuilder::FromModel(*all.rewritten_model).Finish());
        SERENITY_RETURN_IF_ERROR(
            WriteFileAtomically(write_dir + "/" + row.name + ".rewritten.srn", bytes));
      }
    }
  }
  row.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
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

// "merge-duplicates x6, partial-sum x2": operators named by the rewrites kept,
// by kind (ExecutionPlan::rewrites_applied: "kind[ (batch...)]: op, op, ...").
std::string Summary(const Row& row) {
  std::map<std::string, int> count;
  for (const std::string& line : row.applied) {
    const size_t end = std::min(line.find(" ("), line.find(':'));
    int names = 1;  // the operators named after the colon
    for (size_t at = line.find(':'); (at = line.find(", ", at + 1)) != std::string::npos;) {
      ++names;
    }
    count[line.substr(0, end)] += names;
  }
  std::string out;
  for (const auto& [kind, n] : count) out += StrCat(out.empty() ? "" : ", ", kind, " x", n);
  if (out.empty()) return StrCat("- (", row.strategy, ")");
  return StrCat(row.strategy, ": ", out);
}

int Main(int argc, char** argv) {
  bool json = false;
  bool rewrite = true;
  bool peaks = false;
  double time_limit = EngineOptions{}.schedule_time_limit_seconds;
  double rewrite_time_limit = EngineOptions{}.rewrite_time_limit_seconds;
  uint64_t rewrite_work = EngineOptions{}.rewrite_work_limit;
  std::string write_dir;
  std::vector<std::string> paths;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--json") {
      json = true;
    } else if (arg == "--no-rewrite") {
      rewrite = false;
    } else if (arg == "--peaks") {
      peaks = true;
    } else if ((arg == "--zoo" || arg == "--time-limit" || arg == "--rewrite-time-limit" ||
                arg == "--rewrite-work" || arg == "--write") &&
               i + 1 < argc) {
      const std::string value = argv[++i];
      if (arg == "--zoo") {
        std::vector<std::string> found;
        std::error_code error;
        for (const auto& entry : std::filesystem::directory_iterator(value, error)) {
          if (entry.path().extension() == ".srn") found.push_back(entry.path().string());
        }
        if (error) {
          std::fprintf(stderr, "memory_report: cannot list %s: %s\n", value.c_str(),
                       error.message().c_str());
          return 1;
        }
        std::sort(found.begin(), found.end());
        paths.insert(paths.end(), found.begin(), found.end());
      } else if (arg == "--write") {
        write_dir = value;
      } else if (arg == "--time-limit") {
        time_limit = std::atof(value.c_str());
      } else if (arg == "--rewrite-work") {
        rewrite_work = std::strtoull(value.c_str(), nullptr, 10);
      } else {
        rewrite_time_limit = std::atof(value.c_str());
      }
    } else if (!arg.empty() && arg[0] != '-') {
      paths.push_back(arg);
    } else {
      std::fprintf(stderr,
                   "usage: memory_report [--json] [--no-rewrite] [--zoo DIR] "
                   "[--time-limit S] [--rewrite-time-limit S] [--rewrite-work N] [--write DIR] "
                   "[--peaks] [model.srn ...]\n");
      return 2;
    }
  }
  if (paths.empty()) {
    std::fprintf(stderr, "memory_report: no models (give paths or --zoo DIR)\n");
    return 2;
  }

  std::vector<Row> rows;
  for (const std::string& path : paths) {
    Result<Row> row =
        Measure(path, rewrite, time_limit, rewrite_time_limit, rewrite_work, write_dir, peaks);
    if (!row.ok()) {
      std::fprintf(stderr, "memory_report: %s: %s\n", path.c_str(),
                   row.status().ToString().c_str());
      return 1;
    }
    rows.push_back(std::move(row).value());
    if (!json) {
      std::fprintf(stderr, "  %s done in %.1f s (rewrites %.1f s, work %llu)\n",
                   rows.back().name.c_str(), rows.back().seconds, rows.back().rewrite_ms / 1e3,
                   static_cast<unsigned long long>(rows.back().rewrite_work));
    }
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
    std::string j = "{\"models\": [";
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      auto arena = [](const Arena& a) {
        return StrCat("{\"peak\": ", a.peak, ", \"arena\": ", a.arena,
                      ", \"optimal\": ", a.optimal_order ? "true" : "false",
                      ", \"plan_ms\": ", a.plan_ms, "}");
      };
      j += StrCat(i ? ",\n  " : "\n  ", "{\"name\": ", JsonString(r.name),
                  ", \"irregular\": ", r.irregular ? "true" : "false", ", \"ops\": ",
                  r.ops_before, ", \"ops_rewritten\": ", r.ops_after,
                  ", \"baseline\": {\"peak\": ", r.baseline.peak, ", \"arena\": ",
                  r.baseline.arena, "}, \"order\": ", arena(r.order), ", \"all\": ",
                  arena(r.all), ", \"aliasing_peak\": ", r.aliasing_peak,
                  ", \"rewrites_peak\": ", r.rewrites_peak, ", \"strategy\": ",
                  JsonString(r.strategy));
      j +=
          StrCat(", \"ratio_order\": ", Ratio(r.baseline.arena, r.order.arena),
                 ", \"ratio_all\": ", Ratio(r.baseline.arena, r.all.arena),
                 ", \"rewrite_ms\": ", r.rewrite_ms, ", \"rewrite_work\": ", r.rewrite_work,
                 ", \"all_floor\": ", r.floor.bytes, ", \"all_floor_op\": ", JsonString(r.floor.op),
                 ", \"seconds\": ", r.seconds, ", \"time_limited\": [");
      for (size_t d = 0; d < r.time_limited.size(); ++d) {
        j += (d ? ", " : "") + JsonString(r.time_limited[d]);
      }
      j += "], \"applied\": [";
      for (size_t d = 0; d < r.applied.size(); ++d) {
        j += (d ? ", " : "") + JsonString(r.applied[d]);
      }
      j += "]}";
    }
    j += StrCat("\n], \"geomean_irregular\": {\"order\": ", GeoMean(order_irregular),
                ", \"all\": ", GeoMean(all_irregular), "}, \"geomean_all\": {\"order\": ",
                GeoMean(order_every), ", \"all\": ", GeoMean(all_every),
                "}, \"never_above_baseline\": ", never_above_baseline ? "true" : "false",
                ", \"regular_never_worse\": ", regular_never_worse ? "true" : "false", "}");
    std::printf("%s\n", j.c_str());
    return 0;
  }

  std::printf("%-22s %5s %5s | %9s | %9s %9s %7s %6s | %9s %9s %9s %7s %6s | %s\n", "model",
              "ops", "ops'", "base MiB", "order MiB", "peak", "plan ms", "x", "all MiB", "peak",
              "alias pk", "plan ms", "x", "chosen: rewrites kept");
  for (const Row& r : rows) {
    std::printf(
        "%-22s %5d %5d | %9.3f | %9.3f %9.3f %7.1f %5.2fx%s| %9.3f %9.3f %9.3f %7.1f %5.2fx%s| "
        "%s\n",
        r.name.c_str(), r.ops_before, r.ops_after, Mib(r.baseline.arena), Mib(r.order.arena),
        Mib(r.order.peak), r.order.plan_ms, Ratio(r.baseline.arena, r.order.arena),
        r.order.optimal_order ? " " : "*", Mib(r.all.arena), Mib(r.all.peak),
        Mib(r.aliasing_peak), r.all.plan_ms, Ratio(r.baseline.arena, r.all.arena),
        r.all.optimal_order ? " " : "*", Summary(r).c_str());
  }
  if (peaks) {
    std::printf("\nwhere the chosen plans peak (all):\n");
    for (const Row& r : rows) {
      std::printf("  %-22s %s\n  %-22s operator floor %.3f MiB (%s)%s\n", r.name.c_str(),
                  r.peaks.c_str(), "", Mib(r.floor.bytes), r.floor.op.c_str(),
                  r.floor.bytes == r.all.peak ? ": the peak" : "");
    }
  }
  std::printf("\ngeomean irregular (%zu): order %.3fx, all %.3fx\n", order_irregular.size(),
              GeoMean(order_irregular), GeoMean(all_irregular));
  std::printf("geomean all (%zu):       order %.3fx, all %.3fx\n", order_every.size(),
              GeoMean(order_every), GeoMean(all_every));
  std::printf("never above baseline: %s; regular controls never worse: %s\n",
              never_above_baseline ? "yes" : "NO", regular_never_worse ? "yes" : "NO");
  std::string cut;
  for (const Row& r : rows) {
    for (const std::string& what : r.time_limited) {
      cut += StrCat(cut.empty() ? "" : ", ", r.name, " (", what, ")");
    }
  }
  std::printf("cut short by a wall-clock limit (figures depend on this machine): %s\n",
              cut.empty() ? "none" : cut.c_str());
  std::printf("(* = order not proven optimal within the search's limits; arenas: baseline "
              "greedy, others best planner, all with the 16-byte read margin)\n");
  return 0;
}

}  // namespace
}  // namespace serenity

int main(int argc, char** argv) { return serenity::Main(argc, argv); }
