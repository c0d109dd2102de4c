// Writes the plan cache fuzzer's seed corpus: for each fuzz model, the entry
// a search stores for it, behind the byte that names the model. Fails unless
// a second Prepare hits the entry and at least one entry carries a rewrite
// recipe (else the fuzzer would never reach the replay).
//
//   runtime_plan_cache_fuzz_seed_writer OUTPUT_DIR
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "plan_cache_fuzz_models.h"

int main(int argc, char** argv) {
  using namespace serenity;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
    return 2;
  }
  const std::string out_dir = argv[1];
  const std::string dir = plan_cache_fuzz::MakeCacheDir("serenity_plan_cache_seeds");
  if (dir.empty()) {
    std::fprintf(stderr, "cannot make a cache directory\n");
    return 1;
  }
  const EngineOptions options = plan_cache_fuzz::Options(dir);
  const std::vector<plan_cache_fuzz::FuzzModel> models = plan_cache_fuzz::Models();
  int rewritten = 0;
  int status = 0;
  for (size_t i = 0; i < models.size() && status == 0; ++i) {
    const plan_cache_fuzz::FuzzModel& m = models[i];
    Result<ExecutionPlan> miss = Engine::Prepare(m.model, options);
    Result<ExecutionPlan> hit = Engine::Prepare(m.model, options);
    if (!miss.ok() || !hit.ok() || miss->cache.status != PlanCacheStatus::kMiss ||
        hit->cache.status != PlanCacheStatus::kHit) {
      std::fprintf(stderr, "%s: no miss then hit\n", m.name.c_str());
      status = 1;
      break;
    }
    std::ifstream in(miss->cache.path, std::ios::binary);
    std::string entry((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream out(out_dir + "/" + m.name + ".entry", std::ios::binary);
    out.put(static_cast<char>(i));
    out << entry;
    if (!in || !out) {
      std::fprintf(stderr, "%s: cannot copy the entry\n", m.name.c_str());
      status = 1;
    }
    in.close();
    std::remove(miss->cache.path.c_str());
    const bool runs_rewritten = miss->strategy == MemoryStrategy::kRewrites;
    rewritten += runs_rewritten ? 1 : 0;
    std::printf("%s: %zu bytes, %s\n", m.name.c_str(), entry.size(),
                runs_rewritten ? "a rewrite recipe" : "no recipe");
  }
  ::rmdir(dir.c_str());
  if (status == 0 && rewritten == 0) {
    std::fprintf(stderr, "no seed carries a rewrite recipe\n");
    status = 1;
  }
  return status;
}
