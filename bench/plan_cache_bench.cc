// plan_cache_bench (issue 9): what a first load pays for planning (a cache
// miss: the search) against what every later load pays (a cache hit: read,
// verify and re-check the entry), per model, with the default EngineOptions.
//
//   plan_cache_bench [--hits N] [--cache-dir DIR] [--fresh N] [--no-rewrite] MODEL.srn...
//
// Prints a table and then one JSON line per model. The cache lives in a fresh
// temporary directory, removed at the end, unless --cache-dir names one to
// use and keep (its entries are then reused: the first Prepare is a hit when
// an entry exists, and "miss ms" shows "-"). Hit times are Prepare's
// planning_ms: the first hit of the process (colder: page faults, a file not
// yet read), and the median and the fastest of the N that follow (on a
// machine shared with other work, the fastest is the least disturbed). Hashing the model
// (Model::GraphHash, once per loaded model, needed by Create with or without
// a cache) is shown apart. "strategy" is the plan's memory strategy: a
// rewritten plan's hit replays the entry's rewrite recipe; "entry KiB" is the
// entry's size. "first cpu" and "median cpu" are the thread CPU time of the
// same Prepare calls: on a loaded machine, what a hit cost without the time
// other processes held the core (the first hit follows the model's load and
// hash, tens of milliseconds on the CPU, and is the likeliest to be
// preempted). "first flt" and "med flt" are the minor page faults of those
// Prepare calls (glibc gives the heap a hit grows back when it ends, so even
// repeated hits touch fresh pages). --no-rewrite plans with
// EngineOptions::rewrites off (the order alone), for comparison.
//
// --fresh N also measures what a user sees (issue 9's target): N hits each
// in a fresh process (this program run again, which loads the model, hashes
// it, then Prepares once on the kept entry), the way `serenity_run
// --plan-only` loads a cached plan. "fresh med"/"fresh min"/"fresh max" are
// their planning_ms (on a shared machine the fastest is the least disturbed),
// "fresh cpu" the median thread CPU time of that Prepare, and
// "faults" the median minor page faults it took (the fresh heap it touches;
// a count, not a time, so it does not depend on how busy the machine is).
//
// --warm-heap gives each of those fresh processes a heap whose pages are
// already mapped before it loads the model (glibc: 8 MiB taken, written and
// freed, and kept), as a process that has run for a while has: the same hit
// without the first-touch page faults, which are the difference (about a
// microsecond each here: build/release/bench/page_fault_bench).
#include <spawn.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "serenity/engine.h"

#if defined(__GLIBC__)  // defined by the C library's headers above
#include <malloc.h>
#endif

namespace {

constexpr const char* kUsage =
    "usage: plan_cache_bench [--hits N] [--cache-dir DIR] [--fresh N] [--warm-heap] "
    "[--no-rewrite] MODEL.srn...\n";

double ThreadCpuMs() {
  timespec now;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return now.tv_sec * 1e3 + now.tv_nsec * 1e-6;
}

long MinorFaults() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

// --warm-heap (see the top): false where it cannot be done.
bool WarmHeap() {
#if defined(__GLIBC__)
  constexpr size_t kBytes = size_t{8} << 20;
  if (mallopt(M_TRIM_THRESHOLD, 4 * kBytes) != 1 || mallopt(M_MMAP_THRESHOLD, 2 * kBytes) != 1) {
    return false;
  }
  volatile char* block = static_cast<volatile char*>(std::malloc(kBytes));
  if (block == nullptr) return false;
  for (size_t i = 0; i < kBytes; i += 4096) block[i] = 1;
  std::free(const_cast<char*>(block));
  return true;
#else
  return false;
#endif
}

// The child of --fresh: one Prepare on the kept entry of `path`, printed as
// "planning_ms cpu_ms faults hit".
int OneFreshHit(const std::string& path, const serenity::EngineOptions& options, bool warm_heap) {
  if (warm_heap && !WarmHeap()) return 1;
  serenity::Result<serenity::Model> model = serenity::Model::Load(path);
  if (!model.ok()) return 1;
  model->GraphHash();  // as Prepare does before its planning clock starts
  const long faults_start = MinorFaults();
  const double cpu_start = ThreadCpuMs();
  serenity::Result<serenity::ExecutionPlan> hit = serenity::Engine::Prepare(*model, options);
  const double cpu = ThreadCpuMs() - cpu_start;
  const long faults = MinorFaults() - faults_start;
  if (!hit.ok()) return 1;
  std::printf("%.4f %.4f %ld %d\n", hit->planning_ms, cpu, faults,
              hit->cache.status == serenity::PlanCacheStatus::kHit ? 1 : 0);
  return 0;
}

struct FreshHits {
  double median_ms = -1, min_ms = -1, max_ms = -1, median_cpu_ms = -1;
  long median_faults = -1;
  bool all_hits = true;
};

// `runs` fresh processes, each one hit on the entry in `dir`.
FreshHits MeasureFresh(const char* self, const std::string& path, const std::string& dir,
                       bool rewrites, bool warm_heap, int runs) {
  FreshHits result;
  std::vector<double> times, cpus;
  std::vector<long> faults;
  for (int r = 0; r < runs; ++r) {
    int fds[2];
    if (pipe(fds) != 0) break;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    std::vector<std::string> args = {self, "--one-fresh-hit", "--cache-dir", dir, path};
    if (!rewrites) args.push_back("--no-rewrite");
    if (warm_heap) args.push_back("--warm-heap");
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    const int spawned = posix_spawn(&pid, self, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    std::string out;
    char buffer[256];
    ssize_t n = 0;
    while (spawned == 0 && (n = read(fds[0], buffer, sizeof(buffer))) > 0) out.append(buffer, n);
    close(fds[0]);
    int status = 0;
    if (spawned != 0 || waitpid(pid, &status, 0) != pid || status != 0) {
      result.all_hits = false;
      continue;
    }
    double ms = 0, cpu = 0;
    long fault_count = 0;
    int hit = 0;
    if (std::sscanf(out.c_str(), "%lf %lf %ld %d", &ms, &cpu, &fault_count, &hit) != 4 || !hit) {
      result.all_hits = false;
      continue;
    }
    times.push_back(ms);
    cpus.push_back(cpu);
    faults.push_back(fault_count);
  }
  if (times.empty()) {
    result.all_hits = false;
    return result;
  }
  std::sort(times.begin(), times.end());
  std::sort(cpus.begin(), cpus.end());
  std::sort(faults.begin(), faults.end());
  result.median_ms = times[times.size() / 2];
  result.min_ms = times.front();
  result.max_ms = times.back();
  result.median_cpu_ms = cpus[cpus.size() / 2];
  result.median_faults = faults[faults.size() / 2];
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  int hits = 20;
  int fresh = 0;
  bool one_fresh_hit = false;
  bool warm_heap = false;
  std::string kept_dir;
  bool rewrites = true;
  std::vector<std::string> models;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--hits" && i + 1 < argc) {
      hits = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--cache-dir" && i + 1 < argc) {
      kept_dir = argv[++i];
    } else if (arg == "--fresh" && i + 1 < argc) {
      fresh = std::max(0, std::atoi(argv[++i]));
    } else if (arg == "--one-fresh-hit") {
      one_fresh_hit = true;
    } else if (arg == "--no-rewrite") {
      rewrites = false;
    } else if (arg == "--warm-heap") {
      warm_heap = true;
    } else if (arg == "--help" || arg == "-h") {
      std::printf("%s", kUsage);
      return 0;
    } else {
      models.push_back(arg);
    }
  }
  if (models.empty()) {
    std::fprintf(stderr, "%s", kUsage);
    return 2;
  }
  if (one_fresh_hit) {
    serenity::EngineOptions options;
    options.plan_cache_dir = kept_dir;
    options.rewrites = rewrites;
    return models.size() == 1 && !kept_dir.empty() ? OneFreshHit(models[0], options, warm_heap) : 2;
  }
  char dir_template[] = "/tmp/serenity_plan_cache_bench_XXXXXX";
  const char* dir = kept_dir.empty() ? ::mkdtemp(dir_template) : kept_dir.c_str();
  if (dir == nullptr) {
    std::fprintf(stderr, "plan_cache_bench: cannot create a temporary directory\n");
    return 1;
  }
  serenity::EngineOptions options;
  options.plan_cache_dir = dir;
  options.rewrites = rewrites;

  std::printf("%-22s %6s %9s %10s %10s %8s %11s %12s %10s %10s %11s %9s %9s %10s", "model", "ops",
              "strategy", "entry KiB", "miss ms", "hit", "first hit", "median hit", "min hit",
              "first cpu", "median cpu", "first flt", "med flt", "hash ms");
  if (fresh > 0) {
    std::printf(" %10s %10s %10s %10s %7s", "fresh med", "fresh min", "fresh max", "fresh cpu",
                "faults");
  }
  std::printf("\n");
  std::vector<std::string> json;
  double worst_median = 0, worst_first = 0, worst_fresh = 0;
  int failures = 0;
  for (const std::string& path : models) {
    serenity::Result<serenity::Model> model = serenity::Model::Load(path);
    if (!model.ok()) {
      std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
      ++failures;
      continue;
    }
    serenity::EngineOptions refresh = options;
    if (kept_dir.empty()) refresh.plan_cache = serenity::PlanCacheMode::kRefresh;
    serenity::Result<serenity::ExecutionPlan> miss = serenity::Engine::Prepare(*model, refresh);
    if (!miss.ok()) {
      std::fprintf(stderr, "%s: %s\n", path.c_str(), miss.status().ToString().c_str());
      ++failures;
      continue;
    }
    std::vector<double> times;
    std::vector<double> cpu_times;
    std::vector<long> faults;
    bool all_hits = true;
    for (int i = 0; i <= hits; ++i) {
      const long faults_start = MinorFaults();
      const double cpu_start = ThreadCpuMs();
      serenity::Result<serenity::ExecutionPlan> hit = serenity::Engine::Prepare(*model, options);
      cpu_times.push_back(ThreadCpuMs() - cpu_start);
      faults.push_back(MinorFaults() - faults_start);
      all_hits = all_hits && hit.ok() && hit->cache.status == serenity::PlanCacheStatus::kHit &&
                 hit->order == miss->order;
      times.push_back(hit.ok() ? hit->planning_ms : -1);
    }
    const double first = times.front();
    std::vector<double> rest(times.begin() + 1, times.end());
    std::sort(rest.begin(), rest.end());
    const double median = rest[rest.size() / 2];
    const double fastest = rest.front();
    const double first_cpu = cpu_times.front();
    std::vector<double> rest_cpu(cpu_times.begin() + 1, cpu_times.end());
    std::sort(rest_cpu.begin(), rest_cpu.end());
    const double median_cpu = rest_cpu[rest_cpu.size() / 2];
    const long first_faults = faults.front();
    std::vector<long> rest_faults(faults.begin() + 1, faults.end());
    std::sort(rest_faults.begin(), rest_faults.end());
    const long median_faults = rest_faults[rest_faults.size() / 2];
    FreshHits fresh_hits;
    if (fresh > 0) {
      fresh_hits = MeasureFresh("/proc/self/exe", path, dir, rewrites, warm_heap, fresh);
      all_hits = all_hits && fresh_hits.all_hits;
      worst_fresh = std::max(worst_fresh, fresh_hits.median_ms);
    }
    worst_median = std::max(worst_median, median);
    worst_first = std::max(worst_first, first);
    if (!all_hits) ++failures;
    const bool searched = miss->cache.status != serenity::PlanCacheStatus::kHit;
    struct stat entry;
    const double entry_kib =
        ::stat(miss->cache.path.c_str(), &entry) == 0 ? entry.st_size / 1024.0 : -1;
    char miss_ms[32] = "-";
    if (searched) std::snprintf(miss_ms, sizeof(miss_ms), "%.2f", miss->planning_ms);
    const char* strategy = serenity::MemoryStrategyName(miss->strategy);
    std::printf(
        "%-22s %6zu %9s %10.1f %10s %8s %11.3f %12.3f %10.3f %10.3f %11.3f %9ld %9ld %10.2f",
        model->name().c_str(), model->operators().size(), strategy, entry_kib, miss_ms,
        all_hits ? "yes" : "NO", first, median, fastest, first_cpu, median_cpu, first_faults,
        median_faults, miss->model_hash_ms);
    if (fresh > 0) {
      std::printf(" %10.3f %10.3f %10.3f %10.3f %7ld", fresh_hits.median_ms, fresh_hits.min_ms,
                  fresh_hits.max_ms, fresh_hits.median_cpu_ms, fresh_hits.median_faults);
    }
    std::printf("\n");
    char fresh_json[320] = "";
    if (fresh > 0) {
      std::snprintf(fresh_json, sizeof(fresh_json),
                    ", \"fresh_runs\": %d, \"fresh_warm_heap\": %s, \"fresh_median_hit_ms\": %.3f, "
                    "\"fresh_min_hit_ms\": %.3f, \"fresh_max_hit_ms\": %.3f, "
                    "\"fresh_median_hit_cpu_ms\": %.3f, "
                    "\"fresh_median_hit_faults\": %ld",
                    fresh, warm_heap ? "true" : "false", fresh_hits.median_ms, fresh_hits.min_ms,
                    fresh_hits.max_ms, fresh_hits.median_cpu_ms, fresh_hits.median_faults);
    }
    char line[800];
    std::snprintf(line, sizeof(line),
                  "{\"model\": \"%s\", \"ops\": %zu, \"strategy\": \"%s\", "
                  "\"entry_bytes\": %.0f, \"miss_ms\": %.3f, \"all_hits\": %s, "
                  "\"first_hit_ms\": %.3f, \"median_hit_ms\": %.3f, \"min_hit_ms\": %.3f, "
                  "\"first_hit_cpu_ms\": %.3f, \"median_hit_cpu_ms\": %.3f, "
                  "\"first_hit_faults\": %ld, \"median_hit_faults\": %ld, "
                  "\"model_hash_ms\": %.3f%s}",
                  model->name().c_str(), model->operators().size(), strategy, entry_kib * 1024,
                  searched ? miss->planning_ms : -1.0, all_hits ? "true" : "false", first, median,
                  fastest, first_cpu, median_cpu, first_faults, median_faults, miss->model_hash_ms,
                  fresh_json);
    json.push_back(line);
  }
  std::printf("worst first hit %.3f ms, worst median hit %.3f ms", worst_first, worst_median);
  if (fresh > 0) {
    std::printf(", worst fresh-process median hit %.3f ms%s", worst_fresh,
                warm_heap ? " (warm heap)" : "");
  }
  std::printf("\n");
  for (const std::string& line : json) std::printf("%s\n", line.c_str());
  if (kept_dir.empty()) {
    const std::string remove = std::string("rm -rf '") + dir + "'";
    if (std::system(remove.c_str()) != 0) std::fprintf(stderr, "cannot remove %s\n", dir);
  }
  return failures == 0 ? 0 : 1;
}
