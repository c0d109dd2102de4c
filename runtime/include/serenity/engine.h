// The Serenity runtime: turn a loaded Model into outputs.
//
//   Result<Model> model = Model::Load("net.srn");
//   Result<Engine> engine = Engine::Create(*model, EngineOptions{});
//   engine->SetInput(0, pixels, count);   // or write through input(0)->data
//   engine->Invoke();
//   engine->GetOutput(0, logits, count);  // or read through output(0)->data
//
// What Create does, once (DESIGN.md §1-2):
//   graph of the model -> memory model (buffers, aliasing) -> operator order
//   (exact by default) -> live ranges -> arena plan (offsets) -> the arena ->
//   every operator bound to XNNPACK with its final arena pointers.
// Invoke() then only runs the bound operators in the chosen order. It takes no
// locks, allocates nothing and validates nothing: Create proved it all.
//
// The arena, drawn:
//
//   arena (64-byte aligned, ExecutionPlan::memory.arena_bytes long)
//   +---------+------------+-----+---------+--------------+
//   | buf @0  | buf @off1  | ... | buf @k  | read margin  |
//   +---------+------------+-----+---------+--------------+
//   Every activation tensor (graph inputs and outputs included) lives at a
//   fixed offset; tensors whose live ranges do not intersect may share bytes.
//   The margin (16 bytes) is there because XNNPACK may read, never write, a
//   little past the end of an input.
//
// Because buffers are reused, data in the arena is only meaningful at these
// moments: an input's bytes from the time you write them until the first
// Invoke() that follows (the run may overwrite them: write every input before
// every Invoke); an output's bytes from the end of Invoke() until you write
// an input or Invoke() again.
//
// Threading: an Engine is not thread-safe; use one Engine per thread (several
// Engines may share one Model).
#ifndef SERENITY_ENGINE_H_
#define SERENITY_ENGINE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "serenity/export.h"
#include "serenity/model.h"
#include "serenity/scheduler/ordering.h"
#include "serenity/status.h"

namespace serenity {

// "0.1.0": the library's version.
SERENITY_API const char* VersionString();

// Which operator order the engine runs.
using ScheduleAlgorithm = scheduler::Algorithm;  // kStored, kHeuristic, kOptimal

// Alignment of the arena, and so of a caller-provided one.
inline constexpr size_t kArenaAlignment = 64;

// Version of the plan this engine makes (order, placements, and how they are
// derived). Part of every plan cache key and every stored plan: a cache entry
// or a serenity_compile'd plan of another version is not used. 3: a cache
// entry of a rewritten plan holds the rewrite recipe, not the rewritten model.
// 4: the rewrite search is bounded by work, not time, and an entry records
// which searches a wall-clock limit cut short (provisional entries).
// 5: a plan may run convolutions windowed in place (windowed_convs), whose
// output overlaps their input.
// 6: a rewrite recipe may hold shifted-subsample edits
// (scheduler::RewriteEdit::Kind::kShiftedSubsample).
// 7: the order is tightened (scheduler::TightenLiveRanges) before the arena
// is placed.
// 8: the rewrite search re-sorts its chains by its final order and offers
// the model before beside it (scheduler::RewriteOptions::reorder_chains);
// of two rewritten plans with the same arena, the one with fewer operators
// is chosen. Plans of 7 are still valid, but a new search can place smaller.
// 9: a plan may run element-wise operators in place over an input that
// others read too, after them (last_reader_in_place), which constrains the
// order.
inline constexpr uint32_t kPlanFormatVersion = 9;

// What Prepare does with the plan cache (see EngineOptions::plan_cache).
enum class PlanCacheMode {
  kOff,      // never read or write it
  kOn,       // reuse a valid entry; plan and write one when there is none
  kRefresh,  // plan as if there were no entry, then (re)write it
};

enum class KernelSelection { kAuto, kXnnpack, kDirect };

// Whether operators that parallelise through pthreadpool (XNNPACK's, and the
// hand-written ones) get the thread pool when threads > 1.
enum class PthreadpoolOps {
  // Only when no operator of the model runs on Serenity's own kernels: those
  // carry the parallel work then, and share it without waiting for idle
  // threads, whereas every pthreadpool call returns only after each worker
  // has woken up, which costs a scheduler time slice per operator on a busy
  // machine (measured: 2-thread runs up to 50x slower than 1-thread ones on
  // a 2-core machine shared with compilers). So on ARM, or with
  // KernelSelection::kXnnpack, they get it.
  kAuto,
  kParallel,  // always
  kSerial,    // never: they run on the calling thread
};

struct EngineOptions {
  // Worker threads for the kernels. 1: no thread pool, everything runs on the
  // calling thread. 0: one thread per core. Negative: kInvalidArgument.
  int threads = 1;

  // kOptimal: the exact search (proven smallest peak, unless a limit cuts it
  // short: ScheduleInfo::optimal then says false and the best order found is
  // used). kHeuristic: a fast greedy order. kStored: the order in the file,
  // as TensorFlow Lite would run it.
  ScheduleAlgorithm scheduler = ScheduleAlgorithm::kOptimal;
  // Wall-clock limit of each exact search, a safety net; <= 0 means none.
  // A search it stops found an order that depends on the machine's speed and
  // load: see ExecutionPlan::time_limited for what happens then.
  double schedule_time_limit_seconds = 60.0;
  // Cap on the exact search's tables (its memo of dead partial schedules);
  // when reached the search stops with the best order so far. Deterministic.
  uint64_t schedule_memory_limit_bytes = uint64_t{128} << 20;
  // Wall-clock limit of the arena placement search, which only runs when
  // the greedy placement is above the peak; <= 0 means none. Like the
  // schedule's, a safety net (ExecutionPlan::time_limited). Both default to
  // 60 s, far above what the work budgets take on this PC, so that a board a
  // few times slower, or a loaded machine, still finishes its searches and
  // caches the plan as final rather than provisional.
  double arena_time_limit_seconds = 60.0;
  // Work budget of each arena placement search: nodes explored
  // (scheduler::PlanOptions::node_limit); 0 means none. Deterministic. The
  // zoo's searches that reach the peak take under 30 thousand nodes; those
  // that cannot (AmoebaNet-ImageNet with aliasing, NASNet-CIFAR rewritten:
  // 15 us a node there) would otherwise run until their wall-clock limit on
  // every load. 2^17 nodes: about 1-2 s on a 2-core x86-64 PC.
  uint64_t arena_node_limit = uint64_t{1} << 17;

  // Memory rewrites: buffer aliasing (in-place element-wise ops, zero-copy
  // concat, no-op reshapes) and the identity graph rewrites of
  // scheduler/rewrite.h (channel-wise and kernel-wise partitioning, partial
  // sums, merged duplicates), each kept only where it lowers the peak. Prepare
  // plans the optimal order alone, then with aliasing and with aliasing and
  // rewrites from two starting points (all aliasing; no zero-copy concat fed
  // by an Add), and keeps the smallest arena (ExecutionPlan::strategy says
  // which; of two rewritten models with the same arena, the one with fewer
  // operators). Each starting point's search offers its model with the
  // channel-wise and partial-sum chains re-sorted by its final order and,
  // when that changed them, the model before; both are placed. Off: one buffer per tensor and
  // the model as stored.
  bool rewrites = true;
  // Work budget for the rewrite search, shared equally by its two starting
  // points. Work is counted, not timed, so the rewrites kept are the same on
  // every machine and under any load: the exact search's states
  // (ScheduleInfo::states) of every trial, plus
  // scheduler::kRewriteTrialWork per trial (scheduler/rewrite.h). Each
  // trial's exact search may take a tenth of a starting point's share, a
  // trial of every site of a kind at once up to a third of what is left.
  // When the budget runs out, the best rewritten model so far is used
  // (ExecutionPlan::rewrite_out_of_work). 0: no trial (the rewrites
  // candidate is not made; aliasing still is). The default keeps on every
  // zoo model at least what the former 5 s budget kept on an idle 2-core
  // x86-64 PC (bench/memory_report; RandWire needs more than 4 million for
  // its partial sums), in about as much time there; more can find lower
  // peaks (NASNet-ImageNet) and is paid once (the plan cache keeps it).
  uint64_t rewrite_work_limit = 6'000'000;
  // Wall-clock limit of the rewrite search, a safety net above the work
  // budget (slow boards included), shared like it; <= 0 means none. When it
  // stops the search, the result depends on the machine: see
  // ExecutionPlan::time_limited.
  double rewrite_time_limit_seconds = 120.0;

  // A caller-provided arena, or nullptr to let the engine allocate one.
  // When set: must be kArenaAlignment-aligned and at least as large as the
  // plan's arena_bytes (RequiredArenaBytes, or ExecutionPlan from Prepare);
  // it is borrowed, not owned, and must outlive the Engine; the engine
  // writes to it from Create on (no other use of it while the Engine lives).
  void* arena = nullptr;
  size_t arena_bytes = 0;

  // Record the time spent in every operator during Invoke() (the storage is
  // taken at Create, so profiling still allocates nothing in Invoke()).
  bool profile = false;
  // With `profile`: time each operator by the calling thread's CPU time
  // instead of the wall clock. On one thread that is the operator's own work,
  // without the time other processes held the CPU: per-operator comparisons
  // on a shared machine. On more threads it misses the helpers' work.
  bool profile_thread_cpu_time = false;

  // The plan cache: Prepare stores the plan it computes (order and arena
  // layout) in a file, and a later Prepare of the same model with the same
  // planning options loads it instead of searching (ExecutionPlan::cache).
  //   Key: Model::GraphHash() (every byte of the graph section: tensors,
  //   operators, constants), kPlanFormatVersion, the library version, and
  //   every planning option (scheduler, the time limits, the schedule's
  //   memory limit, rewrites and their work budget, the arena node limit,
  //   alignment and read margin). Names, metadata and a stored plan do not change the plan
  //   and are not in the key.
  //   Provisional entries: a plan whose search a wall-clock limit cut short
  //   (ExecutionPlan::time_limited) depends on the machine's speed and load
  //   at that moment, so it is not stored as final: its entry is marked
  //   provisional, and a later Prepare that finds it plans again
  //   (PlanCacheStatus::kRetried) and runs the smaller of the two arenas
  //   (the new plan on a tie). The new plan replaces the entry when its
  //   search ran to completion (the entry is then final) or when it is
  //   smaller (still provisional).
  //   File: <dir>/<key as 16 hex digits>.srnplan, a FlatBuffer of its own
  //   (runtime/plan_cache.fbs, identifier "SRNP"), written atomically (a
  //   temporary file in the same directory, then rename): a concurrent reader
  //   sees the old entry or the new one. Entries are never evicted; deleting
  //   the directory is always safe.
  //   Trust: an entry is verified (FlatBuffers verifier, version, model and
  //   options hashes) and its plan checked against the model (topological
  //   order, arena plan validator, peak) before use. Anything wrong: the
  //   entry is ignored, the plan recomputed and the entry rewritten.
  //   A plan that runs a rewritten model stores the recipe of its rewrites
  //   (not the rewritten model): a hit replays it on the model, which is
  //   cheap (no weights are copied or hashed; new weight slices are cut),
  //   and a recipe that does not apply is a bad entry like any other. The
  //   miss that wrote the entry checked that the replay gives the searched
  //   model (the same GraphHash).
  //   Failures never fail Prepare: a location that cannot be created or
  //   written means planning without the cache, reported in
  //   ExecutionPlan::cache.warning (the library prints nothing).
  PlanCacheMode plan_cache = PlanCacheMode::kOn;
  // Directory of the cache entries; created (0700) if missing. Empty: the
  // default, DefaultPlanCacheDir().
  std::string plan_cache_dir;

  // Use the model's ahead-of-time plan (serenity_compile) when it was made
  // with this kPlanFormatVersion and these planning options: no search, no
  // cache. A stored plan for another graph is an error (see Prepare).
  bool use_stored_plan = true;

  // Which kernels run the operators. kAuto: the fastest this CPU has (on
  // x86-64 with AVX2 + FMA, Serenity's own convolution kernels, on AVX-512F
  // registers where the CPU has them, Winograd for 3x3 stride-1 ones with
  // enough channels; XNNPACK for everything else).
  // kXnnpack: XNNPACK wherever it has the op, for comparisons. kDirect: as
  // kAuto without Winograd, whose transformed weights take 4 times the
  // packed bytes (ResNet-18: 73 MB packed instead of 46) for 1.5-3 times
  // the speed on those convolutions. All give the same results within float
  // rounding.
  KernelSelection kernels = KernelSelection::kAuto;
  PthreadpoolOps pthreadpool_ops = PthreadpoolOps::kAuto;
  // Fold activations into convolutions, at bind time, from the plan:
  // - a Relu, or a Clamp to [0, 6], that is the only reader of a Conv2D's
  //   output: the convolution applies it as it stores, into the operator's
  //   output (in place over the convolution's, or in its own bytes when no
  //   tensor live in between shares one);
  // - a Relu whose output only a depthwise Conv2D reads, where Serenity's
  //   own depthwise kernel runs it: the convolution reads the Relu's input
  //   through max(0, x), when nothing written in between shares its bytes;
  // - an Add that is the only reader of a Conv2D's output, its other addend
  //   written before that convolution runs, where Serenity's own dense
  //   kernels (direct or Winograd) run the convolution: it adds that addend
  //   (and applies the Add's activation) as it stores, into the Add's output,
  //   under the same rule as a folded activation's output (the addend's own
  //   bytes may be that output: the sum in place).
  // A folded operator is not run (nor listed in profile()). The plan, the
  // arena and the results (the same max and min, applied elsewhere; the same
  // sums, up to float rounding) stay the same; DARTS-ImageNet runs 41 of its
  // 101 Relus and 29 of its 56 Adds. Off: every operator runs as stored, for
  // comparisons.
  bool fold_activations = true;
};

// The default plan cache directory: $XDG_CACHE_HOME/serenity when
// XDG_CACHE_HOME is an absolute path, else $HOME/.cache/serenity; empty when
// neither is set (Prepare then plans without the cache, with a warning).
SERENITY_API std::string DefaultPlanCacheDir();

// A 64-bit hash of the options that decide the plan (those listed under
// EngineOptions::plan_cache, with kPlanFormatVersion). Threads, profiling and
// the arena pointer are not among them.
SERENITY_API uint64_t PlanningOptionsHash(const EngineOptions& options);

// How the order was found. On a cache hit or a stored plan: by the search
// that made the plan (time_ms and states are that search's; 0 for a stored
// plan, which does not record them).
struct ScheduleInfo {
  ScheduleAlgorithm algorithm = ScheduleAlgorithm::kOptimal;
  bool optimal = false;             // proven: no order has a smaller peak
  uint64_t lower_bound_bytes = 0;   // proven lower bound on every order's peak
  double time_ms = 0.0;             // time spent ordering
  uint64_t states = 0;              // partial schedules the search explored
  // The wall-clock limit (schedule_time_limit_seconds) stopped an exact
  // search of the plan's making (any candidate's, see MemoryStrategy).
  bool time_limited = false;
};

// How the arena offsets were found.
struct ArenaInfo {
  bool at_peak = false;   // arena (without the read margin) == peak: optimal
  double time_ms = 0.0;   // time spent placing buffers
  uint64_t nodes = 0;     // nodes the placement search explored (0: none needed)
  // The wall-clock limit (arena_time_limit_seconds) stopped a placement
  // search of the plan's making (any candidate's).
  bool time_limited = false;
};

// Memory figures, in bytes (DESIGN.md §2-3).
struct MemoryFigures {
  // The arena this engine runs in: plan size including the read margin.
  uint64_t arena_bytes = 0;
  // Largest total of live buffers under the chosen order (lower bound on
  // the arena, margin excluded).
  uint64_t peak_bytes = 0;
  // DESIGN.md §3 baseline: stored order, greedy largest-first planner, no
  // aliasing, same 64-byte alignment and read margin as arena_bytes.
  uint64_t baseline_arena_bytes = 0;
  // Peak of the stored order without aliasing.
  uint64_t stored_order_peak_bytes = 0;
  // Constant tensors in the model file (used in place or packed).
  uint64_t weights_bytes = 0;
  // The kernels' packed copies of the weights: XNNPACK's (the weight and
  // bias bytes handed to it) plus Serenity's own convolution kernels' (their
  // exact packed size). 0 in an ExecutionPlan: known only once operators are
  // bound.
  uint64_t packed_weight_bytes = 0;
  // Scratch the kernels share, one buffer for all operators (they run one at
  // a time): Winograd convolutions, and windowed in-place ones (a band of
  // output rows, at most 32 KiB). 0 in an
  // ExecutionPlan, like packed_weight_bytes.
  uint64_t kernel_scratch_bytes = 0;
};

// Where the plan came from.
enum class PlanCacheStatus {
  kOff,         // planned here; the cache was off or had no usable location
  kMiss,        // planned here; no valid entry (the entry was then written)
  kHit,         // loaded from the cache: no search
  kRefreshed,   // planned here (PlanCacheMode::kRefresh); the entry rewritten
  kStoredPlan,  // the model's ahead-of-time plan: no search, cache untouched
  // The entry was provisional (a wall-clock limit had cut its search): planned
  // here again, and the smaller arena of the two runs (see
  // EngineOptions::plan_cache).
  kRetried,
};

// "off", "miss", "hit", "refreshed", "aot", "retried".
SERENITY_API const char* PlanCacheStatusName(PlanCacheStatus status);

struct PlanCacheInfo {
  PlanCacheStatus status = PlanCacheStatus::kOff;
  // The entry read or written; empty when the cache was not used.
  std::string path;
  // Why the cache could not be used as asked, one line, or empty: an entry
  // that was corrupt, truncated, foreign or stale (ignored and replaced), a
  // location that cannot be created or written, no location at all.
  std::string warning;
  // The entry now on disk for this plan is provisional: the plan's search
  // was cut short by a wall-clock limit, and the next Prepare plans again.
  bool provisional = false;
};

// Where one model tensor lives in the arena.
struct TensorPlacement {
  int64_t offset = -1;       // bytes from the arena start; -1: not in the arena
  int64_t pixel_stride = 0;  // elements between pixels (NHWC); == channels if dense
};

// Everything Create decides before it takes memory: the order and the arena
// layout. A plain value: copy it, keep it, hand it to Create.
// How Prepare got below the optimal order's peak (EngineOptions::rewrites).
enum class MemoryStrategy {
  kOrder,     // the chosen order alone: one buffer per tensor
  kAliasing,  // plus in-place ops, zero-copy concats and no-op reshapes
  kRewrites,  // plus identity graph rewrites: the plan runs `rewritten_model`
};

// "order", "aliasing", "rewrites".
SERENITY_API const char* MemoryStrategyName(MemoryStrategy strategy);

struct ExecutionPlan {
  // Model::GraphHash() of the model given to Prepare.
  uint64_t source_graph_hash = 0;
  // Model::GraphHash() of the model the plan runs: source_graph_hash unless
  // strategy == kRewrites.
  uint64_t graph_hash = 0;
  // The model the plan runs when strategy == kRewrites (immutable, shared by
  // every copy of the plan and every Engine made from it), else null: the
  // model given to Prepare runs as it is. `order` and `placements` index this
  // model when it is set. It is built in memory from the model given to
  // Prepare (scheduler::ReplayRewrites, on a cache miss and a hit alike) and
  // shares that model's constants, keeping their storage alive: the plan
  // stays valid after that model is gone. It has no file: bytes() is null
  // (ModelBuilder::FromModel(*rewritten_model).Finish() serialises it).
  std::shared_ptr<const Model> rewritten_model;
  std::vector<int> order;               // operator indices, in run order
  std::vector<TensorPlacement> placements;  // per Model::tensors() entry
  ScheduleInfo schedule;
  ArenaInfo arena;
  MemoryFigures memory;
  MemoryStrategy strategy = MemoryStrategy::kOrder;
  // Whether tensors share buffers (in place, zero-copy concat): any strategy
  // but the order alone.
  bool aliasing() const { return strategy != MemoryStrategy::kOrder; }
  // With aliasing, which of Prepare's starting points it came from (0: all
  // the kernels allow; 1: no zero-copy concat fed by an Add), and the concats
  // kept as copies (operator indices of the model the plan runs): with the
  // model, they determine which tensors share a buffer.
  int aliasing_start = 0;
  std::vector<int> copy_concats;
  // With aliasing, the Conv2Ds (operator indices of the model the plan runs)
  // that write their output over their input, a few rows below it
  // (scheduler/alias.h, windowed in place): kept where they lower the peak.
  // They run Serenity's own kernels whatever EngineOptions::kernels says.
  std::vector<int> windowed_convs;
  // With aliasing, the element-wise operators (Relu, Clamp, Sigmoid,
  // HardSwish, Add, Mul; operator indices of the model the plan runs) that
  // write their output over an input 0 which other operators read too
  // (scheduler/alias.h, last-reader in place): the order runs every other
  // reader of that input first. Chosen by measurement: every one that
  // qualifies when the order searched with them all peaks no higher, else
  // those the searched order already runs last; kept where the arena is
  // smaller.
  std::vector<int> last_reader_in_place;
  // The rewrites kept, one line each ("merge-duplicates: relu_a, relu_b",
  // "channel-wise (batch, 12 sites left out by pruning): cat -> conv, ..."),
  // in the order they were applied; empty unless strategy == kRewrites.
  std::vector<std::string> rewrites_applied;
  double rewrite_time_ms = 0.0;         // time spent in the rewrite search
  // Work the rewrite search spent (both starting points), in the units of
  // EngineOptions::rewrite_work_limit, and whether it ran out of it
  // (deterministic: another machine stops at the same point).
  uint64_t rewrite_work = 0;
  bool rewrite_out_of_work = false;
  // The rewrite search's wall-clock limit, or an exact search's inside it,
  // cut it short.
  bool rewrite_time_limited = false;
  // Whether a wall-clock limit, rather than a work or memory budget, cut
  // any search of this plan short (order, arena, rewrites): the plan then
  // depends on the speed and load of the machine that made it, and the
  // plan cache stores it as provisional (PlanCacheInfo::provisional). False
  // for a stored plan, which does not record it.
  bool time_limited() const {
    return schedule.time_limited || arena.time_limited || rewrite_time_limited;
  }
  // Peaks of the candidates Prepare compared (0: not computed): the chosen
  // order alone, with aliasing, with aliasing and rewrites.
  uint64_t order_peak_bytes = 0;
  uint64_t aliasing_peak_bytes = 0;
  uint64_t rewrites_peak_bytes = 0;
  // Bytes live at each step of `order` under the plan's memory model, for
  // reports (bench/memory_report --peaks); empty unless this Prepare searched
  // (not stored in the plan cache or in a stored plan).
  std::vector<uint64_t> step_footprint_bytes;
  PlanCacheInfo cache;
  // Wall-clock time of the Prepare that returned this plan: search and
  // placement, or stored plan / cache lookup and checks.
  double planning_ms = 0.0;
  // Time that Prepare spent hashing the model first (Model::GraphHash, the
  // plan's identity: computed once per Model, which Create needs anyway; 0
  // when it was already known). Not part of planning_ms.
  double model_hash_ms = 0.0;
};

// The plan in the form a .srn file stores it (ModelBuilder::SetPlan), as
// serenity_compile writes it: `plan` from Prepare(model, options), keyed on
// the model's graph hash and PlanningOptionsHash(options).
SERENITY_API StoredPlan ToStoredPlan(const ExecutionPlan& plan, const EngineOptions& options);

// One buffer of a plan's arena (Engine::ArenaBuffers): the activation
// tensors that share memory under the plan's aliasing (one tensor, or several
// written in place over one another or held as slices of one), live from
// step first_step to step last_step of ExecutionPlan::order (both included),
// at bytes [offset, offset + bytes) of the arena.
struct ArenaBuffer {
  int first_step = 0;
  int last_step = 0;
  uint64_t offset = 0;
  uint64_t bytes = 0;
  std::vector<int> tensors;  // indices in the model the plan runs, ascending
};

// The layout of the arrays SetInput takes and GetOutput fills.
enum class BoundaryLayout {
  kAsStored,  // same as in the graph (NHWC for 4-D tensors)
  // The model's metadata says "serenity.io_layout" = "nchw" (an ONNX import):
  // 4-D inputs and outputs are NCHW arrays outside, NHWC inside; the copy
  // helpers transpose. The raw `data` pointers stay NHWC.
  kNchw,
};

// One graph input or output.
struct TensorView {
  int index = 0;          // position in the model's inputs (or outputs)
  int tensor = 0;         // index in Model::tensors()
  std::string name;
  // Shape in the arena (as in the graph); `data` is dense row-major in it.
  std::vector<int64_t> shape;
  // Shape of the arrays SetInput/GetOutput use: `shape` unless the layout
  // is kNchw and the tensor is 4-D, then [N, C, H, W].
  std::vector<int64_t> boundary_shape;
  BoundaryLayout layout = BoundaryLayout::kAsStored;
  size_t num_elements = 0;
  // Points into the arena; valid while the Engine lives (see the top of this
  // file for when its contents are meaningful). Owned by the Engine or by
  // the caller-provided arena, never by the view.
  float* data = nullptr;

  // True when SetInput/GetOutput change the layout (NCHW outside, NHWC in the
  // arena). Decided by the layout, never by comparing shapes: when C == H == W
  // the two shapes are equal but the element order still differs.
  bool transposes_at_boundary() const {
    return layout == BoundaryLayout::kNchw && shape.size() == 4;
  }
};

// Time spent in one operator, summed over the profiled Invoke() calls.
struct OpProfile {
  int op = 0;              // index in Model::operators()
  std::string name;
  std::string type;        // "Conv2D", ...
  double total_ms = 0.0;
};

// A model bound to an arena and ready to run. Move-only: it owns the arena
// (unless caller-provided), the thread pool, and XNNPACK operators that hold
// absolute pointers into the arena.
//
// Lifetime: the Model passed to Create must outlive the Engine (weights may
// be used in place from the Model's mapped file, and names are read from it).
class SERENITY_API Engine {
 public:
  // Schedules and plans without taking any arena memory or binding kernels.
  // The plan comes from, in this order: the model's stored plan (when
  // options.use_stored_plan and it matches kPlanFormatVersion and the
  // planning options), the plan cache (options.plan_cache), or the search;
  // ExecutionPlan::cache says which. Cache problems are never errors.
  // Errors: kInvalidArgument (bad options: negative threads), kUnsupported
  // (a non-float32 activation), kInvalidModel (the model's stored plan was
  // made for another graph, or is not a valid plan for this one: the message
  // says which check failed), kInternal (the planner broke an invariant;
  // checked in debug builds), kResourceExhausted (the arena size overflows).
  static Result<ExecutionPlan> Prepare(const Model& model,
                                       const EngineOptions& options);

  // The arena size Create(model, options) needs: Prepare(...)'s
  // memory.arena_bytes. Deterministic unless a wall-clock limit cuts a search
  // short (ExecutionPlan::time_limited); to be exact in that case too,
  // Prepare once and Create from the plan.
  static Result<uint64_t> RequiredArenaBytes(const Model& model,
                                             const EngineOptions& options);

  // The arena instance of `plan` (from Prepare on `model`): its buffers,
  // their live steps, sizes and offsets, in the order the arena planner
  // numbered them, found with the same checks a cached plan passes before
  // use. The peak is the largest total of the buffers live at one step. What
  // serenity_run --arena-csv writes, and serenity_plan plans again. Errors:
  // kInvalidArgument when the plan is not a valid plan of `model`.
  static Result<std::vector<ArenaBuffer>> ArenaBuffers(const Model& model,
                                                       const ExecutionPlan& plan);

  // Prepare + Create(model, plan, options).
  static Result<Engine> Create(const Model& model, const EngineOptions& options);

  // Binds `plan` (from Prepare on this model; when the plan has a
  // rewritten_model, that model runs, and `model` must be the one it was
  // rewritten from, or a model with the same graph hash; `model` must
  // outlive the Engine either way). Errors:
  //   kInvalidArgument  options.arena misaligned or smaller than the plan (the
  //                     message gives the needed size), arena_bytes without an
  //                     arena, negative threads, or a plan made for another
  //                     model;
  //   kResourceExhausted  the arena or the thread pool cannot be allocated;
  //   kUnsupported      an operator this build cannot run (names it);
  //   kBackendError     XNNPACK refused an operator (names it).
  static Result<Engine> Create(const Model& model, ExecutionPlan plan,
                               const EngineOptions& options);

  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) noexcept;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;
  ~Engine();

  // Runs every operator once. Allocates nothing. Errors: kBackendError if a
  // kernel fails at run time (names the operator); the outputs are then
  // undefined.
  Status Invoke();

  int num_inputs() const;
  int num_outputs() const;
  // By position (kOutOfRange outside [0, count)) or by tensor name
  // (kNotFound, listing the names that exist).
  Result<TensorView> input(int index) const;
  Result<TensorView> input(const std::string& name) const;
  Result<TensorView> output(int index) const;
  Result<TensorView> output(const std::string& name) const;

  // Copy `count` floats (laid out as TensorView::boundary_shape) into input
  // `index`, or out of output `index`. Errors: kOutOfRange (index),
  // kNotFound (name), kInvalidArgument (null pointer, or `count` differs from
  // the tensor's element count: the message gives both and the shape).
  Status SetInput(int index, const float* data, size_t count);
  Status SetInput(const std::string& name, const float* data, size_t count);
  Status GetOutput(int index, float* data, size_t count) const;
  Status GetOutput(const std::string& name, float* data, size_t count) const;

  // The plan this engine runs, with memory.packed_weight_bytes filled in.
  const ExecutionPlan& plan() const;
  const MemoryFigures& memory() const;
  const ScheduleInfo& schedule() const;
  // The model this engine runs: the one given to Create, or the plan's
  // rewritten_model (operator and tensor indices, profile() names and
  // plan().order refer to it). Inputs and outputs keep their names.
  const Model& model() const;
  // Operators of the model (all in plan().order; those that alias away to
  // no-ops are bound but not run).
  int num_operators() const;
  // Threads actually used (1 when there is no pool).
  int threads() const;
  // Start of the arena (owned or the caller's).
  void* arena() const;

  // Per-operator times in run order (no-ops left out), summed over the
  // Invoke() calls since Create or ResetProfile; empty unless options.profile.
  std::vector<OpProfile> profile() const;
  int profiled_runs() const;
  void ResetProfile();

  struct Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace serenity

#endif  // SERENITY_ENGINE_H_
