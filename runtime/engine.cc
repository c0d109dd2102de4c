#include "serenity/engine.h"

#include <pthreadpool.h>
#include <xnnpack.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <new>
#include <utility>
#include <variant>
#include <vector>

#include "plan_cache.h"
#include "serenity/internal/model_assembly.h"
#include "serenity/internal/phase_probe.h"
#include "serenity/kernels/op_kernel.h"
#include "serenity/kernels/xnnpack_util.h"
#include "serenity/platforms/clock.h"
#include "serenity/scheduler/alias.h"
#include "serenity/scheduler/arena_planner.h"
#include "serenity/scheduler/graph.h"
#include "serenity/scheduler/memory_model.h"
#include "serenity/scheduler/rewrite.h"

namespace serenity {
namespace {

constexpr uint64_t kReadPastBytes = XNN_EXTRA_BYTES;
constexpr const char* kIoLayoutKey = "serenity.io_layout";

struct AlignedFree {
  void operator()(uint8_t* p) const {
    ::operator delete[](p, std::align_val_t{kArenaAlignment});
  }
};
using OwnedArena = std::unique_ptr<uint8_t[], AlignedFree>;

struct PoolDeleter {
  void operator()(pthreadpool_t pool) const { pthreadpool_destroy(pool); }
};
using Pool = std::unique_ptr<std::remove_pointer_t<pthreadpool_t>, PoolDeleter>;

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

BoundaryLayout LayoutOf(const Model& model) {
  for (const auto& [key, value] : model.metadata()) {
    if (key == kIoLayoutKey && (value == "nchw" || value == "NCHW")) {
      return BoundaryLayout::kNchw;
    }
  }
  return BoundaryLayout::kAsStored;
}

// What the kernels can do with memory, for the aliasing rules (the scheduler
// never depends on the kernels itself).
scheduler::AliasCapabilities KernelCapabilities() {
  return scheduler::AliasCapabilities::FromFunction([](OpType type) {
    const kernels::OpCapabilities c = kernels::CapabilitiesOf(type);
    return scheduler::OpAliasCapability{c.strided_input, c.strided_output, c.in_place,
                                        c.windowed_max_positions};
  });
}

// Starting points for aliasing and the greedy rewrite search: everything the
// kernels allow, and the same without zero-copy concats fed by an Add. A
// node sum written straight into its cell's concat keeps the whole concat
// buffer live from the first node on, which some cells (DARTS) pay back and
// others (AmoebaNet) do not; the search, which keeps a step only when the
// peak drops, rarely gets from one of these to the other by itself.
std::vector<scheduler::AliasCapabilities> AliasingStarts() {
  scheduler::AliasCapabilities all = KernelCapabilities();
  scheduler::AliasCapabilities no_add_slices = all;
  no_add_slices[OpType::kAdd].strided_output = false;
  return {all, no_add_slices};
}

// One way of running the model that Prepare weighs against the others.
struct Candidate {
  MemoryStrategy strategy = MemoryStrategy::kOrder;
  int aliasing_start = 0;         // index in AliasingStarts()
  std::vector<int> copy_concats;  // run-model concats kept as copies
  std::vector<int> windowed_convs;  // run-model Conv2Ds windowed in place
  std::shared_ptr<const Model> rewritten;  // null: the model given to Prepare
  std::vector<scheduler::RewriteEdit> recipe;  // rebuilds `rewritten` from that model
  scheduler::Graph graph;
  scheduler::AliasPlan alias;
  scheduler::Schedule schedule;
  scheduler::ArenaPlan arena;
  std::vector<std::string> applied;
  double rewrite_ms = 0.0;
  uint64_t rewrite_work = 0;
  bool rewrite_out_of_work = false;
  bool rewrite_time_limited = false;
};

std::vector<scheduler::PlanBuffer> PlanBuffers(const scheduler::MemoryModel& memory,
                                               const std::vector<scheduler::LiveRange>& ranges) {
  std::vector<scheduler::PlanBuffer> buffers(memory.buffers.size());
  for (size_t b = 0; b < buffers.size(); ++b) {
    buffers[b].size = memory.buffers[b].bytes;
    buffers[b].first = ranges[b].first;
    buffers[b].last = ranges[b].last;
    buffers[b].alignment = kArenaAlignment;
  }
  return buffers;
}

// Live ranges under the candidate's order, then the arena placement.
Status PlaceArena(const std::string& model_name, const EngineOptions& options,
                  Candidate* candidate) {
  // Operators moved where they hold fewer buffers at once: every plan of the
  // order found is still valid, and the planner has more room to reach the
  // peak (scheduler::TightenLiveRanges). The stored order is run as stored.
  if (candidate->schedule.algorithm != scheduler::Algorithm::kStored) {
    candidate->schedule.order = scheduler::TightenLiveRanges(
        candidate->graph, candidate->alias.memory, candidate->schedule.order);
    candidate->schedule.peak_bytes = scheduler::PeakBytes(
        candidate->graph, candidate->alias.memory, candidate->schedule.order);
  }
  const std::vector<scheduler::PlanBuffer> buffers = PlanBuffers(
      candidate->alias.memory,
      scheduler::ComputeLiveRanges(candidate->graph, candidate->alias.memory,
                                   candidate->schedule.order));
  scheduler::PlanOptions plan_options;
  plan_options.kind = scheduler::PlannerKind::kBest;
  plan_options.read_past_bytes = kReadPastBytes;
  plan_options.time_limit_seconds = options.arena_time_limit_seconds;
  plan_options.node_limit = options.arena_node_limit;
  SERENITY_ASSIGN_OR_RETURN(candidate->arena, scheduler::PlanArena(buffers, plan_options));
#ifndef NDEBUG
  SERENITY_RETURN_IF_ERROR(
      scheduler::ValidateArenaPlan(buffers, candidate->arena, kReadPastBytes)
          .WithContext("arena plan for model '" + model_name + "' (" +
                       MemoryStrategyName(candidate->strategy) + ")"));
#else
  (void)model_name;
#endif
  return Status::Ok();
}

// Orders `candidate` (graph and alias set) with the options' algorithm; an
// unproven search also tries `fallback_order` (an order of the same graph)
// and keeps the lower peak.
Status Order(const EngineOptions& options, const std::vector<int>* fallback_order,
             Candidate* candidate) {
  scheduler::ScheduleOptions schedule_options;
  schedule_options.algorithm = options.scheduler;
  schedule_options.time_limit_seconds = options.schedule_time_limit_seconds;
  schedule_options.memo_limit_bytes = options.schedule_memory_limit_bytes;
  SERENITY_ASSIGN_OR_RETURN(
      candidate->schedule,
      scheduler::ComputeSchedule(candidate->graph, candidate->alias.memory, schedule_options));
  if (!candidate->schedule.optimal && fallback_order != nullptr &&
      scheduler::IsTopologicalOrder(candidate->graph, *fallback_order) &&
      scheduler::KeepsOrderEdges(candidate->alias.memory, *fallback_order)) {
    const uint64_t peak =
        scheduler::PeakBytes(candidate->graph, candidate->alias.memory, *fallback_order);
    if (peak < candidate->schedule.peak_bytes) {
      candidate->schedule.order = *fallback_order;
      candidate->schedule.peak_bytes = peak;
    }
  }
  if (!scheduler::IsTopologicalOrder(candidate->graph, candidate->schedule.order) ||
      !scheduler::KeepsOrderEdges(candidate->alias.memory, candidate->schedule.order)) {
    return InternalError("the ", scheduler::AlgorithmName(candidate->schedule.algorithm),
                         " scheduler returned an order that is not topological or does not "
                         "keep the aliasing's order edges");
  }
  return Status::Ok();
}

// Windowed in-place convolutions (scheduler/alias.h) merge a convolution's
// input and output into one buffer larger than either, live as long as both,
// so they are kept by measurement, like the rewrites: under the candidate's
// order, of the Conv2Ds that run at a step of the peak, the one whose
// windowed run lowers (peak, steps at the peak) the most, again until none
// does. A candidate that kept any is then ordered and placed again, as a new
// candidate (`windowed`), which wins only with a smaller arena. `run_model`
// is the model the candidate runs. Returns whether it made one.
Result<bool> WindowedCandidate(const Model& run_model, const EngineOptions& options,
                               const scheduler::AliasCapabilities& capabilities,
                               const Candidate& candidate, Candidate* windowed) {
  const std::vector<int> eligible = scheduler::WindowedConvCandidates(run_model, capabilities);
  if (eligible.empty()) return false;
  const scheduler::Graph& graph = candidate.graph;
  const std::vector<int>& order = candidate.schedule.order;
  struct Score {
    uint64_t peak = 0;
    int at_peak = 0;
    bool operator<(const Score& o) const {
      return peak != o.peak ? peak < o.peak : at_peak < o.at_peak;
    }
  };
  auto score_of = [&](const scheduler::MemoryModel& memory, std::vector<uint64_t>* footprint) {
    *footprint = scheduler::FootprintPerStep(graph, memory, order);
    Score score;
    for (uint64_t bytes : *footprint) score.peak = std::max(score.peak, bytes);
    for (uint64_t bytes : *footprint) score.at_peak += bytes == score.peak ? 1 : 0;
    return score;
  };
  scheduler::AliasOptions alias_options;
  alias_options.copy_concats = candidate.copy_concats;
  alias_options.last_reader_in_place = candidate.alias.last_reader_in_place;
  std::vector<uint64_t> footprint, trial_footprint;
  Score current = score_of(candidate.alias.memory, &footprint);
  std::vector<int> chosen;
  scheduler::AliasPlan chosen_alias;
  while (true) {
    int best_op = -1;
    Score best = current;
    scheduler::AliasPlan best_alias;
    std::vector<uint64_t> best_footprint;
    for (size_t step = 0; step < order.size(); ++step) {
      if (footprint[step] != current.peak) continue;
      const int op = graph.ops[order[step]].model_operator;
      if (!std::binary_search(eligible.begin(), eligible.end(), op) ||
          std::find(chosen.begin(), chosen.end(), op) != chosen.end()) {
        continue;
      }
      alias_options.windowed_convs = chosen;
      alias_options.windowed_convs.push_back(op);
      SERENITY_ASSIGN_OR_RETURN(
          scheduler::AliasPlan trial,
          scheduler::PlanAliasing(run_model, graph, capabilities, alias_options));
      if (!std::binary_search(trial.windowed_convs.begin(), trial.windowed_convs.end(), op)) {
        continue;
      }
      const Score score = score_of(trial.memory, &trial_footprint);
      if (score < best) {
        best = score;
        best_op = op;
        best_alias = std::move(trial);
        best_footprint.swap(trial_footprint);
      }
    }
    if (best_op < 0) break;
    chosen.push_back(best_op);
    chosen_alias = std::move(best_alias);
    current = best;
    footprint = std::move(best_footprint);
  }
  if (chosen.empty()) return false;
  *windowed = candidate;
  windowed->alias = std::move(chosen_alias);
  windowed->windowed_convs = windowed->alias.windowed_convs;
  SERENITY_RETURN_IF_ERROR(Order(options, &order, windowed));
  SERENITY_RETURN_IF_ERROR(PlaceArena(run_model.name(), options, windowed));
  return true;
}

// Last-reader in-place operators (scheduler/alias.h) run an element-wise
// operator over an input that others read too, once they have. Which ones:
//   - first, every eligible operator at once: the order edges they add
//     constrain the search, which may still find an order that peaks no
//     higher than the candidate's and merges more (on nasnet_cifar, the
//     smaller of the two rewritten models then reaches the arena of the
//     larger one, and wins on fewer operators);
//   - when that peaks higher, the operators the candidate's order already
//     runs after their input's other readers: merging them never raises that
//     order's peak, and it is the search's fallback. The search may move more
//     of them last, so it runs again: up to three rounds while the set grows.
// The result is placed only when it could win: its arena would be at least
// its peak plus the read margin, which must not exceed `best_arena` (the
// smallest arena of the candidates so far) nor, unless the peak dropped, the
// candidate's own arena. A candidate whose order the search could not prove
// optimal is left alone: its search ran into the state or time limit, and
// each of these would again. `searched_peak` receives the lowest peak
// searched. The result is a new candidate (`ordered`), which wins only with
// a smaller arena. `run_model` is the model the candidate runs. Returns
// whether it made one.
Result<bool> LastReaderCandidate(const Model& run_model, const EngineOptions& options,
                                 const scheduler::AliasCapabilities& capabilities,
                                 const Candidate& candidate, uint64_t best_arena,
                                 uint64_t* searched_peak, Candidate* ordered) {
  if (!candidate.schedule.optimal) return false;
  const std::vector<int> eligible = scheduler::LastReaderInPlaceCandidates(run_model, capabilities);
  if (eligible.empty()) return false;
  const scheduler::Graph& graph = candidate.graph;
  // The candidate with `chosen` run last-reader in place, ordered; false when
  // the alias plan takes no more of them than `from` had.
  auto search = [&](const Candidate& from, const std::vector<int>& chosen,
                    const std::vector<int>* fallback, Candidate* out) -> Result<bool> {
    scheduler::AliasOptions alias_options;
    alias_options.copy_concats = from.copy_concats;
    alias_options.windowed_convs = from.alias.windowed_convs;
    alias_options.last_reader_in_place = chosen;
    SERENITY_ASSIGN_OR_RETURN(
        scheduler::AliasPlan alias,
        scheduler::PlanAliasing(run_model, graph, capabilities, alias_options));
    if (alias.last_reader_in_place.size() <= from.alias.last_reader_in_place.size() ||
        alias.windowed_convs != from.alias.windowed_convs) {
      return false;
    }
    *out = from;
    out->alias = std::move(alias);
    SERENITY_RETURN_IF_ERROR(Order(options, fallback, out));
    *searched_peak = std::min(*searched_peak, out->schedule.peak_bytes);
    return true;
  };
  Candidate searched;
  const Candidate* current = &candidate;
  SERENITY_ASSIGN_OR_RETURN(const bool all, search(candidate, eligible, nullptr, &searched));
  const bool all_kept = all && searched.schedule.peak_bytes <= candidate.schedule.peak_bytes;
  if (all_kept) current = &searched;
  // Otherwise the rounds, from the candidate's order.
  for (int round = 0; round < 3 && !all_kept; ++round) {
    const std::vector<int>& order = current->schedule.order;
    std::vector<int> step_of(graph.ops.size(), 0);
    for (size_t step = 0; step < order.size(); ++step) step_of[order[step]] = step;
    std::vector<int> chosen;
    for (int op : eligible) {
      bool last = true;
      for (int other : graph.tensors[graph.ops[op].inputs[0]].consumers) {
        last = last && (other == op || step_of[other] < step_of[op]);
      }
      if (last) chosen.push_back(op);
    }
    if (chosen.size() <= current->alias.last_reader_in_place.size()) break;
    Candidate next;
    SERENITY_ASSIGN_OR_RETURN(const bool more, search(*current, chosen, &order, &next));
    if (!more) break;
    searched = std::move(next);
    current = &searched;
  }
  if (current == &candidate) return false;
  const uint64_t least_arena = searched.schedule.peak_bytes + kReadPastBytes;
  if (least_arena > best_arena) return false;
  if (searched.schedule.peak_bytes >= candidate.schedule.peak_bytes &&
      least_arena >= candidate.arena.arena_bytes) {
    return false;
  }
  SERENITY_RETURN_IF_ERROR(PlaceArena(run_model.name(), options, &searched));
  *ordered = std::move(searched);
  return true;
}

// Appends `base` (ordered and placed, running `run_model`) to `candidates`
// with its variants: last-reader in place on it (LastReaderCandidate),
// windowed convolutions on that one when there is one, else on `base`
// (WindowedCandidate), and last-reader in place again on the windowed one,
// whose order differs. `peak` receives the lowest peak of all of them,
// placed or not.
Status AddVariants(const Model& run_model, const EngineOptions& options,
                   const scheduler::AliasCapabilities& capabilities, Candidate base,
                   std::vector<Candidate>* candidates, uint64_t* peak) {
  *peak = std::min(*peak, base.schedule.peak_bytes);
  candidates->push_back(std::move(base));
  auto best_arena = [&] {
    uint64_t best = std::numeric_limits<uint64_t>::max();
    for (const Candidate& c : *candidates) best = std::min(best, c.arena.arena_bytes);
    return best;
  };
  Candidate ordered;
  SERENITY_ASSIGN_OR_RETURN(const bool has_ordered,
                            LastReaderCandidate(run_model, options, capabilities,
                                                candidates->back(), best_arena(), peak, &ordered));
  if (has_ordered) candidates->push_back(std::move(ordered));
  Candidate windowed;
  SERENITY_ASSIGN_OR_RETURN(
      const bool has_windowed,
      WindowedCandidate(run_model, options, capabilities, candidates->back(), &windowed));
  if (!has_windowed) return Status::Ok();
  *peak = std::min(*peak, windowed.schedule.peak_bytes);
  candidates->push_back(std::move(windowed));
  SERENITY_ASSIGN_OR_RETURN(const bool has_reordered,
                            LastReaderCandidate(run_model, options, capabilities,
                                                candidates->back(), best_arena(), peak, &ordered));
  if (has_reordered) candidates->push_back(std::move(ordered));
  return Status::Ok();
}

// The rewrite search (scheduler/rewrite.h) under the engine's options, with
// `work_limit` and `time_limit_seconds` (a starting point's share): its
// model, then, when it re-sorted the chains (RewriteResult::before_reorder),
// the model as it was before, which may place in a smaller arena. The first
// carries the search's figures; it alone, with no `rewritten`, when no
// rewrite paid off.
Result<std::vector<Candidate>> RewriteCandidates(const Model& model, const EngineOptions& options,
                                                 const scheduler::AliasCapabilities& capabilities,
                                                 uint64_t work_limit, double time_limit_seconds) {
  const double start = platforms::NowSeconds();
  scheduler::RewriteOptions rewrite_options;
  rewrite_options.capabilities = capabilities;
  rewrite_options.schedule.algorithm = options.scheduler;
  rewrite_options.schedule.time_limit_seconds = options.schedule_time_limit_seconds;
  rewrite_options.schedule.state_limit = std::max<uint64_t>(work_limit / 10, 1);
  rewrite_options.schedule.memo_limit_bytes = options.schedule_memory_limit_bytes;
  rewrite_options.work_limit = work_limit;
  rewrite_options.time_limit_seconds = time_limit_seconds;
  SERENITY_ASSIGN_OR_RETURN(scheduler::RewriteResult result,
                            scheduler::RewriteForMemory(model, rewrite_options));
  Candidate candidate;
  candidate.strategy = MemoryStrategy::kRewrites;
  candidate.rewrite_ms = (platforms::NowSeconds() - start) * 1e3;
  candidate.rewrite_work = result.work;
  candidate.rewrite_out_of_work = result.out_of_work;
  candidate.rewrite_time_limited = result.time_limited;
  std::vector<Candidate> candidates;
  if (result.applied_count == 0) {
    candidates.push_back(std::move(candidate));
    return candidates;
  }
  for (const scheduler::RewriteDecision& decision : result.decisions) {
    if (!decision.applied) continue;
    std::string line = scheduler::RewriteKindName(decision.kind);
    if (decision.sites_left_out > 0) {
      line += StrCat(decision.batch ? " (batch, " : " (", decision.sites_left_out,
                     decision.sites_left_out == 1 ? " site" : " sites", " left out by pruning): ");
    } else {
      line += decision.batch ? " (batch): " : ": ";
    }
    for (size_t i = 0; i < decision.operators.size(); ++i) {
      line += (i ? ", " : "") + decision.operators[i];
    }
    candidate.applied.push_back(std::move(line));
  }
  auto take = [](scheduler::RewriteResult& from, Candidate* out) {
    out->graph = std::move(from.graph);
    out->alias = std::move(from.alias);
    out->schedule = std::move(from.schedule);
    out->copy_concats = std::move(from.copy_concats);
    out->rewritten = std::make_shared<const Model>(std::move(from.model));
    out->recipe = std::move(from.recipe);
  };
  take(result, &candidate);
  candidates.push_back(std::move(candidate));
  if (result.before_reorder != nullptr) {
    Candidate before;
    before.strategy = MemoryStrategy::kRewrites;
    before.applied = candidates[0].applied;
    take(*result.before_reorder, &before);
    candidates.push_back(std::move(before));
  }
  return candidates;
}

Status CheckOptions(const EngineOptions& options) {
  if (options.threads < 0) {
    return InvalidArgumentError("EngineOptions::threads is ", options.threads,
                                "; use 1 for no pool, 0 for one thread per core, or a count");
  }
  if (options.arena == nullptr && options.arena_bytes != 0) {
    return InvalidArgumentError("EngineOptions::arena_bytes is ", options.arena_bytes,
                                " but EngineOptions::arena is null");
  }
  return Status::Ok();
}

Status CheckModelSupported(const Model& model) {
  const std::vector<Tensor>& tensors = model.tensors();
  for (size_t t = 0; t < tensors.size(); ++t) {
    if (!tensors[t].is_constant() && tensors[t].type != DataType::kFloat32) {
      return UnsupportedError(model.DescribeTensor(static_cast<int>(t)), " is ",
                              DataTypeName(tensors[t].type),
                              "; the runtime runs float32 activations only");
    }
  }
  if (model.operators().empty()) {
    return UnsupportedError("model '", model.name(), "' has no operators");
  }
  return Status::Ok();
}

// Which tensors share a buffer under `plan`, on `run_model` (the model the
// plan runs): a function of the model and the plan's strategy, aliasing
// starting point and copy concats, so a stored or cached plan is checked
// against exactly the aliasing it will run with.
Result<scheduler::AliasPlan> AliasFor(const Model& run_model, const scheduler::CompactGraph& graph,
                                      const ExecutionPlan& plan) {
  if (plan.strategy == MemoryStrategy::kOrder) {
    return scheduler::PlanWithoutAliasing(run_model, graph);
  }
  const std::vector<scheduler::AliasCapabilities> starts = AliasingStarts();
  if (plan.aliasing_start < 0 || plan.aliasing_start >= static_cast<int>(starts.size())) {
    return InvalidArgumentError("the plan's aliasing starting point ", plan.aliasing_start,
                                " is not one of this engine's ", starts.size());
  }
  // The operators a plan lists for an aliasing choice must be of its type.
  auto check_ops = [&](const std::vector<int>& ops, OpType type,
                       const char* role) -> Status {
    for (int op : ops) {
      if (op < 0 || op >= static_cast<int>(run_model.operators().size()) ||
          run_model.operators()[op].type != type) {
        return InvalidArgumentError("the plan ", role, " operator ", op, ", but it is not a ",
                                    OpTypeName(type), " of the model");
      }
    }
    return Status::Ok();
  };
  scheduler::AliasOptions alias_options;
  SERENITY_RETURN_IF_ERROR(check_ops(plan.copy_concats, OpType::kConcat, "keeps as a copy concat"));
  alias_options.copy_concats = plan.copy_concats;
  SERENITY_RETURN_IF_ERROR(
      check_ops(plan.windowed_convs, OpType::kConv2D, "runs windowed in place"));
  alias_options.windowed_convs = plan.windowed_convs;
  alias_options.last_reader_in_place = plan.last_reader_in_place;
  // CheckPlan reads buffer_of_tensor, not the per-buffer lists.
  alias_options.buffer_tensor_lists = false;
  SERENITY_ASSIGN_OR_RETURN(
      scheduler::AliasPlan alias,
      scheduler::PlanAliasing(run_model, graph, starts[plan.aliasing_start], alias_options));
  // The alias plan's lists are ascending and without repeats: the plan's
  // must be the same operators, each once.
  auto allowed = [](std::vector<int> planned, const std::vector<int>& taken, const char* what) {
    std::sort(planned.begin(), planned.end());
    if (planned == taken) return Status::Ok();
    return InvalidArgumentError("the plan runs ", planned.size(), " ", what,
                                "; this engine's rules allow ", taken.size(), " of them");
  };
  SERENITY_RETURN_IF_ERROR(
      allowed(plan.windowed_convs, alias.windowed_convs, "convolutions windowed in place"));
  SERENITY_RETURN_IF_ERROR(allowed(plan.last_reader_in_place, alias.last_reader_in_place,
                                   "operators in place after their input's other readers"));
  return alias;
}

// Every Conv2D of `model` whose input and output share bytes under
// `placements`, checked from the placements alone against the scheduler's
// separate oracle (scheduler::ValidateWindowedWrite), not against the alias
// plan that produced them: the input must be read by this operator only, and
// both operands dense with batch 1, the output far enough below the input.
Status CheckWindowedConvs(const Model& model, const std::vector<TensorPlacement>& placements) {
  const std::vector<Tensor>& tensors = model.tensors();
  const std::vector<Operator>& ops = model.operators();
  if (placements.size() != tensors.size()) {
    return InvalidArgumentError("the plan places ", placements.size(), " tensors of ",
                                tensors.size());
  }
  // How many times operators read each tensor, counted once, when the first
  // convolution over its input needs it (not once per such convolution: a
  // plan cache hit runs this check, and models have hundreds of them).
  std::vector<int> reads;
  for (size_t o = 0; o < ops.size(); ++o) {
    const Operator& op = ops[o];
    if (op.type != OpType::kConv2D || op.inputs.size() < 2 || op.outputs.size() != 1) continue;
    const int xi = op.inputs[0], wi = op.inputs[1], yi = op.outputs[0];
    const int num = static_cast<int>(tensors.size());
    if (xi < 0 || wi < 0 || yi < 0 || xi >= num || wi >= num || yi >= num) continue;
    const TensorPlacement& xp = placements[xi];
    const TensorPlacement& yp = placements[yi];
    if (xp.offset < 0 || yp.offset < 0) continue;
    const Tensor& x = tensors[xi];
    const Tensor& w = tensors[wi];
    const Tensor& y = tensors[yi];
    if (x.shape.size() != 4 || y.shape.size() != 4 || w.shape.size() != 4) continue;
    // Channel slices of one buffer interleave without sharing bytes.
    if (xp.pixel_stride != x.shape[3] || yp.pixel_stride != y.shape[3]) continue;
    const uint64_t x_begin = static_cast<uint64_t>(xp.offset);
    const uint64_t y_begin = static_cast<uint64_t>(yp.offset);
    if (!(x_begin < y_begin + y.num_bytes() && y_begin < x_begin + x.num_bytes())) continue;
    if (reads.empty()) {
      reads.assign(tensors.size(), 0);
      for (const Operator& other : ops) {
        for (int t : other.inputs) {
          if (t >= 0 && t < num) ++reads[t];
        }
      }
    }
    const bool is_output = std::find(model.outputs().begin(), model.outputs().end(), xi) !=
                           model.outputs().end();
    if (reads[xi] != 1 || is_output || x.shape[0] != 1 || y.shape[0] != 1) {
      return InvalidArgumentError(model.DescribeOperator(static_cast<int>(o)),
                                  " writes over its input ", model.DescribeTensor(xi),
                                  ", which is not a batch-1 tensor read by it alone");
    }
    const auto* attrs = std::get_if<Conv2DAttrs>(&op.attrs);
    if (attrs == nullptr) {
      return InvalidArgumentError(model.DescribeOperator(static_cast<int>(o)),
                                  " has no convolution attributes");
    }
    scheduler::WindowedConvGeometry geometry;
    geometry.in_rows = x.shape[1];
    geometry.in_row_bytes = x.shape[2] * x.shape[3] * static_cast<int64_t>(sizeof(float));
    geometry.out_rows = y.shape[1];
    geometry.out_row_bytes = y.shape[2] * y.shape[3] * static_cast<int64_t>(sizeof(float));
    geometry.stride = attrs->stride_h;
    geometry.pad_top = attrs->pad_top;
    geometry.kernel = w.shape[1];
    geometry.dilation = attrs->dilation_h;
    Status written = scheduler::ValidateWindowedWrite(geometry, x_begin, y_begin);
    if (!written.ok()) return written.WithContext(model.DescribeOperator(static_cast<int>(o)));
  }
  return Status::Ok();
}

// Every operator of `model` whose kernel may run in place
// (kernels::OpCapabilities::in_place) and that writes its output over its
// input 0 under `placements` (the same offset and layout), checked from the
// placements and the order alone, not against the alias plan that produced
// them: every other operator reading that input must run at an earlier step
// of `order` (model operator indices), or it would read the output.
Status CheckInPlaceReaders(const Model& model, const std::vector<TensorPlacement>& placements,
                           const std::vector<int>& order) {
  const std::vector<Tensor>& tensors = model.tensors();
  const std::vector<Operator>& ops = model.operators();
  if (placements.size() != tensors.size() || order.size() != ops.size()) {
    return InvalidArgumentError("the plan places ", placements.size(), " tensors of ",
                                tensors.size(), " and orders ", order.size(), " operators of ",
                                ops.size());
  }
  const int num = static_cast<int>(tensors.size());
  std::vector<int> step_of(ops.size(), -1);
  for (size_t step = 0; step < order.size(); ++step) {
    if (order[step] < 0 || order[step] >= static_cast<int>(ops.size())) {
      return InvalidArgumentError("step ", step, " runs operator ", order[step]);
    }
    step_of[order[step]] = static_cast<int>(step);
  }
  std::array<bool, kNumOpTypes> in_place{};
  for (int type = 0; type < kNumOpTypes; ++type) {
    in_place[type] = kernels::CapabilitiesOf(static_cast<OpType>(type)).in_place;
  }
  // The latest step reading each tensor, counted once, when the first
  // in-place write needs it.
  std::vector<int> last_read;
  for (size_t o = 0; o < ops.size(); ++o) {
    const Operator& op = ops[o];
    if (!in_place[static_cast<int>(op.type)] || op.inputs.empty() || op.outputs.size() != 1) {
      continue;
    }
    const int xi = op.inputs[0], yi = op.outputs[0];
    if (xi < 0 || yi < 0 || xi >= num || yi >= num || xi == yi) continue;
    const TensorPlacement& xp = placements[xi];
    const TensorPlacement& yp = placements[yi];
    if (xp.offset < 0 || xp.offset != yp.offset || xp.pixel_stride != yp.pixel_stride) continue;
    if (tensors[xi].shape != tensors[yi].shape) continue;
    if (last_read.empty()) {
      last_read.assign(tensors.size(), -1);
      for (size_t r = 0; r < ops.size(); ++r) {
        for (int t : ops[r].inputs) {
          if (t >= 0 && t < num) last_read[t] = std::max(last_read[t], step_of[r]);
        }
      }
    }
    if (last_read[xi] > step_of[o]) {
      return InvalidArgumentError(model.DescribeOperator(static_cast<int>(o)),
                                  " writes over its input ", model.DescribeTensor(xi), " at step ",
                                  step_of[o], ", which an operator still reads at step ",
                                  last_read[xi]);
    }
  }
  return Status::Ok();
}

// A plan this process did not search for (a cache entry, a model's stored
// plan) is checked against the model with the scheduler's own oracles before
// anything is bound to it: sizes, a topological order, placements that agree
// with this build's aliasing, the arena plan validator, and the peak. For a
// stored plan, which does not carry them, the baseline figures are computed.
// A rewritten model (only a cache entry has one) is the entry's recipe
// replayed on `source`, whose hash keyed the entry: derived from verified
// data, it is not hashed here (that would read every weight again); the
// search proved, when it wrote the entry, that the replay hashes to
// graph_hash, and whatever model a damaged recipe replays to passes or fails
// the same structural checks as any model.
// When `instance` is given, it receives the plan's arena buffers
// (Engine::ArenaBuffers) once every check has passed.
Status CheckPlan(const Model& source, ExecutionPlan* plan, bool stored,
                 std::vector<ArenaBuffer>* instance = nullptr) {
  plan->source_graph_hash = source.GraphHash();
  if (plan->strategy == MemoryStrategy::kRewrites) {
    if (plan->rewritten_model == nullptr) {
      return InvalidArgumentError("the plan runs a rewritten model but carries none");
    }
  } else if (plan->rewritten_model != nullptr || plan->graph_hash != source.GraphHash()) {
    return InvalidArgumentError("the plan was made for another graph");
  }
  const Model& model = plan->rewritten_model != nullptr ? *plan->rewritten_model : source;
  const std::vector<Tensor>& tensors = model.tensors();
  if (plan->order.size() != model.operators().size() ||
      plan->placements.size() != tensors.size()) {
    return InvalidArgumentError("the plan has ", plan->order.size(), " operators and ",
                                plan->placements.size(), " tensors; the model has ",
                                model.operators().size(), " and ", tensors.size());
  }
  // Compact (no names, three allocations): the messages below name tensors
  // through the model.
  probe::Mark("check: start");
  const scheduler::CompactGraph graph = scheduler::CompactGraphFromModel(model);
  probe::Mark("check: compact graph");
  SERENITY_ASSIGN_OR_RETURN(const scheduler::AliasPlan alias, AliasFor(model, graph, *plan));
  probe::Mark("check: alias");
  const scheduler::MemoryModel& memory = alias.memory;

  std::vector<int> graph_op_of(model.operators().size(), -1);
  for (size_t g = 0; g < graph.ops.size(); ++g) {
    const int m = graph.ops[g].model_operator;
    if (m >= 0 && m < static_cast<int>(graph_op_of.size())) graph_op_of[m] = static_cast<int>(g);
  }
  std::vector<int> order;
  order.reserve(plan->order.size());
  for (size_t step = 0; step < plan->order.size(); ++step) {
    const int op = plan->order[step];
    if (op < 0 || op >= static_cast<int>(graph_op_of.size()) || graph_op_of[op] < 0) {
      return InvalidArgumentError("step ", step, " of the order runs operator ", op,
                                  ", which the model does not have");
    }
    order.push_back(graph_op_of[op]);
  }
  if (!scheduler::IsTopologicalOrder(graph, order)) {
    return InvalidArgumentError("the order is not a topological order of the model's operators");
  }
  if (!scheduler::KeepsOrderEdges(memory, order)) {
    return InvalidArgumentError(
        "the order runs an operator in place over its input before "
        "another operator reads that input");
  }
  probe::Mark("check: topo");

  // Every tensor of a buffer must imply the same buffer offset.
  constexpr uint64_t kUnset = std::numeric_limits<uint64_t>::max();
  std::vector<uint64_t> offsets(memory.buffers.size(), kUnset);
  std::vector<bool> in_graph(tensors.size(), false);
  for (size_t g = 0; g < graph.tensors.size(); ++g) {
    const int t = graph.tensors[g].model_tensor;
    if (t < 0) continue;
    in_graph[t] = true;
    const scheduler::TensorPlacement& where = alias.placements[g];
    const TensorPlacement& placement = plan->placements[t];
    if (placement.offset < 0 || static_cast<uint64_t>(placement.offset) < where.byte_offset ||
        placement.pixel_stride != where.pixel_stride) {
      return InvalidArgumentError(model.DescribeTensor(t), " is placed at offset ",
                                  placement.offset, " with pixel stride ",
                                  placement.pixel_stride, "; this engine lays it out with stride ",
                                  where.pixel_stride);
    }
    const uint64_t buffer_offset = static_cast<uint64_t>(placement.offset) - where.byte_offset;
    uint64_t& offset = offsets[where.buffer];
    if (offset != kUnset && offset != buffer_offset) {
      return InvalidArgumentError(model.DescribeTensor(t),
                                  " does not sit where the other tensors of its buffer put it");
    }
    offset = buffer_offset;
  }
  for (size_t t = 0; t < tensors.size(); ++t) {
    if (!in_graph[t] && plan->placements[t].offset != -1) {
      return InvalidArgumentError(model.DescribeTensor(static_cast<int>(t)),
                                  " is not an activation but has an arena offset");
    }
  }
  uint64_t total = kReadPastBytes + kArenaAlignment;
  for (size_t b = 0; b < memory.buffers.size(); ++b) {
    if (offsets[b] == kUnset) return InternalError("buffer ", b, " holds no tensor");
    total += memory.buffers[b].bytes + kArenaAlignment;
  }
  // No useful plan needs more than every buffer side by side.
  if (plan->memory.arena_bytes > total) {
    return InvalidArgumentError("the arena of ", plan->memory.arena_bytes,
                                " bytes is larger than all buffers side by side (", total, ")");
  }
  probe::Mark("check: offsets");
  const std::vector<scheduler::LiveRange> ranges =
      scheduler::ComputeLiveRanges(graph, memory, order);
  const std::vector<scheduler::PlanBuffer> buffers = PlanBuffers(memory, ranges);
  scheduler::ArenaPlan arena;
  arena.offsets = std::move(offsets);
  arena.arena_bytes = plan->memory.arena_bytes;
  SERENITY_RETURN_IF_ERROR(scheduler::ValidateArenaPlan(buffers, arena, kReadPastBytes));
  probe::Mark("check: ranges+validate");

  // The peak under the same memory model the plan was made with.
  const uint64_t peak = scheduler::PeakBytes(memory, ranges, static_cast<int>(order.size()));
  if (plan->memory.peak_bytes != peak) {
    return InvalidArgumentError("the plan claims a peak of ", plan->memory.peak_bytes,
                                " bytes; its order peaks at ", peak);
  }
  plan->arena.at_peak = plan->memory.arena_bytes - kReadPastBytes == peak;
  plan->memory.weights_bytes = model.weight_bytes();
  probe::Mark("check: peak+weights");
  SERENITY_RETURN_IF_ERROR(CheckWindowedConvs(model, plan->placements));
  SERENITY_RETURN_IF_ERROR(CheckInPlaceReaders(model, plan->placements, plan->order));
  probe::Mark("check: windowed");
  if (instance != nullptr) {
    instance->assign(buffers.size(), ArenaBuffer{});
    for (size_t b = 0; b < buffers.size(); ++b) {
      ArenaBuffer& out = (*instance)[b];
      out.first_step = buffers[b].first;
      out.last_step = buffers[b].last;
      out.offset = arena.offsets[b];
      out.bytes = buffers[b].size;
    }
    for (size_t g = 0; g < graph.tensors.size(); ++g) {
      const int b = memory.buffer_of_tensor[g];
      const int t = graph.tensors[g].model_tensor;
      if (b >= 0 && t >= 0) (*instance)[b].tensors.push_back(t);
    }
    for (ArenaBuffer& buffer : *instance) std::sort(buffer.tensors.begin(), buffer.tensors.end());
  }

  // A cache entry carries the baseline figures (reports only, no memory
  // safety rides on them); a stored plan does not.
  if (!stored) return Status::Ok();
  const scheduler::MemoryModel plain = scheduler::MemoryModel::WithoutAliasing(graph);
  std::vector<int> stored_order(graph.ops.size());
  for (size_t i = 0; i < stored_order.size(); ++i) stored_order[i] = static_cast<int>(i);
  const std::vector<scheduler::LiveRange> stored_ranges =
      scheduler::ComputeLiveRanges(graph, plain, stored_order);
  plan->memory.stored_order_peak_bytes =
      scheduler::PeakBytes(plain, stored_ranges, static_cast<int>(stored_order.size()));
  scheduler::PlanOptions baseline_options;
  baseline_options.kind = scheduler::PlannerKind::kGreedy;
  baseline_options.read_past_bytes = kReadPastBytes;
  SERENITY_ASSIGN_OR_RETURN(
      scheduler::ArenaPlan baseline,
      scheduler::PlanArena(PlanBuffers(plain, stored_ranges), baseline_options));
  plan->memory.baseline_arena_bytes = baseline.arena_bytes;
  return Status::Ok();
}

std::vector<int64_t> BoundaryShape(const std::vector<int64_t>& shape, BoundaryLayout layout) {
  if (layout != BoundaryLayout::kNchw || shape.size() != 4) return shape;
  return {shape[0], shape[3], shape[1], shape[2]};
}

// NCHW <-> NHWC copies for the boundary; `to_nhwc` picks the direction.
void TransposeNchw(const std::vector<int64_t>& nhwc, const float* src, float* dst,
                   bool to_nhwc) {
  const int64_t n = nhwc[0], h = nhwc[1], w = nhwc[2], c = nhwc[3];
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t x = 0; x < w; ++x) {
        for (int64_t k = 0; k < c; ++k) {
          const int64_t nhwc_index = ((b * h + y) * w + x) * c + k;
          const int64_t nchw_index = ((b * c + k) * h + y) * w + x;
          if (to_nhwc) {
            dst[nhwc_index] = src[nchw_index];
          } else {
            dst[nchw_index] = src[nhwc_index];
          }
        }
      }
    }
  }
}

// Bytes from a placed tensor's first element to the end of its last pixel:
// pixel_stride * (pixels - 1) + channels elements (0 for no elements).
uint64_t PlacedBytes(const Tensor& tensor, int64_t pixel_stride) {
  const int64_t channels = tensor.shape.empty() ? 1 : tensor.shape.back();
  const int64_t pixels = channels == 0 ? 0 : tensor.num_elements() / channels;
  return static_cast<uint64_t>(pixels == 0 ? 0 : (pixels - 1) * pixel_stride + channels) *
         sizeof(float);
}

}  // namespace

struct Engine::Impl {
  std::shared_ptr<const Model> rewritten;  // the plan's, when it has one
  const Model* model = nullptr;            // the model that runs
  EngineOptions options;
  ExecutionPlan plan;
  OwnedArena owned_arena;
  uint8_t* arena = nullptr;
  Pool pool;
  kernels::SharedScratch scratch;  // shared by the ops; outlives them
  // The operators Invoke runs, in run order (no-ops, which exist only to
  // keep aliased tensors in the graph, are bound but not run).
  std::vector<std::unique_ptr<kernels::BoundOp>> ops;
  std::vector<pthreadpool_t> op_pools;  // the pool each op runs with (or null)
  std::vector<int> op_indices;  // model operator of each entry of `ops`
  std::vector<std::unique_ptr<kernels::BoundOp>> no_ops;
  std::vector<TensorView> inputs;
  std::vector<TensorView> outputs;
  std::vector<double> op_seconds;  // run order; sized at Create when profiling
  int profiled_runs = 0;

  TensorView MakeView(int index, int tensor_index, BoundaryLayout layout) const {
    const Tensor& tensor = model->tensors()[tensor_index];
    TensorView view;
    view.index = index;
    view.tensor = tensor_index;
    view.name = tensor.name;
    view.shape = tensor.shape;
    view.layout = layout;
    view.boundary_shape = BoundaryShape(tensor.shape, layout);
    view.num_elements = static_cast<size_t>(tensor.num_elements());
    view.data = reinterpret_cast<float*>(arena + plan.placements[tensor_index].offset);
    return view;
  }

  kernels::OperandView Operand(int tensor_index) const {
    kernels::OperandView view;
    if (tensor_index < 0) return view;
    const Tensor& tensor = model->tensors()[tensor_index];
    view.shape = tensor.shape;
    if (tensor.is_constant()) {
      // Kernels only read constants; the non-const type is the view's.
      view.data = const_cast<float*>(reinterpret_cast<const float*>(tensor.data));
      // A strided constant (Tensor::row_stride) is a strided view, which only
      // a convolution's weights may be (the registry checks).
      view.pixel_stride = !tensor.is_dense() ? tensor.row_stride
                          : tensor.shape.empty() ? 1
                                                 : tensor.shape.back();
    } else {
      const TensorPlacement& placement = plan.placements[tensor_index];
      view.data = reinterpret_cast<float*>(arena + placement.offset);
      view.pixel_stride = placement.pixel_stride;
    }
    return view;
  }

  // Relu and Clamp [0, 6] operators folded into the convolution before them
  // (EngineOptions::fold_activations): the operator is the only reader of a
  // Conv2D's output, which has no activation of its own. The convolution
  // then applies the activation as it stores, straight into the operator's
  // output, and the operator's pass over the tensor is skipped. Its output
  // is written earlier than the plan says (at the convolution's step), so
  // that must hurt nothing: either it is the convolution's output itself
  // (the plan runs the operator in place), or no other tensor live at any
  // step from the convolution's to the operator's shares a byte with it
  // (checked on the placements). The convolution's own output is then never
  // written, and nothing reads it. Order, buffers and offsets stay the plan's.
  // A Relu not folded so, whose output only a depthwise Conv2D reads, may
  // fold into that reader instead (Folds::relu_into): the
  // convolution reads the Relu's input through max(0, x)
  // (kernels::BindRequest::input_relu; only Serenity's own depthwise kernel
  // does, so Create binds the reader first and runs the Relu if that is
  // refused). The Relu's input must then keep its bytes until the reader
  // runs: no tensor written from the Relu's step to the reader's (the
  // reader's output included) shares a byte with it.
  // An Add that is the only reader of a Conv2D's output (the conv having no
  // activation), its other addend written before the conv runs, may fold
  // into the conv (Folds::add_of): the conv adds that addend as it stores
  // (kernels::BindRequest::addend; only the own direct dense kernel does, so
  // Create runs the Add if the conv's binding refuses) and writes the Add's
  // output, with the Add's activation. As for a folded activation, the
  // Add's output is then written at the conv's step: either in place of the
  // conv's output, or sharing no byte with any tensor live from the conv's
  // step to the Add's (a Relu's input that a reader reads through it counts
  // as live up to that reader) except the addend itself when the Add's
  // output is exactly the addend's view (the sum in place, element by
  // element).
  // Per operator, nothing folded when made with a count.
  struct Folds {
    explicit Folds(size_t operators)
        : fused(operators, Activation::kNone),
          redirect(operators, -1),
          folded(operators, false),
          relu_into(operators, -1),
          add_of(operators, -1) {}
    std::vector<Activation> fused;  // the activation a Conv2D takes
    std::vector<int> redirect;      // the tensor a Conv2D writes instead (-1: its output)
    std::vector<bool> folded;       // skipped: folded into its producer (an Add: once bound so)
    std::vector<int> relu_into;     // a Relu's depthwise reader that reads through it (-1: none)
    std::vector<int> add_of;        // a Conv2D's Add that may fold into it (-1: none)
  };
  Folds FoldActivations() const {
    const std::vector<Operator>& operators = model->operators();
    const std::vector<Tensor>& tensors = model->tensors();
    Folds folds(operators.size());
    std::vector<Activation>& fused = folds.fused;
    const int steps = static_cast<int>(plan.order.size());
    std::vector<int> step_of(operators.size(), 0);
    for (int s = 0; s < steps; ++s) step_of[plan.order[s]] = s;
    // Live steps [first, last] of every activation, and its readers.
    std::vector<int> producer(tensors.size(), -1);
    std::vector<int> readers(tensors.size(), 0);
    std::vector<int> reader(tensors.size(), -1);  // the last one
    std::vector<int> first(tensors.size(), -1);
    std::vector<int> last(tensors.size(), -1);
    for (int t : model->inputs()) first[t] = 0;
    for (size_t o = 0; o < operators.size(); ++o) {
      for (int t : operators[o].outputs) {
        producer[t] = static_cast<int>(o);
        first[t] = step_of[o];
        last[t] = std::max(last[t], step_of[o]);
      }
      for (int t : operators[o].inputs) {
        if (t < 0) continue;
        ++readers[t];
        reader[t] = static_cast<int>(o);
        last[t] = std::max(last[t], step_of[o]);
      }
    }
    for (int t : model->outputs()) {
      ++readers[t];  // the caller reads a graph output
      last[t] = steps;
    }
    // Bytes [begin, end) a tensor's view spans in the arena.
    auto span = [&](int t, int64_t* begin, int64_t* end) {
      *begin = plan.placements[t].offset;
      *end = *begin +
             static_cast<int64_t>(PlacedBytes(tensors[t], plan.placements[t].pixel_stride));
    };
    // Whether tensors x and y are the same view of the arena.
    auto same_view = [&](int x, int y) {
      return plan.placements[x].offset == plan.placements[y].offset &&
             plan.placements[x].pixel_stride == plan.placements[y].pixel_stride;
    };
    // Whether u shares no byte with any other activation that holds values
    // at some step of [from, to) (written at written_at[x], -1: never, and
    // read up to until[x]), except those skip(x) names.
    auto clear_of_live = [&](int u, int from, int to, const std::vector<int>& written_at,
                             const std::vector<int>& until, auto skip) {
      int64_t u_begin, u_end;
      span(u, &u_begin, &u_end);
      for (size_t x = 0; x < tensors.size(); ++x) {
        const int xi = static_cast<int>(x);
        if (xi == u || skip(xi) || tensors[x].is_constant() || written_at[x] < 0) continue;
        if (until[x] < from || written_at[x] >= to) continue;
        int64_t x_begin, x_end;
        span(xi, &x_begin, &x_end);
        if (x_begin < u_end && u_begin < x_end) return false;
      }
      return true;
    };
    for (size_t o = 0; o < operators.size(); ++o) {
      const Operator& op = operators[o];
      Activation activation = Activation::kNone;
      if (op.type == OpType::kRelu) {
        activation = Activation::kRelu;
      } else if (op.type == OpType::kClamp) {
        const ClampAttrs* clamp = std::get_if<ClampAttrs>(&op.attrs);
        if (clamp != nullptr && clamp->min == 0.0f && clamp->max == 6.0f) {
          activation = Activation::kRelu6;
        }
      }
      if (activation == Activation::kNone || op.inputs.size() != 1 || op.outputs.size() != 1) {
        continue;
      }
      const int t = op.inputs[0];
      const int u = op.outputs[0];
      if (t < 0 || readers[t] != 1 || producer[t] < 0 || tensors[t].shape != tensors[u].shape) {
        continue;
      }
      const int p = producer[t];
      const Operator& conv = operators[p];
      const Conv2DAttrs* attrs = std::get_if<Conv2DAttrs>(&conv.attrs);
      // (A Conv2D's one output has this one reader: no Conv2D gets two.)
      if (conv.type != OpType::kConv2D || attrs == nullptr ||
          attrs->activation != Activation::kNone) {
        continue;
      }
      if (!same_view(t, u)) {
        // Nothing else live from the conv's step to the activation's.
        if (!clear_of_live(u, step_of[p], step_of[o], first, last, [&](int x) { return x == t; })) {
          continue;
        }
        folds.redirect[p] = u;
      }
      fused[p] = activation;
      folds.folded[o] = true;
    }
    // The step each tensor is written at: a redirected output's at its
    // convolution's.
    std::vector<int> written = first;
    for (size_t o = 0; o < operators.size(); ++o) {
      if (folds.redirect[o] >= 0) written[folds.redirect[o]] = step_of[o];
    }
    for (size_t o = 0; o < operators.size(); ++o) {
      const Operator& op = operators[o];
      if (op.type != OpType::kRelu || folds.folded[o] || op.inputs.size() != 1 ||
          op.outputs.size() != 1) {
        continue;
      }
      const int t = op.inputs[0];
      const int u = op.outputs[0];
      if (t < 0 || readers[u] != 1 || reader[u] < 0 || tensors[t].shape != tensors[u].shape) {
        continue;
      }
      const int d = reader[u];
      const Operator& conv = operators[d];
      const Conv2DAttrs* attrs = std::get_if<Conv2DAttrs>(&conv.attrs);
      const std::vector<int64_t>& shape = tensors[u].shape;
      if (conv.type != OpType::kConv2D || attrs == nullptr || conv.inputs.empty() ||
          conv.inputs[0] != u || shape.size() != 4 || attrs->groups != shape[3] ||
          attrs->groups < 2) {
        continue;
      }
      int64_t t_begin, t_end;
      span(t, &t_begin, &t_end);
      bool intact = true;
      for (size_t x = 0; x < tensors.size() && intact; ++x) {
        const int xi = static_cast<int>(x);
        if (xi == t || xi == u || tensors[x].is_constant() || written[x] < 0) continue;
        if (written[x] <= step_of[o] || written[x] > step_of[d]) continue;
        int64_t x_begin, x_end;
        span(xi, &x_begin, &x_end);
        intact = x_end <= t_begin || t_end <= x_begin;
      }
      if (intact) folds.relu_into[o] = d;
    }
    // Add folds, after the others: a Relu read through by its reader keeps
    // its input live up to that reader.
    std::vector<int> live_until = last;
    for (size_t o = 0; o < operators.size(); ++o) {
      if (folds.relu_into[o] >= 0) {
        const int t = operators[o].inputs[0];
        live_until[t] = std::max(live_until[t], step_of[folds.relu_into[o]]);
      }
    }
    for (size_t o = 0; o < operators.size(); ++o) {
      const Operator& add = operators[o];
      if (add.type != OpType::kAdd || !std::holds_alternative<ElementwiseAttrs>(add.attrs) ||
          add.inputs.size() != 2 || add.outputs.size() != 1) {
        continue;
      }
      const int u = add.outputs[0];
      for (int side = 0; side < 2; ++side) {
        const int t = add.inputs[side];
        const int a = add.inputs[1 - side];
        // t's one reader is this Add (so no activation folded into its conv,
        // and no other Add), and the addend a is written before the conv.
        if (t < 0 || a < 0 || readers[t] != 1 || producer[t] < 0 || tensors[a].is_constant() ||
            tensors[t].shape != tensors[u].shape || tensors[a].shape != tensors[u].shape) {
          continue;
        }
        const int p = producer[t];
        const Operator& conv = operators[p];
        const Conv2DAttrs* attrs = std::get_if<Conv2DAttrs>(&conv.attrs);
        if (conv.type != OpType::kConv2D || attrs == nullptr ||
            attrs->activation != Activation::kNone || written[a] < 0 || written[a] >= step_of[p]) {
          continue;
        }
        // In place of the conv's output, or nothing else live from the
        // conv's step to the Add's (the addend neither when it is the very
        // view the sum goes to).
        const bool on_addend = same_view(a, u);
        if (!same_view(t, u) &&
            !clear_of_live(u, step_of[p], step_of[o], written, live_until,
                           [&](int x) { return x == t || (x == a && on_addend); })) {
          continue;
        }
        folds.add_of[p] = static_cast<int>(o);
        break;
      }
    }
    return folds;
  }
};

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;
Engine::~Engine() = default;

const char* MemoryStrategyName(MemoryStrategy strategy) {
  switch (strategy) {
    case MemoryStrategy::kOrder:
      return "order";
    case MemoryStrategy::kAliasing:
      return "aliasing";
    case MemoryStrategy::kRewrites:
      return "rewrites";
  }
  return "unknown";
}

namespace {
Result<plan_cache::RecipePlan> SearchPlan(const Model& model, const EngineOptions& options);
}  // namespace

Result<ExecutionPlan> Engine::Prepare(const Model& model, const EngineOptions& options) {
  SERENITY_RETURN_IF_ERROR(CheckOptions(options));
  SERENITY_RETURN_IF_ERROR(CheckModelSupported(model));
  const double hash_start = platforms::NowSeconds();
  model.GraphHash();
  const double start = platforms::NowSeconds();
  probe::Mark(nullptr);
  plan_cache::Hooks hooks;
  hooks.search = [&] { return SearchPlan(model, options); };
  hooks.check = [&](ExecutionPlan* plan, bool stored) {
    return CheckPlan(model, plan, stored);
  };
  SERENITY_ASSIGN_OR_RETURN(ExecutionPlan plan, plan_cache::ObtainPlan(model, options, hooks));
  if (plan.memory.arena_bytes > std::numeric_limits<size_t>::max() / 2) {
    return ResourceExhaustedError("model '", model.name(), "' needs an arena of ",
                                  plan.memory.arena_bytes, " bytes");
  }
  probe::Mark("prepare: end");
  plan.planning_ms = (platforms::NowSeconds() - start) * 1e3;
  plan.model_hash_ms = (start - hash_start) * 1e3;
  return plan;
}

namespace {

// The search: the candidates (order alone, aliasing, rewrites), each ordered
// and placed; the smallest arena wins (what a cache miss pays for).
Result<plan_cache::RecipePlan> SearchPlan(const Model& model, const EngineOptions& options) {
  // Candidate 1: the order alone, one buffer per tensor.
  std::vector<Candidate> candidates(1);
  Candidate& plain = candidates[0];
  plain.graph = scheduler::GraphFromModel(model);
  plain.alias = scheduler::PlanWithoutAliasing(model, plain.graph);
  SERENITY_RETURN_IF_ERROR(Order(options, nullptr, &plain));
  SERENITY_RETURN_IF_ERROR(PlaceArena(model.name(), options, &plain));
  constexpr uint64_t kNone = std::numeric_limits<uint64_t>::max();
  uint64_t aliasing_peak = kNone;
  uint64_t rewrites_peak = kNone;
  double rewrite_ms = 0.0;
  uint64_t rewrite_work = 0;
  bool rewrite_out_of_work = false;
  bool rewrite_time_limited = false;

  if (options.rewrites) {
    const std::vector<scheduler::AliasCapabilities> starts = AliasingStarts();
    for (int start = 0; start < static_cast<int>(starts.size()); ++start) {
      const scheduler::AliasCapabilities& capabilities = starts[start];
      // Aliasing on the model as stored. Aliasing never raises the peak of a
      // given order, so the plain order is a safe fallback.
      Candidate aliasing;
      aliasing.strategy = MemoryStrategy::kAliasing;
      aliasing.graph = candidates[0].graph;
      SERENITY_ASSIGN_OR_RETURN(aliasing.alias,
                                scheduler::PlanAliasing(model, aliasing.graph, capabilities));
      const std::vector<int> plain_order = candidates[0].schedule.order;
      SERENITY_RETURN_IF_ERROR(Order(options, &plain_order, &aliasing));
      SERENITY_RETURN_IF_ERROR(PlaceArena(model.name(), options, &aliasing));
      aliasing.aliasing_start = start;
      SERENITY_RETURN_IF_ERROR(AddVariants(model, options, capabilities, std::move(aliasing),
                                           &candidates, &aliasing_peak));

      // The rewrites that lower the peak, with aliasing.
      if (options.rewrite_work_limit == 0) continue;
      SERENITY_ASSIGN_OR_RETURN(
          std::vector<Candidate> rewrites,
          RewriteCandidates(model, options, capabilities, options.rewrite_work_limit / 2,
                            options.rewrite_time_limit_seconds / 2));
      rewrite_ms += rewrites[0].rewrite_ms;
      rewrite_work += rewrites[0].rewrite_work;
      rewrite_out_of_work = rewrite_out_of_work || rewrites[0].rewrite_out_of_work;
      rewrite_time_limited = rewrite_time_limited || rewrites[0].rewrite_time_limited;
      for (Candidate& rewritten : rewrites) {
        rewritten.aliasing_start = start;
        if (rewritten.rewritten == nullptr) continue;
        SERENITY_RETURN_IF_ERROR(PlaceArena(model.name(), options, &rewritten));
        const std::shared_ptr<const Model> run_model = rewritten.rewritten;
        SERENITY_RETURN_IF_ERROR(AddVariants(*run_model, options, capabilities,
                                             std::move(rewritten), &candidates, &rewrites_peak));
      }
    }
  }
  if (aliasing_peak == kNone) aliasing_peak = 0;
  if (rewrites_peak == kNone) rewrites_peak = 0;
  // The smallest arena wins; on a tie, the simpler strategy (listed first),
  // and of two with the same strategy, the one with fewer operators (less to
  // run, and less for a plan cache hit to replay).
  size_t best = 0;
  for (size_t c = 1; c < candidates.size(); ++c) {
    const Candidate& x = candidates[c];
    const Candidate& y = candidates[best];
    if (x.arena.arena_bytes < y.arena.arena_bytes ||
        (x.arena.arena_bytes == y.arena.arena_bytes && x.strategy == y.strategy &&
         x.graph.ops.size() < y.graph.ops.size())) {
      best = c;
    }
  }
  Candidate& chosen = candidates[best];
  if (chosen.rewritten != nullptr) {
    // The plan runs the model its cache entry rebuilds (a hit replays the
    // recipe instead of storing the model): the same graph, proven here once.
    SERENITY_ASSIGN_OR_RETURN(Model replayed, scheduler::ReplayRewrites(model, chosen.recipe));
    if (replayed.GraphHash() != chosen.rewritten->GraphHash()) {
      return InternalError("model '", model.name(),
                           "': the rewrite recipe replays to another graph than the search's");
    }
    chosen.rewritten = std::make_shared<const Model>(std::move(replayed));
  }
  const Model& run_model = chosen.rewritten != nullptr ? *chosen.rewritten : model;
  const scheduler::Graph& graph = chosen.graph;
  const scheduler::AliasPlan& alias = chosen.alias;
  const scheduler::Schedule& schedule = chosen.schedule;
  const scheduler::ArenaPlan& arena = chosen.arena;
  if (alias.placements.size() != graph.tensors.size()) {
    return InternalError("the alias plan places ", alias.placements.size(), " of ",
                         graph.tensors.size(), " tensors");
  }

  // The DESIGN.md §3 baseline: the model as stored, stored order, greedy, no
  // aliasing.
  const scheduler::Graph& source_graph = candidates[0].graph;
  const scheduler::MemoryModel stored_memory =
      scheduler::MemoryModel::WithoutAliasing(source_graph);
  std::vector<int> stored_order(source_graph.ops.size());
  for (size_t i = 0; i < stored_order.size(); ++i) stored_order[i] = static_cast<int>(i);
  const std::vector<scheduler::PlanBuffer> baseline_buffers = PlanBuffers(
      stored_memory, scheduler::ComputeLiveRanges(source_graph, stored_memory, stored_order));
  scheduler::PlanOptions baseline_options;
  baseline_options.kind = scheduler::PlannerKind::kGreedy;
  baseline_options.read_past_bytes = kReadPastBytes;
  SERENITY_ASSIGN_OR_RETURN(scheduler::ArenaPlan baseline,
                            scheduler::PlanArena(baseline_buffers, baseline_options));

  ExecutionPlan plan;
  plan.source_graph_hash = model.GraphHash();
  plan.graph_hash = run_model.GraphHash();
  plan.rewritten_model = chosen.rewritten;
  plan.strategy = chosen.strategy;
  plan.aliasing_start = chosen.aliasing_start;
  plan.copy_concats = chosen.copy_concats;
  plan.windowed_convs = alias.windowed_convs;
  plan.last_reader_in_place = alias.last_reader_in_place;
  plan.rewrites_applied = chosen.applied;
  plan.rewrite_time_ms = rewrite_ms;
  plan.rewrite_work = rewrite_work;
  plan.rewrite_out_of_work = rewrite_out_of_work;
  plan.rewrite_time_limited = rewrite_time_limited;
  plan.order_peak_bytes = candidates[0].schedule.peak_bytes;
  plan.aliasing_peak_bytes = aliasing_peak;
  plan.rewrites_peak_bytes = rewrites_peak;
  plan.order.reserve(schedule.order.size());
  for (int op : schedule.order) plan.order.push_back(graph.ops[op].model_operator);
  plan.step_footprint_bytes = scheduler::FootprintPerStep(graph, alias.memory, schedule.order);

  const std::vector<Tensor>& tensors = run_model.tensors();
  plan.placements.assign(tensors.size(), TensorPlacement{});
  for (size_t g = 0; g < graph.tensors.size(); ++g) {
    const int model_tensor = graph.tensors[g].model_tensor;
    if (model_tensor < 0) continue;
    const scheduler::TensorPlacement& where = alias.placements[g];
    TensorPlacement& placement = plan.placements[model_tensor];
    placement.offset = static_cast<int64_t>(arena.offsets[where.buffer] + where.byte_offset);
    placement.pixel_stride = where.pixel_stride;
    const uint64_t end =
        placement.offset + PlacedBytes(tensors[model_tensor], where.pixel_stride);
    if (end > arena.arena_bytes) {
      return InternalError("arena plan puts ", run_model.DescribeTensor(model_tensor),
                           " at [", placement.offset, ", ", end,
                           ") beyond the arena of ", arena.arena_bytes, " bytes");
    }
  }

  plan.schedule.algorithm = schedule.algorithm;
  plan.schedule.optimal = schedule.optimal;
  plan.schedule.lower_bound_bytes = schedule.lower_bound_bytes;
  plan.schedule.time_ms = schedule.stats.time_ms;
  plan.schedule.states = schedule.stats.states;
  // Any candidate's cut search may have changed which one won.
  for (const Candidate& candidate : candidates) {
    plan.schedule.time_limited = plan.schedule.time_limited ||
                                 candidate.schedule.stats.time_limited;
    plan.arena.time_limited = plan.arena.time_limited || candidate.arena.time_limited;
  }

  plan.arena.at_peak = arena.arena_bytes - kReadPastBytes == schedule.peak_bytes;
  plan.arena.time_ms = arena.time_ms;
  plan.arena.nodes = arena.nodes;
  plan.memory.arena_bytes = arena.arena_bytes;
  plan.memory.peak_bytes = schedule.peak_bytes;
  plan.memory.baseline_arena_bytes = baseline.arena_bytes;
  plan.memory.stored_order_peak_bytes =
      scheduler::PeakBytes(source_graph, stored_memory, stored_order);
  plan.memory.weights_bytes = run_model.weight_bytes();
  if (Status windowed = CheckWindowedConvs(run_model, plan.placements); !windowed.ok()) {
    return InternalError("model '", model.name(), "': ", windowed.ToString());
  }
  if (Status readers = CheckInPlaceReaders(run_model, plan.placements, plan.order); !readers.ok()) {
    return InternalError("model '", model.name(), "': ", readers.ToString());
  }
  return plan_cache::RecipePlan{std::move(plan), std::move(chosen.recipe)};
}

}  // namespace

Result<uint64_t> Engine::RequiredArenaBytes(const Model& model, const EngineOptions& options) {
  SERENITY_ASSIGN_OR_RETURN(ExecutionPlan plan, Prepare(model, options));
  return plan.memory.arena_bytes;
}

Result<std::vector<ArenaBuffer>> Engine::ArenaBuffers(const Model& model,
                                                      const ExecutionPlan& plan) {
  ExecutionPlan checked = plan;
  std::vector<ArenaBuffer> instance;
  SERENITY_RETURN_IF_ERROR(CheckPlan(model, &checked, /*stored=*/false, &instance));
  return instance;
}

Result<Engine> Engine::Create(const Model& model, const EngineOptions& options) {
  SERENITY_ASSIGN_OR_RETURN(ExecutionPlan plan, Prepare(model, options));
  return Create(model, std::move(plan), options);
}

Result<Engine> Engine::Create(const Model& source, ExecutionPlan plan,
                              const EngineOptions& options) {
  SERENITY_RETURN_IF_ERROR(CheckOptions(options));
  if (plan.source_graph_hash != source.GraphHash()) {
    return InvalidArgumentError("the ExecutionPlan was not made for model '", source.name(),
                                "' (Engine::Prepare it from this model)");
  }
  std::shared_ptr<const Model> rewritten = plan.rewritten_model;
  const Model& model = rewritten != nullptr ? *rewritten : source;
  const std::vector<Tensor>& tensors = model.tensors();
  const std::vector<Operator>& operators = model.operators();
  // A rewritten model Prepare replayed from `source` is the plan's by
  // construction (Prepare checked it against the plan): no need to hash its
  // weights here. Any other model is identified by its graph hash.
  const bool replayed_from_source =
      rewritten != nullptr && model_assembly::IsDerivedFrom(*rewritten, source);
  if ((!replayed_from_source && plan.graph_hash != model.GraphHash()) ||
      plan.placements.size() != tensors.size() || plan.order.size() != operators.size()) {
    return InvalidArgumentError("the ExecutionPlan's ",
                                rewritten != nullptr ? "rewritten model" : "order",
                                " does not match model '", source.name(),
                                "' (Engine::Prepare it from this model)");
  }
  SERENITY_RETURN_IF_ERROR(kernels::InitializeXnnpack(nullptr));

  auto impl = std::make_unique<Impl>();
  impl->rewritten = std::move(rewritten);
  impl->model = &model;
  impl->options = options;
  impl->plan = std::move(plan);
  const uint64_t arena_bytes = impl->plan.memory.arena_bytes;

  if (options.arena != nullptr) {
    if (reinterpret_cast<uintptr_t>(options.arena) % kArenaAlignment != 0) {
      return InvalidArgumentError("the caller-provided arena at ", options.arena,
                                  " is not ", kArenaAlignment, "-byte aligned");
    }
    if (options.arena_bytes < arena_bytes) {
      return InvalidArgumentError("the caller-provided arena has ", options.arena_bytes,
                                  " bytes; model '", model.name(), "' needs ", arena_bytes,
                                  " bytes (Engine::RequiredArenaBytes)");
    }
    impl->arena = static_cast<uint8_t*>(options.arena);
    std::memset(impl->arena, 0, arena_bytes);
  } else {
    const size_t bytes = std::max<size_t>(static_cast<size_t>(arena_bytes), kArenaAlignment);
    uint8_t* memory = new (std::align_val_t{kArenaAlignment}, std::nothrow) uint8_t[bytes]();
    if (memory == nullptr) {
      return ResourceExhaustedError("cannot allocate an arena of ", bytes, " bytes for model '",
                                    model.name(), "'");
    }
    impl->owned_arena.reset(memory);
    impl->arena = memory;
  }

  if (options.threads != 1) {
    impl->pool.reset(pthreadpool_create(static_cast<size_t>(options.threads)));
    if (impl->pool == nullptr) {
      return ResourceExhaustedError("cannot create a thread pool of ", options.threads,
                                    " threads");
    }
  }

  impl->ops.reserve(impl->plan.order.size());
  Engine::Impl::Folds folds =
      options.fold_activations ? impl->FoldActivations() : Engine::Impl::Folds(operators.size());
  uint64_t packed_bytes = 0;
  // Readers of a folded Relu, bound when the Relu's turn came.
  std::vector<std::unique_ptr<kernels::BoundOp>> bound_early(operators.size());
  // relu >= 0: the Relu whose input operator `op_index` reads through it.
  // add >= 0: the Add folded into Conv2D `op_index` (Folds::add_of).
  auto bind = [&](int op_index, int relu, int add) {
    const Operator& op = operators[op_index];
    kernels::BindRequest request;
    request.fused_activation = folds.fused[op_index];
    request.scratch = &impl->scratch;
    request.model = &model;
    request.op_index = op_index;
    request.pool = impl->pool.get();
    switch (impl->options.kernels) {
      case KernelSelection::kXnnpack:
        request.kernels = kernels::KernelChoice::kXnnpack;
        break;
      case KernelSelection::kDirect:
        request.kernels = kernels::KernelChoice::kDirect;
        break;
      case KernelSelection::kAuto:
        request.kernels = kernels::KernelChoice::kAuto;
        break;
    }
    for (int t : op.inputs) request.inputs.push_back(impl->Operand(t));
    for (int t : op.outputs) {
      const int redirect = folds.redirect[op_index];
      request.outputs.push_back(impl->Operand(redirect >= 0 ? redirect : t));
    }
    if (relu >= 0) {
      // The Relu's input in place of its output.
      request.inputs[0] = impl->Operand(operators[relu].inputs[0]);
      request.input_relu = true;
    }
    if (add >= 0) {
      // The Add's output, its other addend and its activation.
      const Operator& add_op = operators[add];
      const int t = op.outputs[0];
      request.outputs[0] = impl->Operand(add_op.outputs[0]);
      request.addend = impl->Operand(add_op.inputs[0] == t ? add_op.inputs[1] : add_op.inputs[0]);
      request.fused_activation = std::get<ElementwiseAttrs>(add_op.attrs).activation;
    }
    return kernels::BindOp(request);
  };
  for (int op_index : impl->plan.order) {
    if (folds.folded[op_index]) continue;
    const int reader = folds.relu_into[op_index];
    if (reader >= 0) {
      Result<std::unique_ptr<kernels::BoundOp>> early = bind(reader, op_index, -1);
      if (early.ok()) {
        bound_early[reader] = std::move(early).value();
        continue;
      }
    }
    // Bound early (a folded Relu's reader), else with its folded Add if the
    // binding takes the addend (the Add is then skipped), else alone.
    Result<std::unique_ptr<kernels::BoundOp>> bound = std::move(bound_early[op_index]);
    const int add = folds.add_of[op_index];
    if (*bound == nullptr && add >= 0) {
      bound = bind(op_index, -1, add);
      if (bound.ok()) folds.folded[add] = true;
    }
    if (!bound.ok() || *bound == nullptr) bound = bind(op_index, -1, -1);
    if (!bound.ok()) {
      const std::string where = model.DescribeOperator(op_index);
      const std::string& message = bound.status().message();
      if (message.find(where) != std::string::npos) return bound.status();
      return bound.status().WithContext(where);
    }
    packed_bytes += (*bound)->packed_weight_bytes();
    if ((*bound)->is_noop()) {
      impl->no_ops.push_back(std::move(bound).value());
      continue;
    }
    impl->ops.push_back(std::move(bound).value());
    impl->op_indices.push_back(op_index);
  }
  impl->plan.memory.packed_weight_bytes = packed_bytes;
  SERENITY_RETURN_IF_ERROR(impl->scratch.Allocate());
  impl->plan.memory.kernel_scratch_bytes = impl->scratch.bytes();
  bool any_shares_work = false;
  for (const auto& op : impl->ops) any_shares_work = any_shares_work || op->shares_work();
  const bool pool_for_all =
      options.pthreadpool_ops == PthreadpoolOps::kParallel ||
      (options.pthreadpool_ops == PthreadpoolOps::kAuto && !any_shares_work);
  for (const auto& op : impl->ops) {
    impl->op_pools.push_back(pool_for_all || op->shares_work() ? impl->pool.get() : nullptr);
  }

  const BoundaryLayout layout = LayoutOf(model);
  for (size_t i = 0; i < model.inputs().size(); ++i) {
    impl->inputs.push_back(impl->MakeView(static_cast<int>(i), model.inputs()[i], layout));
  }
  for (size_t i = 0; i < model.outputs().size(); ++i) {
    impl->outputs.push_back(impl->MakeView(static_cast<int>(i), model.outputs()[i], layout));
  }
  if (options.profile) impl->op_seconds.assign(impl->ops.size(), 0.0);
  return Engine(std::move(impl));
}

Status Engine::Invoke() {
  Impl& impl = *impl_;
  const size_t n = impl.ops.size();
  if (impl.op_seconds.empty()) {
    for (size_t i = 0; i < n; ++i) {
      Status status = impl.ops[i]->Run(impl.op_pools[i]);
      if (!status.ok()) return status.WithContext(impl.model->DescribeOperator(impl.op_indices[i]));
    }
    return Status::Ok();
  }
  double (*const clock)() =
      impl.options.profile_thread_cpu_time ? platforms::ThreadCpuSeconds : platforms::NowSeconds;
  double start = clock();
  for (size_t i = 0; i < n; ++i) {
    Status status = impl.ops[i]->Run(impl.op_pools[i]);
    if (!status.ok()) return status.WithContext(impl.model->DescribeOperator(impl.op_indices[i]));
    const double now = clock();
    impl.op_seconds[i] += now - start;
    start = now;
  }
  ++impl.profiled_runs;
  return Status::Ok();
}

int Engine::num_inputs() const { return static_cast<int>(impl_->inputs.size()); }
int Engine::num_outputs() const { return static_cast<int>(impl_->outputs.size()); }

namespace {

Result<TensorView> ByIndex(const std::vector<TensorView>& views, int index, const char* what) {
  if (index < 0 || index >= static_cast<int>(views.size())) {
    return OutOfRangeError(what, " index ", index, " is out of range: the model has ",
                           views.size(), " ", what, "s");
  }
  return views[index];
}

Result<TensorView> ByName(const std::vector<TensorView>& views, const std::string& name,
                          const char* what) {
  for (const TensorView& view : views) {
    if (view.name == name) return view;
  }
  std::string names;
  for (const TensorView& view : views) {
    names += names.empty() ? "'" : ", '";
    names += view.name + "'";
  }
  return NotFoundError("no ", what, " named '", name, "'; the model's ", what, "s are ",
                       names.empty() ? std::string("(none)") : names);
}

Status CheckCount(const TensorView& view, const float* data, size_t count, const char* what) {
  if (data == nullptr) {
    return InvalidArgumentError(what, " '", view.name, "': the data pointer is null");
  }
  if (count != view.num_elements) {
    return InvalidArgumentError(what, " '", view.name, "' has shape ",
                                ShapeString(view.boundary_shape), " = ", view.num_elements,
                                " elements, but ", count, " were given");
  }
  return Status::Ok();
}

}  // namespace

Result<TensorView> Engine::input(int index) const { return ByIndex(impl_->inputs, index, "input"); }
Result<TensorView> Engine::input(const std::string& name) const {
  return ByName(impl_->inputs, name, "input");
}
Result<TensorView> Engine::output(int index) const {
  return ByIndex(impl_->outputs, index, "output");
}
Result<TensorView> Engine::output(const std::string& name) const {
  return ByName(impl_->outputs, name, "output");
}

Status Engine::SetInput(int index, const float* data, size_t count) {
  SERENITY_ASSIGN_OR_RETURN(TensorView view, input(index));
  SERENITY_RETURN_IF_ERROR(CheckCount(view, data, count, "input"));
  if (view.transposes_at_boundary()) {
    TransposeNchw(view.shape, data, view.data, /*to_nhwc=*/true);
  } else {
    std::memcpy(view.data, data, count * sizeof(float));
  }
  return Status::Ok();
}

Status Engine::SetInput(const std::string& name, const float* data, size_t count) {
  SERENITY_ASSIGN_OR_RETURN(TensorView view, input(name));
  return SetInput(view.index, data, count);
}

Status Engine::GetOutput(int index, float* data, size_t count) const {
  SERENITY_ASSIGN_OR_RETURN(TensorView view, output(index));
  SERENITY_RETURN_IF_ERROR(CheckCount(view, data, count, "output"));
  if (view.transposes_at_boundary()) {
    TransposeNchw(view.shape, view.data, data, /*to_nhwc=*/false);
  } else {
    std::memcpy(data, view.data, count * sizeof(float));
  }
  return Status::Ok();
}

Status Engine::GetOutput(const std::string& name, float* data, size_t count) const {
  SERENITY_ASSIGN_OR_RETURN(TensorView view, output(name));
  return GetOutput(view.index, data, count);
}

const ExecutionPlan& Engine::plan() const { return impl_->plan; }
const MemoryFigures& Engine::memory() const { return impl_->plan.memory; }
const ScheduleInfo& Engine::schedule() const { return impl_->plan.schedule; }
const Model& Engine::model() const { return *impl_->model; }
int Engine::num_operators() const { return static_cast<int>(impl_->plan.order.size()); }
int Engine::threads() const {
  return impl_->pool ? static_cast<int>(pthreadpool_get_threads_count(impl_->pool.get())) : 1;
}
void* Engine::arena() const { return impl_->arena; }

std::vector<OpProfile> Engine::profile() const {
  std::vector<OpProfile> result;
  const Impl& impl = *impl_;
  for (size_t i = 0; i < impl.op_seconds.size(); ++i) {
    const int op_index = impl.op_indices[i];
    const Operator& op = impl.model->operators()[op_index];
    OpProfile entry;
    entry.op = op_index;
    entry.name = op.name;
    entry.type = OpTypeName(op.type);
    entry.total_ms = impl.op_seconds[i] * 1e3;
    result.push_back(std::move(entry));
  }
  return result;
}

int Engine::profiled_runs() const { return impl_->profiled_runs; }

void Engine::ResetProfile() {
  std::fill(impl_->op_seconds.begin(), impl_->op_seconds.end(), 0.0);
  impl_->profiled_runs = 0;
}

}  // namespace serenity
