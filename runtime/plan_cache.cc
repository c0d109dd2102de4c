#include "plan_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xnnpack.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <utility>

#include "plan_cache_generated.h"
#include "serenity/internal/hash64.h"
#include "serenity/internal/phase_probe.h"

namespace serenity {
namespace {

namespace pfb = serenity::plan_fb;

constexpr uint64_t kNotInArena = std::numeric_limits<uint64_t>::max();

// Word-at-a-time FNV-1a with a final avalanche, for the few words of a key.
class KeyHasher {
 public:
  void Word(uint64_t word) { hash_.Word(word); }
  void Double(double value) {
    uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof(bits));
    Word(bits);
  }
  void Text(const char* text) {
    const size_t n = std::strlen(text);
    Word(n);
    for (size_t i = 0; i < n; ++i) Word(static_cast<unsigned char>(text[i]));
  }
  uint64_t Final() const { return hash_.Final(); }

 private:
  internal::Hash64 hash_;
};

std::string Hex(uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof(text), "%016" PRIx64, value);
  return text;
}

// mkdir -p, each new level 0700 (a per-user cache).
Status MakeDirectories(const std::string& dir) {
  for (size_t slash = dir.find('/', 1);; slash = dir.find('/', slash + 1)) {
    const std::string prefix = slash == std::string::npos ? dir : dir.substr(0, slash);
    if (!prefix.empty() && ::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      return IoError("cannot create ", prefix, ": ", std::strerror(errno));
    }
    if (slash == std::string::npos) break;
  }
  struct stat info;
  if (::stat(dir.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    return IoError(dir, " is not a directory");
  }
  return Status::Ok();
}

// kNotFound when there is no entry; kCorruptCache for a non-file or one over
// the size cap; kIoError otherwise.
Result<std::vector<uint8_t>> ReadEntry(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    // No entry, or no directory to hold one (the write reports that).
    if (errno == ENOENT || errno == ENOTDIR) return NotFoundError("no entry ", path);
    return IoError("cannot open ", path, ": ", std::strerror(errno));
  }
  struct stat info;
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    return CorruptCacheError(path, " is not a regular file");
  }
  if (static_cast<uint64_t>(info.st_size) > plan_cache::kMaxEntryBytes) {
    ::close(fd);
    return CorruptCacheError(path, " has ", info.st_size, " bytes, more than the ",
                             plan_cache::kMaxEntryBytes, " a plan can take");
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(info.st_size));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  bytes.resize(done);
  return bytes;
}

bool ValidAlgorithm(uint8_t value) {
  return value <= static_cast<uint8_t>(scheduler::Algorithm::kOptimal);
}

}  // namespace

std::string DefaultPlanCacheDir() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg != nullptr && xdg[0] == '/') return std::string(xdg) + "/serenity";
  const char* home = std::getenv("HOME");
  if (home != nullptr && home[0] != '\0') return std::string(home) + "/.cache/serenity";
  return "";
}

uint64_t PlanningOptionsHash(const EngineOptions& options) {
  KeyHasher h;
  h.Word(kPlanFormatVersion);
  h.Text(VersionString());
  h.Word(static_cast<uint64_t>(options.scheduler));
  h.Double(options.schedule_time_limit_seconds > 0 ? options.schedule_time_limit_seconds : 0);
  h.Double(options.arena_time_limit_seconds > 0 ? options.arena_time_limit_seconds : 0);
  h.Word(options.rewrites ? 1 : 0);
  h.Double(options.rewrite_time_limit_seconds > 0 ? options.rewrite_time_limit_seconds : 0);
  h.Word(options.rewrite_work_limit);
  h.Word(options.arena_node_limit);
  h.Word(options.schedule_memory_limit_bytes);
  h.Word(kArenaAlignment);
  h.Word(XNN_EXTRA_BYTES);
  return h.Final();
}

const char* PlanCacheStatusName(PlanCacheStatus status) {
  switch (status) {
    case PlanCacheStatus::kOff:
      return "off";
    case PlanCacheStatus::kMiss:
      return "miss";
    case PlanCacheStatus::kHit:
      return "hit";
    case PlanCacheStatus::kRefreshed:
      return "refreshed";
    case PlanCacheStatus::kStoredPlan:
      return "aot";
    case PlanCacheStatus::kRetried:
      return "retried";
  }
  return "unknown";
}

// Names in StoredPlan::rewrites (the .srn plan's rewrite list) for the
// aliasing a stored plan's placements assume.
constexpr const char* kStoredAliasing = "serenity.aliasing";
constexpr const char* kStoredCopyConcats = "copy-concat";
constexpr const char* kStoredWindowedConvs = "windowed-conv";
constexpr const char* kStoredLastReaderInPlace = "last-reader-in-place";

StoredPlan ToStoredPlan(const ExecutionPlan& plan, const EngineOptions& options) {
  StoredPlan stored;
  stored.graph_hash = plan.graph_hash;
  stored.plan_format_version = kPlanFormatVersion;
  stored.options_hash = PlanningOptionsHash(options);
  stored.order.assign(plan.order.begin(), plan.order.end());
  stored.tensor_offsets.reserve(plan.placements.size());
  stored.pixel_strides.reserve(plan.placements.size());
  for (const TensorPlacement& placement : plan.placements) {
    stored.tensor_offsets.push_back(placement.offset < 0 ? kNotInArena
                                                         : static_cast<uint64_t>(placement.offset));
    stored.pixel_strides.push_back(placement.offset < 0 ? 0 : placement.pixel_stride);
  }
  stored.arena_bytes = plan.memory.arena_bytes;
  stored.peak_bytes = plan.memory.peak_bytes;
  stored.optimal = plan.schedule.optimal;
  // The aliasing the placements assume, in the file's rewrite list: the
  // starting point, and the concats kept as copies (operator indices of the
  // model the plan is stored with: the rewritten one when there is one).
  if (plan.strategy != MemoryStrategy::kOrder) {
    stored.rewrites.push_back(
        {kStoredAliasing, {static_cast<uint32_t>(plan.aliasing_start)}});
    stored.rewrites.push_back(
        {kStoredCopyConcats,
         std::vector<uint32_t>(plan.copy_concats.begin(), plan.copy_concats.end())});
    if (!plan.windowed_convs.empty()) {
      stored.rewrites.push_back(
          {kStoredWindowedConvs,
           std::vector<uint32_t>(plan.windowed_convs.begin(), plan.windowed_convs.end())});
    }
    if (!plan.last_reader_in_place.empty()) {
      stored.rewrites.push_back(
          {kStoredLastReaderInPlace, std::vector<uint32_t>(plan.last_reader_in_place.begin(),
                                                           plan.last_reader_in_place.end())});
    }
  }
  return stored;
}

namespace plan_cache {

std::vector<uint8_t> SerializePlan(const RecipePlan& recipe_plan, uint64_t model_hash,
                                   uint64_t options_hash) {
  const ExecutionPlan& plan = recipe_plan.plan;
  const bool rewritten = plan.strategy == MemoryStrategy::kRewrites;
  std::vector<pfb::RewriteEdit> edits;
  std::vector<int32_t> edit_orders;
  if (rewritten) {
    edits.reserve(recipe_plan.recipe.size());
    for (const scheduler::RewriteEdit& edit : recipe_plan.recipe) {
      edits.emplace_back(static_cast<uint8_t>(edit.kind), edit.first, edit.second,
                         static_cast<uint32_t>(edit.order.size()));
      edit_orders.insert(edit_orders.end(), edit.order.begin(), edit.order.end());
    }
  }
  flatbuffers::FlatBufferBuilder fbb(1024 + 16 * plan.placements.size() +
                                     4 * plan.order.size() + 16 * edits.size() +
                                     4 * edit_orders.size());
  std::vector<uint32_t> order(plan.order.begin(), plan.order.end());
  std::vector<pfb::Placement> placements;
  placements.reserve(plan.placements.size());
  for (const TensorPlacement& p : plan.placements) placements.emplace_back(p.offset, p.pixel_stride);
  auto order_vec = fbb.CreateVector(order);
  auto placements_vec = fbb.CreateVectorOfStructs(placements);
  std::vector<uint32_t> copies(plan.copy_concats.begin(), plan.copy_concats.end());
  auto copies_vec = fbb.CreateVector(copies);
  std::vector<uint32_t> windowed(plan.windowed_convs.begin(), plan.windowed_convs.end());
  auto windowed_vec = fbb.CreateVector(windowed);
  std::vector<uint32_t> last_readers(plan.last_reader_in_place.begin(),
                                     plan.last_reader_in_place.end());
  auto last_readers_vec = fbb.CreateVector(last_readers);
  flatbuffers::Offset<flatbuffers::Vector<const pfb::RewriteEdit*>> edits_vec;
  flatbuffers::Offset<flatbuffers::Vector<int32_t>> edit_orders_vec;
  if (rewritten) {
    edits_vec = fbb.CreateVectorOfStructs(edits);
    edit_orders_vec = fbb.CreateVector(edit_orders);
  }
  auto applied_vec = fbb.CreateVectorOfStrings(plan.rewrites_applied);
  pfb::PlanBuilder b(fbb);
  b.add_source_graph_hash(plan.source_graph_hash);
  b.add_strategy(static_cast<uint8_t>(plan.strategy));
  b.add_aliasing_start(static_cast<uint8_t>(plan.aliasing_start));
  b.add_copy_concats(copies_vec);
  b.add_windowed_convs(windowed_vec);
  b.add_last_reader_in_place(last_readers_vec);
  if (rewritten) {
    b.add_rewrite_edits(edits_vec);
    b.add_rewrite_orders(edit_orders_vec);
  }
  b.add_rewrites_applied(applied_vec);
  b.add_rewrite_time_ms(plan.rewrite_time_ms);
  b.add_rewrite_work(plan.rewrite_work);
  b.add_rewrite_out_of_work(plan.rewrite_out_of_work);
  b.add_rewrite_time_limited(plan.rewrite_time_limited);
  b.add_schedule_time_limited(plan.schedule.time_limited);
  b.add_arena_time_limited(plan.arena.time_limited);
  b.add_arena_nodes(plan.arena.nodes);
  b.add_order_peak_bytes(plan.order_peak_bytes);
  b.add_aliasing_peak_bytes(plan.aliasing_peak_bytes);
  b.add_rewrites_peak_bytes(plan.rewrites_peak_bytes);
  b.add_graph_hash(plan.graph_hash);
  b.add_order(order_vec);
  b.add_placements(placements_vec);
  b.add_algorithm(static_cast<uint8_t>(plan.schedule.algorithm));
  b.add_optimal(plan.schedule.optimal);
  b.add_lower_bound_bytes(plan.schedule.lower_bound_bytes);
  b.add_schedule_time_ms(plan.schedule.time_ms);
  b.add_states(plan.schedule.states);
  b.add_arena_at_peak(plan.arena.at_peak);
  b.add_arena_time_ms(plan.arena.time_ms);
  b.add_arena_bytes(plan.memory.arena_bytes);
  b.add_peak_bytes(plan.memory.peak_bytes);
  b.add_baseline_arena_bytes(plan.memory.baseline_arena_bytes);
  b.add_stored_order_peak_bytes(plan.memory.stored_order_peak_bytes);
  b.add_weights_bytes(plan.memory.weights_bytes);
  auto plan_table = b.Finish();
  auto version = fbb.CreateString(VersionString());
  auto entry = pfb::CreateCacheEntry(fbb, kPlanFormatVersion, model_hash, options_hash, version,
                                     plan_table);
  pfb::FinishCacheEntryBuffer(fbb, entry);
  return std::vector<uint8_t>(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
}

Result<RecipePlan> DeserializePlan(const uint8_t* bytes, size_t size, uint64_t model_hash,
                                   uint64_t options_hash) {
  if (bytes == nullptr || size < 8 || size > kMaxEntryBytes) {
    return CorruptCacheError("not a plan cache entry: ", size, " bytes");
  }
  if (!pfb::CacheEntryBufferHasIdentifier(bytes)) {
    return CorruptCacheError("not a plan cache entry: the file identifier is not '",
                             pfb::CacheEntryIdentifier(), "'");
  }
  flatbuffers::Verifier verifier(bytes, size, /*max_depth=*/16, /*max_tables=*/64);
  if (!pfb::VerifyCacheEntryBuffer(verifier)) {
    return CorruptCacheError("the entry fails FlatBuffers verification (truncated or damaged)");
  }
  const pfb::CacheEntry* entry = pfb::GetCacheEntry(bytes);
  if (entry->plan_format_version() != kPlanFormatVersion) {
    return CorruptCacheError("the entry has plan format version ", entry->plan_format_version(),
                             "; this engine uses ", kPlanFormatVersion);
  }
  if (entry->model_hash() != model_hash) {
    return CorruptCacheError("the entry was made for another model (graph hash ",
                             Hex(entry->model_hash()), ", this model ", Hex(model_hash), ")");
  }
  if (entry->options_hash() != options_hash) {
    return CorruptCacheError("the entry was made with other planning options");
  }
  const pfb::Plan* p = entry->plan();
  if (p->source_graph_hash() != model_hash) {
    return CorruptCacheError("the entry's plan is for another graph");
  }
  if (p->strategy() > static_cast<uint8_t>(MemoryStrategy::kRewrites)) {
    return CorruptCacheError("the entry's memory strategy ", int{p->strategy()}, " is unknown");
  }
  if (!ValidAlgorithm(p->algorithm())) {
    return CorruptCacheError("the entry's scheduler algorithm ", int{p->algorithm()},
                             " is unknown");
  }
  const auto* order = p->order();
  const auto* placements = p->placements();
  if (order == nullptr || placements == nullptr) {
    return CorruptCacheError("the entry's plan has no ", order == nullptr ? "order" : "placements");
  }
  if (order->size() > kMaxOperators || placements->size() > kMaxTensors) {
    return CorruptCacheError("the entry's plan has ", order->size(), " operators and ",
                             placements->size(), " tensors, beyond the model limits");
  }
  RecipePlan recipe_plan;
  ExecutionPlan& plan = recipe_plan.plan;
  plan.graph_hash = p->graph_hash();
  plan.order.reserve(order->size());
  for (uint32_t op : *order) {
    if (op > static_cast<uint32_t>(std::numeric_limits<int>::max())) {
      return CorruptCacheError("the entry's order holds operator ", op);
    }
    plan.order.push_back(static_cast<int>(op));
  }
  plan.placements.reserve(placements->size());
  for (const pfb::Placement* placement : *placements) {
    plan.placements.push_back(TensorPlacement{placement->offset(), placement->pixel_stride()});
  }
  plan.source_graph_hash = p->source_graph_hash();
  plan.strategy = static_cast<MemoryStrategy>(p->strategy());
  plan.aliasing_start = p->aliasing_start();
  if (p->copy_concats() != nullptr) {
    for (uint32_t op : *p->copy_concats()) {
      if (op > static_cast<uint32_t>(std::numeric_limits<int>::max())) {
        return CorruptCacheError("the entry keeps operator ", op, " as a copy concat");
      }
      plan.copy_concats.push_back(static_cast<int>(op));
    }
  }
  if (p->windowed_convs() != nullptr) {
    for (uint32_t op : *p->windowed_convs()) {
      if (op > static_cast<uint32_t>(std::numeric_limits<int>::max())) {
        return CorruptCacheError("the entry runs operator ", op, " windowed in place");
      }
      plan.windowed_convs.push_back(static_cast<int>(op));
    }
  }
  if (p->last_reader_in_place() != nullptr) {
    for (uint32_t op : *p->last_reader_in_place()) {
      if (op > static_cast<uint32_t>(std::numeric_limits<int>::max())) {
        return CorruptCacheError("the entry runs operator ", op, " in place after other readers");
      }
      plan.last_reader_in_place.push_back(static_cast<int>(op));
    }
  }
  const auto* edits = p->rewrite_edits();
  const auto* edit_orders = p->rewrite_orders();
  if ((edits != nullptr || edit_orders != nullptr) != (plan.strategy == MemoryStrategy::kRewrites)) {
    return CorruptCacheError(plan.strategy == MemoryStrategy::kRewrites
                                 ? "the entry's rewritten plan has no rewrite recipe"
                                 : "the entry has a rewrite recipe but its plan runs the model "
                                   "as given");
  }
  if (edits != nullptr) {
    if (edit_orders == nullptr || edits->size() > kMaxRecipeEdits) {
      return CorruptCacheError("the entry's rewrite recipe has ", edits->size(),
                               " edits", edit_orders == nullptr ? " and no orders" : "");
    }
    recipe_plan.recipe.reserve(edits->size());
    size_t next_order = 0;
    for (const pfb::RewriteEdit* edit : *edits) {
      if (edit->kind() > static_cast<uint8_t>(scheduler::RewriteEdit::Kind::kShiftedSubsample)) {
        return CorruptCacheError("the entry's rewrite recipe has an edit of unknown kind ",
                                 int{edit->kind()});
      }
      if (edit->order_size() > edit_orders->size() - next_order) {
        return CorruptCacheError("the entry's rewrite recipe orders run past their vector");
      }
      scheduler::RewriteEdit step;
      step.kind = static_cast<scheduler::RewriteEdit::Kind>(edit->kind());
      step.first = edit->first();
      step.second = edit->second();
      step.order.assign(edit_orders->begin() + next_order,
                        edit_orders->begin() + next_order + edit->order_size());
      next_order += edit->order_size();
      recipe_plan.recipe.push_back(std::move(step));
    }
    if (next_order != edit_orders->size()) {
      return CorruptCacheError("the entry's rewrite recipe has orders no edit takes");
    }
  }
  if (p->rewrites_applied() != nullptr) {
    for (const flatbuffers::String* line : *p->rewrites_applied()) {
      plan.rewrites_applied.push_back(line->str());
    }
  }
  plan.rewrite_time_ms = p->rewrite_time_ms();
  plan.rewrite_work = p->rewrite_work();
  plan.rewrite_out_of_work = p->rewrite_out_of_work();
  plan.rewrite_time_limited = p->rewrite_time_limited();
  plan.schedule.time_limited = p->schedule_time_limited();
  plan.arena.time_limited = p->arena_time_limited();
  plan.arena.nodes = p->arena_nodes();
  plan.order_peak_bytes = p->order_peak_bytes();
  plan.aliasing_peak_bytes = p->aliasing_peak_bytes();
  plan.rewrites_peak_bytes = p->rewrites_peak_bytes();
  plan.schedule.algorithm = static_cast<scheduler::Algorithm>(p->algorithm());
  plan.schedule.optimal = p->optimal();
  plan.schedule.lower_bound_bytes = p->lower_bound_bytes();
  plan.schedule.time_ms = p->schedule_time_ms();
  plan.schedule.states = p->states();
  plan.arena.at_peak = p->arena_at_peak();
  plan.arena.time_ms = p->arena_time_ms();
  plan.memory.arena_bytes = p->arena_bytes();
  plan.memory.peak_bytes = p->peak_bytes();
  plan.memory.baseline_arena_bytes = p->baseline_arena_bytes();
  plan.memory.stored_order_peak_bytes = p->stored_order_peak_bytes();
  plan.memory.weights_bytes = p->weights_bytes();
  return recipe_plan;
}

Result<ExecutionPlan> FromStoredPlan(const Model& model, const StoredPlan& stored,
                                     const EngineOptions& options) {
  const size_t tensors = model.tensors().size();
  if (stored.order.size() != model.operators().size() ||
      stored.tensor_offsets.size() != tensors ||
      (!stored.pixel_strides.empty() && stored.pixel_strides.size() != tensors)) {
    return InvalidModelError("the stored execution plan lists ", stored.order.size(),
                             " operators, ", stored.tensor_offsets.size(), " tensor offsets and ",
                             stored.pixel_strides.size(), " pixel strides; model '", model.name(),
                             "' has ", model.operators().size(), " operators and ", tensors,
                             " tensors");
  }
  ExecutionPlan plan;
  plan.graph_hash = stored.graph_hash;
  for (const auto& [kind, operators] : stored.rewrites) {
    if (kind == kStoredAliasing) {
      if (operators.size() != 1 || operators[0] > 255) {
        return InvalidModelError("the stored execution plan's '", kStoredAliasing,
                                 "' entry must hold one small starting point");
      }
      plan.strategy = MemoryStrategy::kAliasing;
      plan.aliasing_start = static_cast<int>(operators[0]);
    } else if (kind == kStoredCopyConcats) {
      plan.copy_concats.assign(operators.begin(), operators.end());
    } else if (kind == kStoredWindowedConvs) {
      plan.windowed_convs.assign(operators.begin(), operators.end());
    } else if (kind == kStoredLastReaderInPlace) {
      plan.last_reader_in_place.assign(operators.begin(), operators.end());
    } else {
      return InvalidModelError("the stored execution plan lists a rewrite '", kind,
                               "' this engine does not know");
    }
  }
  plan.order.assign(stored.order.begin(), stored.order.end());
  plan.placements.resize(tensors);
  for (size_t t = 0; t < tensors; ++t) {
    const uint64_t offset = stored.tensor_offsets[t];
    if (offset == kNotInArena) continue;
    if (offset > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return InvalidModelError("the stored execution plan puts ",
                               model.DescribeTensor(static_cast<int>(t)), " at offset ", offset);
    }
    TensorPlacement& placement = plan.placements[t];
    placement.offset = static_cast<int64_t>(offset);
    const std::vector<int64_t>& shape = model.tensors()[t].shape;
    placement.pixel_stride = !stored.pixel_strides.empty() ? stored.pixel_strides[t]
                             : shape.empty()                ? 1
                                                            : shape.back();
  }
  plan.schedule.algorithm = options.scheduler;
  plan.schedule.optimal = stored.optimal;
  plan.schedule.lower_bound_bytes = stored.optimal ? stored.peak_bytes : 0;
  plan.memory.arena_bytes = stored.arena_bytes;
  plan.memory.peak_bytes = stored.peak_bytes;
  plan.memory.weights_bytes = model.weight_bytes();
  return plan;
}

std::string EntryPath(const std::string& dir, uint64_t model_hash, uint64_t options_hash) {
  KeyHasher h;
  h.Word(model_hash);
  h.Word(options_hash);
  std::string path = dir;
  if (!path.empty() && path.back() != '/') path += '/';
  return path + Hex(h.Final()) + ".srnplan";
}

namespace {

// A cache entry's plan, its recipe replayed on `model` when it runs a
// rewritten model, checked against the model (the check does not hash the
// replayed model: it is derived from `model`, whose hash keyed the entry).
// The entry's bytes, and then its recipe, are freed as soon as they are
// decoded and replayed, so that the replay and the check reuse their memory:
// in a fresh process, touching new pages is much of what a hit costs.
Result<ExecutionPlan> UseEntry(std::vector<uint8_t> bytes, const Model& model,
                               uint64_t model_hash, uint64_t options_hash, const Hooks& hooks) {
  Result<RecipePlan> decoded =
      DeserializePlan(bytes.data(), bytes.size(), model_hash, options_hash);
  std::vector<uint8_t>().swap(bytes);
  SERENITY_ASSIGN_OR_RETURN(RecipePlan entry, std::move(decoded));
  probe::Mark("deserialize");
  if (entry.plan.strategy == MemoryStrategy::kRewrites) {
    Result<Model> replayed = scheduler::ReplayRewrites(model, entry.recipe);
    if (!replayed.ok()) {
      return CorruptCacheError("the entry's rewrite recipe does not apply: ",
                               replayed.status().message());
    }
    entry.plan.rewritten_model = std::make_shared<const Model>(std::move(replayed).value());
    std::vector<scheduler::RewriteEdit>().swap(entry.recipe);
  }
  probe::Mark("replay(assembled)");
  SERENITY_RETURN_IF_ERROR(hooks.check(&entry.plan, /*stored=*/false));
  probe::Mark("check returned");
  return std::move(entry.plan);
}

Result<ExecutionPlan> UseStoredPlan(const Model& model, const EngineOptions& options,
                                    const Hooks& hooks) {
  const StoredPlan& stored = *model.plan();
  SERENITY_ASSIGN_OR_RETURN(ExecutionPlan plan, FromStoredPlan(model, stored, options));
  Status checked = hooks.check(&plan, /*stored=*/true);
  if (!checked.ok()) {
    return InvalidModelError("model '", model.name(),
                             "': the stored execution plan is not valid for its graph: ",
                             checked.message());
  }
  plan.cache.status = PlanCacheStatus::kStoredPlan;
  return plan;
}

}  // namespace

Result<ExecutionPlan> ObtainPlan(const Model& model, const EngineOptions& options,
                                 const Hooks& hooks) {
  const uint64_t model_hash = model.GraphHash();
  const uint64_t options_hash = PlanningOptionsHash(options);
  std::string warning;

  if (options.use_stored_plan && model.plan().has_value()) {
    const StoredPlan& stored = *model.plan();
    if (stored.graph_hash != model_hash) {
      return InvalidModelError(
          "model '", model.name(), "' carries an execution plan made for another graph (plan "
          "graph hash ", Hex(stored.graph_hash), ", this graph ", Hex(model_hash),
          "); compile the model again with serenity_compile, or load it with "
          "EngineOptions::use_stored_plan = false");
    }
    if (stored.plan_format_version == kPlanFormatVersion && stored.options_hash == options_hash) {
      return UseStoredPlan(model, options, hooks);
    }
    if (stored.plan_format_version != kPlanFormatVersion) {
      warning = StrCat("the model's stored plan has plan format version ",
                       stored.plan_format_version, " (this engine: ", kPlanFormatVersion,
                       "); planned at load");
    }
  }

  auto search = [&](PlanCacheStatus status, std::string path) -> Result<RecipePlan> {
    SERENITY_ASSIGN_OR_RETURN(RecipePlan searched, hooks.search());
    searched.plan.cache.status = status;
    searched.plan.cache.path = std::move(path);
    searched.plan.cache.warning = warning;
    return searched;
  };
  auto add_warning = [&](const std::string& text) {
    warning += warning.empty() ? text : "; " + text;
  };

  auto search_only = [&]() -> Result<ExecutionPlan> {
    SERENITY_ASSIGN_OR_RETURN(RecipePlan searched, search(PlanCacheStatus::kOff, ""));
    return std::move(searched.plan);
  };
  if (options.plan_cache == PlanCacheMode::kOff) return search_only();
  const std::string dir =
      options.plan_cache_dir.empty() ? DefaultPlanCacheDir() : options.plan_cache_dir;
  if (dir.empty()) {
    add_warning(
        "plan cache: no location (set XDG_CACHE_HOME or HOME, or "
        "EngineOptions::plan_cache_dir); running without the cache");
    return search_only();
  }
  const std::string path = EntryPath(dir, model_hash, options_hash);

  // A provisional entry's plan (its search was cut short by the wall
  // clock): planned again below, and the better of the two runs.
  std::optional<ExecutionPlan> provisional;
  if (options.plan_cache == PlanCacheMode::kOn) {
    probe::Mark("keys");
    Result<std::vector<uint8_t>> bytes = ReadEntry(path);
    probe::Mark("read entry");
    if (bytes.ok()) {
      Result<ExecutionPlan> plan =
          UseEntry(std::move(bytes).value(), model, model_hash, options_hash, hooks);
      if (plan.ok() && plan->time_limited()) {
        provisional = std::move(plan).value();
      } else if (plan.ok()) {
        plan->cache.status = PlanCacheStatus::kHit;
        plan->cache.path = path;
        plan->cache.warning = warning;
        return plan;
      } else {
        const Status& checked = plan.status();
        add_warning(StrCat("plan cache: ignored ", path, ": ", checked.message(),
                           "; planned again"));
      }
    } else if (bytes.status().code() != StatusCode::kNotFound) {
      add_warning(StrCat("plan cache: ignored ", path, ": ", bytes.status().message(),
                         "; planned again"));
    }
  }

  const PlanCacheStatus status = options.plan_cache == PlanCacheMode::kRefresh
                                     ? PlanCacheStatus::kRefreshed
                                 : provisional ? PlanCacheStatus::kRetried
                                               : PlanCacheStatus::kMiss;
  SERENITY_ASSIGN_OR_RETURN(RecipePlan searched, search(status, path));
  ExecutionPlan& plan = searched.plan;
  plan.cache.provisional = plan.time_limited();
  if (provisional && plan.time_limited() &&
      provisional->memory.arena_bytes < plan.memory.arena_bytes) {
    // Cut short again, and worse: the entry stays as it is, and runs.
    provisional->cache = plan.cache;
    provisional->cache.provisional = true;
    return std::move(*provisional);
  }
  Status stored = MakeDirectories(dir);
  if (stored.ok()) {
    stored = WriteFileAtomically(path, SerializePlan(searched, model_hash, options_hash));
  }
  if (!stored.ok()) {
    add_warning(StrCat("plan cache: cannot write ", path, " (", stored.message(),
                       "); running without the cache"));
    plan.cache.status = PlanCacheStatus::kOff;
    plan.cache.provisional = false;
    plan.cache.path.clear();
    plan.cache.warning = warning;
  }
  return std::move(plan);
}

}  // namespace plan_cache
}  // namespace serenity
