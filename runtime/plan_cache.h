// How Prepare obtains a plan without searching: the model's stored
// (ahead-of-time) plan, or the plan cache. Internal to the runtime.
//
// The serialised forms of an ExecutionPlan live here and only here: the cache
// entry (SerializePlan / DeserializePlan, runtime/plan_cache.fbs) and the
// .srn stored plan (ToStoredPlan in engine.h / FromStoredPlan). A new field of
// ExecutionPlan is added to both pairs.
#ifndef SERENITY_RUNTIME_PLAN_CACHE_H_
#define SERENITY_RUNTIME_PLAN_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "serenity/engine.h"
#include "serenity/model_format/model.h"
#include "serenity/scheduler/rewrite.h"
#include "serenity/status.h"

namespace serenity::plan_cache {

// Entries larger than this are not read (a plan of kMaxTensors tensors and
// kMaxOperators operators takes about 1.2 MiB, a recipe of kMaxRecipeEdits
// edits with the longest orders about as much again).
inline constexpr size_t kMaxEntryBytes = size_t{64} << 20;
inline constexpr size_t kMaxRecipeEdits = kMaxTensors;

// A plan as the search makes it and a cache entry holds it. When it runs a
// rewritten model (strategy kRewrites), `recipe` rebuilds that model from the
// model given to Prepare (scheduler::ReplayRewrites): the entry stores the
// recipe, not the model.
struct RecipePlan {
  ExecutionPlan plan;
  std::vector<scheduler::RewriteEdit> recipe;
};

// The cache entry for `plan`, made for the model whose GraphHash() is
// `model_hash` under options hashing to `options_hash`.
std::vector<uint8_t> SerializePlan(const RecipePlan& plan, uint64_t model_hash,
                                   uint64_t options_hash);

// Decodes an entry after the FlatBuffers verifier. Errors (kCorruptCache,
// naming what is wrong): not a plan cache entry (size, identifier, verifier),
// another plan format version, another model, other options, a plan whose
// vectors do not fit their limits, a recipe on a plan that runs no rewritten
// model or none on one that does, an edit of unknown kind. The plan itself
// is not checked against the model here (Hooks::check does that), nor is
// the recipe replayed: plan.rewritten_model is null and `cache` default.
Result<RecipePlan> DeserializePlan(const uint8_t* bytes, size_t size, uint64_t model_hash,
                                   uint64_t options_hash);

// The model's stored plan as an ExecutionPlan, before Hooks::check. Errors:
// kInvalidModel when its vectors do not match the model's tensors and
// operators.
Result<ExecutionPlan> FromStoredPlan(const Model& model, const StoredPlan& stored,
                                     const EngineOptions& options);

// <dir>/<16 hex digits>.srnplan: the entry for this model and these options.
std::string EntryPath(const std::string& dir, uint64_t model_hash, uint64_t options_hash);

struct Hooks {
  // The search (order, arena plan): what runs on a miss. A rewritten plan's
  // model must be ReplayRewrites(model, recipe) (the search checks it).
  std::function<Result<RecipePlan>()> search;
  // Checks a plan this process did not compute against the model (see
  // engine.cc: CheckPlan); `stored` for a stored plan, whose derived figures
  // (baseline, stored-order peak) the check fills in. For a cache entry of a
  // rewritten plan, plan->rewritten_model is the entry's recipe replayed on
  // the model.
  std::function<Status(ExecutionPlan* plan, bool stored)> check;
};

// The stored plan, else the cache, else the search; fills plan.cache. An
// entry whose plan a wall-clock limit cut short (ExecutionPlan::time_limited)
// is provisional, not a hit: the search runs again (kRetried), the smaller
// arena runs (the new plan on a tie), and the entry is replaced unless the
// new search was cut too and did worse. A plan written while cut is marked
// provisional (plan.cache.provisional).
// Errors: the search's, and kInvalidModel for a stored plan made for another
// graph or failing the check. Cache trouble (an entry that does not decode,
// whose recipe does not replay, or whose plan fails the check) is a warning,
// never an error.
Result<ExecutionPlan> ObtainPlan(const Model& model, const EngineOptions& options,
                                 const Hooks& hooks);

}  // namespace serenity::plan_cache

#endif  // SERENITY_RUNTIME_PLAN_CACHE_H_
