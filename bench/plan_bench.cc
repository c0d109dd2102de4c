// Arena planners on the eleven MiniMalloc "challenging" instances: the lower
// bound, greedy's arena (TensorFlow Lite's rule) and best's arena and time.
// Prints a table, then one JSON object. A benchmark, not a test.
//
//   plan_bench [--data DIR] [--time-limit S] [--only A,C,...]
//   plan_bench --zoo DIR [--time-limit S] [--write-csv DIR]
//
// With --zoo, the instances are the zoo models under their optimal order
// (the order alone: one buffer per tensor, 64-byte alignment, the exact
// search's order with its default limits), so "arena = peak" is checked on
// the planner alone; --write-csv saves each instance in serenity_plan's CSV
// format (id,lower,upper,size; half-open steps) for serenity_plan --csv.
#include <dirent.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "serenity/model_format/model.h"
#include "serenity/scheduler/alias.h"
#include "serenity/scheduler/arena_planner.h"
#include "serenity/scheduler/graph.h"
#include "serenity/scheduler/memory_model.h"
#include "serenity/scheduler/ordering.h"
#include "serenity/scheduler/plan_csv.h"

#ifndef SERENITY_PLAN_BENCH_DATA
#define SERENITY_PLAN_BENCH_DATA "bench/data/minimalloc-challenging"
#endif

namespace {

using serenity::scheduler::ArenaPlan;
using serenity::scheduler::PlanArena;
using serenity::scheduler::PlanOptions;
using serenity::scheduler::PlannerKind;

constexpr uint64_t kCapacity = 1048576;

struct Row {
  std::string instance;
  size_t buffers = 0;
  uint64_t bound = 0;
  uint64_t greedy = 0;
  double greedy_ms = 0;
  bool best_ok = false;
  uint64_t best = 0;
  bool best_optimal = false;
  bool best_valid = false;
  double best_ms = 0;
  std::string error;
};

constexpr char kUsage[] =
    "usage: plan_bench [--data DIR] [--time-limit S] [--only A,B,...]\n"
    "       plan_bench --zoo DIR [--time-limit S] [--write-csv DIR]\n";

int Usage(const char* message) {
  std::fprintf(stderr, "plan_bench: %s\n%s", message, kUsage);
  return 1;
}

// The model's buffers under its optimal order, without aliasing.
serenity::Result<std::vector<serenity::scheduler::PlanBuffer>> ZooBuffers(
    const serenity::Model& model, serenity::scheduler::Schedule* schedule) {
  namespace sch = serenity::scheduler;
  const sch::Graph graph = sch::GraphFromModel(model);
  const sch::AliasPlan alias = sch::PlanWithoutAliasing(model, graph);
  SERENITY_ASSIGN_OR_RETURN(*schedule,
                            sch::ComputeSchedule(graph, alias.memory, sch::ScheduleOptions{}));
  const std::vector<sch::LiveRange> ranges =
      sch::ComputeLiveRanges(graph, alias.memory, schedule->order);
  std::vector<sch::PlanBuffer> buffers(alias.memory.buffers.size());
  for (size_t b = 0; b < buffers.size(); ++b) {
    buffers[b].size = alias.memory.buffers[b].bytes;
    buffers[b].first = ranges[b].first;
    buffers[b].last = ranges[b].last;
    buffers[b].alignment = sch::kArenaAlignment;
  }
  return buffers;
}

std::string PlanCsvText(const std::vector<serenity::scheduler::PlanBuffer>& buffers) {
  std::string text = "id,lower,upper,size\n";
  for (size_t b = 0; b < buffers.size(); ++b) {
    text += std::to_string(b) + "," + std::to_string(buffers[b].first) + "," +
            std::to_string(buffers[b].last + 1) + "," + std::to_string(buffers[b].size) + "\n";
  }
  return text;
}

int Zoo(const std::string& dir, double time_limit, const std::string& csv_dir) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* entry = ::readdir(d)) {
      const std::string name = entry->d_name;
      if (name.size() > 4 && name.compare(name.size() - 4, 4, ".srn") == 0 &&
          name.find(".rewritten.") == std::string::npos) {
        names.push_back(name);
      }
    }
    ::closedir(d);
  } else {
    return Usage(("cannot list --zoo " + dir).c_str());
  }
  std::sort(names.begin(), names.end());
  std::printf("%-22s %7s %6s %10s %10s %7s %10s %7s %9s\n", "model", "buffers", "proven",
              "peak", "greedy", "x peak", "best", "x peak", "best ms");
  int off_peak = 0;
  for (const std::string& name : names) {
    serenity::Result<serenity::Model> model = serenity::Model::Load(dir + "/" + name);
    if (!model.ok()) return Usage((name + ": " + model.status().ToString()).c_str());
    serenity::scheduler::Schedule schedule;
    auto buffers = ZooBuffers(*model, &schedule);
    if (!buffers.ok()) return Usage((name + ": " + buffers.status().ToString()).c_str());
    if (!csv_dir.empty()) {
      std::ofstream(csv_dir + "/" + name.substr(0, name.size() - 4) + ".csv")
          << PlanCsvText(*buffers);
    }
    PlanOptions greedy_options;
    greedy_options.kind = PlannerKind::kGreedy;
    PlanOptions best_options;
    best_options.kind = PlannerKind::kBest;
    best_options.time_limit_seconds = time_limit;
    auto greedy = PlanArena(*buffers, greedy_options);
    auto best = PlanArena(*buffers, best_options);
    if (!greedy.ok() || !best.ok()) {
      return Usage((name + ": " + (greedy.ok() ? best.status() : greedy.status()).ToString())
                       .c_str());
    }
    const bool valid = serenity::scheduler::ValidateArenaPlan(*buffers, *best, 0).ok();
    const double peak = static_cast<double>(best->lower_bound_bytes);
    off_peak += best->optimal ? 0 : 1;
    std::printf("%-22s %7zu %6s %10llu %10llu %7.3f %10llu %7.3f %9.1f %s\n",
                name.substr(0, name.size() - 4).c_str(), buffers->size(),
                schedule.optimal ? "yes" : "no",
                static_cast<unsigned long long>(best->lower_bound_bytes),
                static_cast<unsigned long long>(greedy->arena_bytes),
                static_cast<double>(greedy->arena_bytes) / peak,
                static_cast<unsigned long long>(best->arena_bytes),
                static_cast<double>(best->arena_bytes) / peak, best->time_ms,
                valid ? (best->optimal ? "= peak" : "ABOVE PEAK") : "INVALID");
  }
  std::printf("arena = peak on %zu of %zu models\n", names.size() - off_peak, names.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string data = SERENITY_PLAN_BENCH_DATA;
  double time_limit = 10.0;
  std::string only;
  std::string zoo;
  std::string csv_dir;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (i + 1 >= argc) return Usage(("missing value after " + flag).c_str());
    if (flag == "--zoo") {
      zoo = argv[++i];
    } else if (flag == "--write-csv") {
      csv_dir = argv[++i];
    } else if (flag == "--data") {
      data = argv[++i];
    } else if (flag == "--time-limit") {
      time_limit = std::atof(argv[++i]);
    } else if (flag == "--only") {
      only = argv[++i];
    } else {
      return Usage(("unknown flag " + flag).c_str());
    }
  }
  if (!zoo.empty()) return Zoo(zoo, time_limit, csv_dir);

  std::vector<Row> rows;
  for (char name = 'A'; name <= 'K'; ++name) {
    if (!only.empty() && only.find(name) == std::string::npos) continue;
    Row row;
    row.instance = std::string(1, name);
    const std::string path = data + "/" + row.instance + ".1048576.csv";
    std::ifstream file(path);
    if (!file) {
      std::fprintf(stderr, "plan_bench: cannot open %s\n", path.c_str());
      return 1;
    }
    std::stringstream text;
    text << file.rdbuf();
    auto csv = serenity::scheduler::ParsePlanCsv(text.str(), 1);
    if (!csv.ok()) {
      std::fprintf(stderr, "plan_bench: %s: %s\n", path.c_str(), csv.status().ToString().c_str());
      return 1;
    }
    const auto& buffers = csv->buffers;
    row.buffers = buffers.size();

    PlanOptions greedy_options;
    greedy_options.kind = PlannerKind::kGreedy;
    auto greedy = PlanArena(buffers, greedy_options);
    if (!greedy.ok()) {
      std::fprintf(stderr, "plan_bench: %s greedy: %s\n", row.instance.c_str(),
                   greedy.status().ToString().c_str());
      return 1;
    }
    row.bound = greedy->lower_bound_bytes;
    row.greedy = greedy->arena_bytes;
    row.greedy_ms = greedy->time_ms;

    PlanOptions best_options;
    best_options.kind = PlannerKind::kBest;
    best_options.capacity_bytes = kCapacity;
    best_options.time_limit_seconds = time_limit;
    auto best = PlanArena(buffers, best_options);
    if (best.ok()) {
      row.best_ok = true;
      row.best = best->arena_bytes;
      row.best_optimal = best->optimal;
      row.best_ms = best->time_ms;
      row.best_valid = serenity::scheduler::ValidateArenaPlan(buffers, *best, 0).ok();
    } else {
      row.error = best.status().ToString();
    }
    rows.push_back(row);
    std::fprintf(stderr, "%s done\n", row.instance.c_str());
  }

  std::printf("%-8s %7s %10s %10s %7s %10s %7s %9s %s\n", "instance", "buffers", "bound", "greedy",
              "x bound", "best", "x bound", "best ms", "");
  for (const Row& r : rows) {
    if (r.best_ok) {
      std::printf("%-8s %7zu %10llu %10llu %7.3f %10llu %7.3f %9.1f %s%s\n", r.instance.c_str(),
                  r.buffers, static_cast<unsigned long long>(r.bound),
                  static_cast<unsigned long long>(r.greedy),
                  static_cast<double>(r.greedy) / static_cast<double>(r.bound),
                  static_cast<unsigned long long>(r.best),
                  static_cast<double>(r.best) / static_cast<double>(r.bound), r.best_ms,
                  r.best <= kCapacity ? "fits" : "OVER",
                  r.best_valid ? (r.best_optimal ? " optimal" : "") : " INVALID");
    } else {
      std::printf("%-8s %7zu %10llu %10llu %7.3f %10s %7s %9s %s\n", r.instance.c_str(), r.buffers,
                  static_cast<unsigned long long>(r.bound),
                  static_cast<unsigned long long>(r.greedy),
                  static_cast<double>(r.greedy) / static_cast<double>(r.bound), "-", "-", "-",
                  r.error.c_str());
    }
  }

  std::printf("{\"capacity_bytes\": %llu, \"time_limit_s\": %g, \"instances\": [",
              static_cast<unsigned long long>(kCapacity), time_limit);
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    std::printf(
        "%s\n  {\"instance\": \"%s\", \"buffers\": %zu, \"lower_bound_bytes\": %llu, "
        "\"greedy_arena_bytes\": %llu, \"greedy_ratio\": %.4f, \"greedy_ms\": %.2f, "
        "\"best_ok\": %s, \"best_arena_bytes\": %llu, \"best_ratio\": %.4f, \"best_ms\": %.1f, "
        "\"best_optimal\": %s, \"best_valid\": %s, \"fits_capacity\": %s}",
        i == 0 ? "" : ",", r.instance.c_str(), r.buffers, static_cast<unsigned long long>(r.bound),
        static_cast<unsigned long long>(r.greedy),
        static_cast<double>(r.greedy) / static_cast<double>(r.bound), r.greedy_ms,
        r.best_ok ? "true" : "false", static_cast<unsigned long long>(r.best),
        static_cast<double>(r.best) / static_cast<double>(r.bound), r.best_ms,
        r.best_optimal ? "true" : "false", r.best_valid ? "true" : "false",
        r.best_ok && r.best <= kCapacity ? "true" : "false");
  }
  std::printf("\n]}\n");
  return 0;
}
