// serenity_run: load a .srn model, run it on this machine, report latency and
// memory (a readable summary, or one JSON object with --json).
//
// Every user error (missing file, bad flag, bad model, an input of the wrong
// shape or dtype, an unwritable output) prints one line
// "serenity_run: error: ..." on stderr and exits 1. A plan cache that cannot
// be used prints one line "serenity_run: warning: ..." and the run goes on.
// While planning takes more than a second, a TTY on stderr shows the elapsed
// time (nothing is printed when stderr is not a terminal).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "flag_arg.h"
#include "json_text.h"
#include "memory_picture.h"
#include "serenity/engine.h"
#include "serenity/npy.h"
#include "serenity/platforms/clock.h"
#include "serenity/scheduler/plan_csv.h"

namespace {

using serenity::Status;

constexpr char kUsage[] =
    "usage: serenity_run --model FILE.srn [options]\n"
    "\n"
    "  --model FILE.srn      the model to run (required)\n"
    "  --threads N           worker threads (default 1; 0 = one per core)\n"
    "  --warmup N            untimed runs first (default 2)\n"
    "  --runs N              timed runs (default 10)\n"
    "  --scheduler NAME      optimal (default), heuristic or stored\n"
    "  --time-limit SECONDS  wall-clock limit of the optimal search, a safety\n"
    "                        net (default 60; 0 = none)\n"
    "  --arena-time-limit SECONDS\n"
    "                        wall-clock limit of the arena placement search\n"
    "                        (default 60)\n"
    "  --no-rewrite          no graph rewrites or buffer aliasing\n"
    "  --no-fold-activations run every Relu and Clamp [0, 6] as stored, none\n"
    "                        as the fused activation of the Conv2D before it\n"
    "  --rewrite-work N      work budget of the rewrite search (default 6000000;\n"
    "                        0 = no rewrite trial): the same result on any machine\n"
    "                        and under any load; a larger one can find lower peaks\n"
    "  --rewrite-time-limit SECONDS\n"
    "                        wall-clock limit of the rewrite search, a safety net\n"
    "                        (default 120; 0 = none)\n"
    "                        (a plan that a wall-clock limit cut short is cached as\n"
    "                        provisional: the next load plans again)\n"
    "  --cache MODE          plan cache: on (default: reuse or store the plan),\n"
    "                        off, or refresh (plan again and store)\n"
    "  --cache-dir DIR       plan cache directory (default $XDG_CACHE_HOME/serenity,\n"
    "                        else $HOME/.cache/serenity)\n"
    "  --ignore-stored-plan  plan even if the model carries a serenity_compile plan\n"
    "  --plan-only           plan and report; bind and run nothing\n"
    "  --memory-svg FILE     draw the footprint curves and the arena layout (SVG)\n"
    "  --arena-csv FILE      write the arena's buffers as CSV, one per row: live\n"
    "                        steps [lower, upper), size and offset in bytes, and\n"
    "                        the tensors sharing it (serenity_plan --csv reads it)\n"
    "  --kernels NAME        auto (default: Serenity's own convolutions on\n"
    "                        x86-64 AVX2+FMA, XNNPACK for the rest), xnnpack, or\n"
    "                        direct (auto without Winograd: 4x fewer packed bytes\n"
    "                        for 3x3 convolutions, slower)\n"
    "  --pthreadpool-ops NAME  auto (default), parallel or serial: whether ops on\n"
    "                        XNNPACK get the threads when Serenity's own kernels\n"
    "                        run others (auto: no)\n"
    "  --input FILE.npy      float32 input, once per model input in order\n"
    "                        (default: seeded uniform random in [-1, 1])\n"
    "  --seed N              seed of the random input (default 1)\n"
    "  --output FILE.npy     write an output after the last run, once per output\n"
    "  --profile             per-operator times (top 10 in the summary, all in JSON)\n"
    "  --profile-cpu         --profile timed by the calling thread's CPU time:\n"
    "                        on 1 thread, without other processes' turns\n"
    "  --json                print one JSON object instead of the summary\n"
    "  --version             print the version and exit\n"
    "  --help                print this help and exit\n";

struct Flags {
  std::string model;
  int threads = 1;
  int warmup = 2;
  int runs = 10;
  serenity::ScheduleAlgorithm scheduler = serenity::ScheduleAlgorithm::kOptimal;
  double time_limit_seconds = serenity::EngineOptions{}.schedule_time_limit_seconds;
  double arena_time_limit_seconds = serenity::EngineOptions{}.arena_time_limit_seconds;
  double rewrite_time_limit_seconds = serenity::EngineOptions{}.rewrite_time_limit_seconds;
  uint64_t rewrite_work_limit = serenity::EngineOptions{}.rewrite_work_limit;
  bool rewrite = true;
  bool fold_activations = true;
  serenity::KernelSelection kernels = serenity::KernelSelection::kAuto;
  serenity::PthreadpoolOps pthreadpool_ops = serenity::PthreadpoolOps::kAuto;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  uint64_t seed = 1;
  bool profile = false;
  bool profile_cpu = false;
  serenity::PlanCacheMode cache = serenity::PlanCacheMode::kOn;
  std::string cache_dir;
  bool use_stored_plan = true;
  bool plan_only = false;
  std::string memory_svg;
  std::string arena_csv;
  bool json = false;
  bool version = false;
  bool help = false;
};

std::string OneLine(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "serenity_run: error: %s\n", OneLine(message).c_str());
  return 1;
}

Status ParseInt(const std::string& flag, const std::string& text, int64_t min, int64_t max,
                int64_t* value) {
  errno = 0;
  char* end = nullptr;
  const long long parsed = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE || parsed < min || parsed > max) {
    return serenity::InvalidArgumentError(flag, " wants an integer in [", min, ", ", max,
                                          "], got '", text, "'");
  }
  *value = parsed;
  return Status::Ok();
}

Status ParseFlags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i < argc; ++i) {
    serenity::tools::FlagArg flag(argc, argv, &i);
    const std::string& arg = flag.name();
    auto next = [&](std::string* out) { return flag.Value(out); };
    auto no_value = [&] { return flag.NoValue(); };
    std::string text;
    int64_t number = 0;
    if (arg == "--model") {
      SERENITY_RETURN_IF_ERROR(next(&flags->model));
    } else if (arg == "--threads") {
      SERENITY_RETURN_IF_ERROR(next(&text));
      SERENITY_RETURN_IF_ERROR(ParseInt(arg, text, 0, 1024, &number));
      flags->threads = static_cast<int>(number);
    } else if (arg == "--warmup") {
      SERENITY_RETURN_IF_ERROR(next(&text));
      SERENITY_RETURN_IF_ERROR(ParseInt(arg, text, 0, 1000000, &number));
      flags->warmup = static_cast<int>(number);
    } else if (arg == "--runs") {
      SERENITY_RETURN_IF_ERROR(next(&text));
      SERENITY_RETURN_IF_ERROR(ParseInt(arg, text, 1, 1000000, &number));
      flags->runs = static_cast<int>(number);
    } else if (arg == "--seed") {
      SERENITY_RETURN_IF_ERROR(next(&text));
      SERENITY_RETURN_IF_ERROR(ParseInt(arg, text, 0, INT64_MAX, &number));
      flags->seed = static_cast<uint64_t>(number);
    } else if (arg == "--scheduler") {
      SERENITY_RETURN_IF_ERROR(next(&text));
      if (text == "optimal") {
        flags->scheduler = serenity::ScheduleAlgorithm::kOptimal;
      } else if (text == "heuristic") {
        flags->scheduler = serenity::ScheduleAlgorithm::kHeuristic;
      } else if (text == "stored") {
        flags->scheduler = serenity::ScheduleAlgorithm::kStored;
      } else {
        return serenity::InvalidArgumentError(
            "--scheduler wants optimal, heuristic or stored, got '", text, "'");
      }
    } else if (arg == "--time-limit" || arg == "--arena-time-limit" ||
               arg == "--rewrite-time-limit") {
      SERENITY_RETURN_IF_ERROR(next(&text));
      char* end = nullptr;
      const double seconds = std::strtod(text.c_str(), &end);
      if (text.empty() || *end != '\0' || !std::isfinite(seconds) || seconds < 0) {
        return serenity::InvalidArgumentError(arg, " wants seconds >= 0, got '", text, "'");
      }
      (arg == "--time-limit"         ? flags->time_limit_seconds
       : arg == "--arena-time-limit" ? flags->arena_time_limit_seconds
                                     : flags->rewrite_time_limit_seconds) = seconds;
    } else if (arg == "--rewrite-work") {
      SERENITY_RETURN_IF_ERROR(next(&text));
      SERENITY_RETURN_IF_ERROR(ParseInt(arg, text, 0, INT64_MAX, &number));
      flags->rewrite_work_limit = static_cast<uint64_t>(number);
    } else if (arg == "--kernels") {
      SERENITY_RETURN_IF_ERROR(next(&text));
      if (text == "auto") {
        flags->kernels = serenity::KernelSelection::kAuto;
      } else if (text == "xnnpack") {
        flags->kernels = serenity::KernelSelection::kXnnpack;
      } else if (text == "direct") {
        flags->kernels = serenity::KernelSelection::kDirect;
      } else {
        return serenity::InvalidArgumentError("--kernels wants auto, xnnpack or direct, got '",
                                              text, "'");
      }
    } else if (arg == "--pthreadpool-ops") {
      SERENITY_RETURN_IF_ERROR(next(&text));
      if (text == "auto") {
        flags->pthreadpool_ops = serenity::PthreadpoolOps::kAuto;
      } else if (text == "parallel") {
        flags->pthreadpool_ops = serenity::PthreadpoolOps::kParallel;
      } else if (text == "serial") {
        flags->pthreadpool_ops = serenity::PthreadpoolOps::kSerial;
      } else {
        return serenity::InvalidArgumentError(
            "--pthreadpool-ops wants auto, parallel or serial, got '", text, "'");
      }
    } else if (arg == "--no-rewrite") {
      SERENITY_RETURN_IF_ERROR(no_value());
      flags->rewrite = false;
    } else if (arg == "--no-fold-activations") {
      SERENITY_RETURN_IF_ERROR(no_value());
      flags->fold_activations = false;
    } else if (arg == "--input") {
      SERENITY_RETURN_IF_ERROR(next(&text));
      flags->inputs.push_back(text);
    } else if (arg == "--output") {
      SERENITY_RETURN_IF_ERROR(next(&text));
      flags->outputs.push_back(text);
    } else if (arg == "--cache") {
      SERENITY_RETURN_IF_ERROR(next(&text));
      if (text == "on") {
        flags->cache = serenity::PlanCacheMode::kOn;
      } else if (text == "off") {
        flags->cache = serenity::PlanCacheMode::kOff;
      } else if (text == "refresh") {
        flags->cache = serenity::PlanCacheMode::kRefresh;
      } else {
        return serenity::InvalidArgumentError("--cache wants on, off or refresh, got '", text,
                                              "'");
      }
    } else if (arg == "--cache-dir") {
      SERENITY_RETURN_IF_ERROR(next(&flags->cache_dir));
      if (flags->cache_dir.empty()) {
        return serenity::InvalidArgumentError("--cache-dir wants a directory, got ''");
      }
    } else if (arg == "--ignore-stored-plan") {
      SERENITY_RETURN_IF_ERROR(no_value());
      flags->use_stored_plan = false;
    } else if (arg == "--plan-only") {
      SERENITY_RETURN_IF_ERROR(no_value());
      flags->plan_only = true;
    } else if (arg == "--memory-svg") {
      SERENITY_RETURN_IF_ERROR(next(&flags->memory_svg));
      if (flags->memory_svg.empty()) {
        return serenity::InvalidArgumentError("--memory-svg wants a file name, got ''");
      }
    } else if (arg == "--arena-csv") {
      SERENITY_RETURN_IF_ERROR(next(&flags->arena_csv));
      if (flags->arena_csv.empty()) {
        return serenity::InvalidArgumentError("--arena-csv wants a file name, got ''");
      }
    } else if (arg == "--profile") {
      SERENITY_RETURN_IF_ERROR(no_value());
      flags->profile = true;
    } else if (arg == "--profile-cpu") {
      SERENITY_RETURN_IF_ERROR(no_value());
      flags->profile = true;
      flags->profile_cpu = true;
    } else if (arg == "--json") {
      SERENITY_RETURN_IF_ERROR(no_value());
      flags->json = true;
    } else if (arg == "--version") {
      flags->version = true;
    } else if (arg == "--help" || arg == "-h") {
      flags->help = true;
    } else {
      return serenity::InvalidArgumentError("unknown flag '", argv[i],
                                            "' (serenity_run --help lists the flags)");
    }
  }
  if (!flags->help && !flags->version && flags->model.empty()) {
    return serenity::InvalidArgumentError("--model FILE.srn is required");
  }
  return Status::Ok();
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

using serenity::tools::JsonString;

std::string JsonNumber(double value) {
  if (!std::isfinite(value)) return "null";
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.6g", value);
  return buffer;
}

struct Latency {
  double min = 0, median = 0, p90 = 0, mean = 0, max = 0;
};

Latency Summarise(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  Latency latency;
  const size_t n = ms.size();
  latency.min = ms.front();
  latency.max = ms.back();
  latency.median = n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
  // Nearest rank.
  const size_t rank = static_cast<size_t>(std::ceil(0.9 * static_cast<double>(n)));
  latency.p90 = ms[std::min(n, std::max<size_t>(rank, 1)) - 1];
  double sum = 0;
  for (double v : ms) sum += v;
  latency.mean = sum / static_cast<double>(n);
  return latency;
}

std::string ShapesJson(const std::vector<serenity::TensorView>& views) {
  std::string s = "[";
  for (size_t i = 0; i < views.size(); ++i) {
    if (i) s += ", ";
    s += "{\"name\": " + JsonString(views[i].name) + ", \"shape\": [";
    for (size_t d = 0; d < views[i].boundary_shape.size(); ++d) {
      if (d) s += ", ";
      s += std::to_string(views[i].boundary_shape[d]);
    }
    s += "]}";
  }
  return s + "]";
}

// While a slow step runs: after one second, the elapsed time on stderr,
// rewritten in place, and erased when the step ends. Only on a terminal.
class Progress {
 public:
  explicit Progress(std::string what) : what_(std::move(what)) {
    if (::isatty(STDERR_FILENO)) thread_ = std::thread([this] { Loop(); });
  }
  ~Progress() { Stop(); }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Loop() {
    using Clock = std::chrono::steady_clock;
    const Clock::time_point start = Clock::now();
    std::unique_lock<std::mutex> lock(mutex_);
    if (wake_.wait_for(lock, std::chrono::seconds(1), [this] { return done_; })) return;
    while (!done_) {
      const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
      std::fprintf(stderr, "\rserenity_run: %s... %.0f s", what_.c_str(), seconds);
      std::fflush(stderr);
      wake_.wait_for(lock, std::chrono::milliseconds(500), [this] { return done_; });
    }
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }

  std::string what_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread thread_;
};

// An output's directory must exist and be writable; checked before the work
// so that a typo costs nothing.
Status CheckDestination(const std::string& flag, const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  struct stat info;
  if (::stat(dir.c_str(), &info) != 0) {
    return serenity::IoError(flag, " ", path, ": directory ", dir, " does not exist");
  }
  if (!S_ISDIR(info.st_mode)) {
    return serenity::IoError(flag, " ", path, ": ", dir, " is not a directory");
  }
  if (::access(dir.c_str(), W_OK) != 0) {
    return serenity::IoError(flag, " ", path, ": directory ", dir, " is not writable");
  }
  if (::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) {
    return serenity::IoError(flag, " ", path, " is a directory");
  }
  return Status::Ok();
}

// The searches a wall-clock limit cut short: "order", "arena", "rewrites".
std::vector<const char*> TimeLimitedSearches(const serenity::ExecutionPlan& plan) {
  std::vector<const char*> searches;
  if (plan.schedule.time_limited) searches.push_back("order");
  if (plan.arena.time_limited) searches.push_back("arena");
  if (plan.rewrite_time_limited) searches.push_back("rewrites");
  return searches;
}

std::string TimeLimitedJson(const serenity::ExecutionPlan& plan) {
  std::string j = "[";
  for (const char* search : TimeLimitedSearches(plan)) {
    j += (j.size() > 1 ? ", " : "") + JsonString(search);
  }
  return j + "]";
}

std::string ScheduleJson(const serenity::ExecutionPlan& plan) {
  const serenity::ScheduleInfo& schedule = plan.schedule;
  return std::string("{\"algorithm\": ") +
         JsonString(serenity::scheduler::AlgorithmName(schedule.algorithm)) +
         ", \"optimal\": " + (schedule.optimal ? "true" : "false") +
         ", \"time_ms\": " + JsonNumber(schedule.time_ms) +
         ", \"states\": " + std::to_string(schedule.states) +
         ", \"arena_nodes\": " + std::to_string(plan.arena.nodes) +
         ", \"lower_bound_bytes\": " + std::to_string(schedule.lower_bound_bytes) +
         ", \"cache\": " + JsonString(serenity::PlanCacheStatusName(plan.cache.status)) +
         ", \"cache_path\": " + JsonString(plan.cache.path) +
         ", \"cache_warning\": " + JsonString(plan.cache.warning) +
         ", \"cache_provisional\": " + (plan.cache.provisional ? "true" : "false") +
         ", \"time_limited\": " + (plan.time_limited() ? "true" : "false") +
         ", \"time_limited_searches\": " + TimeLimitedJson(plan) +
         ", \"planning_ms\": " + JsonNumber(plan.planning_ms) +
         ", \"model_hash_ms\": " + JsonNumber(plan.model_hash_ms) + "}";
}

std::string MemoryJson(const serenity::MemoryFigures& memory, uint64_t rss_peak) {
  return "{\"arena_bytes\": " + std::to_string(memory.arena_bytes) +
         ", \"peak_bytes\": " + std::to_string(memory.peak_bytes) +
         ", \"baseline_arena_bytes\": " + std::to_string(memory.baseline_arena_bytes) +
         ", \"stored_order_peak_bytes\": " + std::to_string(memory.stored_order_peak_bytes) +
         ", \"weights_bytes\": " + std::to_string(memory.weights_bytes) +
         ", \"packed_weight_bytes\": " + std::to_string(memory.packed_weight_bytes) +
         ", \"kernel_scratch_bytes\": " + std::to_string(memory.kernel_scratch_bytes) +
         ", \"rss_peak_bytes\": " + std::to_string(rss_peak) + "}";
}

double KiB(uint64_t bytes) { return static_cast<double>(bytes) / 1024.0; }

// ", \"memory_strategy\": ..., \"rewrite_ms\": ..., \"rewrites_applied\": [...]":
// what EngineOptions::rewrites chose.
std::string RewritesJson(const serenity::ExecutionPlan& plan) {
  std::string j = ", \"memory_strategy\": " +
                  JsonString(serenity::MemoryStrategyName(plan.strategy));
  j += ", \"rewrite_ms\": " + JsonNumber(plan.rewrite_time_ms);
  j += ", \"rewrite_work\": " + std::to_string(plan.rewrite_work);
  j += ", \"rewrite_out_of_work\": ";
  j += plan.rewrite_out_of_work ? "true" : "false";
  j += ", \"rewrites_applied\": [";
  for (size_t i = 0; i < plan.rewrites_applied.size(); ++i) {
    j += (i ? ", " : "") + JsonString(plan.rewrites_applied[i]);
  }
  return j + "]";
}

void PrintPlanSummary(const serenity::ExecutionPlan& plan) {
  const serenity::ScheduleInfo& schedule = plan.schedule;
  const serenity::MemoryFigures& memory = plan.memory;
  std::printf("schedule   %s, %s, %.1f ms, %" PRIu64 " states\n",
              serenity::scheduler::AlgorithmName(schedule.algorithm),
              schedule.optimal ? "proven optimal" : "not proven optimal", schedule.time_ms,
              schedule.states);
  std::printf("plan       cache %s%s%s%s, planning %.3f ms (model hash %.1f ms)\n",
              serenity::PlanCacheStatusName(plan.cache.status),
              plan.cache.path.empty() ? "" : " ", plan.cache.path.c_str(),
              plan.cache.provisional ? " (provisional)" : "", plan.planning_ms,
              plan.model_hash_ms);
  if (plan.time_limited()) {
    std::string searches;
    for (const char* search : TimeLimitedSearches(plan)) {
      searches += (searches.empty() ? "" : ", ") + std::string(search);
    }
    std::printf("time limit cut the %s search short: the plan depends on this machine's speed "
                "and load%s\n",
                searches.c_str(),
                plan.cache.provisional ? "; cached as provisional, the next load plans again"
                                       : "");
  }
  std::printf("memory     arena %.1f KiB (peak %.1f KiB); baseline arena %.1f KiB (%.2fx), "
              "stored-order peak %.1f KiB\n",
              KiB(memory.arena_bytes), KiB(memory.peak_bytes), KiB(memory.baseline_arena_bytes),
              memory.arena_bytes ? static_cast<double>(memory.baseline_arena_bytes) /
                                       static_cast<double>(memory.arena_bytes)
                                 : 0.0,
              KiB(memory.stored_order_peak_bytes));
  std::printf("rewrites   %s (%zu rewrites kept, %.1f ms, work %" PRIu64 "%s; peaks: order "
              "%.1f KiB",
              serenity::MemoryStrategyName(plan.strategy), plan.rewrites_applied.size(),
              plan.rewrite_time_ms, plan.rewrite_work,
              plan.rewrite_out_of_work ? " (budget used up)" : "", KiB(plan.order_peak_bytes));
  if (plan.aliasing_peak_bytes) std::printf(", aliasing %.1f KiB", KiB(plan.aliasing_peak_bytes));
  if (plan.rewrites_peak_bytes) std::printf(", rewrites %.1f KiB", KiB(plan.rewrites_peak_bytes));
  std::printf(")\n");
}

Status WriteMemorySvg(const Flags& flags, const serenity::Model& model,
                      const serenity::ExecutionPlan& plan) {
  serenity::tools::PictureOptions options;
  if (flags.rewrite) {
    options.order_time_limit_seconds =
        flags.time_limit_seconds > 0 ? flags.time_limit_seconds : 10.0;
  }
  Progress progress("ordering the model alone for the memory picture");
  SERENITY_ASSIGN_OR_RETURN(serenity::tools::MemoryPicture picture,
                            serenity::tools::BuildMemoryPicture(model, plan, options));
  progress.Stop();
  const serenity::MemoryFigures& memory = plan.memory;
  char line[256];
  std::snprintf(line, sizeof(line),
                "%zu operators; plan: %s order%s, arena %.1f KiB, peak %.1f KiB; stored-order "
                "baseline arena %.1f KiB (%.2fx); plan cache: %s",
                model.operators().size(),
                serenity::scheduler::AlgorithmName(plan.schedule.algorithm),
                plan.schedule.optimal ? " (proven optimal)" : "", KiB(memory.arena_bytes),
                KiB(memory.peak_bytes), KiB(memory.baseline_arena_bytes),
                memory.arena_bytes ? static_cast<double>(memory.baseline_arena_bytes) /
                                         static_cast<double>(memory.arena_bytes)
                                   : 0.0,
                serenity::PlanCacheStatusName(plan.cache.status));
  picture.notes.push_back(line);
  picture.notes.push_back("Hover a rectangle for its tensor; colours give the producing operator.");
  const std::string svg = serenity::tools::RenderMemorySvg(picture);
  Status written =
      serenity::WriteFileAtomically(flags.memory_svg, std::vector<uint8_t>(svg.begin(), svg.end()));
  if (!written.ok()) return serenity::IoError("--memory-svg ", written.message());
  return Status::Ok();
}

// --arena-csv: the plan's arena instance (Engine::ArenaBuffers) in
// serenity_plan's CSV, with the offset the plan gives each buffer and the
// names of its tensors.
Status WriteArenaCsv(const std::string& path, const serenity::Model& model,
                     const serenity::ExecutionPlan& plan) {
  SERENITY_ASSIGN_OR_RETURN(const std::vector<serenity::ArenaBuffer> buffers,
                            serenity::Engine::ArenaBuffers(model, plan));
  const serenity::Model& run_model = plan.rewritten_model ? *plan.rewritten_model : model;
  std::string text = "id,lower,upper,size,offset,tensors\n";
  for (size_t b = 0; b < buffers.size(); ++b) {
    const serenity::ArenaBuffer& buffer = buffers[b];
    std::string names;
    for (int t : buffer.tensors) {
      names += (names.empty() ? "" : "; ") + serenity::tools::TensorLabel(run_model, t);
    }
    text += std::to_string(b) + "," + std::to_string(buffer.first_step) + "," +
            std::to_string(buffer.last_step + 1) + "," + std::to_string(buffer.bytes) + "," +
            std::to_string(buffer.offset) + "," + serenity::scheduler::CsvField(names) + "\n";
  }
  Status written =
      serenity::WriteFileAtomically(path, std::vector<uint8_t>(text.begin(), text.end()));
  if (!written.ok()) return serenity::IoError("--arena-csv ", written.message());
  return Status::Ok();
}

int Run(const Flags& flags) {
  for (const std::string& output : flags.outputs) {
    Status status = CheckDestination("--output", output);
    if (!status.ok()) return Fail(status.message());
  }
  if (!flags.memory_svg.empty()) {
    Status status = CheckDestination("--memory-svg", flags.memory_svg);
    if (!status.ok()) return Fail(status.message());
  }
  if (!flags.arena_csv.empty()) {
    Status status = CheckDestination("--arena-csv", flags.arena_csv);
    if (!status.ok()) return Fail(status.message());
  }

  const double load_start = serenity::platforms::NowSeconds();
  serenity::Result<serenity::Model> model = serenity::Model::Load(flags.model);
  if (!model.ok()) return Fail(model.status().ToString());
  const double model_loaded = serenity::platforms::NowSeconds();

  serenity::EngineOptions options;
  options.threads = flags.threads;
  options.scheduler = flags.scheduler;
  options.schedule_time_limit_seconds = flags.time_limit_seconds;
  options.arena_time_limit_seconds = flags.arena_time_limit_seconds;
  options.rewrite_time_limit_seconds = flags.rewrite_time_limit_seconds;
  options.rewrite_work_limit = flags.rewrite_work_limit;
  options.rewrites = flags.rewrite;
  options.fold_activations = flags.fold_activations;
  options.kernels = flags.kernels;
  options.pthreadpool_ops = flags.pthreadpool_ops;
  options.profile = flags.profile;
  options.profile_thread_cpu_time = flags.profile_cpu;
  options.plan_cache = flags.cache;
  options.plan_cache_dir = flags.cache_dir;
  options.use_stored_plan = flags.use_stored_plan;

  Progress planning_progress("planning " + flags.model);
  serenity::Result<serenity::ExecutionPlan> prepared = serenity::Engine::Prepare(*model, options);
  planning_progress.Stop();
  if (!prepared.ok()) return Fail(flags.model + ": " + prepared.status().ToString());
  const double planned = serenity::platforms::NowSeconds();
  if (!prepared->cache.warning.empty()) {
    std::fprintf(stderr, "serenity_run: warning: %s\n", OneLine(prepared->cache.warning).c_str());
  }
  if (!flags.memory_svg.empty()) {
    Status status = WriteMemorySvg(flags, *model, *prepared);
    if (!status.ok()) return Fail(status.message());
  }
  if (!flags.arena_csv.empty()) {
    Status status = WriteArenaCsv(flags.arena_csv, *model, *prepared);
    if (!status.ok()) return Fail(status.message());
  }

  if (flags.plan_only) {
    const uint64_t rss_peak = serenity::platforms::PeakRssBytes();
    if (flags.json) {
      std::string j = "{";
      j += "\"model\": " + JsonString(flags.model);
      j += ", \"name\": " + JsonString(model->name());
      j += ", \"version\": " + JsonString(serenity::VersionString());
      j += ", \"plan_only\": true";
      j += ", \"ops\": " + std::to_string(model->operators().size());
      j += ", \"rewrites\": " + std::string(flags.rewrite ? "true" : "false");
      j += ", \"aliasing\": " + std::string(prepared->aliasing() ? "true" : "false");
      j += RewritesJson(*prepared);
      j += ", \"schedule\": " + ScheduleJson(*prepared);
      j += ", \"memory\": " + MemoryJson(prepared->memory, rss_peak);
      j += ", \"arena\": {\"at_peak\": " + std::string(prepared->arena.at_peak ? "true" : "false") +
           ", \"time_ms\": " + JsonNumber(prepared->arena.time_ms) + "}";
      j += ", \"model_load_ms\": " + JsonNumber((model_loaded - load_start) * 1e3);
      j += ", \"prepare_ms\": " + JsonNumber((planned - model_loaded) * 1e3);
      j += "}";
      std::printf("%s\n", j.c_str());
      return 0;
    }
    std::printf("model      %s ('%s'), %zu operators (plan only)\n", flags.model.c_str(),
                model->name().c_str(), model->operators().size());
    PrintPlanSummary(*prepared);
    return 0;
  }

  serenity::Result<serenity::Engine> created =
      serenity::Engine::Create(*model, std::move(prepared).value(), options);
  if (!created.ok()) return Fail(flags.model + ": " + created.status().ToString());
  serenity::Engine& engine = *created;
  const double load_end = serenity::platforms::NowSeconds();

  std::vector<serenity::TensorView> inputs, outputs;
  for (int i = 0; i < engine.num_inputs(); ++i) inputs.push_back(*engine.input(i));
  for (int i = 0; i < engine.num_outputs(); ++i) outputs.push_back(*engine.output(i));

  if (!flags.inputs.empty() && flags.inputs.size() != inputs.size()) {
    return Fail(serenity::StrCat("the model has ", inputs.size(), " input(s) but ",
                                 flags.inputs.size(), " --input file(s) were given"));
  }
  if (flags.outputs.size() > outputs.size()) {
    return Fail(serenity::StrCat("the model has ", outputs.size(), " output(s) but ",
                                 flags.outputs.size(), " --output files were given"));
  }
  std::vector<std::vector<float>> input_data(inputs.size());
  std::mt19937_64 random(flags.seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (flags.inputs.empty()) {
      input_data[i].resize(inputs[i].num_elements);
      for (float& v : input_data[i]) v = uniform(random);
      continue;
    }
    serenity::Result<serenity::npy::Array> array = serenity::npy::Read(flags.inputs[i]);
    if (!array.ok()) return Fail(array.status().message());
    if (array->shape != inputs[i].boundary_shape) {
      return Fail(serenity::StrCat(flags.inputs[i], ": shape ", ShapeText(array->shape),
                                   " does not match input '", inputs[i].name, "' of shape ",
                                   ShapeText(inputs[i].boundary_shape)));
    }
    input_data[i] = std::move(array->data);
  }

  auto run_once = [&]() -> Status {
    for (size_t i = 0; i < inputs.size(); ++i) {
      SERENITY_RETURN_IF_ERROR(
          engine.SetInput(static_cast<int>(i), input_data[i].data(), input_data[i].size()));
    }
    return Status::Ok();
  };
  for (int r = 0; r < flags.warmup; ++r) {
    Status status = run_once();
    if (status.ok()) status = engine.Invoke();
    if (!status.ok()) return Fail(status.ToString());
  }
  engine.ResetProfile();
  std::vector<double> times_ms;
  times_ms.reserve(flags.runs);
  for (int r = 0; r < flags.runs; ++r) {
    Status status = run_once();
    if (!status.ok()) return Fail(status.ToString());
    const double start = serenity::platforms::NowSeconds();
    status = engine.Invoke();
    const double end = serenity::platforms::NowSeconds();
    if (!status.ok()) return Fail(status.ToString());
    times_ms.push_back((end - start) * 1e3);
  }

  std::vector<std::vector<float>> output_data(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    output_data[i].resize(outputs[i].num_elements);
    Status status =
        engine.GetOutput(static_cast<int>(i), output_data[i].data(), output_data[i].size());
    if (!status.ok()) return Fail(status.ToString());
  }
  for (size_t i = 0; i < flags.outputs.size(); ++i) {
    Status status = serenity::npy::Write(flags.outputs[i], outputs[i].boundary_shape,
                                         output_data[i].data(), output_data[i].size());
    if (!status.ok()) return Fail(status.message());
  }

  const Latency latency = Summarise(times_ms);
  const serenity::MemoryFigures& memory = engine.memory();
  const uint64_t rss_peak = serenity::platforms::PeakRssBytes();
  const double load_ms = (load_end - load_start) * 1e3;
  std::vector<serenity::OpProfile> profile = engine.profile();
  const int profiled_runs = std::max(engine.profiled_runs(), 1);

  if (flags.json) {
    std::string j = "{";
    j += "\"model\": " + JsonString(flags.model);
    j += ", \"name\": " + JsonString(model->name());
    j += ", \"version\": " + JsonString(serenity::VersionString());
    j += ", \"ops\": " + std::to_string(engine.num_operators());
    j += ", \"threads\": " + std::to_string(engine.threads());
    j += ", \"rewrites\": " + std::string(flags.rewrite ? "true" : "false");
    j += ", \"fold_activations\": " + std::string(flags.fold_activations ? "true" : "false");
    j += ", \"kernels\": " +
         std::string(flags.kernels == serenity::KernelSelection::kXnnpack  ? "\"xnnpack\""
                     : flags.kernels == serenity::KernelSelection::kDirect ? "\"direct\""
                                                                           : "\"auto\"");
    // Whether buffers are actually shared, and what won (EngineOptions::rewrites).
    j += ", \"aliasing\": " + std::string(engine.plan().aliasing() ? "true" : "false");
    j += RewritesJson(engine.plan());
    j += ", \"schedule\": " + ScheduleJson(engine.plan());
    j += ", \"memory\": " + MemoryJson(memory, rss_peak);
    j += ", \"arena\": {\"at_peak\": " + std::string(engine.plan().arena.at_peak ? "true" : "false") +
         ", \"time_ms\": " + JsonNumber(engine.plan().arena.time_ms) + "}";
    j += ", \"latency_ms\": {\"min\": " + JsonNumber(latency.min) +
         ", \"median\": " + JsonNumber(latency.median) + ", \"p90\": " + JsonNumber(latency.p90) +
         ", \"mean\": " + JsonNumber(latency.mean) + ", \"max\": " + JsonNumber(latency.max) + "}";
    j += ", \"runs\": " + std::to_string(flags.runs);
    j += ", \"warmup\": " + std::to_string(flags.warmup);
    j += ", \"load_ms\": " + JsonNumber(load_ms);
    j += ", \"model_load_ms\": " + JsonNumber((model_loaded - load_start) * 1e3);
    j += ", \"prepare_ms\": " + JsonNumber((load_end - model_loaded) * 1e3);
    j += ", \"inputs\": " + ShapesJson(inputs);
    j += ", \"outputs\": " + ShapesJson(outputs);
    if (flags.profile) {
      j += ", \"profile\": [";
      for (size_t i = 0; i < profile.size(); ++i) {
        if (i) j += ", ";
        j += "{\"op\": " + std::to_string(profile[i].op) + ", \"name\": " +
             JsonString(profile[i].name) + ", \"type\": " + JsonString(profile[i].type) +
             ", \"mean_ms\": " + JsonNumber(profile[i].total_ms / profiled_runs) + "}";
      }
      j += "]";
    }
    j += "}";
    std::printf("%s\n", j.c_str());
    return 0;
  }

  auto kib = KiB;
  std::printf("model      %s ('%s'), %d operators\n", flags.model.c_str(), model->name().c_str(),
              engine.num_operators());
  PrintPlanSummary(engine.plan());
  std::printf("weights    %.1f KiB in the file, %.1f KiB packed for the kernels, %.1f KiB kernel "
              "scratch; peak RSS %.1f MiB\n",
              kib(memory.weights_bytes), kib(memory.packed_weight_bytes),
              kib(memory.kernel_scratch_bytes), kib(rss_peak) / 1024.0);
  std::printf("latency    %d runs on %d thread(s): min %.3f  median %.3f  p90 %.3f  mean %.3f  "
              "max %.3f ms (load %.1f ms)\n",
              flags.runs, engine.threads(), latency.min, latency.median, latency.p90,
              latency.mean, latency.max, load_ms);
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::vector<float>& v = output_data[i];
    double sum = 0;
    float lo = v.empty() ? 0 : v[0], hi = lo;
    size_t argmax = 0;
    for (size_t k = 0; k < v.size(); ++k) {
      sum += v[k];
      lo = std::min(lo, v[k]);
      if (v[k] > hi) {
        hi = v[k];
        argmax = k;
      }
    }
    std::printf("output     '%s' %s: min %.6g  max %.6g (at %zu)  mean %.6g\n",
                outputs[i].name.c_str(), ShapeText(outputs[i].boundary_shape).c_str(), lo, hi,
                argmax, v.empty() ? 0.0 : sum / static_cast<double>(v.size()));
  }
  if (flags.profile) {
    std::vector<serenity::OpProfile> top = profile;
    std::sort(top.begin(), top.end(),
              [](const auto& a, const auto& b) { return a.total_ms > b.total_ms; });
    if (top.size() > 10) top.resize(10);
    std::printf("profile    slowest operators (mean per run):\n");
    for (const serenity::OpProfile& op : top) {
      std::printf("  %8.3f ms  %-14s %s\n", op.total_ms / profiled_runs, op.type.c_str(),
                  op.name.empty() ? ("operator " + std::to_string(op.op)).c_str()
                                  : op.name.c_str());
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  Status status = ParseFlags(argc, argv, &flags);
  if (!status.ok()) return Fail(status.message());
  if (flags.help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (flags.version) {
    std::printf("serenity_run %s (.srn format %u)\n", serenity::VersionString(),
                static_cast<unsigned>(serenity::kFormatVersion));
    return 0;
  }
  return Run(flags);
}
