// Identity graph rewrites that lower the peak below the optimal order's, and
// the measurement loop that decides where to apply them.
//
// Every rewrite is Model -> Model, numerically the same network (up to
// floating-point summation order), built from the existing op set so the
// kernels need nothing new:
//
//   channel-wise  Concat(x1..xk) -> Conv2D(groups 1, bias b, activation a)
//                 becomes Conv(x1, W[..., slice 1], b) -> y1, then for each
//                 further input Conv(xi, W[..., slice i]) -> ti and
//                 Add(y(i-1), ti) -> yi (in place over y(i-1)); the last Add
//                 carries `a`. The temporary ti is a real tensor and is
//                 counted. The concat disappears unless something else reads
//                 it.
//   kernel-wise   Concat(x1..xk) -> a channel-separable op (Relu, Clamp,
//                 Sigmoid, HardSwish, depthwise Conv2D with multiplier 1,
//                 Max/Average/GlobalAverage pooling, a Slice keeping every
//                 channel, Mul or Add by a per-channel or scalar constant) becomes the op on each
//                 input, concatenated (a concat that can then be zero-copy).
//   partial sum   an n-input Add (n >= 3) becomes a chain of 2-input Adds
//                 that accumulate in place, so each input can die once added.
//   copy concat   (an aliasing choice, not a model change) a concat that
//                 qualifies for zero-copy is kept as a copy.
//   merge         two operators of the same kind with the same attributes
//   duplicates    and the same inputs (DARTS and NASNet apply the same Relu
//                 to a cell's output in two later cells) become one, read by
//                 both sets of consumers.
//   shifted       Pad (zeros) -> Slice (every batch and channel) -> 1x1
//   subsample     Max/AveragePool2D (no padding, stride s) becomes one
//                 depthwise Conv2D of the pad's input with a one-hot kernel
//                 (weight 1 at the tap the slice's offset selects, 0
//                 elsewhere, bias none) and stride s, padding with zeros
//                 where the pad did: NASNet's factorized reduction
//                 (pad bottom/right 1, drop the first row and column, 1x1
//                 average pool stride 2) becomes a 2x2 stride 2 depthwise
//                 convolution, and neither the padded nor the shifted
//                 full-size tensor exists. Exact for finite inputs (every
//                 other tap adds 0 * x); a non-finite x next to a selected
//                 element would give NaN there. Offsets up to 2 past the pad
//                 (kernels up to 3x3).
//
// The order of the inputs in a channel-wise chain or a partial sum is the
// order in which the current best schedule produces them. That schedule
// still has the concat or the wide Add, and later trials move producers, so
// when the search ends (options.reorder_chains) every chain is re-sorted by
// the final order and the model searched again: a term made early then no
// longer waits, live, for the terms before it. The re-sorted model is the
// result when its peak is no higher, with the model before kept beside it
// (RewriteResult::before_reorder), since either may place in the smaller
// arena. Over 34 seeded small nets in rewrite_test, 13 re-sorted a chain and
// one peaked lower.
//
// Selection (RewriteForMemory): greedy, by measurement. Each round tries
// every kind (partial sum, merge duplicates, shifted subsample, channel-wise, kernel-wise,
// concat push-down, copy concat) first as a batch of all its sites (repeated cells
// tie for the peak, so one site alone rarely lowers it), then site by site
// for the kinds whose batch was not kept. A trial is kept only if the peak of
// the order ComputeSchedule finds (options.schedule, normally kOptimal) under
// the aliasing memory model goes strictly down. When the search is not proven
// optimal, the measured order is the better of its order and the previous
// best order carried over (and, for the input, the order found without
// aliasing), so a time-limited search does not reject a rewrite by accident.
// Rounds repeat until one changes nothing, or the work budget runs out.
//
// Pruning (options.prune_sites): a batch rewrites every repeated cell, but
// the peak usually sits in one stage's cells (NASNet-CIFAR's first six of
// eighteen), and a rewrite elsewhere only adds operators that every run and
// every plan cache hit's replay pays for. So when the rounds end, the sites
// of the kept trials are left out where the final peak does not need them:
// latest trial first (a site may need an earlier trial's, never a later
// one's), runs of a trial's sites halving down to single sites. Each try
// rebuilds the model from the input with the sites kept, found by tensor
// name, and takes its peak under the final order carried over (no search:
// an upper bound on its optimal peak); a run is left out when that peak is
// at most the final one. Merges and shifted subsamples remove operators, so
// they stay; so do copy concats, which can help the arena planner in ways
// the peak does not show. Pruning happens at the end, not as each batch is
// kept, because a site the batch's own peak did not need can be what a
// later trial lowers the peak with (RandWire's partial sums before its
// merges). Each try is charged kRewriteTrialWork; when something was left
// out, the order of the pruned model is searched once more.
//
// The budget counts work, not time, so the result is the same on every
// machine and under any load: work is the exact search's states
// (ScheduleStats::states) of every measurement, plus kRewriteTrialWork per
// measurement (its graph, aliasing and heuristic orders). Each trial's exact
// search is capped at options.schedule.state_limit states, except a batch
// trial's, which may use up to a third of the budget left when that is more:
// batches are few and carry most of the gain, and a short search can miss
// the order that shows it. The wall-clock limit is only a safety net; when
// it stops the search or any trial's exact search, the result says so
// (RewriteResult::time_limited) because it then depends on the machine.
#ifndef SERENITY_SCHEDULER_REWRITE_H_
#define SERENITY_SCHEDULER_REWRITE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "serenity/model_format/model.h"
#include "serenity/scheduler/alias.h"
#include "serenity/scheduler/graph.h"
#include "serenity/scheduler/ordering.h"
#include "serenity/status.h"

namespace serenity::scheduler {

enum class RewriteKind : uint8_t {
  kChannelWise,
  kKernelWise,
  kPartialSum,
  kCopyConcat,
  kMergeDuplicates,
  // A concat pushed down into all its readers as one step: channel-wise into
  // dense convolutions, kernel-wise through channel-separable ops and then
  // the same for the concat that makes (up to 3 levels): DARTS's
  // Concat -> Relu -> {Conv2D, Conv2D, Slice -> Conv2D} ends with no concat.
  // One step, as a kernel-wise half alone rarely lowers the peak.
  kKernelThenChannelWise,
  kShiftedSubsample,
};

// "channel-wise", "kernel-wise", "partial-sum", "copy-concat",
// "merge-duplicates", "kernel-wise+channel-wise", "shifted-subsample".
const char* RewriteKindName(RewriteKind kind);

// The single rewrites, for tests and tools. Operator indices refer to
// `model`; `order` permutes the concat inputs / Add inputs (empty: as
// stored). The result has been through Model::FromBuffer. Errors:
// kInvalidArgument when the site does not have the required form (the
// message says why), or the reader's error if the result does not validate.
Result<Model> PartitionChannelWise(const Model& model, int concat_op, int conv_op,
                                   const std::vector<int>& order = {});
Result<Model> PartitionKernelWise(const Model& model, int concat_op,
                                  int consumer_op);
Result<Model> SplitPartialSum(const Model& model, int add_op,
                              const std::vector<int>& order = {});
// `pool_op`: the 1x1 pooling that ends a shifted subsample (Pad -> Slice ->
// pool, see the top of this file); the depthwise Conv2D replacing the three
// is named after the pool, with "/shift" appended.
Result<Model> ReplaceShiftedSubsample(const Model& model, int pool_op);

struct RewriteOptions {
  bool merge_duplicates = true;
  bool channel_wise = true;
  bool kernel_wise = true;
  bool partial_sum = true;
  bool shifted_subsample = true;
  // Try keeping zero-copy concats as copies where that lowers the peak.
  bool choose_copy_concats = true;
  // When the search ends, leave out the sites of kept trials (other than
  // merges and shifted subsamples, which remove operators) that the final
  // peak does not need: fewer operators to run and to replay on a plan
  // cache hit, for the same peak or a lower one. See RewriteForMemory.
  bool prune_sites = true;
  AliasCapabilities capabilities;  // from the kernels, via the runtime
  AliasOptions alias;              // copy_concats is ignored (chosen here)
  ScheduleOptions schedule;        // used for every measurement
  int max_rounds = 3;
  // When the search ends, re-sort every channel-wise chain and partial sum
  // by the final order and search again; kept beside the model as it was
  // (RewriteResult::before_reorder) when the peak does not rise.
  bool reorder_chains = true;
  // Work budget for all trials together (see the top of this file); when it
  // runs out, the best model so far is returned. 0: no trial at all (the
  // input as it is, measured). Deterministic.
  uint64_t work_limit = uint64_t{1} << 62;
  // Wall-clock safety net for all trials together; when it runs out, the
  // best model so far is returned and time_limited set (<= 0: none).
  double time_limit_seconds = 300.0;
};

// Work charged per measurement on top of its exact search's states.
inline constexpr uint64_t kRewriteTrialWork = 2000;

struct RewriteDecision {
  RewriteKind kind = RewriteKind::kPartialSum;
  // Names of the operators of the site ("concat -> conv", or several sites
  // for a batch trial), as named in the model the trial started from.
  std::vector<std::string> operators;
  bool batch = false;         // every site of this kind at once
  uint64_t peak_before = 0;   // best peak before the trial
  uint64_t peak_after = 0;    // peak with the trial
  // peak_after < peak_before, unless pruning left out every site.
  bool applied = false;
  // Sites of a kept trial that pruning left out, as the final peak did not
  // need them (RewriteOptions::prune_sites); `operators` names the rest,
  // and `applied` is false when none is left.
  int sites_left_out = 0;
};

// One primitive edit of a rewrite recipe (RewriteResult::recipe). Sites are
// named by tensors of the model under edit, whose indices never change:
// the input model's tensors keep theirs, and every tensor an edit creates is
// appended (numbered from the input's tensor count on, in creation order),
// including tensors that later edits leave unused. The operators of a site
// are the producers of its tensors.
struct RewriteEdit {
  enum class Kind : uint8_t {
    // second's producer (removed) repeats first's; its readers read first.
    kMergeDuplicate,
    // first: an Add of n >= 3 inputs, split into a chain of 2-input Adds
    // taking its inputs in `order` (a permutation of 0..n-1).
    kPartialSum,
    // first: a channel concat; second: a dense Conv2D reading it, split per
    // concat input, taken in `order` (a permutation of the concat's inputs).
    kChannelWise,
    // first: a channel concat; second: a channel-separable op reading it,
    // applied to each concat input, then concatenated.
    kKernelWise,
    // first: the output of a 1x1 pooling ending a shifted subsample (Pad ->
    // Slice -> pool), which becomes one depthwise Conv2D writing it.
    kShiftedSubsample,
  };
  Kind kind = Kind::kMergeDuplicate;
  int first = -1;
  int second = -1;          // -1 for kPartialSum and kShiftedSubsample
  std::vector<int> order;   // kPartialSum and kChannelWise only
};

// "merge-duplicate", "partial-sum", "channel-wise", "kernel-wise",
// "shifted-subsample".
const char* RewriteEditKindName(RewriteEdit::Kind kind);

struct RewriteResult {
  Model model;           // the rewritten model; the input's when nothing paid
  Graph graph;           // GraphFromModel(model)
  AliasPlan alias;       // aliasing of `graph`, with the chosen copy concats
  // Operator indices in `model` of the concats kept as copies (the
  // AliasOptions::copy_concats `alias` was planned with).
  std::vector<int> copy_concats;
  Schedule schedule;     // the order measured for `model` under `alias`
  uint64_t initial_peak_bytes = 0;  // the input, same memory model, no rewrite
  std::vector<RewriteDecision> decisions;  // every trial, in order
  int applied_count = 0;
  // The work budget ran out before the search ended (deterministic).
  bool out_of_work = false;
  // The wall clock (RewriteOptions::time_limit_seconds, or the exact search's
  // ScheduleOptions::time_limit_seconds in some measurement) cut the search
  // short: another run, on a faster or less loaded machine, may keep more.
  bool time_limited = false;
  uint64_t work = 0;  // work spent, in the units of RewriteOptions::work_limit
  // The edits of the kept trials, in the order they were applied (those a
  // kept concat push-down made, one by one; copy concats are not edits of
  // the model: see copy_concats): ReplayRewrites(input, recipe) rebuilds
  // `model`. Empty when nothing paid, or only copy concats did.
  std::vector<RewriteEdit> recipe;
  // When RewriteOptions::reorder_chains changed the chains' orders without
  // raising the peak: the result as it was before (same edits, the orders
  // their trials recorded; its own decisions are empty). Its peak may be
  // higher; which of the two places in the smaller arena is the caller's
  // measurement to make.
  std::unique_ptr<RewriteResult> before_reorder;
};

// Rewrites `model` for a lower peak. Errors only for an invalid model/graph or
// an internal inconsistency (kInternal: the rewritten model's measured peak
// differs from the trial's).
Result<RewriteResult> RewriteForMemory(const Model& model,
                                       const RewriteOptions& options);

// The model that RewriteForMemory(source, ...) returned with `recipe`, rebuilt
// by applying the recipe's edits to `source` in memory: the same tensors,
// operators, names and numbering (so the same GraphHash, and an ExecutionPlan
// made for one runs the other), without serialising and reading it back.
// What a plan cache hit runs instead of a stored copy of the rewritten model.
//
// Lifetime: the result shares every constant it has in common with
// `source`, and the weight slices that are one range of a source constant
// (pointers into source's storage, which the result keeps alive: it may
// outlive `source`). The slices that are not (a partial convolution's
// weights: copied, which is what replaying a channel-wise edit costs) are
// owned by the result. bytes() is null and
// size_bytes() 0 (ModelBuilder::FromModel(result).Finish() serialises it).
//
// Validity: each edit checks its site in the model as edited so far, as the
// search did, and makes a valid model of a valid one, so the result of any
// recipe that applies is a valid model computing what `source` computes (up
// to summation order); it is not run through the model reader again.
// Errors: kInvalidArgument naming the edit (its index and kind) whose site
// is missing or not of its form, or whose order is not a permutation;
// kResourceExhausted when the result would exceed kMaxTensors or
// kMaxOperators.
Result<Model> ReplayRewrites(const Model& source, const std::vector<RewriteEdit>& recipe);

}  // namespace serenity::scheduler

#endif  // SERENITY_SCHEDULER_REWRITE_H_
