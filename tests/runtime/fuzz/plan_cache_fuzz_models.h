// The models and options of the plan cache entry fuzzer and its seed corpus
// writer: small models whose plans run each kind of rewrite (so that their
// entries carry recipes), and the options both use (the options are in the
// entry's key: a seed is a hit only under the same options).
//
// A fuzz input is one byte naming the model (modulo the number of models)
// followed by the bytes of a cache entry for it.
#ifndef SERENITY_TESTS_RUNTIME_FUZZ_PLAN_CACHE_FUZZ_MODELS_H_
#define SERENITY_TESTS_RUNTIME_FUZZ_PLAN_CACHE_FUZZ_MODELS_H_

#include <stdlib.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "../../scheduler/rewrite_test_models.h"
#include "serenity/engine.h"
#include "serenity/model_format/model.h"

namespace serenity::plan_cache_fuzz {

struct FuzzModel {
  std::string name;  // of the seed file
  Model model;
};

inline std::vector<FuzzModel> Models() {
  using namespace rewrite_testing;
  std::vector<FuzzModel> models;
  models.push_back({"shared_relu", SharedReluNet()});                    // merged duplicates
  models.push_back({"concat_conv", ConcatConvNet({8, 4, 12}, 6, 3)});    // channel-wise
  models.push_back({"concat_dw", ConcatSeparableNet(OpType::kConv2D)});  // kernel-wise
  models.push_back({"add_4", AddNNet(4)});                               // partial sum
  models.push_back({"factorized_reduction", FactorizedReductionNet()});  // shifted subsample
  models.push_back({"two_stage", TwoStageConcatConvNet()});              // pruned sites
  models.push_back({"last_reader", LastReaderNet()});                    // last-reader in place
  return models;
}

inline EngineOptions Options(const std::string& cache_dir) {
  EngineOptions options;
  options.plan_cache = PlanCacheMode::kOn;
  options.plan_cache_dir = cache_dir;
  return options;
}

// A new directory under $TMPDIR (else /tmp) named `prefix`_XXXXXX, or "" if
// it cannot be made.
inline std::string MakeCacheDir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string path =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/" + prefix + "_XXXXXX";
  return ::mkdtemp(path.data()) != nullptr ? path : std::string();
}

}  // namespace serenity::plan_cache_fuzz

#endif  // SERENITY_TESTS_RUNTIME_FUZZ_PLAN_CACHE_FUZZ_MODELS_H_
