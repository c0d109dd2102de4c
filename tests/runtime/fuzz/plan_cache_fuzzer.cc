// libFuzzer target for the plan cache's reading side: a damaged entry on
// disk, whatever its bytes, must never crash Prepare nor make it fail, and
// an entry Prepare accepts (a hit) must bind and compute what the model
// computes. A recipe replays identity rewrites only and the check proves the
// placements safe, so even a damaged entry that passes can only differ in
// summation order: the outputs are compared with the reference kernels'
// (kernels::RunModelReference: the model as given, naive kernels, no
// planner), within a tolerance for that.
//
// Input: one byte choosing the model (plan_cache_fuzz_models.h), then the
// entry's bytes, written where Prepare looks for the model's entry.
//
// Byte-level mutations almost never survive FlatBuffers verification and
// the entry's hashes, so a custom mutator mostly decodes the entry, changes
// what it means (a recipe edit's tensors, kind or order; the operator order;
// a placement; the arena and peak figures; the copy concats, windowed
// convolutions and last-reader in-place operators; the strategy) and encodes
// it again: those inputs reach the
// replay and the check.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "plan_cache.h"
#include "plan_cache_fuzz_models.h"
#include "serenity/engine.h"
#include "serenity/kernels/op_kernel.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace {

using namespace serenity;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "plan_cache_fuzzer: %s\n", what.c_str());
  std::abort();
}

using Tensors = std::vector<std::vector<float>>;

Tensors Run(const Model& model, const ExecutionPlan& plan, const EngineOptions& options,
            const Tensors& inputs) {
  Result<Engine> engine = Engine::Create(model, plan, options);
  if (!engine.ok()) Fail("the plan does not bind: " + engine.status().ToString());
  for (size_t i = 0; i < inputs.size(); ++i) {
    Status set = engine->SetInput(static_cast<int>(i), inputs[i].data(), inputs[i].size());
    if (!set.ok()) Fail(set.ToString());
  }
  Status invoked = engine->Invoke();
  if (!invoked.ok()) Fail("Invoke failed: " + invoked.ToString());
  Tensors outputs;
  for (int o = 0; o < engine->num_outputs(); ++o) {
    std::vector<float> values(engine->output(o)->num_elements);
    Status got = engine->GetOutput(o, values.data(), values.size());
    if (!got.ok()) Fail(got.ToString());
    outputs.push_back(std::move(values));
  }
  return outputs;
}

void ExpectSameOutputs(const Tensors& expected, const Tensors& got) {
  if (expected.size() != got.size()) Fail("an accepted entry changes the number of outputs");
  for (size_t o = 0; o < expected.size(); ++o) {
    if (expected[o].size() != got[o].size()) Fail("an accepted entry changes an output's size");
    float scale = 0.0f;
    for (float v : expected[o]) scale = std::max(scale, std::fabs(v));
    const float tolerance = 1e-4f * scale + 1e-5f;
    for (size_t k = 0; k < expected[o].size(); ++k) {
      if (!(std::fabs(expected[o][k] - got[o][k]) <= tolerance)) {
        Fail("an accepted entry computes output " + std::to_string(o) + "[" + std::to_string(k) +
             "] = " + std::to_string(got[o][k]) + ", the model " + std::to_string(expected[o][k]));
      }
    }
  }
}

struct Case {
  Model model;
  std::string entry_path;
  Tensors inputs;
  Tensors expected;  // the reference kernels' outputs for `inputs`
};

struct State {
  std::string dir;
  EngineOptions options;
  std::vector<Case> cases;
  // What Prepare made of the inputs (printed at exit, so that a run shows
  // how many damaged entries were accepted and checked against the model).
  long hits = 0, retried = 0, ignored = 0;
  // Why entries were ignored: the warning's reason, up to its first digit,
  // colon or parenthesis (so that numbers and names do not split a reason).
  std::map<std::string, long> reasons;
};

State* g_state = nullptr;

void AtExit() {
  if (g_state == nullptr) return;
  std::fprintf(stderr,
               "plan_cache_fuzzer: %ld entries accepted (outputs compared), %ld provisional "
               "ones retried (compared), %ld ignored with a warning\n",
               g_state->hits, g_state->retried, g_state->ignored);
  for (const auto& [reason, count] : g_state->reasons) {
    std::fprintf(stderr, "  %6ld  %s\n", count, reason.c_str());
  }
  for (const Case& c : g_state->cases) std::remove(c.entry_path.c_str());
  ::rmdir(g_state->dir.c_str());
}

State* MakeState() {
  auto* state = new State;
  state->dir = plan_cache_fuzz::MakeCacheDir("serenity_plan_cache_fuzz");
  if (state->dir.empty()) Fail("cannot make a cache directory");
  state->options = plan_cache_fuzz::Options(state->dir);
  for (plan_cache_fuzz::FuzzModel& fuzz_model : plan_cache_fuzz::Models()) {
    Case c{std::move(fuzz_model.model), "", {}, {}};
    for (size_t i = 0; i < c.model.inputs().size(); ++i) {
      std::vector<float> values(c.model.tensors()[c.model.inputs()[i]].num_elements());
      for (size_t k = 0; k < values.size(); ++k) {
        values[k] = static_cast<float>((k * 7 + i * 3) % 17) / 8.0f - 1.0f;
      }
      c.inputs.push_back(std::move(values));
    }
    Result<Tensors> reference = kernels::RunModelReference(c.model, c.inputs);
    if (!reference.ok()) Fail("model '" + fuzz_model.name + "': " + reference.status().ToString());
    c.expected = std::move(reference).value();
    // A miss: searched, and stored where the fuzz inputs go; its plan
    // computes what the model does, or nothing here can be trusted.
    Result<ExecutionPlan> plan = Engine::Prepare(c.model, state->options);
    if (!plan.ok() || plan->cache.status != PlanCacheStatus::kMiss) {
      Fail("model '" + fuzz_model.name + "': no fresh plan");
    }
    ExpectSameOutputs(c.expected, Run(c.model, *plan, state->options, c.inputs));
    c.entry_path = plan->cache.path;
    state->cases.push_back(std::move(c));
  }
  g_state = state;
  std::atexit(AtExit);
  return state;
}

// One state for the mutator and the test alike.
State* GetState() {
  static State* state = MakeState();
  return state;
}

// value + delta, saturating (mutated values reach the int64 limits).
int64_t Shifted(int64_t value, int64_t delta) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  if (delta > 0 && value > kMax - delta) return kMax;
  if (delta < 0 && value < kMin - delta) return kMin;
  return value + delta;
}

// A value near `value` or anywhere in [low, high].
int64_t Nudge(std::mt19937& rng, int64_t value, int64_t low, int64_t high) {
  switch (rng() % 3) {
    case 0:
      return Shifted(value, 1);
    case 1:
      return Shifted(value, -1);
    default:
      return low + static_cast<int64_t>(rng() % static_cast<uint64_t>(high - low + 1));
  }
}

// One change to what the entry means.
void MutateMeaning(std::mt19937& rng, const Case& c, plan_cache::RecipePlan* entry) {
  ExecutionPlan& plan = entry->plan;
  std::vector<scheduler::RewriteEdit>& recipe = entry->recipe;
  // Edits refer to the tensors earlier edits add (up to about twice the
  // model's): tensor indices are drawn from three times as many.
  const int tensors =
      3 * static_cast<int>(std::max(plan.placements.size(), c.model.tensors().size()));
  const int ops = static_cast<int>(std::max(plan.order.size(), c.model.operators().size()));
  switch (rng() % 12) {
    case 0:
    case 1:
    case 2:
      if (!recipe.empty()) {
        scheduler::RewriteEdit& edit = recipe[rng() % recipe.size()];
        switch (rng() % 5) {
          case 0:
            edit.first = static_cast<int>(Nudge(rng, edit.first, -2, tensors));
            break;
          case 1:
            edit.second = static_cast<int>(Nudge(rng, edit.second, -2, tensors));
            break;
          case 2:
            edit.kind = static_cast<scheduler::RewriteEdit::Kind>(rng() % 5);
            break;
          case 3:
            if (edit.order.size() >= 2) {
              std::swap(edit.order[rng() % edit.order.size()],
                        edit.order[rng() % edit.order.size()]);
            } else {
              edit.order.push_back(static_cast<int>(rng() % 4));
            }
            break;
          default:
            if (!edit.order.empty()) {
              int& k = edit.order[rng() % edit.order.size()];
              k = static_cast<int>(Nudge(rng, k, -1, 8));
            }
            break;
        }
      }
      break;
    case 3:
      if (!recipe.empty()) {
        const size_t at = rng() % recipe.size();
        if (rng() % 2) {
          recipe.erase(recipe.begin() + at);
        } else if (rng() % 2) {
          recipe.insert(recipe.begin() + at, recipe[rng() % recipe.size()]);
        } else {
          std::swap(recipe[at], recipe[rng() % recipe.size()]);
        }
      }
      break;
    case 4:
      if (plan.order.size() >= 2) {
        std::swap(plan.order[rng() % plan.order.size()], plan.order[rng() % plan.order.size()]);
      }
      break;
    case 5:
      if (!plan.order.empty()) {
        int& op = plan.order[rng() % plan.order.size()];
        op = static_cast<int>(Nudge(rng, op, 0, ops));
      }
      break;
    case 6:
      if (!plan.placements.empty()) {
        TensorPlacement& p = plan.placements[rng() % plan.placements.size()];
        if (rng() % 3 == 0) {
          p.pixel_stride = Nudge(rng, p.pixel_stride, 0, 64);
        } else {
          const int64_t arena = static_cast<int64_t>(plan.memory.arena_bytes);
          p.offset = rng() % 2 ? Shifted(p.offset, 4 * Nudge(rng, 0, -16, 16))
                               : Nudge(rng, p.offset, -1, std::max<int64_t>(arena, 0));
        }
      }
      break;
    case 7: {
      uint64_t& figure = rng() % 2 ? plan.memory.arena_bytes : plan.memory.peak_bytes;
      figure = rng() % 2 ? figure + 4 * (rng() % 64)
                         : figure - std::min<uint64_t>(figure, 4 * (rng() % 64));
      break;
    }
    case 8: {
      const uint32_t which = rng() % 3;
      std::vector<int>& list = which == 0   ? plan.copy_concats
                               : which == 1 ? plan.windowed_convs
                                            : plan.last_reader_in_place;
      if (!list.empty() && rng() % 2) {
        list.erase(list.begin() + rng() % list.size());
      } else {
        list.push_back(static_cast<int>(rng() % std::max(ops, 1)));
        std::sort(list.begin(), list.end());
      }
      break;
    }
    case 9:
      plan.strategy = static_cast<MemoryStrategy>(rng() % 3);
      if (plan.strategy != MemoryStrategy::kRewrites) recipe.clear();
      break;
    case 10:
      plan.aliasing_start = static_cast<int>(Nudge(rng, plan.aliasing_start, -1, 3));
      break;
    default:
      if (rng() % 2) {
        plan.schedule.time_limited = !plan.schedule.time_limited;
      } else {
        plan.graph_hash ^= uint64_t{1} << (rng() % 64);
      }
      break;
  }
}

}  // namespace

// Three times in four, a change of meaning (when the input decodes as an
// entry of its model); else libFuzzer's byte-level mutations.
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
  State* state = GetState();
  std::mt19937 rng(seed);
  if (size >= 2 && rng() % 4 != 0) {
    const Case& c = state->cases[data[0] % state->cases.size()];
    const uint64_t model_hash = c.model.GraphHash();
    const uint64_t options_hash = PlanningOptionsHash(state->options);
    // Aligned, as Prepare's own read of an entry is (FlatBuffers needs it).
    const std::vector<uint8_t> aligned(data + 1, data + size);
    Result<plan_cache::RecipePlan> entry =
        plan_cache::DeserializePlan(aligned.data(), aligned.size(), model_hash, options_hash);
    if (entry.ok()) {
      const int changes = 1 + static_cast<int>(rng() % 3);
      for (int i = 0; i < changes; ++i) MutateMeaning(rng, c, &*entry);
      const std::vector<uint8_t> bytes =
          plan_cache::SerializePlan(*entry, model_hash, options_hash);
      if (bytes.size() + 1 <= max_size) {
        std::memcpy(data + 1, bytes.data(), bytes.size());
        return bytes.size() + 1;
      }
    }
  }
  return LLVMFuzzerMutate(data, size, max_size);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  State* state = GetState();
  if (size == 0) return 0;
  Case& c = state->cases[data[0] % state->cases.size()];
  Status written = WriteFileAtomically(c.entry_path, std::vector<uint8_t>(data + 1, data + size));
  if (!written.ok()) Fail(written.ToString());
  Result<ExecutionPlan> plan = Engine::Prepare(c.model, state->options);
  if (!plan.ok()) Fail("Prepare failed on a damaged entry: " + plan.status().ToString());
  switch (plan->cache.status) {
    case PlanCacheStatus::kHit:
    case PlanCacheStatus::kRetried:  // provisional: planned again, the better plan runs
      ++(plan->cache.status == PlanCacheStatus::kHit ? state->hits : state->retried);
      ExpectSameOutputs(c.expected, Run(c.model, *plan, state->options, c.inputs));
      break;
    case PlanCacheStatus::kMiss: {
      ++state->ignored;
      // "plan cache: ignored PATH: REASON; planned again"
      const std::string& warning = plan->cache.warning;
      const size_t path_end = warning.find(c.entry_path);
      if (path_end != std::string::npos) {
        const size_t start = path_end + c.entry_path.size() + 2;
        const size_t end = warning.find_first_of("0123456789:(", start);
        ++state->reasons[warning.substr(start, std::min(end, start + 60) - start)];
      }
      // Ignored and planned again: the warning must say so.
      if (plan->cache.warning.find("ignored") == std::string::npos) {
        Fail("an entry was ignored without a warning saying so: '" + plan->cache.warning + "'");
      }
      break;
    }
    default:
      Fail(std::string("unexpected cache status ") + PlanCacheStatusName(plan->cache.status));
  }
  return 0;
}
